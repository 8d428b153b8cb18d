//! Test fixtures for kafka-eos pipelines.
//!
//! - [`Cluster`]: the embedded broker by default, any Kafka cluster when
//!   `KAFKA_BOOTSTRAP_SERVERS` is set.
//! - [`write_records`] and [`read_committed`]: an idempotent writer and a `read_committed` reader.
//! - [`Collector`]: a background `read_committed` reader that watches a pipeline's output.
//! - [`wait_until`] and [`test_seed`]: progress waits and replayable seeds for long runs.
//! - [`check_exactly_once`]: compares what a pipeline wrote with `f(input)`: duplicates,
//!   missing and unexpected records, per-key order.
//!
//! ```no_run
//! use std::time::Duration;
//! use kafka_eos_testkit::{check_exactly_once, read_committed, write_records, Cluster, Record};
//! # fn main() -> Result<(), kafka_eos_testkit::Error> {
//! let cluster = Cluster::from_env()?;
//! let input = cluster.unique_topic("orders");
//! cluster.create_topic(&input, 4)?;
//! let records: Vec<Record> = (0..100).map(|i| Record::new(format!("k{}", i % 10), format!("v{i}"))).collect();
//! write_records(&cluster.bootstrap_servers(), &input, &records)?;
//! // ... run the pipeline input -> output, then:
//! let out = read_committed(&cluster.bootstrap_servers(), &input, records.len(), Duration::from_secs(1))?;
//! let report = check_exactly_once(&records, &out);
//! assert!(report.is_exactly_once(), "{report}");
//! # Ok(()) }
//! ```

mod check;
mod cluster;
mod collector;
mod error;
mod io;
mod progress;

pub use check::{check_exactly_once, verify_topic, ExactlyOnceReport};
pub use cluster::{Cluster, BOOTSTRAP_ENV, TESTCONTAINERS_ENV};
pub use collector::Collector;
pub use error::{Error, Result};
pub use io::{committed_reader, read_committed, read_committed_from, write_records, Record};
pub use progress::{test_seed, wait_until, SEED_ENV};
