//! Static membership (KIP-345): a member that rejoins with its `group.instance.id` and no
//! member id takes the place of its previous member id (Kafka's `replaceStaticMember` and
//! `updateStaticMemberThenRebalanceOrCompleteJoin`).

use std::time::Instant;

use super::join::{JoinOutcome, JoinParams, Pending};
use super::state::{Group, GroupState};
use super::sync::SyncOutcome;
use super::{GroupError, GroupSettings};

impl Group {
    /// A known static member joins with an unknown member id (Kafka's
    /// `updateStaticMemberThenRebalanceOrCompleteJoin`): the new member id replaces the old
    /// one (whose waiting requests are fenced) and the member's protocols are updated. In
    /// Stable the group does not rebalance unless the protocol it would select changes; the
    /// member gets the current generation (a leader joining with v9+ gets the member list
    /// and `skip_assignment`; below v9 the previous leader id is returned, so the member
    /// does not assign as leader). In the other states the group (re)balances.
    pub(super) fn rejoin_static_member(
        &mut self,
        settings: &GroupSettings,
        p: &JoinParams,
        instance: &str,
        old_id: &str,
        new_id: String,
        now: Instant,
    ) -> Pending<JoinOutcome> {
        let previous_leader = self.leader.clone();
        self.replace_static_member(instance, old_id, &new_id);
        if self.state == GroupState::Stable {
            if let Some(member) = self.members.get_mut(&new_id) {
                member.update(p.update());
                member.refresh_session(now);
            }
            if self.select_protocol() == self.protocol_name {
                let is_leader = self.is_leader(&new_id);
                let mut outcome = self.current_join_outcome(&new_id, false);
                if p.supports_skip_assignment {
                    outcome.skip_assignment = is_leader;
                } else {
                    outcome.members.clear();
                    outcome.leader = previous_leader.unwrap_or_default();
                }
                return Pending::Ready(outcome);
            }
        }
        Pending::Wait(self.update_member_and_rebalance(settings, &new_id, p.update(), now))
    }

    /// Replaces the member id of a static member that rejoined with an unknown member id
    /// (Kafka's `replaceStaticMember`): waiting requests of the old id are fenced.
    fn replace_static_member(&mut self, instance: &str, old_id: &str, new_id: &str) {
        let Some(mut member) = self.members.shift_remove(old_id) else {
            return;
        };
        if let Some(waiter) = member.join_waiter.take() {
            let _ = waiter.send(JoinOutcome::error(old_id, GroupError::FencedInstanceId));
        }
        if let Some(waiter) = member.sync_waiter.take() {
            let _ = waiter.send(SyncOutcome::error(GroupError::FencedInstanceId));
        }
        member.member_id = new_id.to_owned();
        self.members.insert(new_id.to_owned(), member);
        if self.is_leader(old_id) {
            self.leader = Some(new_id.to_owned());
        }
        if self.pending_sync.remove(old_id) {
            self.pending_sync.insert(new_id.to_owned());
        }
        self.static_members
            .insert(instance.to_owned(), new_id.to_owned());
    }
}
