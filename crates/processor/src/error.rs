//! The one error type of this crate.

use std::time::Duration;

use kafka_eos_core::ErrorKind;

/// A boxed error returned by user code (processors, codecs).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error a pipeline can stop with. Each class has one route: every rejected setting
/// is [`Error::Config`] (whichever crate found it), and [`Error::is_config`],
/// [`Error::is_fenced`], [`Error::is_decode`] and [`Error::is_unreachable`] test the classes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A Kafka error from the transaction machinery (classified by
    /// [`kafka_eos_core::Error::kind`]); includes [`kafka_eos_core::Error::Fenced`].
    #[error(transparent)]
    Core(kafka_eos_core::Error),
    /// The settings were rejected (by [`crate::PipelineBuilder::build`], before connecting).
    #[error(transparent)]
    Config(#[from] kafka_eos_config::ConfigError),
    /// No broker of `bootstrap.servers` answered within the start-up timeout
    /// ([`crate::PipelineBuilder::startup_timeout`]).
    #[error("cannot reach the Kafka cluster at `{bootstrap}` within {waited:?}: {source}")]
    Unreachable {
        /// The `bootstrap.servers` tried.
        bootstrap: String,
        /// How long the pipeline tried.
        waited: Duration,
        /// librdkafka's last error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// The cluster refused the SASL credentials (wrong user or password, a mechanism it
    /// does not enable): reported at start-up as soon as librdkafka reports it, without
    /// waiting for the start-up timeout. The password is never part of the message.
    #[error("SASL authentication as user `{username}` with mechanism {mechanism} failed at `{bootstrap}`: {reason}")]
    Authentication {
        /// The `bootstrap.servers` tried.
        bootstrap: String,
        /// The SASL mechanism.
        mechanism: kafka_eos_config::SaslMechanism,
        /// The user.
        username: String,
        /// librdkafka's (and the broker's) reason.
        reason: String,
    },
    /// The TLS handshake failed: a broker certificate the client does not trust (set the
    /// CA with `Security::ca_location`), a host name that does not match it, a broker
    /// that does not speak TLS. Reported at start-up without waiting for the timeout.
    #[error("TLS with `{bootstrap}` failed: {reason}")]
    Tls {
        /// The `bootstrap.servers` tried.
        bootstrap: String,
        /// librdkafka's reason (OpenSSL's, e.g. `certificate verify failed`).
        reason: String,
    },
    /// The metrics endpoint ([`crate::PipelineBuilder::metrics_addr`]) could not be served
    /// at its address (in use, not an address of this host, a port below 1024 without the
    /// right): checked when [`crate::Pipeline::run`] starts, before connecting to Kafka.
    #[error("cannot serve metrics on {addr}: {source}")]
    MetricsEndpoint {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The bind error.
        #[source]
        source: std::io::Error,
    },
    /// A record could not be decoded and the policy is [`crate::ErrorPolicy::Stop`].
    #[error("cannot decode record {topic}/{partition}@{offset}: {source}")]
    Decode {
        /// Topic of the record.
        topic: String,
        /// Partition of the record.
        partition: i32,
        /// Offset of the record.
        offset: i64,
        /// The codec's error.
        #[source]
        source: BoxError,
    },
    /// The processor kept failing on a record and the policy is
    /// [`crate::ErrorPolicy::Stop`].
    #[error(
        "processing record {topic}/{partition}@{offset} failed after {attempts} attempts: {source}"
    )]
    Process {
        /// Topic of the record.
        topic: String,
        /// Partition of the record.
        partition: i32,
        /// Offset of the record.
        offset: i64,
        /// How many times it was tried.
        attempts: u32,
        /// The processor's last error.
        #[source]
        source: BoxError,
    },
    /// Reading the parking topic failed (or did not reach its end within the operation
    /// timeout); the batch is retried, or the pipeline stops if it happens at start.
    #[error("cannot read the parking topic `{topic}`{}: {source}", partition.map(|p| format!(" partition {p}")).unwrap_or_default())]
    Parking {
        /// The parking topic.
        topic: String,
        /// The partition read, if one was.
        partition: Option<i32>,
        /// librdkafka's error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// The parking topic has fewer partitions than an input topic: parked records of input
    /// partition `p` go to parking partition `p`.
    #[error("the parking topic `{parking_topic}` has {parking_partitions} partitions but the input topic `{input_topic}` has {input_partitions}: create `{parking_topic}` with at least {input_partitions} partitions (parked records of input partition p go to its partition p)")]
    Copartitioning {
        /// The parking topic.
        parking_topic: String,
        /// Its partitions (0: it does not exist).
        parking_partitions: usize,
        /// The input topic with more partitions.
        input_topic: String,
        /// Its partitions.
        input_partitions: usize,
    },
}

impl Error {
    /// Classification of a Kafka error; `None` for record-level errors.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            Error::Core(e) => Some(e.kind()),
            _ => None,
        }
    }

    /// `true` if a newer instance took over this pipeline's transactional id.
    pub fn is_fenced(&self) -> bool {
        matches!(self, Error::Core(e) if e.is_fenced())
    }

    /// `true` if the settings were rejected ([`Error::Config`]).
    pub fn is_config(&self) -> bool {
        matches!(self, Error::Config(_))
    }

    /// `true` if a record could not be decoded under [`crate::ErrorPolicy::Stop`].
    pub fn is_decode(&self) -> bool {
        matches!(self, Error::Decode { .. })
    }

    /// `true` if no broker answered within the start-up timeout ([`Error::Unreachable`]).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Unreachable { .. })
    }

    /// `true` if the cluster refused the credentials or the TLS handshake failed
    /// ([`Error::Authentication`], [`Error::Tls`]).
    pub fn is_security(&self) -> bool {
        matches!(self, Error::Authentication { .. } | Error::Tls { .. })
    }

    /// `true` if the metrics endpoint could not be served ([`Error::MetricsEndpoint`]).
    pub fn is_metrics_endpoint(&self) -> bool {
        matches!(self, Error::MetricsEndpoint { .. })
    }
}

impl From<kafka_eos_core::Error> for Error {
    /// Routes the core crate's configuration errors to [`Error::Config`], so a rejected
    /// setting is matched the same way whichever crate found it.
    fn from(e: kafka_eos_core::Error) -> Self {
        match e {
            kafka_eos_core::Error::Config(c) => Error::Config(c),
            other => Error::Core(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_errors_have_one_route() {
        let missing = kafka_eos_config::ConfigError::Missing { field: "group_id" };
        let via_core = Error::from(kafka_eos_core::Error::Config(missing));
        assert!(via_core.is_config(), "{via_core:?}");
        assert!(matches!(via_core, Error::Config(_)));
        assert!(!via_core.is_fenced() && !via_core.is_decode() && !via_core.is_unreachable());
    }
}
