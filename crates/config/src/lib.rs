//! Typed, validated Kafka client settings for exactly-once pipelines.
//!
//! The safe settings are the only settings: producers are always idempotent
//! (`enable.idempotence=true`, `acks=all`, at most 5 requests in flight, unbounded
//! retries within `delivery.timeout.ms`), transactional producers add a stable
//! `transactional.id`, and consumers read `read_committed` with auto-commit and
//! automatic offset store off. Free-form librdkafka overrides are allowed, but one that
//! would break a guarantee is rejected with [`ConfigError::Unsafe`], naming the key, the
//! value and the reason. Every property is also checked by librdkafka's own parser when
//! the configuration is built (without connecting), so a misspelt name fails there too.
//!
//! ```
//! use kafka_eos_config::{ConfigError, PipelineConfig};
//!
//! let err = PipelineConfig::builder()
//!     .bootstrap_servers("localhost:9092")
//!     .group_id("g")
//!     .input_topic("in")
//!     .transactional_id("g-0")
//!     .producer_override("acks", "1")
//!     .build()
//!     .unwrap_err();
//! assert!(matches!(err, ConfigError::Unsafe { ref key, .. } if key == "acks"));
//! ```
#![warn(missing_docs)]

mod consumer;
mod error;
mod guard;
mod librdkafka;
mod mode;
mod pipeline;
mod producer;
mod secrets;
mod security;

pub use consumer::{ConsumerProfile, DEFAULT_SESSION_TIMEOUT_MS, FETCH_QUEUE_BACKOFF_MS};
pub use error::{ConfigError, Result};
pub use guard::MAX_IN_FLIGHT_LIMIT;
pub use mode::{AutoOffsetReset, Mode};
pub use pipeline::{
    PipelineConfig, PipelineConfigBuilder, DEFAULT_COMMIT_INTERVAL_MS, DEFAULT_COMMIT_MAX_RECORDS,
    ENV_PREFIX,
};
pub use producer::{
    ProducerProfile, DEFAULT_PARTITIONER, DEFAULT_TRANSACTION_TIMEOUT_MS, UNBOUNDED_RETRIES,
};
pub use secrets::{is_secret, Secret, SecretSource, REDACTED};
pub use security::{Sasl, SaslMechanism, Security, SecurityProtocol};

/// Re-export of rdkafka's client configuration type rendered by the profiles.
pub use rdkafka::ClientConfig;

#[cfg(test)]
mod security_tests;
#[cfg(test)]
mod tests;
