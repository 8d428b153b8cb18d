//! Hot keys inside the running pipeline: per assigned partition, the hottest keys of a
//! sample of the records polled (one in 16 on average, picked at random: a pattern in the
//! input cannot hide a key), in fixed memory ([`kafka_eos_core::hot_keys::HotKeys`]: 16
//! counters, counts halved every 10,000 sampled records of the partition). The sample keeps
//! the cost per record to a few nanoseconds; a key's share is estimated from it (a key with
//! a tenth of 10,000 sampled records is off by about a percentage point). The hottest key's share is published as
//! the gauge `kafka_eos_hot_key_share` (labels `topic`, `partition`; the key itself is not a
//! label: keys would make unbounded series), and a warning naming the key is logged when the
//! share passes [`PipelineBuilder::hot_key_alert`](crate::PipelineBuilder::hot_key_alert)
//! (at most once a minute per partition, once the window holds 1,000 records).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_eos_core::hot_keys::{HotKey, HotKeys};
use kafka_eos_core::metric_names::HOT_KEY_SHARE;
use metrics::{Gauge, Key, Label, Level, Metadata};

use crate::batch::Polled;
use crate::metrics_endpoint::MetricsTarget;

/// Counters per partition.
pub(crate) const COUNTERS: usize = 16;
/// Sampled records of a partition after which its counts are halved.
pub(crate) const WINDOW: u64 = 10_000;
/// One record in this many is sampled, on average.
pub(crate) const SAMPLE_ONE_IN: u64 = 16;
/// The default share of one key that is logged.
pub const DEFAULT_HOT_KEY_ALERT: f64 = 0.5;
/// Sampled records a partition's window must hold before its share is logged.
const ALERT_AFTER: u64 = 100;
/// The least time between two warnings for a partition.
const ALERT_EVERY: Duration = Duration::from_secs(60);

static METADATA: Metadata<'static> = Metadata::new("kafka_eos", Level::INFO, Some(module_path!()));

#[derive(Debug)]
struct Partition {
    keys: HotKeys,
    gauge: Option<Gauge>,
    warned: Option<Instant>,
}

/// The hottest keys of each partition this pipeline polled; read it while the pipeline runs
/// with [`Pipeline::hot_keys`](crate::Pipeline::hot_keys).
#[derive(Debug)]
pub struct HotKeyMonitor {
    alert: f64,
    target: Mutex<Option<(MetricsTarget, Vec<Label>)>>,
    partitions: Mutex<HashMap<(Arc<str>, i32), Partition>>,
    /// The sampler's state (xorshift64).
    sampler: AtomicU64,
}

impl HotKeyMonitor {
    pub(crate) fn new(alert: f64) -> Self {
        HotKeyMonitor {
            alert,
            target: Mutex::new(None),
            partitions: Mutex::new(HashMap::new()),
            sampler: AtomicU64::new(0x9e37_79b9_7f4a_7c15),
        }
    }

    /// Publishes the share gauges to `target`, each with `labels` and the partition's.
    pub(crate) fn publish(&self, target: MetricsTarget, labels: Vec<Label>) {
        if let Ok(mut t) = self.target.lock() {
            *t = Some((target, labels));
        }
    }

    /// Counts the keys of a polled batch (before the processor takes them).
    pub(crate) fn observe(&self, batch: &[Polled]) {
        if batch.is_empty() {
            return;
        }
        let Ok(mut partitions) = self.partitions.lock() else {
            return;
        };
        let mut x = self.sampler.load(Ordering::Relaxed);
        let mut touched: Vec<(Arc<str>, i32)> = Vec::new();
        // one look-up per run of records of one partition (the consumer hands them so)
        for run in crate::batch::same_partition_runs(batch) {
            let msg = &run[0];
            let key = (Arc::clone(&msg.topic), msg.partition);
            let p = partitions.entry(key.clone()).or_insert_with(|| Partition {
                keys: HotKeys::new(COUNTERS, WINDOW),
                gauge: self.gauge(&msg.topic, msg.partition),
                warned: None,
            });
            for msg in run {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if x.is_multiple_of(SAMPLE_ONE_IN) {
                    p.keys.observe(msg.key.as_deref());
                }
            }
            if !touched.contains(&key) {
                touched.push(key);
            }
        }
        self.sampler.store(x, Ordering::Relaxed);
        for key in touched {
            let Some(p) = partitions.get_mut(&key) else {
                continue;
            };
            let Some((hottest, share)) = p.keys.hottest() else {
                continue;
            };
            if let Some(g) = &p.gauge {
                g.set(share);
            }
            let due = p.warned.is_none_or(|at| at.elapsed() >= ALERT_EVERY);
            if share >= self.alert && p.keys.total() >= ALERT_AFTER && due {
                p.warned = Some(Instant::now());
                tracing::warn!(
                    topic = %key.0,
                    partition = key.1,
                    key = %shown(hottest.key.as_deref()),
                    share = format!("{:.0}%", share * 100.0),
                    "hot key: one key holds this share of the partition's recent records (its records run one at a time, in order: the partition's throughput is this key's)"
                );
            }
        }
    }

    /// A partition's share gauge, registered where the metrics go (`None`: not published).
    fn gauge(&self, topic: &str, partition: i32) -> Option<Gauge> {
        let t = self.target.lock().ok()?;
        let (target, labels) = t.as_ref()?;
        let mut labels = labels.clone();
        labels.push(Label::new("topic", topic.to_owned()));
        labels.push(Label::new("partition", partition.to_string()));
        Some(target.with(|r| r.register_gauge(&Key::from_parts(HOT_KEY_SHARE, labels), &METADATA)))
    }

    /// The hottest keys of `topic`'s `partition` now, hottest first (empty if this pipeline
    /// has not polled it).
    pub fn top(&self, topic: &str, partition: i32) -> Vec<HotKey> {
        self.partitions
            .lock()
            .ok()
            .and_then(|p| {
                p.iter()
                    .find(|((t, n), _)| &**t == topic && *n == partition)
                    .map(|(_, p)| p.keys.top())
            })
            .unwrap_or_default()
    }

    /// Each partition's hottest key and its share of the partition's recent records.
    pub fn hottest(&self) -> Vec<(String, i32, HotKey, f64)> {
        let Ok(partitions) = self.partitions.lock() else {
            return Vec::new();
        };
        let mut all: Vec<_> = partitions
            .iter()
            .filter_map(|((t, n), p)| {
                let (key, share) = p.keys.hottest()?;
                Some((t.to_string(), *n, key, share))
            })
            .collect();
        all.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        all
    }
}

/// A key for a log line: text if it is UTF-8, else hex.
fn shown(key: Option<&[u8]>) -> String {
    match key {
        None => "(no key)".to_owned(),
        Some(k) => match std::str::from_utf8(k) {
            Ok(s) => s.to_owned(),
            Err(_) => k.iter().map(|b| format!("{b:02x}")).collect(),
        },
    }
}
