//! `kafka-eos dlq replay`: re-inject dead letters into their source topics after a fix,
//! exactly once.
//!
//! The dead-letter topic is read `read_committed` with a consumer group (the replay's
//! position), from the group's committed offsets up to the topic's ends as of the start;
//! each dead letter is written to its source topic (`kafka-eos.source.topic`) or `--to`,
//! with its key, value (a tombstone stays a tombstone) and original headers (every
//! `kafka-eos.*` header removed, [`REPLAYED_FROM`] added). The records and the group's new
//! offsets commit in one transaction (`transactional.id` = the group), so a dead letter is
//! replayed once however often the command runs, and a failed run writes nothing.
//!
//! The header names are core's [`dlq_headers`], the ones the pipeline writes. The records
//! are written by core's `TransactionalProducer`.

mod letter;
mod meta;
mod replay;
mod sink;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

pub use kafka_eos_core::dlq_headers::{self, REPLAYED_FROM, RESERVED_PREFIX};
pub use letter::{decide, DeadLetter, Decision};

use crate::error::CliError;

/// Prefix of the default group (and `transactional.id`) of a replay.
pub const GROUP_PREFIX: &str = "kafka-eos-dlq-replay";

/// Default of `--timeout`, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;

/// Examples shown by `kafka-eos dlq replay --help`.
const REPLAY_EXAMPLES: &str = "\
Examples:
  # what would be replayed (nothing is written or committed)
  kafka-eos dlq replay --bootstrap-servers 127.0.0.1:9092 --topic orders-dlq --dry-run
  # replay every dead letter to its source topic; a second run replays only newer ones
  kafka-eos dlq replay --bootstrap-servers 127.0.0.1:9092 --topic orders-dlq
  # only the dead letters of `orders`, at most 500 this run, to a fixed topic
  kafka-eos dlq replay --bootstrap-servers 127.0.0.1:9092 --topic orders-dlq \\
      --source-topic orders --limit 500 --to orders-retry";

/// Arguments of `dlq`.
#[derive(Debug, Clone, clap::Args)]
pub struct DlqArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: DlqCommand,
}

/// The `dlq` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum DlqCommand {
    /// Replay dead letters to their source topics, exactly once (a second run replays
    /// only the dead letters that arrived since).
    ///
    /// Each dead letter is written to its source topic and partition (from its
    /// kafka-eos.source.* headers) or to --to, with its key, value (a tombstone stays a
    /// tombstone) and original headers; the kafka-eos.* headers are removed and
    /// kafka-eos.replayed-from=DLQ/PARTITION/OFFSET is added. The dead-letter topic is read
    /// read_committed by a consumer group up to its ends as of the start, and the records
    /// and the group's offsets commit in one transaction: a failed run writes nothing.
    #[command(after_help = REPLAY_EXAMPLES)]
    Replay(ReplayArgs),
}

/// Arguments of `dlq replay`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// bootstrap.servers of the cluster.
    #[arg(
        long = "bootstrap-servers",
        visible_alias = "bootstrap",
        value_name = "HOST:PORT",
        env = "KAFKA_BOOTSTRAP_SERVERS"
    )]
    pub bootstrap_servers: String,
    /// The dead-letter topic.
    #[arg(long, value_name = "DLQ")]
    pub topic: String,
    /// Write every dead letter to this topic instead of its source topic.
    #[arg(long, value_name = "TOPIC")]
    pub to: Option<String>,
    /// Replay only the dead letters from this source topic (the others are passed over
    /// by this run's group). Without --group the group is per source topic, so each
    /// source topic is replayed on its own.
    #[arg(long, value_name = "TOPIC")]
    pub source_topic: Option<String>,
    /// The consumer group that keeps the replay's position (and the transactional.id).
    /// Default: kafka-eos-dlq-replay.DLQ, or kafka-eos-dlq-replay.DLQ.SOURCE with
    /// --source-topic SOURCE.
    #[arg(long)]
    pub group: Option<String>,
    /// List what would be replayed; write and commit nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Replay at most N dead letters this run (the next run goes on from there).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// Timeout of each call to the cluster, and of reading without progress.
    #[arg(long = "timeout", value_name = "SECONDS", default_value_t = DEFAULT_TIMEOUT_SECS)]
    pub timeout_secs: u64,
}

impl ReplayArgs {
    /// Replay of dead-letter topic `topic` on `bootstrap_servers`, with the defaults.
    pub fn new(bootstrap_servers: impl Into<String>, topic: impl Into<String>) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.into(),
            topic: topic.into(),
            to: None,
            source_topic: None,
            group: None,
            dry_run: false,
            limit: None,
            timeout_secs: DEFAULT_TIMEOUT_SECS,
        }
    }

    /// The consumer group (and `transactional.id`): `--group`, else [`default_group`].
    pub fn group(&self) -> String {
        self.group
            .clone()
            .unwrap_or_else(|| default_group(&self.topic, self.source_topic.as_deref()))
    }

    /// `--timeout`.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.max(1))
    }
}

/// The default group of a replay of `dlq`: `kafka-eos-dlq-replay.<DLQ>`, or
/// `kafka-eos-dlq-replay.<DLQ>.<SOURCE>` when only `source_topic`'s dead letters are
/// replayed (so replaying one source topic never passes over another's dead letters).
pub fn default_group(dlq: &str, source_topic: Option<&str>) -> String {
    match source_topic {
        Some(source) => format!("{GROUP_PREFIX}.{dlq}.{source}"),
        None => format!("{GROUP_PREFIX}.{dlq}"),
    }
}

/// Why a run stopped before the ends of the dead-letter topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// `--limit` dead letters were replayed.
    Limit,
    /// Half the transaction timeout passed: the run commits what it has.
    TransactionTime,
}

/// What a replay did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplaySummary {
    /// The dead-letter topic.
    pub dlq: String,
    /// The group (and `transactional.id`).
    pub group: String,
    /// A dry run: nothing written or committed.
    pub dry_run: bool,
    /// Dead letters replayed (or, in a dry run, that would be).
    pub replayed: u64,
    /// Dead letters passed over: from another source topic than `--source-topic`.
    pub skipped: u64,
    /// Replayed dead letters per target topic.
    pub by_topic: BTreeMap<String, u64>,
    /// Set when the run stopped before the ends; the next run goes on from there.
    pub stopped: Option<StopReason>,
    /// The dead-letter topic's offsets committed for the group, per partition (empty in a
    /// dry run, or when there was nothing to replay).
    pub committed: Vec<(i32, i64)>,
}

impl ReplaySummary {
    fn new(dlq: &str, group: &str, dry_run: bool) -> Self {
        Self {
            dlq: dlq.to_owned(),
            group: group.to_owned(),
            dry_run,
            replayed: 0,
            skipped: 0,
            by_topic: BTreeMap::new(),
            stopped: None,
            committed: Vec::new(),
        }
    }

    fn add_replayed(&mut self, topic: &str) {
        self.replayed += 1;
        *self.by_topic.entry(topic.to_owned()).or_default() += 1;
    }
}

impl fmt::Display for ReplaySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run {
            "would replay"
        } else {
            "replayed"
        };
        let noun = if self.replayed == 1 {
            "dead letter"
        } else {
            "dead letters"
        };
        write!(f, "{verb} {} {noun} from {}", self.replayed, self.dlq)?;
        match self.by_topic.len() {
            0 => {}
            1 => {
                for topic in self.by_topic.keys() {
                    write!(f, " to {topic}")?;
                }
            }
            _ => {
                let to: Vec<String> = self
                    .by_topic
                    .iter()
                    .map(|(t, n)| format!("{t} ({n})"))
                    .collect();
                write!(f, " to {}", to.join(", "))?;
            }
        }
        if self.skipped > 0 {
            write!(f, " ({} skipped: other source topic)", self.skipped)?;
        }
        match self.stopped {
            Some(StopReason::Limit) => write!(f, "; stopped at --limit, run again for the rest")?,
            Some(StopReason::TransactionTime) => write!(
                f,
                "; stopped at half the transaction timeout, run again for the rest"
            )?,
            None => {}
        }
        if self.dry_run {
            write!(f, "; dry run: nothing written or committed")?;
        }
        Ok(())
    }
}

/// Replays the dead letters of `args.topic` (see the module docs); `on_letter` sees each
/// dead letter handled and what happened to it (replayed to a topic, or skipped), in a
/// dry run too. Blocks the calling thread (librdkafka; the producer is driven by a Tokio
/// runtime of the replay's own): call it from a plain thread or `spawn_blocking`, never
/// from async code (Tokio refuses to start a runtime there).
///
/// Errors are [`CliError`] variants: [`CliError::DlqTopicMissing`],
/// [`CliError::TargetTopicMissing`], [`CliError::NoSourceTopic`],
/// [`CliError::Unreachable`], [`CliError::Stalled`], [`CliError::MixedGroups`],
/// [`CliError::Delivery`], [`CliError::Transaction`], [`CliError::Fenced`]. On any error
/// the transaction is aborted (or its outcome is unknown after a failed commit, said in
/// the error): a failed run replays nothing and commits no offset.
pub fn replay(
    args: &ReplayArgs,
    mut on_letter: impl FnMut(&DeadLetter, &Decision),
) -> Result<ReplaySummary, CliError> {
    replay::run(args, &mut on_letter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_groups_are_per_dlq_and_per_source_topic() {
        let mut a = ReplayArgs::new("b:9092", "orders-dlq");
        assert_eq!(a.group(), "kafka-eos-dlq-replay.orders-dlq");
        a.source_topic = Some("orders".into());
        assert_eq!(a.group(), "kafka-eos-dlq-replay.orders-dlq.orders");
        a.group = Some("mine".into());
        assert_eq!(a.group(), "mine");
    }

    #[test]
    fn the_summary_is_one_line() {
        let mut s = ReplaySummary::new("orders-dlq", "g", false);
        for _ in 0..12 {
            s.add_replayed("orders");
        }
        s.skipped = 3;
        assert_eq!(
            s.to_string(),
            "replayed 12 dead letters from orders-dlq to orders (3 skipped: other source topic)"
        );
        s.add_replayed("payments");
        s.stopped = Some(StopReason::Limit);
        s.dry_run = true;
        assert_eq!(
            s.to_string(),
            "would replay 13 dead letters from orders-dlq to orders (12), payments (1) \
             (3 skipped: other source topic); stopped at --limit, run again for the rest; \
             dry run: nothing written or committed"
        );
        let none = ReplaySummary::new("orders-dlq", "g", false);
        assert_eq!(none.to_string(), "replayed 0 dead letters from orders-dlq");
    }
}
