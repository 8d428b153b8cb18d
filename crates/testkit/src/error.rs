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
    #[error(
        "read {got} of {expected} records from {topic} before the deadline (called from async \
         code? a blocking read starves a pipeline on the same runtime thread: use the `_async` reader)"
    )]
    ReadTimeout {
        /// The topic.
        topic: String,
        /// Records read.
        got: usize,
        /// Records expected.
        expected: usize,
    },
    /// The pipeline under test ([`crate::run_pipeline`]) stopped with this error, or a
    /// pipeline could not be built.
    #[error("pipeline: {0}")]
    Pipeline(#[from] kafka_eos_processor::Error),
    /// [`crate::run_pipeline`] did not read the expected records before its timeout.
    #[error(
        "read {got} of {expected} records from the pipeline's output {topic} within {timeout:?} \
         (first keys read: {first_keys:?}); pipeline metrics: {metrics:?}"
    )]
    PipelineTimeout {
        /// The output topic.
        topic: String,
        /// Records read.
        got: usize,
        /// Records expected.
        expected: usize,
        /// How long the reader waited.
        timeout: std::time::Duration,
        /// The keys (as text) of the first few records read, in the order read.
        first_keys: Vec<String>,
        /// The pipeline's metrics when it was stopped.
        metrics: Box<kafka_eos_processor::MetricsSnapshot>,
    },
    /// The pipeline under test did not return within `waited` of its shutdown token being
    /// cancelled (it was then dropped).
    #[error("the pipeline did not stop within {waited:?} of its shutdown token being cancelled")]
    PipelineStop {
        /// How long it was given.
        waited: std::time::Duration,
    },
    /// Blocking client work the testkit ran on Tokio's blocking pool (for the `_async`
    /// calls and [`crate::run_pipeline`]'s reader) panicked or was cancelled.
    #[error("testkit task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// `Result` with the testkit's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
