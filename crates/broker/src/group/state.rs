//! The state of one classic group, modelled on Apache Kafka's `GroupMetadata` (Empty →
//! PreparingRebalance → CompletingRebalance → Stable): its members, leader, protocol and
//! offsets, and the questions the state machine asks about them. The transitions are in
//! `rebalance`.
//!
//! Everything here runs under the coordinator's mutex; waiting requests are represented by
//! `oneshot` senders stored on the members and answered when the state machine moves on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use indexmap::IndexMap;

use super::join::{JoinMemberInfo, JoinOutcome};
use super::member::Member;
use super::offsets::CommittedOffset;
use super::rebalance::RebalanceTimer;
use super::GroupError;

/// The state of a classic group, as Kafka names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupState {
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
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
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
    pub(super) fn rebalance_timeout(&self) -> Duration {
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
    pub(super) fn select_protocol(&self) -> Option<String> {
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
    ) -> Result<(), GroupError> {
        if let Some(instance) = group_instance_id {
            match self.static_members.get(instance) {
                Some(current) if current != member_id => return Err(GroupError::FencedInstanceId),
                Some(_) => {}
                None => return Err(GroupError::UnknownMemberId),
            }
        }
        if self.members.contains_key(member_id) {
            Ok(())
        } else {
            Err(GroupError::UnknownMemberId)
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
            error: None,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_owned(),
            members,
            skip_assignment,
        }
    }
}
