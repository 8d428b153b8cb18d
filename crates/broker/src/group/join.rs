//! JoinGroup (Kafka's `handleJoinGroup` / `doJoinGroup`): new members, MEMBER_ID_REQUIRED,
//! static members rejoining, and known members rejoining in each state.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::member::{Member, MemberUpdate};
use super::state::{Group, GroupState};
use super::{GroupCoordinator, GroupError, GroupSettings, Inner};

/// A JoinGroup, as the state machine needs it.
#[derive(Debug)]
pub(crate) struct JoinParams {
    pub group_id: String,
    /// Empty for a member without id yet.
    pub member_id: String,
    /// The static membership instance id (KIP-345).
    pub group_instance_id: Option<String>,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    /// Protocols in preference order, with their metadata.
    pub protocols: Vec<(String, Bytes)>,
    /// A member without id gets MEMBER_ID_REQUIRED and one to rejoin with (KIP-394).
    pub require_known_member_id: bool,
    /// The request version can say "skip the assignment" (JoinGroup v9+, KIP-814).
    pub supports_skip_assignment: bool,
    /// The client id of the connection: the prefix of a generated member id
    /// (`<client_id>-<uuid>`, as Kafka), reported by DescribeGroups.
    pub client_id: String,
    /// The client host of the connection, reported by DescribeGroups.
    pub client_host: String,
}

/// One member of the leader's member list in a JoinGroup answer.
#[derive(Debug, Clone)]
pub(crate) struct JoinMemberInfo {
    /// The member id.
    pub member_id: String,
    /// The static instance id, if any.
    pub group_instance_id: Option<String>,
    /// The member's metadata for the selected protocol.
    pub metadata: Bytes,
}

/// The answer to a JoinGroup.
#[derive(Debug, Clone)]
pub(crate) struct JoinOutcome {
    /// Why the join failed, if it did.
    pub error: Option<GroupError>,
    /// Generation id (-1 on error).
    pub generation: i32,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The selected protocol.
    pub protocol_name: Option<String>,
    /// The leader's member id ("" on error).
    pub leader: String,
    /// The member id of the requester (generated for new members).
    pub member_id: String,
    /// The member list, for the leader only.
    pub members: Vec<JoinMemberInfo>,
    /// KIP-814: the static leader rejoined a stable group and need not assign again.
    pub skip_assignment: bool,
}

impl JoinOutcome {
    /// An error answer (generation -1, no leader, no protocol), as Kafka's `joinError`.
    pub(super) fn error(member_id: &str, error: GroupError) -> Self {
        Self {
            error: Some(error),
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_owned(),
            members: Vec::new(),
            skip_assignment: false,
        }
    }
}

/// Either an immediate answer or a receiver that the state machine answers later.
#[derive(Debug)]
pub(super) enum Pending<T> {
    /// The answer is known now.
    Ready(T),
    /// The answer comes when the rebalance (join) or the leader's SyncGroup completes.
    Wait(oneshot::Receiver<T>),
}

impl JoinParams {
    /// A member that has not been part of a generation yet.
    fn new_member(&self, member_id: String, now: Instant) -> Member {
        Member {
            member_id,
            group_instance_id: self.group_instance_id.clone(),
            client_id: self.client_id.clone(),
            client_host: self.client_host.clone(),
            session_timeout: self.session_timeout,
            rebalance_timeout: self.rebalance_timeout,
            protocol_type: self.protocol_type.clone(),
            protocols: self.protocols.clone(),
            assignment: Bytes::new(),
            session_deadline: now,
            is_new: true,
            join_waiter: None,
            sync_waiter: None,
        }
    }

    /// What a rejoin changes of a known member.
    pub(super) fn update(&self) -> MemberUpdate {
        MemberUpdate {
            protocols: self.protocols.clone(),
            session_timeout: self.session_timeout,
            rebalance_timeout: self.rebalance_timeout,
            client_id: self.client_id.clone(),
            client_host: self.client_host.clone(),
        }
    }
}

impl GroupCoordinator {
    /// JoinGroup. Waits until the join phase of the rebalance completes.
    pub(crate) async fn join(&self, params: JoinParams) -> JoinOutcome {
        let member_id = params.member_id.clone();
        let pending = {
            let mut inner = self.lock_for(&[params.group_id.as_str()]);
            inner.join(&self.settings, params, Instant::now())
        };
        match pending {
            Pending::Ready(outcome) => outcome,
            Pending::Wait(rx) => rx
                .await
                .unwrap_or_else(|_| JoinOutcome::error(&member_id, GroupError::UnknownMemberId)),
        }
    }
}

impl Inner {
    /// The JoinGroup state machine: checks, then the group and member cases.
    fn join(
        &mut self,
        settings: &GroupSettings,
        p: JoinParams,
        now: Instant,
    ) -> Pending<JoinOutcome> {
        let fail = |error: GroupError| Pending::Ready(JoinOutcome::error(&p.member_id, error));
        if p.group_id.is_empty() {
            return fail(GroupError::InvalidGroupId);
        }
        if p.session_timeout < settings.min_session_timeout
            || p.session_timeout > settings.max_session_timeout
        {
            return fail(GroupError::InvalidSessionTimeout);
        }
        let is_unknown = p.member_id.is_empty();
        if !self.groups.contains_key(&p.group_id) {
            if !is_unknown {
                return fail(GroupError::UnknownMemberId);
            }
            if p.protocol_type.is_empty() || p.protocols.is_empty() {
                return fail(GroupError::InconsistentGroupProtocol);
            }
            self.groups
                .insert(p.group_id.clone(), Group::new(&p.group_id));
        }
        let Some(group) = self.groups.get_mut(&p.group_id) else {
            return fail(GroupError::CoordinatorNotAvailable);
        };
        if !group.supports_protocols(&p.protocol_type, &p.protocols) {
            return fail(GroupError::InconsistentGroupProtocol);
        }
        if is_unknown {
            group.join_unknown_member(settings, &p, now)
        } else {
            group.join_known_member(settings, &p, now)
        }
    }
}

impl Group {
    /// A join without member id: a static member (re)joins, a new member gets
    /// MEMBER_ID_REQUIRED (when asked for) or is added.
    fn join_unknown_member(
        &mut self,
        settings: &GroupSettings,
        p: &JoinParams,
        now: Instant,
    ) -> Pending<JoinOutcome> {
        let new_id = format!("{}-{}", p.client_id, uuid::Uuid::new_v4());
        if let Some(instance) = p.group_instance_id.clone() {
            // Static member (KIP-345).
            match self.static_members.get(&instance).cloned() {
                Some(old_id) => {
                    self.rejoin_static_member(settings, p, &instance, &old_id, new_id, now)
                }
                None => {
                    let member = p.new_member(new_id, now);
                    Pending::Wait(self.add_member_and_rebalance(settings, member, now))
                }
            }
        } else if p.require_known_member_id {
            self.pending_members
                .insert(new_id.clone(), now + p.session_timeout);
            Pending::Ready(JoinOutcome::error(&new_id, GroupError::MemberIdRequired))
        } else {
            let member = p.new_member(new_id, now);
            Pending::Wait(self.add_member_and_rebalance(settings, member, now))
        }
    }

    /// A join with a member id: a pending member joins, a known member rejoins.
    fn join_known_member(
        &mut self,
        settings: &GroupSettings,
        p: &JoinParams,
        now: Instant,
    ) -> Pending<JoinOutcome> {
        if self.pending_members.contains_key(&p.member_id) {
            let member = p.new_member(p.member_id.clone(), now);
            return Pending::Wait(self.add_member_and_rebalance(settings, member, now));
        }
        if let Err(error) =
            self.validate_current_member(&p.member_id, p.group_instance_id.as_deref())
        {
            return Pending::Ready(JoinOutcome::error(&p.member_id, error));
        }
        let unchanged = self
            .members
            .get(&p.member_id)
            .is_some_and(|m| m.matches(&p.protocols));
        match self.state {
            GroupState::Empty => Pending::Ready(JoinOutcome::error(
                &p.member_id,
                GroupError::UnknownMemberId,
            )),
            GroupState::PreparingRebalance => Pending::Wait(self.update_member_and_rebalance(
                settings,
                &p.member_id,
                p.update(),
                now,
            )),
            GroupState::CompletingRebalance if unchanged => {
                // The member missed the JoinGroup response: send it again.
                Pending::Ready(self.current_join_outcome(&p.member_id, false))
            }
            GroupState::Stable if unchanged && !self.is_leader(&p.member_id) => {
                // A follower without changes gets the current generation and syncs again.
                if let Some(member) = self.members.get_mut(&p.member_id) {
                    member.refresh_session(now);
                }
                Pending::Ready(self.current_join_outcome(&p.member_id, false))
            }
            // Changed metadata, or the leader rejoining (Kafka lets the leader force a
            // rebalance, e.g. after topic metadata changes).
            GroupState::CompletingRebalance | GroupState::Stable => Pending::Wait(
                self.update_member_and_rebalance(settings, &p.member_id, p.update(), now),
            ),
        }
    }
}
