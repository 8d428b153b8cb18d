//! The CLI's error type.

/// Errors of the `kafka-eos` command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The embedded broker failed.
    #[error("embedded broker: {0}")]
    Broker(#[from] kafka_eos_broker::Error),
    /// Reading a group's offsets or the partitions' ends failed.
    #[error("{0}")]
    Group(#[from] kafka_eos_core::Error),
    /// A Kafka client call failed.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The runtime or a signal handler could not be set up.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A bad argument.
    #[error("{0}")]
    Usage(String),
}
