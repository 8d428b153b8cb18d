//! The async transactional producer, error classification and the building blocks of
//! the exactly-once read-process-write loop.
//!
//! ```text
//! init_transactions -> loop {
//!     poll a batch
//!     begin
//!     for each record: process -> enqueue outputs (deliveries counted, all awaited before the commit)
//!     send_offsets(next offsets, consumer.group_metadata())
//!     commit
//! }
//! ```
//!
//! Every error is classified once, by [`Error::kind`]:
//!
//! | [`ErrorKind`] | examples | what the pipeline does |
//! |---|---|---|
//! | `Retriable` | commit timed out, `COORDINATOR_NOT_AVAILABLE`, `CONCURRENT_TRANSACTIONS` | call the same operation again |
//! | `Abortable` | a produce failed, `UNKNOWN_PRODUCER_ID`, `ILLEGAL_GENERATION` on TxnOffsetCommit, message timeout | abort, rewind the consumer, replay |
//! | `Fatal` | `INVALID_TXN_STATE`, authorization failures | rebuild the producer, rewind |
//! | `Fenced` | `PRODUCER_FENCED`, `INVALID_PRODUCER_EPOCH` | stop: a newer instance owns the id |
//!
//! [`dlq_headers`] names the headers of a dead letter (written by the processor, read by
//! `kafka-eos dlq replay`) and of a record replayed from one.
#![warn(missing_docs)]

mod delivery;
pub mod dlq_headers;
mod error;
pub mod hot_keys;
pub mod lag;
mod metrics;
pub mod parked;
pub mod partitioning;
mod producer;
pub mod rebalance;
mod record;
mod retry;
mod transactional_id;

pub use self::metrics::{
    names as metric_names, AbortCause, Metrics, MetricsSnapshot, ABORT_CAUSES, ATTEMPT_BUCKETS,
    LATENCY_RESERVOIR,
};
pub use delivery::{Deliveries, DeliveryContext, OutputProducer};
pub use error::{classify, is_authorization, Error, ErrorKind, Operation, Result, SendError};
pub use producer::{Delivered, TransactionalProducer, DEFAULT_OPERATION_TIMEOUT};
pub use record::{owned_headers, IntoTopic, OwnedRecord};
pub use retry::RetryPolicy;
pub use transactional_id::TransactionalId;

pub use kafka_eos_config as config;
pub use rdkafka;
