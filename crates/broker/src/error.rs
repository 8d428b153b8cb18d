//! The broker crate's error type.

use std::net::SocketAddr;

/// Errors returned by the embedded broker's public API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listener could not be bound.
    #[error("cannot bind the broker listener on {addr}: {source}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A topic name that Kafka would reject (empty, too long, `.`/`..`, or a character outside `[a-zA-Z0-9._-]`).
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopic {
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A topic with this name exists already.
    #[error("topic {0:?} already exists")]
    TopicExists(String),
    /// No topic of this name exists.
    #[error("unknown topic {0:?}")]
    UnknownTopic(String),
    /// A partition count below 1 (or above the broker's limit).
    #[error("invalid partition count {0} (must be between 1 and 10000)")]
    InvalidPartitions(i32),
    /// More replicas asked for than the cluster has listed nodes.
    #[error("replication factor {requested} is larger than the {available} available nodes")]
    InvalidReplicationFactor {
        /// The replication factor asked for.
        requested: i32,
        /// The nodes a partition can be placed on.
        available: usize,
    },
    /// A node id this broker does not serve as (see `BrokerConfig::nodes`).
    #[error("unknown node {0}")]
    UnknownNode(i32),
    /// The broker task has stopped.
    #[error("the broker has shut down")]
    ShutDown,
    /// A TLS identity that cannot be used (bad PEM, no certificate, no key, key mismatch) or
    /// test certificates that cannot be generated.
    #[error("TLS: {context}: {source}")]
    Tls {
        /// What was being done.
        context: &'static str,
        /// The underlying error (rustls, rcgen or PEM parsing).
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A file (certificate, key, CA) could not be read or written.
    #[error("cannot access {path}: {source}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The metadata file of a [data dir](crate::BrokerConfig::data_dir) cannot be read as
    /// this broker writes it (damaged, or written by an incompatible version). The broker
    /// does not start rather than lose or guess at state; move the file away to start
    /// without the metadata (topics, transactions and offsets) it held.
    #[error("corrupt broker metadata {path}: {reason}")]
    CorruptMetadata {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An ACL rule spec that does not parse (see [`AclRule`](crate::AclRule)'s `FromStr`).
    #[error("invalid ACL rule {spec:?}: {reason}")]
    InvalidAcl {
        /// The spec as given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl Error {
    /// A TLS error with its context.
    pub(crate) fn tls(
        context: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Tls {
            context,
            source: source.into(),
        }
    }
}

/// `Result` with the broker's [`Error`] as default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
