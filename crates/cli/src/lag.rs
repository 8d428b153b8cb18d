//! `kafka-eos lag`: a group's lag per partition (committed offset vs. the last stable
//! offset a read_committed pipeline can reach) and the skew across partitions.

use kafka_eos_core::lag::{group_observer, partition_lags, PartitionLag};

use crate::error::CliError;
use crate::offsets::{partitions_of, TIMEOUT};

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

/// The lag of every partition.
pub fn run(args: &LagArgs) -> Result<Vec<PartitionLag>, CliError> {
    let consumer = group_observer(&args.bootstrap, &args.group)?;
    let partitions = partitions_of(&consumer, &args.topic)?;
    Ok(partition_lags(
        &consumer,
        &args.topic,
        &partitions,
        TIMEOUT,
    )?)
}
