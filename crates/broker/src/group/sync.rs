//! SyncGroup (Kafka's `doSyncGroup`): followers wait for the leader's assignment, which
//! makes the group Stable; in Stable a member gets its current assignment again.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;

use super::join::Pending;
use super::state::GroupState;
use super::{GroupCoordinator, GroupError, Inner};

/// A SyncGroup, as the state machine needs it.
#[derive(Debug)]
pub(crate) struct SyncParams {
    pub group_id: String,
    pub member_id: String,
    /// The static membership instance id.
    pub group_instance_id: Option<String>,
    pub generation: i32,
    /// When given, must be the group's protocol type.
    pub protocol_type: Option<String>,
    /// When given, must be the group's selected protocol.
    pub protocol_name: Option<String>,
    /// The leader's assignment by member id (ignored from followers).
    pub assignments: HashMap<String, Bytes>,
}

/// The answer to a SyncGroup.
#[derive(Debug, Clone, Default)]
pub(crate) struct SyncOutcome {
    /// Why the sync failed, if it did.
    pub error: Option<GroupError>,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The group's protocol.
    pub protocol_name: Option<String>,
    /// The member's assignment.
    pub assignment: Bytes,
}

impl SyncOutcome {
    /// An error answer with an empty assignment.
    pub(super) fn error(error: GroupError) -> Self {
        Self {
            error: Some(error),
            ..Self::default()
        }
    }
}

impl GroupCoordinator {
    /// SyncGroup. Followers wait for the leader's assignment.
    pub(crate) async fn sync(&self, params: SyncParams) -> SyncOutcome {
        let pending = {
            let mut inner = self.lock_for(&[params.group_id.as_str()]);
            inner.sync(&params, Instant::now())
        };
        match pending {
            Pending::Ready(outcome) => outcome,
            Pending::Wait(rx) => rx
                .await
                .unwrap_or_else(|_| SyncOutcome::error(GroupError::RebalanceInProgress)),
        }
    }
}

impl Inner {
    /// The SyncGroup state machine.
    fn sync(&mut self, p: &SyncParams, now: Instant) -> Pending<SyncOutcome> {
        let fail = |error: GroupError| Pending::Ready(SyncOutcome::error(error));
        if p.group_id.is_empty() {
            return fail(GroupError::InvalidGroupId);
        }
        let Some(group) = self.groups.get_mut(&p.group_id) else {
            return fail(GroupError::UnknownMemberId);
        };
        let member_id = p.member_id.as_str();
        if let Err(error) = group.validate_current_member(member_id, p.group_instance_id.as_deref())
        {
            return fail(error);
        }
        if p.generation != group.generation {
            return fail(GroupError::IllegalGeneration);
        }
        if let Some(protocol_type) = &p.protocol_type {
            if group.protocol_type.as_ref() != Some(protocol_type) {
                return fail(GroupError::InconsistentGroupProtocol);
            }
        }
        if let Some(protocol_name) = &p.protocol_name {
            if group.protocol_name.as_ref() != Some(protocol_name) {
                return fail(GroupError::InconsistentGroupProtocol);
            }
        }
        match group.state {
            GroupState::Empty => fail(GroupError::UnknownMemberId),
            GroupState::PreparingRebalance => fail(GroupError::RebalanceInProgress),
            GroupState::CompletingRebalance => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                if let Some(member) = group.members.get_mut(member_id) {
                    if let Some(old) = member.sync_waiter.replace(tx) {
                        let _ = old.send(SyncOutcome::error(GroupError::RebalanceInProgress));
                    }
                    member.refresh_session(now);
                }
                group.pending_sync.remove(member_id);
                if group.is_leader(member_id) {
                    group.complete_sync(&p.assignments, now);
                }
                Pending::Wait(rx)
            }
            GroupState::Stable => {
                group.pending_sync.remove(member_id);
                if group.pending_sync.is_empty() {
                    group.sync_deadline = None;
                }
                let protocol_type = group.protocol_type.clone();
                let protocol_name = group.protocol_name.clone();
                match group.members.get_mut(member_id) {
                    Some(member) => {
                        member.refresh_session(now);
                        Pending::Ready(SyncOutcome {
                            error: None,
                            protocol_type,
                            protocol_name,
                            assignment: member.assignment.clone(),
                        })
                    }
                    None => fail(GroupError::UnknownMemberId),
                }
            }
        }
    }
}
