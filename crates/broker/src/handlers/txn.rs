//! InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn and TxnOffsetCommit.

use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::ResponseError;

use super::Api;
use crate::state::State;
use crate::txn::TxnError;

/// Maps a coordinator refusal to the code a client of `version` understands: requests
/// older than KIP-588 (`fenced_since`) get INVALID_PRODUCER_EPOCH instead of PRODUCER_FENCED.
fn txn_error_code(e: TxnError, version: i16, fenced_since: i16) -> i16 {
    match e {
        TxnError::Fenced if version < fenced_since => ResponseError::InvalidProducerEpoch.code(),
        TxnError::Fenced => ResponseError::ProducerFenced.code(),
        TxnError::InvalidProducerIdMapping => ResponseError::InvalidProducerIdMapping.code(),
        TxnError::InvalidTxnState => ResponseError::InvalidTxnState.code(),
        TxnError::InvalidTransactionTimeout => ResponseError::InvalidTransactionTimeout.code(),
    }
}

impl Api for InitProducerIdRequest {
    type Response = InitProducerIdResponse;
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
    type Response = AddPartitionsToTxnResponse;
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
    type Response = AddOffsetsToTxnResponse;
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
    type Response = EndTxnResponse;
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
    type Response = TxnOffsetCommitResponse;
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
    state.groups.txn_offset_commit(req, version, &exists)
}
