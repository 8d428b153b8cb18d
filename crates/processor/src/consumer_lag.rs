//! Per-partition consumer lag, measured inside the running pipeline and published as the
//! gauges `kafka_eos_consumer_lag_records` and `kafka_eos_consumer_lag_seconds`
//! (labels `topic`, `partition`).
//!
//! How it is measured (and why not librdkafka's own `consumer_lag`): librdkafka's
//! statistics (`statistics.interval.ms`, 1 s unless overridden) give each assigned
//! partition's last stable offset, the end a `read_committed` reader can reach. Its
//! `consumer_lag` subtracts the *consumer's* committed offset, which a transactional
//! pipeline never moves (the producer commits the offsets, in the transaction), so it would
//! never fall. Here the lag is that end minus the next offset **this pipeline committed**
//! for the partition (before its first commit there: the group's committed offset the
//! consumer read on assignment). While the pipeline is idle (its last poll found nothing)
//! and librdkafka holds nothing fetched for the partition, the consumer's fetch position
//! counts as committed too: it has moved past a transaction marker that follows the last
//! record, which no record's offset does, so an input written by transactions also falls
//! to 0 once caught up.
//!
//! The seconds: 0 when caught up, else the age of the last record committed on the
//! partition (its timestamp to now), an upper bound on how long the oldest waiting record
//! has waited. Statistics are delivered when the pipeline polls, between batches, so the
//! gauges refresh at most once per batch and per interval.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use kafka_eos_core::metric_names::{CONSUMER_LAG_RECORDS, CONSUMER_LAG_SECONDS};
use metrics::{Gauge, Key, Label, Level, Metadata};
use rdkafka::statistics::Statistics;
use rdkafka::ClientConfig;

use crate::batch::Polled;
use crate::metrics_endpoint::MetricsTarget;

/// `statistics.interval.ms` set on the pipeline's consumer unless overridden.
pub(crate) const STATISTICS_INTERVAL_MS: &str = "1000";

static METADATA: Metadata<'static> = Metadata::new("kafka_eos", Level::INFO, Some(module_path!()));

/// One assigned partition's positions and its gauges.
#[derive(Debug)]
struct Partition {
    /// Last stable offset, from the statistics.
    end: i64,
    /// The next offset the group committed (this pipeline, or before it the group).
    committed: Option<i64>,
    /// Timestamp (ms) of the last record this pipeline committed on the partition.
    committed_ts: Option<i64>,
    /// The consumer's fetch position and whether it holds fetched records not yet polled.
    fetched: i64,
    queued: bool,
    records: Gauge,
    seconds: Gauge,
}

impl Partition {
    fn publish(&self, idle: bool, now_ms: i64) {
        let mut position = self.committed;
        if idle && !self.queued {
            position = position.map(|c| c.max(self.fetched));
        }
        let Some(position) = position else { return };
        let lag = (self.end - position).max(0);
        self.records.set(lag as f64);
        if lag == 0 {
            self.seconds.set(0.0);
        } else if let Some(ts) = self.committed_ts {
            self.seconds.set((now_ms - ts).max(0) as f64 / 1000.0);
        }
    }
}

/// The lag of the partitions assigned to this pipeline; shared by the consumer context
/// (statistics) and the loop (commits).
#[derive(Debug, Default)]
pub(crate) struct ConsumerLag {
    /// `None`: not published (no statistics are asked for).
    target: Mutex<Option<(MetricsTarget, Vec<Label>)>>,
    partitions: Mutex<HashMap<(Arc<str>, i32), Partition>>,
    idle: AtomicBool,
}

impl ConsumerLag {
    /// Publishes the gauges to `target`, each with `labels` and the partition's.
    pub(crate) fn publish(&self, target: MetricsTarget, labels: Vec<Label>) {
        if let Ok(mut t) = self.target.lock() {
            *t = Some((target, labels));
        }
    }

    /// Whether the pipeline's last poll found nothing.
    pub(crate) fn set_idle(&self, idle: bool) {
        self.idle.store(idle, Ordering::Relaxed);
    }

    /// Takes the positions of a batch that committed.
    pub(crate) fn committed(&self, batch: &[Polled]) {
        let Ok(mut partitions) = self.partitions.lock() else {
            return;
        };
        if partitions.is_empty() {
            return; // no statistics yet (or not published)
        }
        for run in crate::batch::same_partition_runs(batch) {
            let first = &run[0];
            let Some(p) = partitions.get_mut(&(Arc::clone(&first.topic), first.partition)) else {
                continue;
            };
            for msg in run {
                if p.committed.is_none_or(|c| c <= msg.offset) {
                    p.committed = Some(msg.offset + 1);
                    p.committed_ts = msg.timestamp.or(p.committed_ts);
                }
            }
        }
        let now = now_ms();
        let idle = self.idle.load(Ordering::Relaxed);
        for p in partitions.values() {
            p.publish(idle, now);
        }
    }

    /// Takes librdkafka's statistics: the assigned partitions' ends and fetch positions.
    /// A partition no longer assigned shows lag 0 here (its new owner reports it).
    pub(crate) fn statistics(&self, stats: &Statistics) {
        let Some((target, labels)) = self.target.lock().ok().and_then(|t| t.clone()) else {
            return;
        };
        let Ok(mut partitions) = self.partitions.lock() else {
            return;
        };
        let mut seen = Vec::new();
        for (topic, t) in &stats.topics {
            for p in t.partitions.values() {
                if p.partition < 0 || p.fetch_state != "active" || p.ls_offset < 0 {
                    continue;
                }
                let key: (Arc<str>, i32) = (Arc::from(topic.as_str()), p.partition);
                let entry = partitions.entry(key.clone()).or_insert_with(|| {
                    let gauge = |name: &'static str| {
                        let mut labels = labels.clone();
                        labels.push(Label::new("topic", topic.clone()));
                        labels.push(Label::new("partition", p.partition.to_string()));
                        target.with(|r| r.register_gauge(&Key::from_parts(name, labels), &METADATA))
                    };
                    Partition {
                        end: p.ls_offset,
                        committed: None,
                        committed_ts: None,
                        fetched: p.next_offset,
                        queued: false,
                        records: gauge(CONSUMER_LAG_RECORDS),
                        seconds: gauge(CONSUMER_LAG_SECONDS),
                    }
                });
                entry.end = p.ls_offset;
                entry.fetched = p.next_offset;
                entry.queued = p.fetchq_cnt > 0;
                if entry.committed.is_none() && p.committed_offset >= 0 {
                    entry.committed = Some(p.committed_offset);
                }
                seen.push(key);
            }
        }
        partitions.retain(|key, p| {
            let assigned = seen.contains(key);
            if !assigned {
                p.records.set(0.0);
                p.seconds.set(0.0);
            }
            assigned
        });
        let now = now_ms();
        let idle = self.idle.load(Ordering::Relaxed);
        for p in partitions.values() {
            p.publish(idle, now);
        }
    }

    /// Whether statistics are wanted (the gauges are published).
    pub(crate) fn is_published(&self) -> bool {
        self.target.lock().is_ok_and(|t| t.is_some())
    }
}

/// Asks librdkafka for statistics every [`STATISTICS_INTERVAL_MS`], unless the consumer's
/// settings chose an interval (`0` turns them, and the lag gauges, off).
pub(crate) fn with_statistics(mut config: ClientConfig) -> ClientConfig {
    if config.get("statistics.interval.ms").is_none() {
        config.set("statistics.interval.ms", STATISTICS_INTERVAL_MS);
    }
    config
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
