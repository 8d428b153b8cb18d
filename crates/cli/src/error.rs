//! The CLI's error type.

use std::time::Duration;

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
    /// The client settings were rejected (rendered from the pipeline's profiles).
    #[error("client settings: {0}")]
    Config(#[from] kafka_eos_core::config::ConfigError),
    /// The runtime or a signal handler could not be set up.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A bad argument.
    #[error("{0}")]
    Usage(String),
    /// `--key-field` names a field no sampled record's JSON value has.
    #[error("none of the {sampled} sampled records has a JSON value with the field {field:?}")]
    FieldNotFound {
        /// The field.
        field: String,
        /// Records sampled.
        sampled: u64,
    },
    /// No broker answered within the timeout.
    #[error("no broker at {bootstrap} answered within {timeout:?}: {source}")]
    Unreachable {
        /// The bootstrap servers tried.
        bootstrap: String,
        /// How long the call waited.
        timeout: Duration,
        /// librdkafka's error (boxed: keeps `Result<_, CliError>` small).
        #[source]
        source: Box<rdkafka::error::KafkaError>,
    },
    /// `parked release` names a key that is not parked.
    #[error("key {key:?} of {source_topic:?} is not parked in {topic:?} (kafka-eos parked list shows the parked keys)")]
    NotParked {
        /// The parking topic.
        topic: String,
        /// The input topic given.
        source_topic: String,
        /// The key given.
        key: String,
    },
    /// The dead-letter topic does not exist.
    #[error("dead-letter topic {topic:?} does not exist")]
    DlqTopicMissing {
        /// The topic asked for.
        topic: String,
    },
    /// A dead letter has no (valid UTF-8) `kafka-eos.source.topic` header and `--to` was
    /// not given (or `--source-topic` cannot tell where it is from).
    #[error(
        "dead letter {dlq}/{partition}/{offset} has no kafka-eos.source.topic header: \
         give --to TOPIC to say where it goes (nothing was replayed)"
    )]
    NoSourceTopic {
        /// The dead-letter topic.
        dlq: String,
        /// Its partition in the dead-letter topic.
        partition: i32,
        /// Its offset in the dead-letter topic.
        offset: i64,
    },
    /// The topic a dead letter would be replayed to does not exist.
    #[error("{}", target_missing(topic, at))]
    TargetTopicMissing {
        /// The missing topic.
        topic: String,
        /// The dead letter that would go there, as `DLQ/partition/offset` (`None` when it
        /// is `--to`, checked before reading).
        at: Option<String>,
    },
    /// A replayed record could not be written.
    #[error(
        "replaying dead letter {at} to {topic:?} failed: {source} \
         (the transaction was aborted: nothing was replayed)"
    )]
    Delivery {
        /// The dead letter, as `DLQ/partition/offset`.
        at: String,
        /// Where it was written.
        topic: String,
        /// The classified error ([`kafka_eos_core::Error::kind`]; boxed).
        #[source]
        source: Box<kafka_eos_core::Error>,
    },
    /// The replay's transaction failed.
    #[error("replay of {dlq} failed: {source} ({})", if *nothing_replayed {
        "the transaction was aborted: nothing was replayed"
    } else {
        "its outcome is unknown: run the replay again, it finishes or aborts this \
         transaction first and resumes from what was committed"
    })]
    Transaction {
        /// The dead-letter topic.
        dlq: String,
        /// The transaction was aborted (or never begun); else its outcome is unknown.
        nothing_replayed: bool,
        /// The classified error ([`kafka_eos_core::Error::kind`]; boxed).
        #[source]
        source: Box<kafka_eos_core::Error>,
    },
    /// Another replay with the same `transactional.id` (the same group) took over.
    #[error(
        "another replay with transactional.id {transactional_id:?} (the same group) took \
         over: this run committed nothing"
    )]
    Fenced {
        /// The contested transactional id.
        transactional_id: String,
        /// The classified error (boxed).
        #[source]
        source: Box<kafka_eos_core::Error>,
    },
    /// Replays of one dead-letter topic with and without `--source-topic` keep separate
    /// positions (consumer groups); mixing them would replay dead letters twice.
    #[error(
        "group {other:?} has already replayed dead letters of {dlq}{}: a replay with \
         group {group:?} would replay them again, so nothing was replayed. Keep to one way \
         of replaying this topic, or pass --group explicitly (after positioning it with \
         `kafka-eos offsets`)",
        source_topic.as_ref().map(|t| format!(" from {t}")).unwrap_or_default()
    )]
    MixedGroups {
        /// The dead-letter topic.
        dlq: String,
        /// This run's group.
        group: String,
        /// The group that already committed positions on the dead-letter topic.
        other: String,
        /// The source topic `other` replays, if it is a per-source-topic group.
        source_topic: Option<String>,
    },
    /// Reading the dead-letter topic made no progress for the timeout.
    #[error(
        "reading {dlq} made no progress for {timeout:?} (is the broker reachable?); \
         nothing was replayed"
    )]
    Stalled {
        /// The dead-letter topic.
        dlq: String,
        /// How long it waited.
        timeout: Duration,
    },
}

fn target_missing(topic: &str, at: &Option<String>) -> String {
    match at {
        Some(at) => format!(
            "topic {topic:?}, where dead letter {at} would be replayed, does not exist \
             (nothing was replayed)"
        ),
        None => format!("--to topic {topic:?} does not exist"),
    }
}
