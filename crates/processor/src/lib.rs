//! The `Processor` trait and the `Pipeline` runtime: consume -> process -> produce,
//! with outputs and input offsets committed atomically in one Kafka transaction.
//!
//! See [`Pipeline`] for the loop and its error handling, [`Processor`] for user logic
//! (records of different keys concurrently with [`PipelineBuilder::max_in_flight`]),
//! [`Codec`] for input decoding ([`JsonCodec`], [`BincodeCodec`], [`RawBytes`]) and
//! [`ErrorPolicy`] for records that cannot be decoded or keep failing;
//! [`PipelineBuilder::parking_topic`] makes a failing record park its key (and the key's
//! later records) while the other keys go on, [`KeyPolicy`] says what a key does after a
//! dead letter.
//!
//! ## Metrics
//!
//! [`Pipeline::metrics`] reads the counters in process; every metric is also published
//! through the [`metrics`](https://docs.rs/metrics) facade when [`Pipeline::run`] starts (to
//! the recorder your application installed), or served for Prometheus at
//! [`PipelineBuilder::metrics_addr`]. Every metric carries the label `group`; the names are
//! constants in [`metric_names`]:
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `kafka_eos_records_in_total` | counter | | input records done (outputs or dead letter, and offset committed) |
//! | `kafka_eos_records_out_total` | counter | | output records acknowledged (aborted transactions' included) |
//! | `kafka_eos_records_polled_total` | counter | | input records taken from the consumer, replays included |
//! | `kafka_eos_records_replayed_total` | counter | | input records taken again after an abort |
//! | `kafka_eos_process_calls_total` | counter | | processor calls (attempts) |
//! | `kafka_eos_transactions_begun_total` | counter | | transactions begun |
//! | `kafka_eos_transactions_committed_total` | counter | | transactions committed |
//! | `kafka_eos_transactions_aborted_total` | counter | `cause` (`retry`, `stop`, `error`, `shutdown`, `other`) | transactions aborted, by why: records to retry (the batch replays), a record that stops the pipeline, a Kafka or delivery error, a shutdown with a transaction open, an abort not named |
//! | `kafka_eos_retries_total` | counter | | Kafka operations retried |
//! | `kafka_eos_record_retries_total` | counter | `attempt` (`1`..`7`, `8+`) | records scheduled for another attempt, by the attempt that failed |
//! | `kafka_eos_send_failures_total` | counter | | failed sends |
//! | `kafka_eos_producer_rebuilds_total` | counter | | producers rebuilt after a fatal error |
//! | `kafka_eos_dead_letters_total` | counter | | records written to the dead-letter topic |
//! | `kafka_eos_consumer_pauses_total` | counter | | consumer paused behind a batch in flight |
//! | `kafka_eos_commit_latency_seconds` | histogram | `le` | commit latency ([`COMMIT_LATENCY_BUCKETS`]) |
//! | `kafka_eos_records_in_flight` | gauge | | input records of the open transaction |
//! | `kafka_eos_records_in_flight_peak` | gauge | | most records processed at once since the start |
//! | `kafka_eos_consumer_lag_records` | gauge | `topic`, `partition` | last stable offset minus the offset this pipeline committed; 0 once caught up |
//! | `kafka_eos_consumer_lag_seconds` | gauge | `topic`, `partition` | 0 once caught up, else the age of the last committed record |
//! | `kafka_eos_records_parked_total` | counter | | records written to the parking topic |
//! | `kafka_eos_parked_keys` | gauge | | keys parked now |
//! | `kafka_eos_parked_records` | gauge | | records parked now |
//! | `kafka_eos_hot_key_share` | gauge | `topic`, `partition` | the hottest key's share of the partition's recent records polled ([`Pipeline::hot_keys`] names the keys) |
//! | `kafka_eos_fencings_total` | counter | | times this pipeline's producer was fenced by a newer instance (it stops) |
//!
//! The lag comes from librdkafka's statistics (`statistics.interval.ms`, 1 s by default):
//! the README's "Metrics" section says how and why.
#![warn(missing_docs)]

mod arena;
mod attempts;
mod backoff;
mod batch;
mod builder;
mod codec;
mod consumer_lag;
mod context;
mod dead_letter;
mod error;
mod failure;
mod hot_keys;
mod metrics_endpoint;
mod parking;
mod pipeline;
mod prefetch;
mod processor;
mod recovery;
mod scheduler;
mod signals;
mod sink;
mod startup;
mod transaction;

pub use backoff::Backoff;
pub use builder::PipelineBuilder;
pub use bytes::Bytes;
pub use codec::{BincodeCodec, Codec, JsonCodec, RawBytes};
pub use context::EosConsumerContext;
pub use dead_letter::ErrorPolicy;
pub use error::{BoxError, Error, Result};
pub use failure::{Failure, FailureKind};
pub use hot_keys::{HotKeyMonitor, DEFAULT_HOT_KEY_ALERT};
pub use parking::KeyPolicy;
pub use pipeline::Pipeline;
pub use processor::{Input, Output, Processor, Sequential, SequentialProcessor};
pub use signals::{cancel_on_signal, stopping_on_signals};
pub use startup::DEFAULT_STARTUP_TIMEOUT;

pub use kafka_eos_config as config;
pub use kafka_eos_core as core;
pub use kafka_eos_core::{dlq_headers, metric_names, IntoTopic, Metrics, MetricsSnapshot};
pub use metrics_endpoint::COMMIT_LATENCY_BUCKETS;
pub use tokio_util::sync::CancellationToken;

/// The README's code blocks, compiled as doc tests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
