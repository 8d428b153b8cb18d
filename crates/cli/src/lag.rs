//! `kafka-eos lag`: a group's lag per partition (committed offset vs. the last stable
//! offset a read_committed pipeline can reach) and the skew across partitions.

use rdkafka::consumer::Consumer;
use rdkafka::TopicPartitionList;

use crate::error::CliError;
use crate::group_client::{group_client, topic_partitions, TIMEOUT};

/// Arguments of `lag`.
#[derive(Debug, Clone, clap::Args)]
pub struct LagArgs {
    /// bootstrap.servers of the cluster.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    pub bootstrap: String,
    /// The consumer group.
    #[arg(long)]
    pub group: String,
    /// The topic.
    #[arg(long)]
    pub topic: String,
}

/// One partition's lag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionLag {
    /// Partition.
    pub partition: i32,
    /// Committed offset (None when the group has not committed).
    pub committed: Option<i64>,
    /// End offset for read_committed readers.
    pub end: i64,
    /// Records behind.
    pub lag: i64,
}

/// The lag of every partition.
pub fn run(args: &LagArgs) -> Result<Vec<PartitionLag>, CliError> {
    let consumer = group_client(&args.bootstrap, &args.group)?;
    let mut tpl = TopicPartitionList::new();
    for p in topic_partitions(&consumer, &args.topic)? {
        tpl.add_partition(&args.topic, p);
    }
    let committed = consumer.committed_offsets(tpl, TIMEOUT)?;
    let mut out = Vec::new();
    for e in committed.elements() {
        let (low, end) = consumer.fetch_watermarks(&args.topic, e.partition(), TIMEOUT)?;
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

/// Max lag over mean lag (1.0 = even; 0 when there is no lag).
pub fn skew(lags: &[PartitionLag]) -> f64 {
    let total: i64 = lags.iter().map(|l| l.lag).sum();
    if total == 0 || lags.is_empty() {
        return 0.0;
    }
    let mean = total as f64 / lags.len() as f64;
    lags.iter().map(|l| l.lag).max().unwrap_or(0) as f64 / mean
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
    }
}
