//! Fetch: long polling (max_wait / min_bytes), the high watermark, the last stable offset
//! and the aborted transactions a read_committed reader needs.

use std::time::Duration;

use bytes::BytesMut;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, ProducerId};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::Api;
use crate::state::State;

impl Api for FetchRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 4, max: 12 };
    /// The records' buffers go back to the spare buffers (taken in `read_once`).
    fn recycle(response: FetchResponse) {
        for t in response.responses {
            for p in t.partitions {
                if let Some(records) = p.records {
                    crate::buffers::give_back(records);
                }
            }
        }
    }

    fn fail(&self, _version: i16, code: i16) -> FetchResponse {
        FetchResponse::default().with_responses(
            self.topics
                .iter()
                .map(|t| {
                    FetchableTopicResponse::default()
                        .with_topic(t.topic.clone())
                        .with_topic_id(t.topic_id)
                        .with_partitions(
                            t.partitions
                                .iter()
                                .map(|p| partition_error(p.partition, code))
                                .collect(),
                        )
                })
                .collect(),
        )
    }
}

fn partition_error(partition: i32, code: i16) -> PartitionData {
    PartitionData::default()
        .with_partition_index(partition)
        .with_error_code(code)
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
        .with_preferred_read_replica(BrokerId(-1))
}

/// Builds the response from the current logs; returns it with its record bytes and
/// whether any partition has an error (which ends the long poll, as in Kafka).
fn read_once(state: &State, req: &FetchRequest) -> (FetchResponse, usize, bool) {
    let read_committed = req.isolation_level == 1;
    let topics = state.topics();
    let mut total = 0usize;
    let mut any_error = false;
    let max_total = if req.max_bytes <= 0 {
        usize::MAX
    } else {
        req.max_bytes as usize
    };
    let responses = req
        .topics
        .iter()
        .map(|t| {
            let name = t.topic.0.to_string();
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let Some(log) = topics.partition(&name, p.partition) else {
                        any_error = true;
                        return partition_error(
                            p.partition,
                            ResponseError::UnknownTopicOrPartition.code(),
                        );
                    };
                    if let Err(e) = log.epochs().check(p.current_leader_epoch) {
                        any_error = true;
                        return partition_error(p.partition, e.code());
                    }
                    let budget = (p.partition_max_bytes.max(0) as usize)
                        .min(max_total.saturating_sub(total));
                    // Kafka returns at least one batch for the first partition with data, even over the limits.
                    let budget = if total == 0 { budget.max(1) } else { budget };
                    let base = PartitionData::default()
                        .with_partition_index(p.partition)
                        .with_high_watermark(log.high_watermark())
                        .with_last_stable_offset(log.last_stable_offset())
                        .with_log_start_offset(log.log_start_offset())
                        .with_preferred_read_replica(BrokerId(-1));
                    let data = if budget == 0 && total > 0 {
                        Some(Default::default())
                    } else {
                        log.read(p.fetch_offset, budget, read_committed)
                    };
                    let Some(data) = data else {
                        any_error = true;
                        return base.with_error_code(ResponseError::OffsetOutOfRange.code());
                    };
                    total += data.bytes;
                    // a spare buffer, given back once the response is encoded (`recycle`)
                    let mut records = if data.bytes == 0 {
                        BytesMut::new()
                    } else {
                        crate::buffers::take(data.bytes)
                    };
                    for r in &data.records {
                        records.extend_from_slice(r);
                    }
                    let aborted = read_committed.then(|| {
                        data.aborted
                            .iter()
                            .map(|a| {
                                AbortedTransaction::default()
                                    .with_producer_id(ProducerId(a.producer_id))
                                    .with_first_offset(a.first_offset)
                            })
                            .collect()
                    });
                    base.with_aborted_transactions(aborted)
                        .with_records(Some(records.freeze()))
                })
                .collect();
            FetchableTopicResponse::default()
                .with_topic(t.topic.clone())
                .with_topic_id(t.topic_id)
                .with_partitions(partitions)
        })
        .collect();
    (
        FetchResponse::default().with_responses(responses),
        total,
        any_error,
    )
}

/// Handles a Fetch request, waiting up to `max_wait_ms` for `min_bytes`.
pub(crate) async fn fetch(state: &State, req: FetchRequest, _version: i16) -> FetchResponse {
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    loop {
        let notified = state.data_arrived.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (response, bytes, any_error) = read_once(state, &req);
        if any_error
            || bytes >= req.min_bytes.max(1) as usize
            || tokio::time::Instant::now() >= deadline
        {
            return response;
        }
        FetchRequest::recycle(response);
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}
