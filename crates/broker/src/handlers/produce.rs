//! Produce: validation, idempotence and transaction checks, appends.

use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::Api;
use crate::batch::BatchError;
use crate::clock::now_ms;
use crate::log::{AppendError, AppendPolicy};
use crate::state::State;

impl Api for ProduceRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 3, max: 10 };
    fn fail(&self, _version: i16, code: i16) -> ProduceResponse {
        ProduceResponse::default().with_responses(
            self.topic_data
                .iter()
                .map(|t| {
                    TopicProduceResponse::default()
                        .with_name(t.name.clone())
                        .with_partition_responses(
                            t.partition_data
                                .iter()
                                .map(|p| failed(p.index, code))
                                .collect(),
                        )
                })
                .collect(),
        )
    }
}

fn failed(index: i32, code: i16) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(code)
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1)
}

fn append_error_code(e: &AppendError) -> ResponseError {
    match e {
        AppendError::KeylessOnCompacted(_) => ResponseError::InvalidRecord,
        AppendError::Batch(BatchError::Corrupt) => ResponseError::CorruptMessage,
        AppendError::Batch(BatchError::UnsupportedMagic) => {
            ResponseError::UnsupportedForMessageFormat
        }
        AppendError::Batch(BatchError::Invalid) | AppendError::InvalidRecord => {
            ResponseError::InvalidRecord
        }
        AppendError::OutOfOrderSequence => ResponseError::OutOfOrderSequenceNumber,
        AppendError::InvalidProducerEpoch => ResponseError::InvalidProducerEpoch,
        AppendError::InvalidTxnState => ResponseError::InvalidTxnState,
        AppendError::MessageTooLarge => ResponseError::MessageTooLarge,
        AppendError::Storage => ResponseError::KafkaStorageError,
    }
}

/// Handles a Produce request (the caller sends no response for acks=0).
pub(crate) fn produce(state: &State, req: ProduceRequest, version: i16) -> ProduceResponse {
    if !matches!(req.acks, -1..=1) {
        return req.fail(0, ResponseError::InvalidRequiredAcks.code());
    }
    let now = now_ms();
    let mut appended_any = false;
    let responses = {
        let txns = state.txns();
        let mut topics = state.topics();
        req.topic_data
            .iter()
            .map(|t| {
                let topic = t.name.0.to_string();
                let partitions = t
                    .partition_data
                    .iter()
                    .map(|p| {
                        let policy = topics.get(&topic).map(|t| AppendPolicy {
                            now_ms: now,
                            log_append_time: t.configs.log_append_time(),
                            max_batch_bytes: t.configs.max_message_bytes(),
                            compacted: t.configs.compacted(),
                        });
                        let (Some(policy), Some(log)) = (policy, topics.partition_mut(&topic, p.index)) else {
                            return failed(p.index, ResponseError::UnknownTopicOrPartition.code());
                        };
                        let Some(records) = &p.records else {
                            return failed(p.index, ResponseError::CorruptMessage.code());
                        };
                        let allowed = |pid: i64, epoch: i16| txns.may_produce(pid, epoch, &topic, p.index);
                        match log.append(records, policy, allowed) {
                            Ok(a) => {
                                appended_any = true;
                                PartitionProduceResponse::default()
                                    .with_index(p.index)
                                    .with_base_offset(a.base_offset)
                                    .with_log_append_time_ms(a.log_append_time)
                                    .with_log_start_offset(log.log_start_offset())
                            }
                            Err(e) => {
                                let code = append_error_code(&e);
                                tracing::debug!(topic = %topic, partition = p.index, error = ?code, "produce rejected");
                                let r = failed(p.index, code.code());
                                match e {
                                    // as Kafka's LogValidator: each keyless record, and why (v8+)
                                    AppendError::KeylessOnCompacted(indexes) if version >= 8 => {
                                        let message = format!(
                                            "Compacted topic cannot accept message without key in topic partition {topic}-{}.",
                                            p.index
                                        );
                                        let errors = indexes
                                            .into_iter()
                                            .map(|i| {
                                                BatchIndexAndErrorMessage::default()
                                                    .with_batch_index(i)
                                                    .with_batch_index_error_message(Some(StrBytes::from_string(message.clone())))
                                            })
                                            .collect();
                                        r.with_record_errors(errors)
                                            .with_error_message(Some(StrBytes::from_string(message)))
                                    }
                                    _ => r,
                                }
                            }
                        }
                    })
                    .collect();
                TopicProduceResponse::default()
                    .with_name(t.name.clone())
                    .with_partition_responses(partitions)
            })
            .collect()
    };
    if appended_any {
        state.data_arrived.notify_waiters();
    }
    ProduceResponse::default().with_responses(responses)
}
