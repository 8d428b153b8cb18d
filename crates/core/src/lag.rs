//! A consumer group's lag, read from outside the group: each partition's committed offset
//! against the end a `read_committed` pipeline can reach, and the skew across partitions.
//!
//! The calls block the calling thread (librdkafka): call them from a plain thread or
//! `tokio::task::spawn_blocking`, never on a Tokio worker.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::TopicPartitionList;

use crate::error::{Error, Operation, Result};

/// One partition's lag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionLag {
    /// Partition.
    pub partition: i32,
    /// Committed offset (`None` when the group has not committed).
    pub committed: Option<i64>,
    /// End offset for read_committed readers (the last stable offset).
    pub end: i64,
    /// Records behind.
    pub lag: i64,
}

/// A `read_committed` consumer acting for `group` that never joins it and never commits by
/// itself: for reading (or, with an explicit commit, resetting) the group's offsets.
pub fn group_observer(bootstrap: &str, group: &str) -> Result<BaseConsumer> {
    let mut base = ClientConfig::new();
    base.set("bootstrap.servers", bootstrap);
    group_observer_with(&base, group)
}

/// [`group_observer`] from `base` settings (the bootstrap servers and, for a secured
/// cluster, its security properties).
pub fn group_observer_with(base: &ClientConfig, group: &str) -> Result<BaseConsumer> {
    base.clone()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .map_err(|e| Error::kafka(Operation::CreateClient, e))
}

/// The partition ids of `topic` (empty when the topic does not exist).
pub fn topic_partitions(
    consumer: &BaseConsumer,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<i32>> {
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| Error::kafka(Operation::Consumer, e))?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect())
}

/// The lag of each of `partitions` of `topic` for the consumer's group.
pub fn partition_lags(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: &[i32],
    timeout: Duration,
) -> Result<Vec<PartitionLag>> {
    let consumer_error = |e| Error::kafka(Operation::Consumer, e);
    let mut tpl = TopicPartitionList::new();
    for p in partitions {
        tpl.add_partition(topic, *p);
    }
    let committed = consumer
        .committed_offsets(tpl, timeout)
        .map_err(consumer_error)?;
    let mut out = Vec::new();
    for e in committed.elements() {
        let (low, end) = consumer
            .fetch_watermarks(topic, e.partition(), timeout)
            .map_err(consumer_error)?;
        let c = e.offset().to_raw().filter(|o| *o >= 0);
        out.push(PartitionLag {
            partition: e.partition(),
            committed: c,
            end,
            lag: end - c.unwrap_or(low),
        });
    }
    Ok(out)
}

/// The total lag of `group` on `topic` (all partitions).
pub fn total_lag(bootstrap: &str, group: &str, topic: &str, timeout: Duration) -> Result<i64> {
    let consumer = group_observer(bootstrap, group)?;
    let partitions = topic_partitions(&consumer, topic, timeout)?;
    let lags = partition_lags(&consumer, topic, &partitions, timeout)?;
    Ok(lags.iter().map(|l| l.lag.max(0)).sum())
}

/// Max lag over mean lag (1.0 = even; 0 when there is no lag).
pub fn skew(lags: &[PartitionLag]) -> f64 {
    max_over_mean(lags.iter().map(|l| l.lag as f64))
}

/// The largest of `values` over their mean: 1.0 when even, 0 when they sum to nothing. The
/// skew of anything spread over partitions (lag, records, keys).
pub fn max_over_mean(values: impl IntoIterator<Item = f64>) -> f64 {
    let (mut sum, mut max, mut n) = (0.0, 0.0_f64, 0usize);
    for v in values {
        sum += v;
        max = max.max(v);
        n += 1;
    }
    if n == 0 || sum <= 0.0 {
        return 0.0;
    }
    max / (sum / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_is_max_over_mean() {
        let l = |partition, lag| PartitionLag {
            partition,
            committed: Some(0),
            end: lag,
            lag,
        };
        assert_eq!(skew(&[l(0, 0), l(1, 0)]), 0.0);
        assert!((skew(&[l(0, 10), l(1, 10)]) - 1.0).abs() < 1e-9);
        assert!((skew(&[l(0, 30), l(1, 10)]) - 1.5).abs() < 1e-9);
        assert_eq!(skew(&[]), 0.0);
        assert!((max_over_mean([900.0, 100.0, 0.0]) - 2.7).abs() < 1e-9);
    }
}
