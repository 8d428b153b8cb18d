//! InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn and TxnOffsetCommit.

use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::Api;
use crate::clock::now_ms;
use crate::state::State;
use crate::txn::{TxnError, TxnState};

/// Maps a coordinator refusal to the code a client of `version` understands: requests
/// older than KIP-588 (`fenced_since`) get INVALID_PRODUCER_EPOCH instead of PRODUCER_FENCED.
fn txn_error_code(e: TxnError, version: i16, fenced_since: i16) -> i16 {
    match e {
        TxnError::Fenced if version < fenced_since => ResponseError::InvalidProducerEpoch.code(),
        TxnError::Fenced => ResponseError::ProducerFenced.code(),
        TxnError::InvalidProducerIdMapping => ResponseError::InvalidProducerIdMapping.code(),
        TxnError::InvalidTxnState => ResponseError::InvalidTxnState.code(),
        TxnError::InvalidTransactionTimeout => ResponseError::InvalidTransactionTimeout.code(),
        TxnError::Storage => ResponseError::NotCoordinator.code(),
    }
}

impl Api for InitProducerIdRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 4 };
    fn fail(&self, _version: i16, code: i16) -> InitProducerIdResponse {
        InitProducerIdResponse::default()
            .with_error_code(code)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    }
}

pub(crate) fn init_producer_id(
    state: &State,
    req: InitProducerIdRequest,
    version: i16,
) -> InitProducerIdResponse {
    let tid = req
        .transactional_id
        .as_ref()
        .map(|t| t.0.to_string())
        .filter(|t| !t.is_empty());
    let expected =
        (version >= 3 && req.producer_id.0 >= 0).then_some((req.producer_id.0, req.producer_epoch));
    let result = {
        let mut txns = state.txns();
        let mut topics = state.topics();
        txns.init_producer_id(
            tid.as_deref(),
            req.transaction_timeout_ms,
            expected,
            &mut topics,
            &state.groups,
        )
    };
    // a fencing abort writes markers: wake read_committed fetchers
    state.data_arrived.notify_waiters();
    match result {
        Ok((pid, epoch)) => {
            tracing::debug!(transactional_id = ?tid, pid, epoch, "InitProducerId");
            InitProducerIdResponse::default()
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
        }
        Err(e) => req.fail(version, txn_error_code(e, version, 4)),
    }
}

impl Api for AddPartitionsToTxnRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 3 };
    fn fail(&self, _version: i16, code: i16) -> AddPartitionsToTxnResponse {
        AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(
            self.v3_and_below_topics
                .iter()
                .map(|t| {
                    AddPartitionsToTxnTopicResult::default()
                        .with_name(t.name.clone())
                        .with_results_by_partition(
                            t.partitions
                                .iter()
                                .map(|p| {
                                    AddPartitionsToTxnPartitionResult::default()
                                        .with_partition_index(*p)
                                        .with_partition_error_code(code)
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
    }
}

pub(crate) fn add_partitions_to_txn(
    state: &State,
    req: AddPartitionsToTxnRequest,
    version: i16,
) -> AddPartitionsToTxnResponse {
    let tid = req.v3_and_below_transactional_id.0.to_string();
    let pid = req.v3_and_below_producer_id.0;
    let epoch = req.v3_and_below_producer_epoch;
    let mut txns = state.txns();
    let topics = state.topics();
    let mut wanted = Vec::new();
    let mut unknown = false;
    for t in &req.v3_and_below_topics {
        for p in &t.partitions {
            if topics.exists(&t.name.0, *p) {
                wanted.push((t.name.0.to_string(), *p));
            } else {
                unknown = true;
            }
        }
    }
    drop(topics);
    // Kafka: if any partition is unknown, none is added; the others get OPERATION_NOT_ATTEMPTED.
    let verdict: Result<(), i16> = if unknown {
        Err(ResponseError::OperationNotAttempted.code())
    } else {
        txns.add_partitions(&tid, pid, epoch, &wanted)
            .map_err(|e| txn_error_code(e, version, 2))
    };
    let results = req
        .v3_and_below_topics
        .iter()
        .map(|t| {
            AddPartitionsToTxnTopicResult::default()
                .with_name(t.name.clone())
                .with_results_by_partition(
                    t.partitions
                        .iter()
                        .map(|p| {
                            let code = match verdict {
                                Ok(()) => 0,
                                Err(c) if c == ResponseError::OperationNotAttempted.code() => {
                                    if wanted
                                        .iter()
                                        .any(|(n, q)| n.as_str() == &*t.name.0 && q == p)
                                    {
                                        c
                                    } else {
                                        ResponseError::UnknownTopicOrPartition.code()
                                    }
                                }
                                Err(c) => c,
                            };
                            AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(*p)
                                .with_partition_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results)
}

impl Api for AddOffsetsToTxnRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 3 };
    fn fail(&self, _version: i16, code: i16) -> AddOffsetsToTxnResponse {
        AddOffsetsToTxnResponse::default().with_error_code(code)
    }
}

pub(crate) fn add_offsets_to_txn(
    state: &State,
    req: AddOffsetsToTxnRequest,
    version: i16,
) -> AddOffsetsToTxnResponse {
    let result = state.txns().add_offsets(
        &req.transactional_id.0,
        req.producer_id.0,
        req.producer_epoch,
        &req.group_id.0,
    );
    match result {
        Ok(()) => AddOffsetsToTxnResponse::default(),
        Err(e) => req.fail(version, txn_error_code(e, version, 2)),
    }
}

impl Api for EndTxnRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 3 };
    fn fail(&self, _version: i16, code: i16) -> EndTxnResponse {
        EndTxnResponse::default().with_error_code(code)
    }
}

pub(crate) fn end_txn(state: &State, req: EndTxnRequest, version: i16) -> EndTxnResponse {
    let result = {
        let mut txns = state.txns();
        let mut topics = state.topics();
        txns.end_txn(
            &req.transactional_id.0,
            req.producer_id.0,
            req.producer_epoch,
            req.committed,
            &mut topics,
            &state.groups,
        )
    };
    match result {
        Ok(()) => {
            state.data_arrived.notify_waiters();
            EndTxnResponse::default()
        }
        Err(e) => req.fail(version, txn_error_code(e, version, 2)),
    }
}

impl Api for TxnOffsetCommitRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 3 };
    fn fail(&self, _version: i16, code: i16) -> TxnOffsetCommitResponse {
        TxnOffsetCommitResponse::default().with_topics(
            self.topics
                .iter()
                .map(|t| {
                    TxnOffsetCommitResponseTopic::default()
                        .with_name(t.name.clone())
                        .with_partitions(
                            t.partitions
                                .iter()
                                .map(|p| {
                                    TxnOffsetCommitResponsePartition::default()
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

pub(crate) fn txn_offset_commit(
    state: &State,
    req: TxnOffsetCommitRequest,
    version: i16,
) -> TxnOffsetCommitResponse {
    let check = state.txns().check_offsets(
        &req.transactional_id.0,
        req.producer_id.0,
        req.producer_epoch,
        &req.group_id.0,
    );
    if let Err(e) = check {
        return req.fail(version, txn_error_code(e, version, 3));
    }
    let topics = state.topics();
    let exists = |t: &str, p: i32| topics.exists(t, p);
    super::group_offsets::stage_txn(&state.groups, req, version, &exists)
}

impl Api for ListTransactionsRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 1 };
    fn fail(&self, _version: i16, code: i16) -> ListTransactionsResponse {
        ListTransactionsResponse::default().with_error_code(code)
    }
}

/// ListTransactions (v0-1): state, producer id and (v1) duration filters.
pub(crate) fn list_transactions(
    state: &State,
    req: ListTransactionsRequest,
    _version: i16,
) -> ListTransactionsResponse {
    use kafka_protocol::messages::list_transactions_response::TransactionState;
    const KNOWN: &[&str] = &[
        "Empty",
        "Ongoing",
        "PrepareCommit",
        "PrepareAbort",
        "CompleteCommit",
        "CompleteAbort",
        "Dead",
        "PrepareEpochFence",
    ];
    let unknown: Vec<_> = req
        .state_filters
        .iter()
        .filter(|f| !KNOWN.contains(&f.as_str()))
        .cloned()
        .collect();
    let now = now_ms();
    let txns = state.txns();
    let mut states: Vec<TransactionState> = txns
        .all()
        .filter(|(_, m)| {
            req.state_filters.is_empty()
                || req
                    .state_filters
                    .iter()
                    .any(|f| f.as_str() == m.state.as_str())
        })
        .filter(|(_, m)| {
            req.producer_id_filters.is_empty()
                || req.producer_id_filters.iter().any(|p| p.0 == m.producer_id)
        })
        .filter(|(_, m)| {
            req.duration_filter < 0
                || (m.state == TxnState::Ongoing
                    && m.started_ms >= 0
                    && now - m.started_ms > req.duration_filter)
        })
        .map(|(tid, m)| {
            TransactionState::default()
                .with_transactional_id(TransactionalId(super::sb(tid)))
                .with_producer_id(ProducerId(m.producer_id))
                .with_transaction_state(super::sb(m.state.as_str()))
        })
        .collect();
    states.sort_by(|a, b| a.transactional_id.0.cmp(&b.transactional_id.0));
    ListTransactionsResponse::default()
        .with_unknown_state_filters(unknown)
        .with_transaction_states(states)
}

impl Api for DescribeTransactionsRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 0 };
    fn fail(&self, _version: i16, code: i16) -> DescribeTransactionsResponse {
        use kafka_protocol::messages::describe_transactions_response::TransactionState;
        DescribeTransactionsResponse::default().with_transaction_states(
            self.transactional_ids
                .iter()
                .map(|t| {
                    TransactionState::default()
                        .with_transactional_id(t.clone())
                        .with_error_code(code)
                })
                .collect(),
        )
    }
}

/// DescribeTransactions (v0): state, timeout, start time, producer, partitions.
pub(crate) fn describe_transactions(
    state: &State,
    req: DescribeTransactionsRequest,
    _version: i16,
) -> DescribeTransactionsResponse {
    use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
    let txns = state.txns();
    let states = req
        .transactional_ids
        .iter()
        .map(|tid| {
            let r = TransactionState::default().with_transactional_id(tid.clone());
            let Some(m) = txns.get(&tid.0) else {
                return r.with_error_code(ResponseError::TransactionalIdNotFound.code());
            };
            let mut topics: Vec<TopicData> = Vec::new();
            for (topic, partition) in &m.partitions {
                match topics.iter_mut().find(|t| t.topic.0.as_str() == topic) {
                    Some(t) => t.partitions.push(*partition),
                    None => topics.push(
                        TopicData::default()
                            .with_topic(TopicName(super::sb(topic)))
                            .with_partitions(vec![*partition]),
                    ),
                }
            }
            r.with_transaction_state(super::sb(m.state.as_str()))
                .with_transaction_timeout_ms(
                    i32::try_from(m.timeout.as_millis()).unwrap_or(i32::MAX),
                )
                .with_transaction_start_time_ms(if m.state == TxnState::Ongoing {
                    m.started_ms
                } else {
                    -1
                })
                .with_producer_id(ProducerId(m.producer_id))
                .with_producer_epoch(m.epoch)
                .with_topics(topics)
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}

impl Api for DescribeProducersRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 0 };
    fn fail(&self, _version: i16, code: i16) -> DescribeProducersResponse {
        describe_producers_with(self, |_, _| Err(code))
    }
}

fn describe_producers_with(
    req: &DescribeProducersRequest,
    mut producers: impl FnMut(&str, i32) -> Result<Vec<(i64, i16, i32, i64)>, i16>,
) -> DescribeProducersResponse {
    use kafka_protocol::messages::describe_producers_response::{
        PartitionResponse, ProducerState, TopicResponse,
    };
    DescribeProducersResponse::default().with_topics(
        req.topics
            .iter()
            .map(|t| {
                TopicResponse::default()
                    .with_name(t.name.clone())
                    .with_partitions(
                        t.partition_indexes
                            .iter()
                            .map(|p| {
                                let r = PartitionResponse::default().with_partition_index(*p);
                                match producers(&t.name, *p) {
                                    Err(code) => r.with_error_code(code),
                                    Ok(list) => r.with_active_producers(
                                        list.into_iter()
                                            .map(|(pid, epoch, seq, txn_start)| {
                                                ProducerState::default()
                                                    .with_producer_id(ProducerId(pid))
                                                    .with_producer_epoch(i32::from(epoch))
                                                    .with_last_sequence(seq)
                                                    .with_last_timestamp(-1)
                                                    .with_coordinator_epoch(-1)
                                                    .with_current_txn_start_offset(txn_start)
                                            })
                                            .collect(),
                                    ),
                                }
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}

/// DescribeProducers (v0): the idempotent/transactional producers of each partition.
pub(crate) fn describe_producers(
    state: &State,
    req: DescribeProducersRequest,
    _version: i16,
) -> DescribeProducersResponse {
    let topics = state.topics();
    describe_producers_with(&req, |topic, p| {
        topics
            .partition(topic, p)
            .map(|log| log.active_producers())
            .ok_or(ResponseError::UnknownTopicOrPartition.code())
    })
}
