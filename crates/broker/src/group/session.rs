//! A member's session: Heartbeat keeps it (Kafka's `handleHeartbeat`), LeaveGroup ends it
//! (`handleLeaveGroup`).

use std::time::Instant;

use super::state::{Group, GroupState};
use super::{GroupCoordinator, GroupError, GroupSettings};

/// One member named in a LeaveGroup.
#[derive(Debug, Clone)]
pub(crate) struct LeavingMember {
    /// The member id (may be empty when the instance id names the member).
    pub member_id: String,
    /// The static membership instance id.
    pub group_instance_id: Option<String>,
}

impl GroupCoordinator {
    /// Heartbeat: refreshes the session; REBALANCE_IN_PROGRESS tells members to rejoin.
    pub(crate) fn heartbeat_member(
        &self,
        group_id: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation: i32,
    ) -> Option<GroupError> {
        if group_id.is_empty() {
            return Some(GroupError::InvalidGroupId);
        }
        let mut inner = self.lock_for(&[group_id]);
        let Some(group) = inner.groups.get_mut(group_id) else {
            return Some(GroupError::UnknownMemberId);
        };
        group.heartbeat(member_id, group_instance_id, generation, Instant::now())
    }

    /// LeaveGroup of `leaving` (one member before v3 of the request): the group-level error,
    /// or the error of each member.
    pub(crate) fn leave(
        &self,
        group_id: &str,
        leaving: &[LeavingMember],
    ) -> Result<Vec<Option<GroupError>>, GroupError> {
        if group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        let mut inner = self.lock_for(&[group_id]);
        let now = Instant::now();
        let results = match inner.groups.get_mut(group_id) {
            None => leaving
                .iter()
                .map(|_| Some(GroupError::UnknownMemberId))
                .collect(),
            Some(group) => leaving
                .iter()
                .map(|m| {
                    group.leave(
                        &self.settings,
                        &m.member_id,
                        m.group_instance_id.as_deref(),
                        now,
                    )
                })
                .collect(),
        };
        Ok(results)
    }
}

impl Group {
    /// The Heartbeat checks of a member of this group.
    fn heartbeat(
        &mut self,
        member_id: &str,
        instance: Option<&str>,
        generation: i32,
        now: Instant,
    ) -> Option<GroupError> {
        if let Err(error) = self.validate_current_member(member_id, instance) {
            return Some(error);
        }
        if generation != self.generation {
            return Some(GroupError::IllegalGeneration);
        }
        let state = self.state;
        if state == GroupState::Empty {
            return Some(GroupError::UnknownMemberId);
        }
        if let Some(member) = self.members.get_mut(member_id) {
            member.refresh_session(now);
        }
        match state {
            GroupState::PreparingRebalance => Some(GroupError::RebalanceInProgress),
            // Kafka (2.5+) considers a member awaiting the assignment alive.
            _ => None,
        }
    }

    /// Removes one member named in a LeaveGroup (Kafka's `handleLeaveGroup`, per member):
    /// without member id, the static member named by its instance id; a pending member by
    /// its id; otherwise a current member, checked as Kafka's `validateMember`
    /// (FENCED_INSTANCE_ID when the instance id belongs to another member id,
    /// UNKNOWN_MEMBER_ID when the instance id or the member is unknown).
    fn leave(
        &mut self,
        settings: &GroupSettings,
        member_id: &str,
        instance: Option<&str>,
        now: Instant,
    ) -> Option<GroupError> {
        if member_id.is_empty() {
            let current = instance.and_then(|i| self.static_members.get(i)).cloned();
            let Some(current) = current else {
                return Some(GroupError::UnknownMemberId);
            };
            self.remove_member_and_update(settings, &current, now);
            return None;
        }
        if self.pending_members.contains_key(member_id) {
            self.remove_pending_member_and_update(member_id, now);
            return None;
        }
        if let Err(error) = self.validate_current_member(member_id, instance) {
            return Some(error);
        }
        self.remove_member_and_update(settings, member_id, now);
        None
    }
}
