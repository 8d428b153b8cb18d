//! Committed offsets: OffsetCommit, OffsetFetch and TxnOffsetCommit (Kafka's
//! `GroupCoordinator.handleCommitOffsets` / `handleTxnCommitOffsets` and
//! `GroupMetadataManager.getOffsets`).

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, TopicName,
    TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::state::{CommittedOffset, Group, GroupState};
use super::{code, owned, sb, GroupCoordinator, Inner, PartitionExists, MAX_OFFSET_METADATA_BYTES};

/// One partition of an offset commit, after the topic existence check.
#[derive(Debug)]
struct CommitEntry {
    topic: String,
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: Option<String>,
    /// UNKNOWN_TOPIC_OR_PARTITION decided before the group is looked at.
    pre_error: Option<ResponseError>,
}

impl CommitEntry {
    /// One partition of a commit request; UNKNOWN_TOPIC_OR_PARTITION is decided here.
    fn new(
        topic: &StrBytes,
        partition: i32,
        offset: i64,
        leader_epoch: i32,
        metadata: Option<&StrBytes>,
        exists: PartitionExists<'_>,
    ) -> Self {
        let topic = owned(topic);
        let pre_error =
            (!exists(&topic, partition)).then_some(ResponseError::UnknownTopicOrPartition);
        Self {
            topic,
            partition,
            offset,
            leader_epoch,
            metadata: metadata.map(owned),
            pre_error,
        }
    }
}

/// One partition of an OffsetFetch answer.
#[derive(Debug)]
struct FetchedOffset {
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: String,
    error: Option<ResponseError>,
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Kafka's `validateOffsetCommit`: a commit naming a member or generation must come from
/// the current generation of a current member; an anonymous (simple) consumer commit is only
/// allowed while the group is empty. Transactional commits without member information (v0-2)
/// skip the check.
fn validate_offset_commit(
    group: &Group,
    generation: i32,
    member_id: &str,
    instance: Option<&str>,
    transactional: bool,
) -> Result<(), ResponseError> {
    if generation >= 0 || !member_id.is_empty() || instance.is_some() {
        group.validate_current_member(member_id, instance)?;
        if generation != group.generation {
            return Err(ResponseError::IllegalGeneration);
        }
        Ok(())
    } else if !transactional && group.state != GroupState::Empty {
        Err(ResponseError::UnknownMemberId)
    } else {
        Ok(())
    }
}

/// The per-partition error for metadata longer than `offset.metadata.max.bytes`.
fn metadata_error(metadata: Option<&String>) -> Option<ResponseError> {
    metadata
        .filter(|m| m.len() > MAX_OFFSET_METADATA_BYTES)
        .map(|_| ResponseError::OffsetMetadataTooLarge)
}

/// Per-partition results of one topic: `(topic, [(partition, error)])`.
type TopicResults = (String, Vec<(i32, Option<ResponseError>)>);

/// Groups `(topic, partition, error)` triples by topic, keeping the request order.
fn by_topic(results: Vec<(String, i32, Option<ResponseError>)>) -> Vec<TopicResults> {
    let mut out: Vec<TopicResults> = Vec::new();
    for (topic, partition, error) in results {
        match out.last_mut() {
            Some((name, partitions)) if *name == topic => partitions.push((partition, error)),
            _ => out.push((topic, vec![(partition, error)])),
        }
    }
    out
}

impl GroupCoordinator {
    /// OffsetCommit (v2-9). `exists` is asked before the coordinator lock is taken.
    pub(crate) fn offset_commit(
        &self,
        req: OffsetCommitRequest,
        version: i16,
        exists: PartitionExists<'_>,
    ) -> OffsetCommitResponse {
        let entries: Vec<CommitEntry> = req
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(move |p| {
                    let epoch = if version >= 6 {
                        p.committed_leader_epoch
                    } else {
                        -1
                    };
                    let meta = p.committed_metadata.as_ref();
                    CommitEntry::new(
                        &t.name,
                        p.partition_index,
                        p.committed_offset,
                        epoch,
                        meta,
                        exists,
                    )
                })
            })
            .collect();
        let instance = if version >= 7 {
            req.group_instance_id.as_deref()
        } else {
            None
        };
        let results = {
            let mut inner = self.lock();
            commit(
                &mut inner,
                req.group_id.as_str(),
                req.generation_id_or_member_epoch,
                req.member_id.as_str(),
                instance,
                entries,
            )
        };
        OffsetCommitResponse::default().with_topics(
            by_topic(results)
                .into_iter()
                .map(|(topic, partitions)| {
                    OffsetCommitResponseTopic::default()
                        .with_name(TopicName(sb(topic)))
                        .with_partitions(
                            partitions
                                .into_iter()
                                .map(|(partition, error)| {
                                    OffsetCommitResponsePartition::default()
                                        .with_partition_index(partition)
                                        .with_error_code(code(error))
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
    }

    /// OffsetFetch (v1-9; v8+ batches groups). `topics = null` returns every committed
    /// partition of the group. With `require_stable` (v7+), a partition with a pending
    /// transactional commit answers UNSTABLE_OFFSET_COMMIT (a partition error, as Kafka:
    /// the group-level error stays NONE).
    pub(crate) fn offset_fetch(
        &self,
        req: OffsetFetchRequest,
        version: i16,
    ) -> OffsetFetchResponse {
        let require_stable = version >= 7 && req.require_stable;
        let inner = self.lock();
        if version >= 8 {
            let groups = req
                .groups
                .iter()
                .map(|g| {
                    let requested = g.topics.as_ref().map(|topics| {
                        topics
                            .iter()
                            .map(|t| (owned(&t.name), t.partition_indexes.clone()))
                            .collect::<Vec<_>>()
                    });
                    let fetched = fetch(&inner, g.group_id.as_str(), requested, require_stable);
                    OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id.clone())
                        .with_error_code(0)
                        .with_topics(
                            fetched
                                .into_iter()
                                .map(|(topic, partitions)| {
                                    OffsetFetchResponseTopics::default()
                                        .with_name(TopicName(sb(topic)))
                                        .with_partitions(
                                            partitions
                                                .into_iter()
                                                .map(|p| {
                                                    OffsetFetchResponsePartitions::default()
                                                        .with_partition_index(p.partition)
                                                        .with_committed_offset(p.offset)
                                                        .with_committed_leader_epoch(p.leader_epoch)
                                                        .with_metadata(Some(sb(p.metadata)))
                                                        .with_error_code(code(p.error))
                                                })
                                                .collect(),
                                        )
                                })
                                .collect(),
                        )
                })
                .collect();
            OffsetFetchResponse::default().with_groups(groups)
        } else {
            let requested = req.topics.as_ref().map(|topics| {
                topics
                    .iter()
                    .map(|t| (owned(&t.name), t.partition_indexes.clone()))
                    .collect::<Vec<_>>()
            });
            let fetched = fetch(&inner, req.group_id.as_str(), requested, require_stable);
            OffsetFetchResponse::default()
                .with_error_code(0)
                .with_topics(
                    fetched
                        .into_iter()
                        .map(|(topic, partitions)| {
                            OffsetFetchResponseTopic::default()
                                .with_name(TopicName(sb(topic)))
                                .with_partitions(
                                    partitions
                                        .into_iter()
                                        .map(|p| {
                                            let epoch =
                                                if version >= 5 { p.leader_epoch } else { -1 };
                                            OffsetFetchResponsePartition::default()
                                                .with_partition_index(p.partition)
                                                .with_committed_offset(p.offset)
                                                .with_committed_leader_epoch(epoch)
                                                .with_metadata(Some(sb(p.metadata)))
                                                .with_error_code(code(p.error))
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                )
        }
    }

    /// Stages the offsets of a transaction (called after the transaction coordinator has
    /// checked the producer id/epoch and that AddOffsetsToTxn added this group). From v3 the
    /// request's generation/member are checked as in KIP-447 when given.
    pub(crate) fn txn_offset_commit(
        &self,
        req: TxnOffsetCommitRequest,
        version: i16,
        exists: PartitionExists<'_>,
    ) -> TxnOffsetCommitResponse {
        let entries: Vec<CommitEntry> = req
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(move |p| {
                    let epoch = if version >= 2 {
                        p.committed_leader_epoch
                    } else {
                        -1
                    };
                    let meta = p.committed_metadata.as_ref();
                    CommitEntry::new(
                        &t.name,
                        p.partition_index,
                        p.committed_offset,
                        epoch,
                        meta,
                        exists,
                    )
                })
            })
            .collect();
        let (generation, member_id, instance) = if version >= 3 {
            (
                req.generation_id,
                req.member_id.as_str(),
                req.group_instance_id.as_deref(),
            )
        } else {
            (-1, "", None)
        };
        let results = {
            let mut inner = self.lock();
            txn_commit(
                &mut inner,
                req.group_id.as_str(),
                req.producer_id.0,
                generation,
                member_id,
                instance,
                entries,
            )
        };
        TxnOffsetCommitResponse::default().with_topics(
            by_topic(results)
                .into_iter()
                .map(|(topic, partitions)| {
                    TxnOffsetCommitResponseTopic::default()
                        .with_name(TopicName(sb(topic)))
                        .with_partitions(
                            partitions
                                .into_iter()
                                .map(|(partition, error)| {
                                    TxnOffsetCommitResponsePartition::default()
                                        .with_partition_index(partition)
                                        .with_error_code(code(error))
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
    }
}

/// Validates and stores a consumer offset commit; returns the error of every partition.
fn commit(
    inner: &mut Inner,
    group_id: &str,
    generation: i32,
    member_id: &str,
    instance: Option<&str>,
    entries: Vec<CommitEntry>,
) -> Vec<(String, i32, Option<ResponseError>)> {
    let any_valid = entries.iter().any(|e| e.pre_error.is_none());
    let group_error: Option<ResponseError> = if !any_valid {
        None
    } else {
        match inner.groups.get_mut(group_id) {
            None if generation < 0 => {
                // The group does not use Kafka for membership: allow the commit.
                inner
                    .groups
                    .insert(group_id.to_owned(), Group::new(group_id));
                None
            }
            // A request from an older generation of a group that is gone.
            None => Some(ResponseError::IllegalGeneration),
            Some(group) => {
                match validate_offset_commit(group, generation, member_id, instance, false) {
                    Err(error) => Some(error),
                    Ok(()) => match group.state {
                        // The member has the new generation but not yet its assignment.
                        GroupState::CompletingRebalance => Some(ResponseError::RebalanceInProgress),
                        GroupState::Empty => None,
                        GroupState::Stable | GroupState::PreparingRebalance => {
                            if let Some(member) = group.members.get_mut(member_id) {
                                member.refresh_session(Instant::now());
                            }
                            None
                        }
                    },
                }
            }
        }
    };
    let timestamp = now_ms();
    let mut results = Vec::with_capacity(entries.len());
    for e in entries {
        let error = e
            .pre_error
            .or(group_error)
            .or_else(|| metadata_error(e.metadata.as_ref()));
        if error.is_none() {
            let seq = inner.next_seq();
            if let Some(group) = inner.groups.get_mut(group_id) {
                group.offsets.insert(
                    (e.topic.clone(), e.partition),
                    CommittedOffset {
                        offset: e.offset,
                        leader_epoch: e.leader_epoch,
                        metadata: e.metadata.unwrap_or_default(),
                        commit_timestamp_ms: timestamp,
                        seq,
                    },
                );
            }
        }
        results.push((e.topic, e.partition, error));
    }
    results
}

/// Validates and stages a transactional offset commit; returns the error of every partition.
fn txn_commit(
    inner: &mut Inner,
    group_id: &str,
    producer_id: i64,
    generation: i32,
    member_id: &str,
    instance: Option<&str>,
    entries: Vec<CommitEntry>,
) -> Vec<(String, i32, Option<ResponseError>)> {
    let any_valid = entries.iter().any(|e| e.pre_error.is_none());
    let group_error: Option<ResponseError> = if group_id.is_empty() {
        Some(ResponseError::InvalidGroupId)
    } else if !any_valid {
        None
    } else {
        let group = inner
            .groups
            .entry(group_id.to_owned())
            .or_insert_with(|| Group::new(group_id));
        validate_offset_commit(group, generation, member_id, instance, true).err()
    };
    let timestamp = now_ms();
    let mut results = Vec::with_capacity(entries.len());
    for e in entries {
        let error = e
            .pre_error
            .or(group_error)
            .or_else(|| metadata_error(e.metadata.as_ref()));
        if error.is_none() {
            let seq = inner.next_seq();
            if let Some(group) = inner.groups.get_mut(group_id) {
                group.pending_txn.entry(producer_id).or_default().insert(
                    (e.topic.clone(), e.partition),
                    CommittedOffset {
                        offset: e.offset,
                        leader_epoch: e.leader_epoch,
                        metadata: e.metadata.unwrap_or_default(),
                        commit_timestamp_ms: timestamp,
                        seq,
                    },
                );
            }
        }
        results.push((e.topic, e.partition, error));
    }
    results
}

/// Kafka's `GroupMetadataManager.getOffsets`: -1 / "" for partitions without a commit,
/// UNSTABLE_OFFSET_COMMIT with `require_stable` while a transaction has staged an offset.
fn fetch(
    inner: &Inner,
    group_id: &str,
    requested: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> Vec<(String, Vec<FetchedOffset>)> {
    let group = inner.groups.get(group_id);
    let requested: Vec<(String, Vec<i32>)> = match requested {
        Some(requested) => requested,
        None => {
            let mut all: BTreeMap<String, Vec<i32>> = BTreeMap::new();
            if let Some(group) = group {
                for (topic, partition) in group.offsets.keys() {
                    all.entry(topic.clone()).or_default().push(*partition);
                }
            }
            all.into_iter().collect()
        }
    };
    requested
        .into_iter()
        .map(|(topic, partitions)| {
            let fetched = partitions
                .into_iter()
                .map(|partition| {
                    let key = (topic.clone(), partition);
                    let unstable = require_stable
                        && group.is_some_and(|g| {
                            g.pending_txn
                                .values()
                                .any(|staged| staged.contains_key(&key))
                        });
                    if unstable {
                        return FetchedOffset {
                            partition,
                            offset: -1,
                            leader_epoch: -1,
                            metadata: String::new(),
                            error: Some(ResponseError::UnstableOffsetCommit),
                        };
                    }
                    match group.and_then(|g| g.offsets.get(&key)) {
                        Some(committed) => FetchedOffset {
                            partition,
                            offset: committed.offset,
                            leader_epoch: committed.leader_epoch,
                            metadata: committed.metadata.clone(),
                            error: None,
                        },
                        None => FetchedOffset {
                            partition,
                            offset: -1,
                            leader_epoch: -1,
                            metadata: String::new(),
                            error: None,
                        },
                    }
                })
                .collect();
            (topic, fetched)
        })
        .collect()
}

/// The topics the members of a consumer-protocol group subscribe to (from their
/// `ConsumerProtocolSubscription` metadata; unreadable metadata subscribes to nothing).
fn subscribed_topics(group: &Group) -> std::collections::HashSet<String> {
    use kafka_protocol::messages::ConsumerProtocolSubscription;
    use kafka_protocol::protocol::Decodable;
    let mut topics = std::collections::HashSet::new();
    for member in group.members.values() {
        for (_, metadata) in &member.protocols {
            let mut buf = metadata.clone();
            if buf.len() < 2 {
                continue;
            }
            let version = i16::from_be_bytes([buf[0], buf[1]]).clamp(0, 3);
            let _ = bytes::Buf::get_i16(&mut buf);
            if let Ok(sub) = ConsumerProtocolSubscription::decode(&mut buf, version) {
                topics.extend(sub.topics.iter().map(|t| t.to_string()));
            }
        }
    }
    topics
}

impl GroupCoordinator {
    /// OffsetDelete (v0): removes committed offsets of an empty group, or of topics an
    /// active consumer group is not subscribed to (GROUP_SUBSCRIBED_TO_TOPIC otherwise).
    pub(crate) fn offset_delete(
        &self,
        req: kafka_protocol::messages::OffsetDeleteRequest,
        _version: i16,
    ) -> kafka_protocol::messages::OffsetDeleteResponse {
        use kafka_protocol::messages::offset_delete_response::{
            OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
        };
        use kafka_protocol::messages::OffsetDeleteResponse;
        let mut inner = self.lock();
        let Some(group) = inner.groups.get_mut(req.group_id.as_str()) else {
            return OffsetDeleteResponse::default()
                .with_error_code(ResponseError::GroupIdNotFound.code());
        };
        let active = group.state != GroupState::Empty;
        if active && group.protocol_type.as_deref() != Some("consumer") {
            return OffsetDeleteResponse::default()
                .with_error_code(ResponseError::NonEmptyGroup.code());
        }
        let subscribed = if active {
            subscribed_topics(group)
        } else {
            Default::default()
        };
        let topics = req
            .topics
            .iter()
            .map(|t| {
                let name = t.name.to_string();
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let r = OffsetDeleteResponsePartition::default()
                            .with_partition_index(p.partition_index);
                        if subscribed.contains(&name) {
                            return r.with_error_code(ResponseError::GroupSubscribedToTopic.code());
                        }
                        group.offsets.remove(&(name.clone(), p.partition_index));
                        r
                    })
                    .collect();
                OffsetDeleteResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(partitions)
            })
            .collect();
        OffsetDeleteResponse::default().with_topics(topics)
    }
}
