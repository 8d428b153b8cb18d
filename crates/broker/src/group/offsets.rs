//! Committed offsets (Kafka's `GroupCoordinator.handleCommitOffsets` /
//! `handleTxnCommitOffsets` and `GroupMetadataManager.getOffsets`): consumer commits,
//! transactional commits staged until the transaction's marker, fetches and deletes.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use super::state::{Group, GroupState};
use super::{GroupCoordinator, GroupError, Inner};
use crate::clock::now_ms;

/// `offset.metadata.max.bytes` (Kafka's default).
const MAX_OFFSET_METADATA_BYTES: usize = 4096;

/// A committed (or staged transactional) offset.
#[derive(Debug, Clone)]
pub(super) struct CommittedOffset {
    /// The committed offset.
    pub offset: i64,
    /// The leader epoch of the committed record, -1 if unknown.
    pub leader_epoch: i32,
    /// Client metadata ("" when none).
    pub metadata: String,
    /// Commit time, milliseconds since the epoch (kept for retention and in the data dir;
    /// no API reports it).
    pub commit_timestamp_ms: i64,
    /// Position of this commit in the (virtual) offsets log; a transactional commit
    /// becomes visible only if nothing newer was committed in between, as Kafka's
    /// `CommitRecordMetadataAndOffset.olderThan`.
    pub seq: u64,
}

/// Who commits: a member of a generation, or (generation -1, no member) a consumer that
/// does not use the group's membership.
#[derive(Debug)]
pub(crate) struct CommitTarget {
    pub group_id: String,
    pub generation: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// One partition's offset to commit.
#[derive(Debug)]
pub(crate) struct OffsetEntry {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// -1 if unknown.
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// The offsets to fetch of one group: `topics = None` asks for every committed partition.
#[derive(Debug)]
pub(crate) struct OffsetQuery {
    pub group_id: String,
    pub topics: Option<Vec<(String, Vec<i32>)>>,
}

/// One partition of an offset fetch.
#[derive(Debug)]
pub(crate) struct FetchedOffset {
    pub partition: i32,
    /// -1 when nothing is committed.
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub error: Option<GroupError>,
}

impl FetchedOffset {
    /// A partition without a (visible) commit.
    fn none(partition: i32, error: Option<GroupError>) -> Self {
        Self {
            partition,
            offset: -1,
            leader_epoch: -1,
            metadata: String::new(),
            error,
        }
    }
}

/// The topic/partition fetches of one group: `(topic, partitions)`.
pub(crate) type FetchedTopics = Vec<(String, Vec<FetchedOffset>)>;

impl GroupCoordinator {
    /// A consumer's offset commit of `entries` (of existing partitions): the error of each.
    pub(crate) fn commit_offsets(
        &self,
        target: &CommitTarget,
        entries: Vec<OffsetEntry>,
    ) -> Vec<Option<GroupError>> {
        let mut inner = self.lock_for(&[target.group_id.as_str()]);
        let group_error = if entries.is_empty() {
            None
        } else {
            inner.check_commit(target)
        };
        inner.write_offsets(&target.group_id, None, entries, group_error)
    }

    /// Stages the offsets of producer `producer_id`'s transaction (the transaction
    /// coordinator has checked the producer and that AddOffsetsToTxn added this group);
    /// they become visible with [`complete_txn`](Self::complete_txn). A target with a
    /// generation or member is checked as in KIP-447.
    pub(crate) fn stage_txn_offsets(
        &self,
        target: &CommitTarget,
        producer_id: i64,
        entries: Vec<OffsetEntry>,
    ) -> Vec<Option<GroupError>> {
        let group_id = target.group_id.as_str();
        let mut inner = self.lock_for(&[group_id]);
        let group_error = if group_id.is_empty() {
            Some(GroupError::InvalidGroupId)
        } else if entries.is_empty() {
            None
        } else {
            let group = inner
                .groups
                .entry(group_id.to_owned())
                .or_insert_with(|| Group::new(group_id));
            group.validate_offset_commit(target, true).err()
        };
        inner.write_offsets(group_id, Some(producer_id), entries, group_error)
    }

    /// Makes the offsets staged by `producer_id` for `group` visible (commit) or drops them (abort).
    pub(crate) fn complete_txn(&self, group: &str, producer_id: i64, commit: bool) {
        let mut inner = self.lock();
        let Some(group) = inner.groups.get_mut(group) else {
            return;
        };
        let Some(staged) = group.pending_txn.remove(&producer_id) else {
            return;
        };
        if commit {
            for (key, offset) in staged {
                // Kafka keeps a consumer commit written after the transactional one.
                let newer_exists = group.offsets.get(&key).is_some_and(|c| c.seq > offset.seq);
                if !newer_exists {
                    group.offsets.insert(key, offset);
                }
            }
        }
    }

    /// The committed offsets of each query (-1 / "" for partitions without a commit). With
    /// `require_stable`, a partition with a staged transactional offset answers
    /// UNSTABLE_OFFSET_COMMIT.
    pub(crate) fn fetch_offsets(
        &self,
        queries: Vec<OffsetQuery>,
        require_stable: bool,
    ) -> Vec<FetchedTopics> {
        let ids: Vec<&str> = queries.iter().map(|q| q.group_id.as_str()).collect();
        let inner = self.lock_for(&ids);
        queries
            .into_iter()
            .map(|q| {
                let group = inner.groups.get(&q.group_id);
                let topics = q
                    .topics
                    .unwrap_or_else(|| group.map(Group::committed_partitions).unwrap_or_default());
                topics
                    .into_iter()
                    .map(|(topic, partitions)| {
                        let fetched = partitions
                            .into_iter()
                            .map(|p| match group {
                                Some(g) => g.fetch_offset(&topic, p, require_stable),
                                None => FetchedOffset::none(p, None),
                            })
                            .collect();
                        (topic, fetched)
                    })
                    .collect()
            })
            .collect()
    }

    /// OffsetDelete: removes the committed offsets of `topics` (`(topic, partitions)`) of an
    /// empty group, or of topics an active consumer group does not read; the error of each
    /// topic (GROUP_SUBSCRIBED_TO_TOPIC) or of the whole request.
    pub(crate) fn delete_offsets(
        &self,
        group_id: &str,
        topics: &[(String, Vec<i32>)],
    ) -> Result<Vec<Option<GroupError>>, GroupError> {
        let mut inner = self.lock_for(&[group_id]);
        let Some(group) = inner.groups.get_mut(group_id) else {
            return Err(GroupError::GroupIdNotFound);
        };
        let active = group.state != GroupState::Empty;
        if active && group.protocol_type.as_deref() != Some("consumer") {
            return Err(GroupError::NonEmptyGroup);
        }
        let mut subscribed = HashSet::new();
        if active {
            for member in group.members.values() {
                member.subscribed_topics(&mut subscribed);
            }
        }
        Ok(topics
            .iter()
            .map(|(topic, partitions)| {
                if subscribed.contains(topic) {
                    return Some(GroupError::GroupSubscribedToTopic);
                }
                for partition in partitions {
                    group.offsets.remove(&(topic.clone(), *partition));
                }
                None
            })
            .collect())
    }
}

impl Inner {
    /// The group-level check of a consumer commit; a group that does not use Kafka for
    /// membership (generation -1) is created.
    fn check_commit(&mut self, target: &CommitTarget) -> Option<GroupError> {
        let group_id = target.group_id.as_str();
        let Some(group) = self.groups.get_mut(group_id) else {
            if target.generation < 0 {
                self.groups
                    .insert(group_id.to_owned(), Group::new(group_id));
                return None;
            }
            // A request from an older generation of a group that is gone.
            return Some(GroupError::IllegalGeneration);
        };
        if let Err(error) = group.validate_offset_commit(target, false) {
            return Some(error);
        }
        match group.state {
            // The member has the new generation but not yet its assignment.
            GroupState::CompletingRebalance => Some(GroupError::RebalanceInProgress),
            GroupState::Empty => None,
            GroupState::Stable | GroupState::PreparingRebalance => {
                if let Some(member) = group.members.get_mut(&target.member_id) {
                    member.refresh_session(Instant::now());
                }
                None
            }
        }
    }

    /// Writes each entry that passes `group_error` and the metadata size check to the
    /// group's offsets, or stages it for `producer_id`; returns the error of each.
    fn write_offsets(
        &mut self,
        group_id: &str,
        producer_id: Option<i64>,
        entries: Vec<OffsetEntry>,
        group_error: Option<GroupError>,
    ) -> Vec<Option<GroupError>> {
        let timestamp = now_ms();
        entries
            .into_iter()
            .map(|e| {
                let too_large = e
                    .metadata
                    .as_ref()
                    .is_some_and(|m| m.len() > MAX_OFFSET_METADATA_BYTES);
                let error = group_error.or(too_large.then_some(GroupError::OffsetMetadataTooLarge));
                if error.is_some() {
                    return error;
                }
                let seq = self.next_seq();
                if let Some(group) = self.groups.get_mut(group_id) {
                    let offsets = match producer_id {
                        Some(producer_id) => group.pending_txn.entry(producer_id).or_default(),
                        None => &mut group.offsets,
                    };
                    offsets.insert(
                        (e.topic, e.partition),
                        CommittedOffset {
                            offset: e.offset,
                            leader_epoch: e.leader_epoch,
                            metadata: e.metadata.unwrap_or_default(),
                            commit_timestamp_ms: timestamp,
                            seq,
                        },
                    );
                }
                None
            })
            .collect()
    }
}

impl Group {
    /// Kafka's `validateOffsetCommit`: a commit naming a member or generation must come from
    /// the current generation of a current member; an anonymous (simple) consumer commit is
    /// only allowed while the group is empty. Transactional commits without member
    /// information skip the check.
    fn validate_offset_commit(
        &self,
        target: &CommitTarget,
        transactional: bool,
    ) -> Result<(), GroupError> {
        let instance = target.group_instance_id.as_deref();
        if target.generation >= 0 || !target.member_id.is_empty() || instance.is_some() {
            self.validate_current_member(&target.member_id, instance)?;
            if target.generation != self.generation {
                return Err(GroupError::IllegalGeneration);
            }
            Ok(())
        } else if !transactional && self.state != GroupState::Empty {
            Err(GroupError::UnknownMemberId)
        } else {
            Ok(())
        }
    }

    /// Every partition with a committed offset, by topic.
    fn committed_partitions(&self) -> Vec<(String, Vec<i32>)> {
        let mut all: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for (topic, partition) in self.offsets.keys() {
            all.entry(topic.clone()).or_default().push(*partition);
        }
        all.into_iter().collect()
    }

    /// The committed offset of one partition.
    fn fetch_offset(&self, topic: &str, partition: i32, require_stable: bool) -> FetchedOffset {
        let key = (topic.to_owned(), partition);
        let unstable = require_stable
            && self
                .pending_txn
                .values()
                .any(|staged| staged.contains_key(&key));
        if unstable {
            return FetchedOffset::none(partition, Some(GroupError::UnstableOffsetCommit));
        }
        match self.offsets.get(&key) {
            Some(committed) => FetchedOffset {
                partition,
                offset: committed.offset,
                leader_epoch: committed.leader_epoch,
                metadata: committed.metadata.clone(),
                error: None,
            },
            None => FetchedOffset::none(partition, None),
        }
    }
}
