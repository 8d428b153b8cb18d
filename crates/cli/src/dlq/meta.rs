//! What the replay asks the cluster before and while it reads: partitions, watermarks,
//! committed offsets. Timeouts and transport failures become [`CliError::Unreachable`].

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_eos_core::lag::group_observer_with;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::TopicPartitionList;

use super::letter::DeadLetter;
use crate::error::CliError;

/// Metadata and offsets through the replay's consumer (which never auto-creates topics).
pub(crate) struct Meta<'a> {
    consumer: &'a BaseConsumer,
    bootstrap: &'a str,
    timeout: Duration,
    /// Partition counts of the target topics checked so far.
    targets: BTreeMap<String, i32>,
}

impl<'a> Meta<'a> {
    pub(crate) fn new(consumer: &'a BaseConsumer, bootstrap: &'a str, timeout: Duration) -> Self {
        Self {
            consumer,
            bootstrap,
            timeout,
            targets: BTreeMap::new(),
        }
    }

    /// A librdkafka error: [`CliError::Unreachable`] when no broker answered in time.
    pub(crate) fn kafka(&self, source: KafkaError) -> CliError {
        use RDKafkaErrorCode as C;
        match source.rdkafka_error_code() {
            Some(
                C::OperationTimedOut
                | C::AllBrokersDown
                | C::BrokerTransportFailure
                | C::Resolve
                | C::RequestTimedOut
                | C::TimedOutQueue,
            ) => CliError::Unreachable {
                bootstrap: self.bootstrap.to_owned(),
                timeout: self.timeout,
                source: Box::new(source),
            },
            _ => CliError::Kafka(source),
        }
    }

    /// The partition count of `topic`; `None` when it does not exist.
    pub(crate) fn partitions(&self, topic: &str) -> Result<Option<i32>, CliError> {
        let metadata = self
            .consumer
            .fetch_metadata(Some(topic), self.timeout)
            .map_err(|e| self.kafka(e))?;
        let count = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic)
            .map(|t| t.partitions().len())
            .sum::<usize>();
        Ok(i32::try_from(count).ok().filter(|c| *c > 0))
    }

    /// The partition count of target `topic`, checked once per topic; `for_letter` is the
    /// dead letter going there, named in the error when the topic does not exist.
    pub(crate) fn target(
        &mut self,
        topic: &str,
        for_letter: Option<&DeadLetter>,
    ) -> Result<i32, CliError> {
        if let Some(count) = self.targets.get(topic) {
            return Ok(*count);
        }
        let count = self
            .partitions(topic)?
            .ok_or_else(|| CliError::TargetTopicMissing {
                topic: topic.to_owned(),
                at: for_letter.map(DeadLetter::position),
            })?;
        self.targets.insert(topic.to_owned(), count);
        Ok(count)
    }

    /// (low watermark, end) of a partition; the end is the last stable offset (the
    /// consumer reads `read_committed`).
    pub(crate) fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64), CliError> {
        self.consumer
            .fetch_watermarks(topic, partition, self.timeout)
            .map_err(|e| self.kafka(e))
    }

    /// The consumer group's committed offset of each partition of `topic` (`None`: none).
    pub(crate) fn committed(
        &self,
        topic: &str,
        partitions: i32,
    ) -> Result<BTreeMap<i32, Option<i64>>, CliError> {
        committed_of(self.consumer, topic, partitions, self.timeout).map_err(|e| self.kafka(e))
    }

    /// Whether `group` has committed an offset on any partition of `topic`.
    pub(crate) fn group_has_committed(
        &self,
        group: &str,
        topic: &str,
        partitions: i32,
    ) -> Result<bool, CliError> {
        let observer = group_observer_with(&crate::client::base(self.bootstrap)?, group)?;
        let committed =
            committed_of(&observer, topic, partitions, self.timeout).map_err(|e| self.kafka(e))?;
        Ok(committed.values().any(Option::is_some))
    }
}

fn committed_of(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> Result<BTreeMap<i32, Option<i64>>, KafkaError> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    Ok(consumer
        .committed_offsets(tpl, timeout)?
        .elements()
        .iter()
        .map(|e| (e.partition(), e.offset().to_raw().filter(|o| *o >= 0)))
        .collect())
}
