//! The `kafka-eos` command's building blocks: the embedded broker as a process
//! ([`broker`]), the operations on a running pipeline's group: [`offsets`] (reset, for
//! replay) and [`lag`] (per partition, with skew, watched), [`skew`](mod@skew) (how a topic's records
//! and keys spread over its partitions), and [`dlq`] (replay dead letters to their source
//! topics, exactly once), [`parked`] (list parked keys, release a held one). The
//! order-pipeline demo is its own
//! binary, `kafka-eos-demo` (crate `kafka-eos-demo`).

pub mod broker;
pub mod client;
pub mod dlq;
pub mod error;
pub mod lag;
pub mod offsets;
pub mod parked;
pub mod skew;

pub use error::CliError;
pub use kafka_eos_core::lag::skew;
