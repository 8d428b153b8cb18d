//! The one error type of this crate, classified by what stopped the sink.

use kafka_eos_processor::BoxError;

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a [`DatabaseSink`](crate::DatabaseSink) could not start, or stopped.
///
/// A database that is down or answers with a transient error (connection lost, deadlock,
/// serialization failure, lock wait timeout) never stops a running sink: the batch's
/// transaction is rolled back and run again with backoff. What reaches the caller is what
/// another attempt cannot fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database could not be reached at start-up (the URL's password is hidden).
    #[error("cannot connect to {database} at `{url}`: {source}")]
    Connect {
        /// `PostgreSQL` or `MariaDB/MySQL`.
        database: &'static str,
        /// The URL, with its password replaced by `***`.
        url: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A table name is not a plain SQL identifier (`name` or `schema.name`: letters, digits
    /// and `_`, not starting with a digit).
    #[error(
        "invalid table name `{table}`: use letters, digits and `_` (optionally `schema.table`)"
    )]
    InvalidTable {
        /// The name given.
        table: String,
    },
    /// The offsets table does not exist and the sink was told not to create it
    /// ([`DatabaseSinkBuilder::create_offsets_table`](crate::DatabaseSinkBuilder::create_offsets_table)).
    #[error("the offsets table `{table}` does not exist; create it with:\n{create}")]
    MissingOffsetsTable {
        /// The table's name.
        table: String,
        /// The SQL that creates it.
        create: String,
    },
    /// The database rejected a statement of the sink's own (not a transient error): a
    /// permission, a schema that differs from the one the sink writes.
    #[error("{database} rejected the sink's `{statement}`: {source}")]
    Database {
        /// `PostgreSQL` or `MariaDB/MySQL`.
        database: &'static str,
        /// Which statement (`create offsets table`, `read offsets`, `advance offsets`, `begin`, `commit`).
        statement: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A record's value could not be decoded: the sink stops at it, nothing of its batch
    /// is committed.
    #[error("cannot decode {topic}/{partition}@{offset}: {source}")]
    Decode {
        /// Source topic.
        topic: String,
        /// Source partition.
        partition: i32,
        /// Source offset.
        offset: i64,
        /// The codec's error.
        #[source]
        source: BoxError,
    },
    /// The processor failed on a record `attempts` times (each attempt rolled the batch
    /// back): the sink stops at it, nothing of its batch is committed.
    #[error("the processor failed {attempts} times on {topic}/{partition}@{offset}: {source}")]
    Processor {
        /// Source topic.
        topic: String,
        /// Source partition.
        partition: i32,
        /// Source offset.
        offset: i64,
        /// Attempts made.
        attempts: u32,
        /// The processor's last error.
        #[source]
        source: BoxError,
    },
    /// The settings are invalid.
    #[error(transparent)]
    Config(#[from] kafka_eos_processor::config::ConfigError),
    /// The Kafka consumer failed (created, subscribed, or a fatal consumer error).
    #[error("the Kafka consumer failed ({operation}): {source}")]
    Consumer {
        /// What it was doing.
        operation: &'static str,
        /// librdkafka's error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// A blocking task (polling the consumer, seeking it) could not be joined.
    #[error("a blocking task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}
