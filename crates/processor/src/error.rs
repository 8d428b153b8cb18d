//! The one error type of this crate.

use kafka_eos_core::ErrorKind;

/// A boxed error returned by user code (processors, codecs).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error a pipeline can stop with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A Kafka error from the transaction machinery (classified by
    /// [`kafka_eos_core::Error::kind`]); includes [`kafka_eos_core::Error::Fenced`].
    #[error(transparent)]
    Core(#[from] kafka_eos_core::Error),
    /// The settings were rejected.
    #[error(transparent)]
    Config(#[from] kafka_eos_config::ConfigError),
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
}
