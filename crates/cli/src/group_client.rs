//! The client `offsets` and `lag` share: a consumer acting for a group (it never joins or
//! auto-commits) and the partitions of one topic.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::error::CliError;

/// Timeout of one metadata, offsets or watermark call.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(30);

/// A `read_committed` consumer with `group.id = group`, auto-commit off.
pub(crate) fn group_client(bootstrap: &str, group: &str) -> Result<BaseConsumer, CliError> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()?)
}

/// The partition ids of `topic`; a usage error when the topic does not exist.
pub(crate) fn topic_partitions(consumer: &BaseConsumer, topic: &str) -> Result<Vec<i32>, CliError> {
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(CliError::Usage(format!("topic {topic:?} not found")));
    }
    Ok(partitions)
}
