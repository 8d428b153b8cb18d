//! The group state machine's transitions (Kafka's `GroupCoordinator`): members joining and
//! leaving, the join phase and its timers (delayed and initial delayed joins), the leader's
//! assignment, and the timers that expire sessions, join phases and members that never
//! synced.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::join::JoinOutcome;
use super::member::{Member, MemberUpdate, NEW_MEMBER_JOIN_TIMEOUT};
use super::state::{Group, GroupState};
use super::sync::SyncOutcome;
use super::{GroupError, GroupSettings};

/// Timer of the current PreparingRebalance phase (Kafka's DelayedJoin / InitialDelayedJoin).
#[derive(Debug, Clone, Copy)]
pub(super) struct RebalanceTimer {
    /// When the join phase completes at the latest.
    pub deadline: Instant,
    /// `Some(remaining)` for the initial delayed join of an empty group (it never completes
    /// early, and is extended while new members keep arriving); `None` for a regular join.
    pub initial_remaining: Option<Duration>,
}

impl Group {
    /// Adds a new member that is waiting for the join to complete (Kafka's
    /// `addMemberAndRebalance`).
    pub(super) fn add_member_and_rebalance(
        &mut self,
        settings: &GroupSettings,
        mut member: Member,
        now: Instant,
    ) -> oneshot::Receiver<JoinOutcome> {
        let (tx, rx) = oneshot::channel();
        member.join_waiter = Some(tx);
        member.is_new = true;
        member.session_deadline = now + NEW_MEMBER_JOIN_TIMEOUT;
        // Kafka: `PreparingRebalance` entered from `Empty` (also an emptied group's).
        if self.state == GroupState::PreparingRebalance && self.in_initial_delayed_join() {
            self.new_member_added = true;
        }
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(member.member_id.clone());
        }
        if let Some(instance) = &member.group_instance_id {
            self.static_members
                .insert(instance.clone(), member.member_id.clone());
        }
        self.pending_members.remove(&member.member_id);
        self.members.insert(member.member_id.clone(), member);
        self.maybe_prepare_rebalance(settings, now);
        self.try_complete_join(now);
        rx
    }

    /// Updates a known member's protocols and timeouts and makes it wait for a (new)
    /// rebalance (Kafka's `updateMemberAndRebalance`).
    pub(super) fn update_member_and_rebalance(
        &mut self,
        settings: &GroupSettings,
        member_id: &str,
        update: MemberUpdate,
        now: Instant,
    ) -> oneshot::Receiver<JoinOutcome> {
        let (tx, rx) = oneshot::channel();
        if let Some(member) = self.members.get_mut(member_id) {
            member.update(update);
            if let Some(old) = member.join_waiter.replace(tx) {
                // A second JoinGroup while the first still waits: the first is superseded.
                let _ = old.send(JoinOutcome::error(
                    member_id,
                    GroupError::RebalanceInProgress,
                ));
            }
        }
        self.maybe_prepare_rebalance(settings, now);
        self.try_complete_join(now);
        rx
    }

    /// Starts a rebalance unless one is already being prepared.
    pub(super) fn maybe_prepare_rebalance(&mut self, settings: &GroupSettings, now: Instant) {
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(settings, now);
        }
    }

    /// Kafka's `prepareRebalance`: waiting SyncGroups get REBALANCE_IN_PROGRESS, and the
    /// join phase starts with a rebalance-timeout timer (an initial delayed join for an
    /// empty group).
    fn prepare_rebalance(&mut self, settings: &GroupSettings, now: Instant) {
        if self.state == GroupState::CompletingRebalance {
            for member in self.members.values_mut() {
                member.assignment = Bytes::new();
                if let Some(waiter) = member.sync_waiter.take() {
                    let _ = waiter.send(SyncOutcome::error(GroupError::RebalanceInProgress));
                }
            }
        }
        self.pending_sync.clear();
        self.sync_deadline = None;
        let was_empty = self.state == GroupState::Empty;
        self.state = GroupState::PreparingRebalance;
        let rebalance_timeout = self.rebalance_timeout();
        if was_empty {
            let delay = settings.initial_rebalance_delay;
            if delay.is_zero() {
                // An initial delayed join of 0 ms expires at once.
                self.complete_join(now);
            } else {
                self.rebalance = Some(RebalanceTimer {
                    deadline: now + delay,
                    initial_remaining: Some(rebalance_timeout.saturating_sub(delay)),
                });
            }
        } else {
            self.rebalance = Some(RebalanceTimer {
                deadline: now + rebalance_timeout,
                initial_remaining: None,
            });
        }
    }

    /// Completes the join phase if every member has rejoined and no member id handed out
    /// with MEMBER_ID_REQUIRED is outstanding (Kafka's `tryCompleteJoin`).
    pub(super) fn try_complete_join(&mut self, now: Instant) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        if self.in_initial_delayed_join() {
            return;
        }
        let all_joined =
            self.members.values().all(Member::is_awaiting_join) && self.pending_members.is_empty();
        if all_joined {
            self.complete_join(now);
        }
    }

    /// Whether the join phase is an initial delayed join (the rebalance started from Empty).
    fn in_initial_delayed_join(&self) -> bool {
        self.rebalance
            .is_some_and(|timer| timer.initial_remaining.is_some())
    }

    /// Kafka's `maybeElectNewJoinedLeader`: if the leader has not rejoined, any member that
    /// did becomes leader. False when nobody rejoined.
    fn maybe_elect_new_joined_leader(&mut self) -> bool {
        let Some(leader) = self.leader.clone() else {
            return false;
        };
        if self
            .members
            .get(&leader)
            .is_some_and(Member::is_awaiting_join)
        {
            return true;
        }
        match self.members.values().find(|m| m.is_awaiting_join()) {
            Some(member) => {
                self.leader = Some(member.member_id.clone());
                true
            }
            None => false,
        }
    }

    /// Kafka's `onCompleteJoin`: dynamic members that did not rejoin are removed, the
    /// generation is bumped, a protocol is selected and every waiting JoinGroup answered.
    fn complete_join(&mut self, now: Instant) {
        let not_rejoined: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.is_awaiting_join() && m.group_instance_id.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for member_id in not_rejoined {
            self.remove_member(&member_id);
        }
        if !self.maybe_elect_new_joined_leader() && !self.members.is_empty() {
            // Only static members that did not rejoin remain: wait another rebalance
            // timeout (their sessions expire meanwhile if they are gone).
            self.rebalance = Some(RebalanceTimer {
                deadline: now + self.rebalance_timeout(),
                initial_remaining: None,
            });
            return;
        }
        self.rebalance = None;
        self.new_member_added = false;
        self.generation = self.generation.wrapping_add(1);
        if self.members.is_empty() {
            self.protocol_name = None;
            self.state = GroupState::Empty;
            return;
        }
        self.protocol_name = self.select_protocol();
        self.state = GroupState::CompletingRebalance;
        self.pending_sync = self.members.keys().cloned().collect();
        self.sync_deadline = Some(now + self.rebalance_timeout());
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for member_id in ids {
            let outcome = self.current_join_outcome(&member_id, false);
            if let Some(member) = self.members.get_mut(&member_id) {
                if let Some(waiter) = member.join_waiter.take() {
                    let _ = waiter.send(outcome);
                }
                member.refresh_session(now);
                member.is_new = false;
            }
        }
    }

    /// Removes a member without triggering a rebalance: a waiting JoinGroup or SyncGroup of
    /// it is answered UNKNOWN_MEMBER_ID, and a new leader is chosen if needed.
    fn remove_member(&mut self, member_id: &str) {
        if let Some(member) = self.members.shift_remove(member_id) {
            if let Some(waiter) = member.join_waiter {
                // No member id in the answer, as Kafka: the client forgets its member id.
                let _ = waiter.send(JoinOutcome::error("", GroupError::UnknownMemberId));
            }
            if let Some(waiter) = member.sync_waiter {
                let _ = waiter.send(SyncOutcome::error(GroupError::UnknownMemberId));
            }
            if let Some(instance) = &member.group_instance_id {
                if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                    self.static_members.remove(instance);
                }
            }
        }
        if self.is_leader(member_id) {
            self.leader = self.members.keys().next().cloned();
        }
        self.pending_sync.remove(member_id);
    }

    /// Kafka's `removeMemberAndUpdateGroup`: removes the member and starts (or tries to
    /// complete) a rebalance.
    pub(super) fn remove_member_and_update(
        &mut self,
        settings: &GroupSettings,
        member_id: &str,
        now: Instant,
    ) {
        self.remove_member(member_id);
        match self.state {
            GroupState::Empty => {}
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance(settings, now);
                self.try_complete_join(now);
            }
            GroupState::PreparingRebalance => self.try_complete_join(now),
        }
    }

    /// Kafka's `removePendingMemberAndUpdateGroup`.
    pub(super) fn remove_pending_member_and_update(&mut self, member_id: &str, now: Instant) {
        self.pending_members.remove(member_id);
        if self.state == GroupState::PreparingRebalance {
            self.try_complete_join(now);
        }
    }

    /// The leader's SyncGroup: distributes the assignment and makes the group Stable.
    pub(super) fn complete_sync(&mut self, assignments: &HashMap<String, Bytes>, now: Instant) {
        let protocol_type = self.protocol_type.clone();
        let protocol_name = self.protocol_name.clone();
        for member in self.members.values_mut() {
            member.assignment = assignments
                .get(&member.member_id)
                .cloned()
                .unwrap_or_default();
            if let Some(waiter) = member.sync_waiter.take() {
                let _ = waiter.send(SyncOutcome {
                    error: None,
                    protocol_type: protocol_type.clone(),
                    protocol_name: protocol_name.clone(),
                    assignment: member.assignment.clone(),
                });
                member.refresh_session(now);
            }
        }
        self.state = GroupState::Stable;
        if self.pending_sync.is_empty() {
            self.sync_deadline = None;
        }
    }

    /// Every member's session starts again at `now` (a new coordinator loaded the group).
    pub(super) fn refresh_sessions(&mut self, now: Instant) {
        for member in self.members.values_mut() {
            member.refresh_session(now);
        }
    }

    /// Removes the pending members and members whose session deadline has passed at `now`
    /// (Kafka's heartbeat timers): run by the tick and before any request for the group.
    pub(super) fn expire_sessions(&mut self, settings: &GroupSettings, now: Instant) {
        let expired_pending: Vec<String> = self
            .pending_members
            .iter()
            .filter(|(_, deadline)| now >= **deadline)
            .map(|(id, _)| id.clone())
            .collect();
        for member_id in expired_pending {
            self.remove_pending_member_and_update(&member_id, now);
        }

        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| m.is_expired(now))
            .map(|m| m.member_id.clone())
            .collect();
        for member_id in expired {
            tracing::debug!(group = %self.id, member = %member_id, "member session expired");
            self.remove_member_and_update(settings, &member_id, now);
        }
    }

    /// Session expiry, join-phase and pending-sync timers at `now`.
    pub(super) fn tick(&mut self, settings: &GroupSettings, now: Instant) {
        self.expire_sessions(settings, now);

        if self.state == GroupState::PreparingRebalance {
            if let Some(timer) = self.rebalance {
                if now >= timer.deadline {
                    match timer.initial_remaining {
                        Some(remaining) if self.new_member_added && !remaining.is_zero() => {
                            self.new_member_added = false;
                            let delay = settings.initial_rebalance_delay.min(remaining);
                            self.rebalance = Some(RebalanceTimer {
                                deadline: now + delay,
                                initial_remaining: Some(remaining.saturating_sub(delay)),
                            });
                        }
                        _ => self.complete_join(now),
                    }
                }
            }
        }

        if let Some(deadline) = self.sync_deadline {
            if now >= deadline {
                self.sync_deadline = None;
                if matches!(
                    self.state,
                    GroupState::CompletingRebalance | GroupState::Stable
                ) && !self.pending_sync.is_empty()
                {
                    let missing: Vec<String> = self.pending_sync.iter().cloned().collect();
                    tracing::debug!(group = %self.id, ?missing, "removing members that did not sync");
                    for member_id in missing {
                        self.remove_member(&member_id);
                    }
                    self.prepare_rebalance(settings, now);
                    self.try_complete_join(now);
                }
            }
        }
    }
}
