//! `kafka-eos parked`: the keys a pipeline has parked (`PipelineBuilder::parking_topic`),
//! read from its parking topic, and the release of a held key.
//!
//! `list` reads every partition of the parking topic `read_committed` to its end and folds
//! it as the pipeline does when it is assigned a partition (core's
//! [`kafka_eos_core::parked`]): per source topic, partition and key, the records parked,
//! the head's attempts and failure times, when it is next due, and whether it is held.
//! `release` writes a release record for a parked key: a held key's later records then run
//! (the pipeline looks for releases once a second); a key that is not held is retried at
//! once, its attempts counted from zero again.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kafka_eos_core::parked::{self, Key, ParkedKey, ParkedPartition, ParkingRecord};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use crate::error::CliError;
use crate::offsets::{partitions_of, TIMEOUT};

/// Examples shown by `kafka-eos parked --help`.
pub const EXAMPLES: &str = "\
Examples:
  # every parked key, with its attempts and when it is next due
  kafka-eos parked list --bootstrap-servers 127.0.0.1:9092 --topic orders-parked
  # release a held key (its later records run); --dry-run only says what it would do
  kafka-eos parked release --bootstrap-servers 127.0.0.1:9092 --topic orders-parked \\
      --source-topic orders --key order-7";

/// Arguments of `parked`.
#[derive(Debug, Clone, clap::Args)]
pub struct ParkedArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ParkedCommand,
}

/// The `parked` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ParkedCommand {
    /// List the parked keys: source topic and partition, key, records parked, attempts of
    /// the head, next due time, held or not.
    List(ListArgs),
    /// Release a parked key: a held key's later records run; a key that is not held is
    /// retried at once.
    Release(ReleaseArgs),
}

/// The parking topic, and where it is.
#[derive(Debug, Clone, clap::Args)]
pub struct ParkingTopic {
    /// bootstrap.servers of the cluster.
    #[arg(
        long = "bootstrap-servers",
        visible_alias = "bootstrap",
        env = "KAFKA_BOOTSTRAP_SERVERS"
    )]
    pub bootstrap_servers: String,
    /// The parking topic.
    #[arg(long)]
    pub topic: String,
}

/// Arguments of `parked list`.
#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    /// The parking topic.
    #[command(flatten)]
    pub parking: ParkingTopic,
    /// Only the keys of this input topic.
    #[arg(long)]
    pub source_topic: Option<String>,
    /// One JSON object per key instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `parked release`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReleaseArgs {
    /// The parking topic.
    #[command(flatten)]
    pub parking: ParkingTopic,
    /// The input topic of the key.
    #[arg(long)]
    pub source_topic: String,
    /// The key (as UTF-8 text).
    #[arg(long)]
    pub key: String,
    /// Say what would be released; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// One parked key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Parked {
    /// Its input topic.
    pub source_topic: String,
    /// Its input partition (and parking partition).
    pub partition: i32,
    /// The key, as text (lossy UTF-8; `null` for records without a key).
    pub key: Option<String>,
    /// Records parked.
    pub records: u64,
    /// Failed attempts of its head.
    pub attempts: u32,
    /// When the head is due (ms since the epoch; meaningless while held).
    pub due_ms: i64,
    /// When the head first and last failed (ms since the epoch; 0: not yet).
    pub first_failure_ms: i64,
    /// See `first_failure_ms`.
    pub last_failure_ms: i64,
    /// Held until an operator releases it.
    pub held: bool,
}

impl Parked {
    fn new(source_topic: &str, partition: i32, key: &Key, k: &ParkedKey) -> Self {
        Parked {
            source_topic: source_topic.to_owned(),
            partition,
            key: key
                .as_deref()
                .map(|k| String::from_utf8_lossy(k).into_owned()),
            records: k.count,
            attempts: k.attempts,
            due_ms: k.due_ms,
            first_failure_ms: k.first_failure_ms,
            last_failure_ms: k.last_failure_ms,
            held: k.held,
        }
    }
}

/// Reads the parking topic and lists its parked keys (ordered by source topic, partition
/// and key).
pub fn list(
    bootstrap: &str,
    topic: &str,
    source_topic: Option<&str>,
) -> Result<Vec<Parked>, CliError> {
    let folded = fold(bootstrap, topic)?;
    let mut out: Vec<Parked> = folded
        .iter()
        .filter(|((source, _), _)| source_topic.is_none_or(|s| s == source))
        .flat_map(|((source, partition), parked)| {
            parked
                .keys()
                .map(move |(key, k)| Parked::new(source, *partition, key, k))
        })
        .collect();
    out.sort_by(|a, b| {
        (&a.source_topic, a.partition, &a.key).cmp(&(&b.source_topic, b.partition, &b.key))
    });
    Ok(out)
}

/// Releases `args.key`: writes a release record to its parking partition (unless
/// `--dry-run`); returns the key as it was.
pub fn release(args: &ReleaseArgs) -> Result<Parked, CliError> {
    let ParkingTopic {
        bootstrap_servers,
        topic,
    } = &args.parking;
    let parked = list(bootstrap_servers, topic, Some(&args.source_topic))?;
    let found = parked
        .into_iter()
        .find(|p| p.key.as_deref() == Some(args.key.as_str()))
        .ok_or_else(|| CliError::NotParked {
            topic: topic.clone(),
            source_topic: args.source_topic.clone(),
            key: args.key.clone(),
        })?;
    if args.dry_run {
        return Ok(found);
    }
    let producer: BaseProducer = crate::client::base(bootstrap_servers)?
        .set("enable.idempotence", "true")
        .create()?;
    let record = parked::release_record(
        topic,
        &args.source_topic,
        found.partition,
        Some(args.key.as_bytes()),
    );
    producer
        .send(record.as_base_record(()))
        .map_err(|(e, _)| CliError::Kafka(e))?;
    producer.flush(TIMEOUT)?;
    Ok(found)
}

/// The parked keys of each source (topic, partition) in the parking topic.
fn fold(
    bootstrap: &str,
    topic: &str,
) -> Result<BTreeMap<(String, i32), ParkedPartition>, CliError> {
    let consumer: BaseConsumer = crate::client::base(bootstrap)?
        .set("group.id", "kafka-eos-parked")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        .create()?;
    let partitions = partitions_of(&consumer, topic)?;
    let mut tpl = TopicPartitionList::new();
    for &p in &partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut open: Vec<i32> = partitions;
    let mut folded: BTreeMap<(String, i32), ParkedPartition> = BTreeMap::new();
    let deadline = Instant::now() + TIMEOUT;
    while !open.is_empty() {
        if Instant::now() >= deadline {
            return Err(CliError::Kafka(KafkaError::NoMessageReceived));
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(p))) => open.retain(|q| *q != p),
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(m)) => {
                let headers = m.headers();
                let pairs = || {
                    headers
                        .iter()
                        .flat_map(|h| h.iter())
                        .map(|h| (h.key, h.value))
                };
                let Ok(Some(record)) = ParkingRecord::parse(pairs()) else {
                    continue;
                };
                let Some(source) = parked::source_topic(pairs()) else {
                    continue;
                };
                let source = String::from_utf8_lossy(source).into_owned();
                let key = m.key().map(bytes::Bytes::copy_from_slice);
                folded
                    .entry((source, m.partition()))
                    .or_default()
                    .apply(&record, key, m.offset());
            }
        }
    }
    Ok(folded)
}

/// The parked keys as a table; `now_ms` shows due times as a wait.
pub fn table(parked: &[Parked], now_ms: i64) -> String {
    let mut out = format!(
        "{:<24} {:>9} {:<28} {:>7} {:>8} {:>12}  {}\n",
        "SOURCE TOPIC", "PARTITION", "KEY", "RECORDS", "ATTEMPTS", "DUE IN", "STATE"
    );
    for p in parked {
        let due = if p.held {
            "-".to_owned()
        } else {
            let wait = (p.due_ms - now_ms).max(0);
            format!("{:.1} s", wait as f64 / 1000.0)
        };
        out.push_str(&format!(
            "{:<24} {:>9} {:<28} {:>7} {:>8} {:>12}  {}\n",
            p.source_topic,
            p.partition,
            p.key.as_deref().unwrap_or("(no key)"),
            p.records,
            p.attempts,
            due,
            if p.held { "held" } else { "parked" }
        ));
    }
    out.push_str(&format!("{} parked keys\n", parked.len()));
    out
}
