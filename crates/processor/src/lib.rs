//! The `Processor` trait and the `Pipeline` runtime: consume -> process -> produce,
//! with outputs and input offsets committed atomically in one Kafka transaction.
//!
//! See [`Pipeline`] for the loop and its error handling, [`Processor`] for user logic
//! (records of different keys concurrently with [`PipelineBuilder::max_in_flight`]),
//! [`Codec`] for input decoding ([`JsonCodec`], [`BincodeCodec`], [`RawBytes`]) and
//! [`ErrorPolicy`] for records that cannot be decoded or keep failing.
#![warn(missing_docs)]

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
mod parking;
mod metrics_endpoint;
mod pipeline;
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
pub use parking::KeyPolicy;
pub use pipeline::Pipeline;
pub use processor::{Input, Output, Processor, Sequential, SequentialProcessor};
pub use startup::DEFAULT_STARTUP_TIMEOUT;

pub use kafka_eos_config as config;
pub use kafka_eos_core as core;
pub use kafka_eos_core::{dlq_headers, metric_names, Metrics, MetricsSnapshot};
pub use metrics_endpoint::COMMIT_LATENCY_BUCKETS;
pub use tokio_util::sync::CancellationToken;

/// The README's code blocks, compiled as doc tests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
