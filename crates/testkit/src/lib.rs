//! Test fixtures for kafka-eos pipelines.
//!
//! - [`Cluster`]: the embedded broker by default, any Kafka cluster when
//!   `KAFKA_BOOTSTRAP_SERVERS` is set.
//! - [`run_pipeline`]: runs a pipeline under test until its output topic holds the expected
//!   records (read `read_committed`), stops it gracefully and returns what it wrote and its
//!   metrics; an error the pipeline stops with is returned at once.
//! - [`write_records`] and [`read_committed`]: an idempotent writer and a `read_committed` reader.
//! - [`Collector`]: a background `read_committed` reader that watches a pipeline's output.
//! - [`wait_until`] and [`test_seed`]: progress waits and replayable seeds for long runs.
//! - [`check_exactly_once`]: compares what a pipeline wrote with `f(input)`: duplicates,
//!   missing and unexpected records, per-key order.
//!
//! # Blocking and async calls
//!
//! [`write_records`], [`read_committed`], [`read_committed_from`], [`verify_topic`] and
//! [`Cluster::create_topic`] block the calling thread. In async tests use their `_async`
//! twins ([`write_records_async`], [`read_committed_async`], [`read_committed_from_async`],
//! [`verify_topic_async`], [`Cluster::create_topic_async`]): they run the client work on
//! Tokio's blocking pool, so a pipeline spawned on the same runtime keeps running even on a
//! current-thread runtime (a plain `#[tokio::test]`). A blocking read there starves the
//! pipeline: it writes nothing and the read times out with `got: 0`.
//!
//! # Testing a pipeline: output = f(input)
//!
//! ```no_run
//! use std::time::Duration;
//! use kafka_eos_processor::{BoxError, Input, Output, PipelineBuilder, Processor, RawBytes};
//! use kafka_eos_testkit::{check_exactly_once, run_pipeline, write_records_async, Cluster, Record};
//!
//! /// The pipeline under test: each value upper-cased, same key, to `output`.
//! struct Upper { output: String }
//!
//! impl Processor for Upper {
//!     type Input = Option<Vec<u8>>; // RawBytes: `None` for a tombstone
//!     async fn process(&self, input: Input<Option<Vec<u8>>>) -> Result<Vec<Output>, BoxError> {
//!         let value = input.value.unwrap_or_default().to_ascii_uppercase();
//!         Ok(vec![Output::new(&self.output, input.key.unwrap_or_default(), value)])
//!     }
//! }
//!
//! #[tokio::main(flavor = "current_thread")] // the runtime a plain #[tokio::test] runs on
//! async fn main() -> Result<(), kafka_eos_testkit::Error> {
//!     let cluster = Cluster::from_env()?; // embedded, unless KAFKA_BOOTSTRAP_SERVERS is set
//!     let bootstrap = cluster.bootstrap_servers();
//!     let (input, output) = (cluster.unique_topic("words"), cluster.unique_topic("upper"));
//!     cluster.create_topic_async(&input, 4).await?;
//!     cluster.create_topic_async(&output, 4).await?;
//!     let records: Vec<Record> =
//!         (0..100).map(|i| Record::new(format!("k{}", i % 10), format!("word-{i}"))).collect();
//!     write_records_async(&bootstrap, &input, &records).await?;
//!
//!     // f(input), computed independently of the processor, in input order
//!     let expected: Vec<Record> =
//!         records.iter().map(|r| Record::new(r.key.clone(), r.value_text().to_uppercase())).collect();
//!
//!     let pipeline = PipelineBuilder::new()
//!         .bootstrap_servers(&bootstrap)
//!         .group_id(cluster.unique_topic("upper-test"))
//!         .input_topic(&input)
//!         .build(Upper { output: output.clone() }, RawBytes)?;
//!     // runs it until `output` holds expected.len() records (read_committed), then stops it
//!     let run = run_pipeline(pipeline, &bootstrap, &output, expected.len(), Duration::from_secs(60)).await?;
//!     let report = check_exactly_once(&expected, &run.records);
//!     assert!(report.is_exactly_once(), "{report}");
//!     Ok(())
//! }
//! ```

mod check;
mod cluster;
mod collector;
mod error;
mod io;
mod progress;
mod run;

pub use check::{check_exactly_once, verify_topic, verify_topic_async, ExactlyOnceReport};
pub use cluster::{Cluster, BOOTSTRAP_ENV, TESTCONTAINERS_ENV};
pub use collector::Collector;
pub use error::{Error, Result};
pub use io::{
    client_config, committed_reader, committed_reader_with, read_committed, read_committed_async,
    read_committed_from, read_committed_from_async, read_committed_with, write_records,
    write_records_async, write_records_with, Record,
};
pub use progress::{test_seed, wait_until, SEED_ENV};
pub use run::{run_pipeline, PipelineRun, RUN_LINGER, STOP_TIMEOUT};
