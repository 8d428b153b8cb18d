//! Kafka into PostgreSQL or MariaDB, exactly once.
//!
//! A [`DatabaseSink`] consumes a group's input topics and hands each record to a
//! [`DatabaseProcessor`] together with the open database transaction of its batch; the
//! sink then writes each partition's next offset into an offsets table **in that same
//! transaction** and commits. On start and on every assignment the consumer starts from the
//! offsets stored in the database, not Kafka's. So the database holds f(a prefix of the
//! input), each record applied once, whatever crashes: even a write that is not idempotent
//! (`balance = balance + amount`) is safe.
//!
//! | | |
//! |---|---|
//! | databases | PostgreSQL (feature `postgres`), MariaDB and MySQL (feature `mysql`); none by default |
//! | offsets table | `kafka_eos_offsets (group_id, topic, kafka_partition, next_offset)`, created if missing ([`Dialect::create_offsets_table`] gives the SQL) |
//! | fence | each batch moves its partitions' rows with a compare-and-set: a batch built on a position another instance moved commits nothing |
//! | batching | many records per transaction: `commit_max_records` / `commit_interval` of the [`PipelineConfig`](kafka_eos_processor::config::PipelineConfig), as in the Kafka pipeline |
//! | database down | the batch rolls back and runs again with backoff |
//! | processor error | the batch rolls back and runs again, up to `max_attempts`, then the sink stops naming the record, or with a [`dead_letter_table`](DatabaseSinkBuilder::dead_letter_table) writes it there in the batch's transaction (so does an undecodable record) |
//! | writes | [`Upsert`]: "insert or update by key" and "insert or add to" in the database's dialect |
//! | metrics | [`DatabaseSink::stats`] in process; through the `metrics` facade: [`metric_names`] (records, transactions by outcome, commit latency) |
//!
//! ## Why sqlx
//!
//! One async driver family for both databases (and the one `kafka-eos-idempotency` uses):
//! pure Rust (no libpq or MariaDB client library to install), Tokio-native, with
//! transactions as values the sink can hand to the processor and commit itself. Its
//! compile-time checked queries are not used: the sink's statements name a table chosen at
//! run time.
//!
//! ## Example
//!
//! ```no_run
//! # #[cfg(feature = "postgres")] {
//! use kafka_eos_database::{DatabaseProcessor, DatabaseSink, Upsert};
//! use kafka_eos_processor::config::PipelineConfig;
//! use kafka_eos_processor::{BoxError, Input, JsonCodec};
//! use sqlx::{PgConnection, Postgres};
//!
//! #[derive(serde::Deserialize)]
//! struct OrderEvent { order: i64, status: String, merchant: i64, fee_cents: i64 }
//!
//! struct Orders { status: Upsert<Postgres>, fees: Upsert<Postgres> }
//!
//! impl DatabaseProcessor<Postgres> for Orders {
//!     type Input = OrderEvent;
//!
//!     async fn process(&mut self, input: Input<OrderEvent>, tx: &mut PgConnection) -> Result<(), BoxError> {
//!         let e = input.value;
//!         self.status.query().bind(e.order).bind(&e.status).execute(&mut *tx).await?;
//!         self.fees.query().bind(e.merchant).bind(e.fee_cents).execute(&mut *tx).await?;
//!         Ok(())
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let orders = Orders {
//!     status: Upsert::new("order_status", &["order_id"], &["status"])?,
//!     fees: Upsert::increment("merchant_fees", &["merchant"], &["balance_cents"])?,
//! };
//! let config = PipelineConfig::builder()
//!     .bootstrap_servers("localhost:9092")
//!     .group_id("orders-to-postgres")
//!     .input_topic("orders");
//! DatabaseSink::builder(config, "postgres://postgres@127.0.0.1/test", orders, JsonCodec::new())
//!     .stop_on_signals(true)
//!     .build()
//!     .await?
//!     .run()
//!     .await?;
//! # Ok(()) }
//! # }
//! ```
#![warn(missing_docs)]

mod builder;
mod dialect;
mod error;
#[cfg(feature = "mysql")]
mod mysql;
mod offsets;
#[cfg(feature = "postgres")]
mod postgres;
mod processor;
mod sink;
mod source;
mod stats;
mod upsert;

pub use builder::DatabaseSinkBuilder;
pub use dialect::{DeadLetterSql, Dialect, StoredOffset};
pub use error::{Error, Result};
pub use offsets::DEFAULT_OFFSETS_TABLE;
pub use processor::DatabaseProcessor;
pub use sink::DatabaseSink;
pub use stats::{metric_names, Stats, StatsSnapshot};
pub use upsert::Upsert;

pub use sqlx;
