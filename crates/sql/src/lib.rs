//! What kafka-eos's database crates (`kafka-eos-idempotency`'s SQL stores, the
//! `kafka-eos-database` sink) share, so both read a database error the same way:
//!
//! - [`is_transient`] (feature `sqlx`): a `sqlx` error a retry can get past (connection lost, server down or
//!   starting, deadlock, serialization failure, lock wait timeout, statement killed);
//! - [`is_missing_table`] (feature `sqlx`): the statement's table does not exist;
//! - [`is_valid_table_name`]: a name safe to write into SQL as it is;
//! - [`redact_url`]: a connection URL fit for an error message.
//!
//! ```
//! use kafka_eos_sql::{is_transient, is_valid_table_name, redact_url};
//!
//! assert_eq!(redact_url("postgres://app:s3cret@db:5432/test"), "postgres://app:***@db:5432/test");
//! assert!(is_valid_table_name("app.order_status") && !is_valid_table_name("t; drop table x"));
//! assert!(is_transient(&sqlx::Error::PoolTimedOut));
//! ```
#![warn(missing_docs)]

#[cfg(feature = "sqlx")]
mod classify;
mod names;

#[cfg(feature = "sqlx")]
pub use classify::{is_missing_table, is_transient};
pub use names::{is_valid_table_name, redact_url};
