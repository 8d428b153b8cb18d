//! OffsetCommit, OffsetFetch and OffsetDelete on the wire, and the group half of
//! TxnOffsetCommit: the fields each version has, UNKNOWN_TOPIC_OR_PARTITION for partitions
//! that do not exist, and the group coordinator's answers as responses.

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::group::{code, owned};
use super::{sb, Api};
use crate::group::{CommitTarget, GroupCoordinator, GroupError, OffsetEntry, OffsetQuery};
use crate::state::State;

/// Whether `topic`/`partition` exists.
pub(crate) type PartitionExists<'a> = &'a dyn Fn(&str, i32) -> bool;

/// The codes of one topic's partitions: `(topic, [(partition, code)])`.
type TopicCodes = (String, Vec<(i32, i16)>);

/// Gives the entries of existing partitions to `commit` and answers the others
/// UNKNOWN_TOPIC_OR_PARTITION; the code of every entry in request order, by topic (`exists`
/// is asked before `commit` runs).
fn commit_existing(
    entries: Vec<OffsetEntry>,
    exists: PartitionExists<'_>,
    commit: impl FnOnce(Vec<OffsetEntry>) -> Vec<Option<GroupError>>,
) -> Vec<TopicCodes> {
    let keys: Vec<(String, i32, bool)> = entries
        .iter()
        .map(|e| (e.topic.clone(), e.partition, exists(&e.topic, e.partition)))
        .collect();
    let known = entries
        .into_iter()
        .zip(&keys)
        .filter_map(|(e, (_, _, known))| known.then_some(e))
        .collect();
    let mut results = commit(known).into_iter();
    let mut out: Vec<TopicCodes> = Vec::new();
    for (topic, partition, known) in keys {
        let code = if known {
            code(results.next().flatten())
        } else {
            ResponseError::UnknownTopicOrPartition.code()
        };
        match out.last_mut() {
            Some((name, partitions)) if *name == topic => partitions.push((partition, code)),
            _ => out.push((topic, vec![(partition, code)])),
        }
    }
    out
}

/// The offsets of an OffsetCommit or TxnOffsetCommit request (two generated types with the
/// same fields): a `Vec<OffsetEntry>`, with the leader epoch if `$with_epoch`.
macro_rules! offset_entries {
    ($topics:expr, $with_epoch:expr) => {
        $topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| OffsetEntry {
                    topic: owned(&t.name),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: if $with_epoch {
                        p.committed_leader_epoch
                    } else {
                        -1
                    },
                    metadata: p.committed_metadata.as_ref().map(owned),
                })
            })
            .collect::<Vec<OffsetEntry>>()
    };
}

/// The topics of an OffsetCommit or TxnOffsetCommit response (two generated types with the
/// same fields) from `(topic, [(partition, code)])`.
macro_rules! topic_codes {
    ($codes:expr, $topic:ty, $partition:ty) => {
        $codes
            .into_iter()
            .map(|(topic, partitions)| {
                <$topic>::default()
                    .with_name(TopicName(sb(topic)))
                    .with_partitions(
                        partitions
                            .into_iter()
                            .map(|(partition, code)| {
                                <$partition>::default()
                                    .with_partition_index(partition)
                                    .with_error_code(code)
                            })
                            .collect(),
                    )
            })
            .collect()
    };
}

impl Api for OffsetCommitRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 2, max: 9 };
    fn fail(&self, _version: i16, code: i16) -> OffsetCommitResponse {
        OffsetCommitResponse::default().with_topics(
            self.topics
                .iter()
                .map(|t| {
                    OffsetCommitResponseTopic::default()
                        .with_name(t.name.clone())
                        .with_partitions(
                            t.partitions
                                .iter()
                                .map(|p| {
                                    OffsetCommitResponsePartition::default()
                                        .with_partition_index(p.partition_index)
                                        .with_error_code(code)
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
    }
}

/// OffsetCommit, with the topic existence check.
pub(crate) fn offset_commit(
    state: &State,
    req: OffsetCommitRequest,
    version: i16,
) -> OffsetCommitResponse {
    let topics = state.topics();
    commit(&state.groups, req, version, &|t, p| topics.exists(t, p))
}

/// OffsetCommit of the partitions that `exists`.
pub(crate) fn commit(
    groups: &GroupCoordinator,
    req: OffsetCommitRequest,
    version: i16,
    exists: PartitionExists<'_>,
) -> OffsetCommitResponse {
    let entries = offset_entries!(req.topics, version >= 6);
    let target = CommitTarget {
        group_id: owned(&req.group_id),
        generation: req.generation_id_or_member_epoch,
        member_id: owned(&req.member_id),
        group_instance_id: if version >= 7 {
            req.group_instance_id.as_ref().map(owned)
        } else {
            None
        },
    };
    let results = commit_existing(entries, exists, |known| {
        groups.commit_offsets(&target, known)
    });
    OffsetCommitResponse::default().with_topics(topic_codes!(
        results,
        OffsetCommitResponseTopic,
        OffsetCommitResponsePartition
    ))
}

/// The group half of TxnOffsetCommit (after the transaction coordinator's checks): stages
/// the offsets of the partitions that `exists`. From v3 the request's generation and member
/// are checked as in KIP-447.
pub(crate) fn stage_txn(
    groups: &GroupCoordinator,
    req: TxnOffsetCommitRequest,
    version: i16,
    exists: PartitionExists<'_>,
) -> TxnOffsetCommitResponse {
    let entries = offset_entries!(req.topics, version >= 2);
    let target = if version >= 3 {
        CommitTarget {
            group_id: owned(&req.group_id),
            generation: req.generation_id,
            member_id: owned(&req.member_id),
            group_instance_id: req.group_instance_id.as_ref().map(owned),
        }
    } else {
        CommitTarget {
            group_id: owned(&req.group_id),
            generation: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    };
    let results = commit_existing(entries, exists, |known| {
        groups.stage_txn_offsets(&target, req.producer_id.0, known)
    });
    TxnOffsetCommitResponse::default().with_topics(topic_codes!(
        results,
        TxnOffsetCommitResponseTopic,
        TxnOffsetCommitResponsePartition
    ))
}

impl Api for OffsetFetchRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 1, max: 9 };
    fn fail(&self, version: i16, code: i16) -> OffsetFetchResponse {
        if version >= 8 {
            OffsetFetchResponse::default().with_groups(
                self.groups
                    .iter()
                    .map(|g| {
                        OffsetFetchResponseGroup::default()
                            .with_group_id(g.group_id.clone())
                            .with_error_code(code)
                    })
                    .collect(),
            )
        } else {
            OffsetFetchResponse::default().with_error_code(code)
        }
    }
}

/// OffsetFetch (v8+ batches groups). `topics = null` returns every committed partition of
/// the group. With `require_stable` (v7+), a partition with a pending transactional commit
/// answers UNSTABLE_OFFSET_COMMIT (a partition error, as Kafka: the group-level error stays
/// NONE).
pub(crate) fn offset_fetch(
    groups: &GroupCoordinator,
    req: OffsetFetchRequest,
    version: i16,
) -> OffsetFetchResponse {
    let require_stable = version >= 7 && req.require_stable;
    if version >= 8 {
        let queries = req
            .groups
            .iter()
            .map(|g| OffsetQuery {
                group_id: owned(&g.group_id),
                topics: g.topics.as_ref().map(|topics| {
                    topics
                        .iter()
                        .map(|t| (owned(&t.name), t.partition_indexes.clone()))
                        .collect()
                }),
            })
            .collect();
        let fetched = groups.fetch_offsets(queries, require_stable);
        let groups = req
            .groups
            .iter()
            .zip(fetched)
            .map(|(g, topics)| {
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id.clone())
                    .with_error_code(0)
                    .with_topics(
                        topics
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
        let query = OffsetQuery {
            group_id: owned(&req.group_id),
            topics: req.topics.as_ref().map(|topics| {
                topics
                    .iter()
                    .map(|t| (owned(&t.name), t.partition_indexes.clone()))
                    .collect()
            }),
        };
        let topics = groups
            .fetch_offsets(vec![query], require_stable)
            .into_iter()
            .flatten()
            .map(|(topic, partitions)| {
                OffsetFetchResponseTopic::default()
                    .with_name(TopicName(sb(topic)))
                    .with_partitions(
                        partitions
                            .into_iter()
                            .map(|p| {
                                let epoch = if version >= 5 { p.leader_epoch } else { -1 };
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
            .collect();
        OffsetFetchResponse::default()
            .with_error_code(0)
            .with_topics(topics)
    }
}

impl Api for OffsetDeleteRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 0 };
    fn fail(&self, _version: i16, code: i16) -> OffsetDeleteResponse {
        OffsetDeleteResponse::default().with_error_code(code)
    }
}

/// OffsetDelete: removes committed offsets of an empty group, or of topics an active
/// consumer group is not subscribed to (GROUP_SUBSCRIBED_TO_TOPIC otherwise).
pub(crate) fn offset_delete(
    groups: &GroupCoordinator,
    req: OffsetDeleteRequest,
    _version: i16,
) -> OffsetDeleteResponse {
    let topics: Vec<(String, Vec<i32>)> = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t.partitions.iter().map(|p| p.partition_index).collect();
            (owned(&t.name), partitions)
        })
        .collect();
    let results = match groups.delete_offsets(req.group_id.as_str(), &topics) {
        Ok(results) => results,
        Err(error) => return OffsetDeleteResponse::default().with_error_code(code(Some(error))),
    };
    let topics = req
        .topics
        .iter()
        .zip(results)
        .map(|(t, error)| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code(error))
                })
                .collect();
            OffsetDeleteResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}
