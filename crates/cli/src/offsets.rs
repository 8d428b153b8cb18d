//! `kafka-eos offsets`: reset a consumer group's committed offsets (for replay after an
//! incident) to the start, the end, an offset or a timestamp. The group must be inactive.

use std::time::Duration;

use kafka_eos_core::lag::{group_observer_with, topic_partitions};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::error::CliError;

/// Timeout of one metadata, offsets or watermark call.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(30);

/// The partition ids of `topic`; a usage error when the topic does not exist.
pub(crate) fn partitions_of(consumer: &BaseConsumer, topic: &str) -> Result<Vec<i32>, CliError> {
    let partitions = topic_partitions(consumer, topic, TIMEOUT)?;
    if partitions.is_empty() {
        return Err(CliError::Usage(format!("topic {topic:?} not found")));
    }
    Ok(partitions)
}

/// Where to move the offsets.
#[derive(Debug, Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub enum ResetTo {
    /// The first offset of each partition.
    Earliest,
    /// The end of each partition (skip everything).
    Latest,
    /// `--offset` in every partition.
    Offset,
    /// The first offset at or after `--timestamp` (ms since the epoch).
    Timestamp,
}

/// Arguments of `offsets`.
#[derive(Debug, Clone, clap::Args)]
pub struct OffsetsArgs {
    /// bootstrap.servers of the cluster.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    pub bootstrap: String,
    /// The consumer group.
    #[arg(long)]
    pub group: String,
    /// The topic whose offsets move.
    #[arg(long)]
    pub topic: String,
    /// Where to.
    #[arg(long, value_enum)]
    pub to: ResetTo,
    /// With `--to offset`.
    #[arg(long)]
    pub offset: Option<i64>,
    /// With `--to timestamp` (ms since the epoch).
    #[arg(long)]
    pub timestamp: Option<i64>,
    /// Print the new offsets without committing them.
    #[arg(long)]
    pub dry_run: bool,
}

/// Computes and commits the new offsets; returns them per partition.
pub fn run(args: &OffsetsArgs) -> Result<Vec<(i32, i64)>, CliError> {
    let consumer = group_observer_with(&crate::client::base(&args.bootstrap)?, &args.group)?;
    let partitions = partitions_of(&consumer, &args.topic)?;
    let mut targets = Vec::new();
    match args.to {
        ResetTo::Timestamp => {
            let ts = args
                .timestamp
                .ok_or_else(|| CliError::Usage("--to timestamp needs --timestamp MS".into()))?;
            let mut tpl = TopicPartitionList::new();
            for p in &partitions {
                tpl.add_partition_offset(&args.topic, *p, Offset::Offset(ts))?;
            }
            let found = consumer.offsets_for_times(tpl, TIMEOUT)?;
            for e in found.elements() {
                let offset = match e.offset() {
                    Offset::Offset(o) => o,
                    // no record at or after the timestamp: the end
                    _ => {
                        consumer
                            .fetch_watermarks(&args.topic, e.partition(), TIMEOUT)?
                            .1
                    }
                };
                targets.push((e.partition(), offset));
            }
        }
        to => {
            for p in &partitions {
                let (low, high) = consumer.fetch_watermarks(&args.topic, *p, TIMEOUT)?;
                let offset = match to {
                    ResetTo::Earliest => low,
                    ResetTo::Latest => high,
                    _ => {
                        let o = args.offset.ok_or_else(|| {
                            CliError::Usage("--to offset needs --offset N".into())
                        })?;
                        o.clamp(low, high)
                    }
                };
                targets.push((*p, offset));
            }
        }
    }
    if !args.dry_run {
        let mut tpl = TopicPartitionList::new();
        for (p, o) in &targets {
            tpl.add_partition_offset(&args.topic, *p, Offset::Offset(*o))?;
        }
        consumer.commit(&tpl, CommitMode::Sync)?;
    }
    Ok(targets)
}
