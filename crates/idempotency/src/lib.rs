//! Side effects outside Kafka, at most once per idempotency key.
//!
//! A pipeline's Kafka outputs are exactly once: they commit with the input offsets in one
//! transaction. A side effect outside Kafka (a database write, an HTTP call, an e-mail) is
//! not in that transaction: an aborted and replayed batch, or a crash before the commit,
//! calls the processor again, and the effect runs again. This crate makes it run at most
//! once per key, except in one window, stated below.
//!
//! - [`Idempotent::once`]: the processor-facing helper: runs an effect unless its key is
//!   done, and marks it done after it succeeds.
//! - [`IdempotencyKey`]: the key, namespaced by app or group: the record's
//!   `topic/partition/offset` ([`IdempotencyKey::of_input`], the default) or your own
//!   (an order id and its status: [`IdempotencyKey::new`]).
//! - [`IdempotencyStore`]: the small trait of the stores: [`MemoryStore`] (tests),
//!   `RedisStore` (feature `redis`), `PostgresStore` (feature `postgres`), `MySqlStore`
//!   (feature `mysql`, MariaDB or MySQL), and [`Layered`] (Redis in front of a database: the
//!   seeds' layered store).
//!
//! # The protocol: claim, run, mark
//!
//! Marking a key *before* the effect (a plain `SET NX`) loses the effect when the process dies
//! between the mark and the effect: the key says done, the effect never happened. Marking it
//! only *after* the effect lets two runs both find the key free and both run it. So a key
//! goes through two states:
//!
//! 1. **claimed**, with a lease: [`IdempotencyStore::claim`] takes a free key, or a key
//!    whose claim's lease ended, in one atomic step of the store's server (`SET NX PX`,
//!    `INSERT ... ON CONFLICT DO UPDATE ... WHERE expires_at <= now()`, `INSERT ... ON
//!    DUPLICATE KEY UPDATE`). Any other run that asks meanwhile gets [`Error::Claimed`] with
//!    the time left on the lease: a retriable error, never "done". Two runs racing for a
//!    free key: the store's unique key lets exactly one through.
//! 2. the effect runs, given the key;
//! 3. **done**: [`IdempotencyStore::complete`] marks the key done, without a lease (for good
//!    in a database; for the done TTL in Redis, 7 days by default). From then on every run
//!    gets [`Outcome::AlreadyDone`] and skips the effect. If the effect fails, its claim is
//!    released ([`IdempotencyStore::release`]) and the error returned ([`Error::Effect`]), so
//!    the retry runs the effect at once.
//!
//! # What is guaranteed, and the window where it is not
//!
//! While the store answers, an effect runs **at most once per key**, with one exception:
//! the effect's success and its mark are two steps, not one transaction. If the process dies
//! (or its future is dropped, or the store stops answering for longer than the mark is
//! retried) **after the effect succeeded and before the key is marked done**, the key stays
//! claimed until its lease ends; then the next run (the replayed batch, another instance)
//! re-takes the claim and runs the effect again. Across such a crash the effect is
//! **at least once**. The same happens if an effect outlives its lease (another run
//! re-takes the key while it runs; counted as [`IdempotentStats::lease_lost`]): choose a
//! lease longer than the effect's longest run ([`Idempotent::lease`], 30 s by default).
//!
//! The window closes downstream: the effect gets its [`IdempotencyKey`]; pass it on (an
//! argument, an `Idempotency-Key` HTTP header, [`IdempotencyKey::HEADER`] on a record, a
//! unique column of the row written) so that the service doing the effect dedupes the
//! second call. An effect that is a write to the same database as the store is better done
//! with its mark in one database transaction (an exactly-once database sink, planned, does
//! that for whole batches).
//!
//! A crash *before* the effect ran (or during it, the effect not done) leaves a claim
//! that ends with its lease: the effect runs once, after the lease. Nothing is lost.
//!
//! # Store errors are errors
//!
//! A store that is down, times out or loses its connection answers [`Error::Unavailable`];
//! a key held by a live claim answers [`Error::Claimed`]. Neither is ever taken for "done"
//! and neither skips the effect: the call fails, and [`Error::into_processor_error`] turns
//! it into [`Failure::retry`](kafka_eos_processor::Failure::retry) (or `retry_after` the
//! lease), so the pipeline retries the record with its backoff, as it does a Kafka error.
//! A store outage longer than the pipeline's `max_attempts` ends as the pipeline's
//! [`ErrorPolicy`](kafka_eos_processor::ErrorPolicy) says (the record dead-lettered, to be
//! replayed later, or the pipeline stopped): visible, never silent. Errors retrying cannot
//! fix (a missing table, a refused query) stop the pipeline. The mark after an effect is
//! retried in place with backoff (the effect already ran: failing the record would run it
//! again).
//!
//! # Choosing a store
//!
//! | store | survives | cost per new key | notes |
//! |---|---|---|---|
//! | [`MemoryStore`] | nothing (one process) | a lock | tests; [`MemoryStore::set_unavailable`] simulates an outage |
//! | `RedisStore` | what Redis persists | 2 round trips | marks expire after the done TTL |
//! | `PostgresStore` | everything committed | 2 round trips | the unique key is the final word; done rows kept until deleted |
//! | `MySqlStore` | everything committed | 3 round trips (the claim is an upsert, then a read) | as PostgreSQL |
//! | [`Layered`] (`RedisStore` in front of a database) | as the database | the database's + 2 Redis | a replay of a done key costs 1 Redis read, no database query ([`LayeredStats::db_queries_saved`]); Redis down: the database alone |
//!
//! # Features and dependencies
//!
//! No feature is on by default: a pipeline that only needs Kafka pulls no database driver.
//! `redis` adds [`redis`](https://docs.rs/redis) 1.x (tokio, connection manager, Lua
//! scripts; no TLS, no cluster): the maintained Redis driver, whose connection manager
//! reconnects by itself. `postgres` and `mysql` add [`sqlx`](https://docs.rs/sqlx) 0.8
//! (tokio runtime, no TLS, no macros, no compile-time checked queries: the statements are
//! built once from the table name): one pure-Rust driver for both databases, with pools.
//! sqlx 0.8 rather than 0.9 because 0.9 needs Rust 1.94 and this workspace supports 1.88;
//! redis 1.8 needs 1.88. Both build with Rust 1.95.
//!
//! # A processor with an effect at most once
//!
//! ```
//! use kafka_eos_idempotency::{Error, Idempotent, IdempotencyKey, MemoryStore, Outcome};
//! use kafka_eos_processor::{BoxError, Input, Output, Processor};
//!
//! struct Charge { payments: Idempotent<MemoryStore> }
//!
//! impl Processor for Charge {
//!     type Input = String; // an order id
//!     async fn process(&self, input: Input<String>) -> Result<Vec<Output>, BoxError> {
//!         // one charge per order, even if the order event reaches the topic twice
//!         let key = IdempotencyKey::new("payments", format!("{}/charge", input.value))
//!             .map_err(Error::into_processor_error)?;
//!         let outcome = self
//!             .payments
//!             .once(&key, |key| charge(key)) // the key goes to the payment service
//!             .await
//!             .map_err(Error::into_processor_error)?;
//!         let status = match outcome {
//!             Outcome::Ran(receipt) => receipt,
//!             Outcome::AlreadyDone => "charged earlier".to_string(),
//!         };
//!         Ok(vec![Output::new("charges", input.value, status)])
//!     }
//! }
//!
//! async fn charge(key: IdempotencyKey) -> Result<String, std::io::Error> {
//!     Ok(format!("charged with Idempotency-Key: {key}"))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let processor = Charge { payments: Idempotent::new(MemoryStore::new()) };
//! let event = |offset| Input { topic: "orders".into(), partition: 0, offset, key: None,
//!     headers: vec![], timestamp: None, value: "order-7".to_string() };
//! let first = processor.process(event(10)).await.unwrap();
//! let duplicate = processor.process(event(11)).await.unwrap();
//! assert_eq!(first[0].value.as_deref(), Some(&b"charged with Idempotency-Key: payments:order-7/charge"[..]));
//! assert_eq!(duplicate[0].value.as_deref(), Some(&b"charged earlier"[..]));
//! # }
//! ```
#![warn(missing_docs)]

mod error;
mod idempotent;
mod key;
mod layered;
mod memory;
mod outcome;
mod stats;
mod store;

#[cfg(any(feature = "postgres", feature = "mysql", feature = "redis"))]
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod sql_error;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod table;

#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;

pub use error::{Error, Result, StoreKind};
pub use idempotent::{Idempotent, DEFAULT_LEASE};
pub use key::{IdempotencyKey, MAX_KEY_BYTES, MAX_NAMESPACE_BYTES};
pub use layered::{Layered, LayeredStats};
pub use memory::MemoryStore;
pub use outcome::Outcome;
pub use stats::IdempotentStats;
pub use store::{Claim, ClaimToken, Completion, IdempotencyStore};

#[cfg(feature = "redis")]
pub use self::redis::RedisStore;
#[cfg(feature = "mysql")]
pub use mysql::MySqlStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
