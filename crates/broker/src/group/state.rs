//! The state of one classic group and its state machine, modelled on Apache Kafka's
//! `GroupMetadata` and `GroupCoordinator` (Empty → PreparingRebalance → CompletingRebalance
//! → Stable, with delayed joins, session expiry and pending-sync expiry).
//!
//! Everything here runs under the coordinator's mutex; waiting requests are represented by
//! `oneshot` senders stored on the members and answered when the state machine moves on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use indexmap::IndexMap;
use kafka_protocol::ResponseError;
use tokio::sync::oneshot;

use super::GroupSettings;

/// How long a member that joined during a rebalance may wait for the join to complete
/// before it is expired (Kafka's `GroupCoordinator.NewMemberJoinTimeoutMs`).
pub(super) const NEW_MEMBER_JOIN_TIMEOUT: Duration = Duration::from_secs(300);

/// The state of a classic group, as Kafka names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GroupState {
    /// No members (the group may still hold committed offsets).
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment (SyncGroup).
    CompletingRebalance,
    /// Assignment distributed.
    Stable,
}

impl GroupState {
    /// The state name Kafka reports in DescribeGroups / ListGroups.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

/// One member of the leader's member list in a JoinGroup response.
#[derive(Debug, Clone)]
pub(super) struct JoinMemberInfo {
    /// The member id.
    pub member_id: String,
    /// The static instance id, if any.
    pub group_instance_id: Option<String>,
    /// The member's metadata for the selected protocol.
    pub metadata: Bytes,
}

/// The version-independent result of a JoinGroup, turned into a response by the caller.
#[derive(Debug, Clone)]
pub(super) struct JoinOutcome {
    /// Error code (0 = none).
    pub error: i16,
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
    pub(super) fn error(member_id: &str, error: ResponseError) -> Self {
        Self {
            error: error.code(),
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

/// The version-independent result of a SyncGroup.
#[derive(Debug, Clone, Default)]
pub(super) struct SyncOutcome {
    /// Error code (0 = none).
    pub error: i16,
    /// The group's protocol type (echoed in v5).
    pub protocol_type: Option<String>,
    /// The group's protocol (echoed in v5).
    pub protocol_name: Option<String>,
    /// The member's assignment.
    pub assignment: Bytes,
}

impl SyncOutcome {
    /// An error answer with an empty assignment.
    pub(super) fn error(error: ResponseError) -> Self {
        Self {
            error: error.code(),
            ..Self::default()
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

/// A committed (or staged transactional) offset.
#[derive(Debug, Clone)]
pub(super) struct CommittedOffset {
    /// The committed offset.
    pub offset: i64,
    /// The leader epoch of the committed record, -1 if unknown.
    pub leader_epoch: i32,
    /// Client metadata ("" when none).
    pub metadata: String,
    /// Commit time, milliseconds since the epoch (kept for retention; no API reports it).
    #[allow(dead_code)]
    pub commit_timestamp_ms: i64,
    /// Position of this commit in the (virtual) offsets log; a transactional commit
    /// becomes visible only if nothing newer was committed in between, as Kafka's
    /// `CommitRecordMetadataAndOffset.olderThan`.
    pub seq: u64,
}

/// A group member.
#[derive(Debug)]
pub(super) struct Member {
    /// Member id.
    pub member_id: String,
    /// Static membership instance id.
    pub group_instance_id: Option<String>,
    /// The client id of the connection that joined.
    pub client_id: String,
    /// The client host of the connection that joined.
    pub client_host: String,
    /// Session timeout.
    pub session_timeout: Duration,
    /// Rebalance timeout.
    pub rebalance_timeout: Duration,
    /// The protocol type the member joined with.
    pub protocol_type: String,
    /// Supported protocols in preference order, with their metadata.
    pub protocols: Vec<(String, Bytes)>,
    /// The current assignment.
    pub assignment: Bytes,
    /// When the member expires unless it heartbeats (or otherwise shows life).
    pub session_deadline: Instant,
    /// Joined during the current rebalance and not yet part of a generation.
    pub is_new: bool,
    /// The pending JoinGroup of this member.
    pub join_waiter: Option<oneshot::Sender<JoinOutcome>>,
    /// The pending SyncGroup of this member.
    pub sync_waiter: Option<oneshot::Sender<SyncOutcome>>,
}

impl Member {
    /// Whether a JoinGroup of this member is waiting for the rebalance to complete.
    pub(super) fn is_awaiting_join(&self) -> bool {
        self.join_waiter.is_some()
    }

    /// Whether a SyncGroup of this member is waiting for the leader's assignment.
    pub(super) fn is_awaiting_sync(&self) -> bool {
        self.sync_waiter.is_some()
    }

    /// Whether the member sent exactly these protocols (names, metadata and order).
    pub(super) fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols.as_slice() == protocols
    }

    /// The member's metadata for `protocol` (empty if it does not support it).
    pub(super) fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, metadata)| metadata.clone())
            .unwrap_or_default()
    }

    /// Whether the session of the member has expired at `now` (Kafka's
    /// `!hasSatisfiedHeartbeat`): members waiting in a rebalance are kept alive, except
    /// new members, which expire after [`NEW_MEMBER_JOIN_TIMEOUT`].
    fn is_expired(&self, now: Instant) -> bool {
        if self.is_new {
            now >= self.session_deadline
        } else if self.is_awaiting_join() || self.is_awaiting_sync() {
            false
        } else {
            now >= self.session_deadline
        }
    }

    /// Moves the session deadline to `now + session timeout`.
    pub(super) fn refresh_session(&mut self, now: Instant) {
        self.session_deadline = now + self.session_timeout;
    }
}

/// Timer of the current PreparingRebalance phase (Kafka's DelayedJoin / InitialDelayedJoin).
#[derive(Debug, Clone, Copy)]
pub(super) struct RebalanceTimer {
    /// When the join phase completes at the latest.
    pub deadline: Instant,
    /// `Some(remaining)` for the initial delayed join of an empty group (it never completes
    /// early, and is extended while new members keep arriving); `None` for a regular join.
    pub initial_remaining: Option<Duration>,
}

/// A classic consumer group with its offsets.
#[derive(Debug)]
pub(super) struct Group {
    /// The group id.
    pub id: String,
    /// The state.
    pub state: GroupState,
    /// The generation (bumped by every completed rebalance, also when the group empties).
    pub generation: i32,
    /// The protocol type, set by the first member joining an empty group.
    pub protocol_type: Option<String>,
    /// The protocol selected at the last completed join.
    pub protocol_name: Option<String>,
    /// The leader's member id.
    pub leader: Option<String>,
    /// Members in join order (the first is leader when a leader is needed).
    pub members: IndexMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with their expiry.
    pub pending_members: HashMap<String, Instant>,
    /// `group.instance.id` → member id.
    pub static_members: HashMap<String, String>,
    /// The join timer while PreparingRebalance.
    pub rebalance: Option<RebalanceTimer>,
    /// Set when a member joins during the initial delayed join (extends it).
    pub new_member_added: bool,
    /// Members that have not sent SyncGroup since the last completed join.
    pub pending_sync: HashSet<String>,
    /// When members still in `pending_sync` are removed.
    pub sync_deadline: Option<Instant>,
    /// Committed offsets.
    pub offsets: BTreeMap<(String, i32), CommittedOffset>,
    /// Transactional offsets staged per producer id, visible after the commit marker.
    pub pending_txn: HashMap<i64, BTreeMap<(String, i32), CommittedOffset>>,
}

impl Group {
    /// A new, empty group.
    pub(super) fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: IndexMap::new(),
            pending_members: HashMap::new(),
            static_members: HashMap::new(),
            rebalance: None,
            new_member_added: false,
            pending_sync: HashSet::new(),
            sync_deadline: None,
            offsets: BTreeMap::new(),
            pending_txn: HashMap::new(),
        }
    }

    /// Whether `member_id` is the leader.
    pub(super) fn is_leader(&self, member_id: &str) -> bool {
        self.leader.as_deref() == Some(member_id)
    }

    /// The largest rebalance timeout of the members (Kafka's `group.rebalanceTimeoutMs`).
    fn rebalance_timeout(&self) -> Duration {
        self.members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// Protocols supported by every member.
    fn candidate_protocols(&self) -> Vec<String> {
        let Some(first) = self.members.values().next() else {
            return Vec::new();
        };
        first
            .protocols
            .iter()
            .map(|(name, _)| name)
            .filter(|name| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == *name))
            })
            .cloned()
            .collect()
    }

    /// Kafka's `supportsProtocols`: an empty group accepts any non-empty type and protocol
    /// list; otherwise the type must match and one protocol must be supported by all members.
    pub(super) fn supports_protocols(
        &self,
        protocol_type: &str,
        protocols: &[(String, Bytes)],
    ) -> bool {
        if self.members.is_empty() {
            // Kafka checks `is(Empty)`; a group without members is Empty or about to be.
            !protocol_type.is_empty() && !protocols.is_empty()
        } else {
            self.protocol_type.as_deref() == Some(protocol_type)
                && protocols.iter().any(|(name, _)| {
                    self.members
                        .values()
                        .all(|m| m.protocols.iter().any(|(n, _)| n == name))
                })
        }
    }

    /// Kafka's `selectProtocol`: every member votes for its most preferred candidate; the
    /// protocol with most votes wins (ties go to the first member's preference order).
    fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: HashMap<&str, usize> = HashMap::new();
        for member in self.members.values() {
            if let Some((name, _)) = member
                .protocols
                .iter()
                .find(|(name, _)| candidates.contains(name))
            {
                *votes.entry(name.as_str()).or_default() += 1;
            }
        }
        let mut best: Option<(&str, usize)> = None;
        for candidate in &candidates {
            let count = votes.get(candidate.as_str()).copied().unwrap_or(0);
            if best.is_none_or(|(_, c)| count > c) {
                best = Some((candidate.as_str(), count));
            }
        }
        best.map(|(name, _)| name.to_owned())
    }

    /// Kafka's `validateCurrentMember`: FENCED_INSTANCE_ID when the instance id maps to
    /// another member, UNKNOWN_MEMBER_ID when the member (or the instance id) is unknown.
    pub(super) fn validate_current_member(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
    ) -> Result<(), ResponseError> {
        if let Some(instance) = group_instance_id {
            match self.static_members.get(instance) {
                Some(current) if current != member_id => {
                    return Err(ResponseError::FencedInstanceId)
                }
                Some(_) => {}
                None => return Err(ResponseError::UnknownMemberId),
            }
        }
        if self.members.contains_key(member_id) {
            Ok(())
        } else {
            Err(ResponseError::UnknownMemberId)
        }
    }

    /// The current generation's answer to a JoinGroup of `member_id` (the leader gets the
    /// member list).
    pub(super) fn current_join_outcome(
        &self,
        member_id: &str,
        skip_assignment: bool,
    ) -> JoinOutcome {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let members = if self.is_leader(member_id) {
            self.members
                .values()
                .map(|m| JoinMemberInfo {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    metadata: m.metadata(&protocol),
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinOutcome {
            error: 0,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_owned(),
            members,
            skip_assignment,
        }
    }

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
        if self.state == GroupState::PreparingRebalance && self.generation == 0 {
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
            member.protocols = update.protocols;
            member.session_timeout = update.session_timeout;
            member.rebalance_timeout = update.rebalance_timeout;
            member.client_id = update.client_id;
            member.client_host = update.client_host;
            if let Some(old) = member.join_waiter.replace(tx) {
                // A second JoinGroup while the first still waits: the first is superseded.
                let _ = old.send(JoinOutcome::error(
                    member_id,
                    ResponseError::RebalanceInProgress,
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
                    let _ = waiter.send(SyncOutcome::error(ResponseError::RebalanceInProgress));
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
        if self
            .rebalance
            .is_some_and(|timer| timer.initial_remaining.is_some())
        {
            return;
        }
        let all_joined =
            self.members.values().all(Member::is_awaiting_join) && self.pending_members.is_empty();
        if all_joined {
            self.complete_join(now);
        }
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
    pub(super) fn complete_join(&mut self, now: Instant) {
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
    pub(super) fn remove_member(&mut self, member_id: &str) {
        if let Some(member) = self.members.shift_remove(member_id) {
            if let Some(waiter) = member.join_waiter {
                let _ = waiter.send(JoinOutcome::error(
                    member_id,
                    ResponseError::UnknownMemberId,
                ));
            }
            if let Some(waiter) = member.sync_waiter {
                let _ = waiter.send(SyncOutcome::error(ResponseError::UnknownMemberId));
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

    /// Replaces the member id of a static member that rejoined with an unknown member id
    /// (Kafka's `replaceStaticMember`): waiting requests of the old id are fenced.
    pub(super) fn replace_static_member(&mut self, instance: &str, old_id: &str, new_id: &str) {
        let Some(mut member) = self.members.shift_remove(old_id) else {
            return;
        };
        if let Some(waiter) = member.join_waiter.take() {
            let _ = waiter.send(JoinOutcome::error(old_id, ResponseError::FencedInstanceId));
        }
        if let Some(waiter) = member.sync_waiter.take() {
            let _ = waiter.send(SyncOutcome::error(ResponseError::FencedInstanceId));
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
                    error: 0,
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

    /// Session expiry, join-phase and pending-sync timers at `now`.
    pub(super) fn tick(&mut self, settings: &GroupSettings, now: Instant) {
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

/// New protocols and timeouts of a rejoining member.
#[derive(Debug)]
pub(super) struct MemberUpdate {
    /// Protocols in preference order.
    pub protocols: Vec<(String, Bytes)>,
    /// Session timeout.
    pub session_timeout: Duration,
    /// Rebalance timeout.
    pub rebalance_timeout: Duration,
    /// Client id of the connection.
    pub client_id: String,
    /// Client host of the connection.
    pub client_host: String,
}
