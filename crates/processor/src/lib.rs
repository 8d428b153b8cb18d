//! The `Processor` trait and the `Pipeline` runtime: consume -> process -> produce,
//! with outputs and input offsets committed atomically in one Kafka transaction.
//!
//! See [`Pipeline`] for the loop and its error handling, [`Processor`] for user logic,
//! [`Codec`] for input decoding ([`JsonCodec`], [`BincodeCodec`], [`RawBytes`]) and
//! [`ErrorPolicy`] for records that cannot be decoded or keep failing.
#![warn(missing_docs)]

mod codec;
mod context;
mod error;
mod pipeline;
mod processor;
mod startup;

pub use codec::{BincodeCodec, Codec, JsonCodec, RawBytes};
pub use context::EosConsumerContext;
pub use error::{BoxError, Error, Result};
pub use pipeline::{dlq_headers, ErrorPolicy, Pipeline, PipelineBuilder};
pub use processor::{Input, Output, Processor};
pub use startup::DEFAULT_STARTUP_TIMEOUT;

pub use kafka_eos_config as config;
pub use kafka_eos_core as core;
pub use kafka_eos_core::{Metrics, MetricsSnapshot};
pub use tokio_util::sync::CancellationToken;

/// The README's code blocks, compiled as doc tests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
