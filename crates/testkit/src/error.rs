//! The testkit's error type.

/// Errors of the test fixtures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The embedded broker failed.
    #[error("embedded broker: {0}")]
    Broker(#[from] kafka_eos_broker::Error),
    /// A Kafka client call failed.
    #[error("kafka client: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// A topic could not be created on an external cluster.
    #[error("cannot create topic {topic}: {code:?}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// librdkafka's error code.
        code: rdkafka::types::RDKafkaErrorCode,
    },
    /// The Apache Kafka container could not be started.
    #[cfg(feature = "testcontainers")]
    #[error("apache kafka container: {0}")]
    Container(#[from] testcontainers::TestcontainersError),
    /// The reader did not get the expected records before its deadline.
    #[error("read {got} of {expected} records from {topic} before the deadline")]
    ReadTimeout {
        /// The topic.
        topic: String,
        /// Records read.
        got: usize,
        /// Records expected.
        expected: usize,
    },
}

/// `Result` with the testkit's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
