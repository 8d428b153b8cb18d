//! Parking retries (the design is `docs/parking.md`): a record the processor fails on is
//! parked in a co-partitioned parking topic, inside the batch's transaction, and so is
//! every later record of its key, while the other keys flow; when the key is due, its
//! parked records are read back and processed ahead of the batch's input.
//!
//! This file holds what the pipeline keeps between batches: the parked keys of each
//! assigned partition (folded from the parking topic when the partition is assigned,
//! [`kafka_eos_core::parked`]) and the reads of due keys' records. One batch's changes are
//! in `parking/batch.rs`; they reach this state only once the batch committed.

mod batch;
mod cache;
mod reader;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use kafka_eos_core::parked::{self, Key, ParkedKey, ParkedPartition, ParkingRecord};
use kafka_eos_core::Metrics;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::TopicPartitionList;
use std::time::{Duration, Instant};

pub(crate) use batch::{BatchParking, Changes};
pub(crate) use reader::Reader;
use reader::{Scanned, Visit};

use crate::arena::Arena;
use crate::batch::Polled;
use crate::error::Error;

/// What a key does after one of its records is dead-lettered: the next records proceed,
/// or they stay parked until an operator releases the key (`kafka-eos parked release`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyPolicy {
    /// The key's later records proceed.
    #[default]
    Release,
    /// The key stays parked (its later records park behind it) until an operator releases
    /// it.
    Hold,
}

/// A source topic-partition.
pub(crate) type Tp = (Arc<str>, i32);

/// One assigned source partition's parked keys.
#[derive(Debug, Default)]
pub(crate) struct Partition {
    pub parked: ParkedPartition,
    /// An offset at or below the parking partition's end, as last read.
    pub known_end: i64,
    /// Operators' releases are read from here on.
    releases_seen: i64,
    releases_checked: Option<Instant>,
}

impl Partition {
    /// Whether its held keys should look for an operator's release.
    fn release_check_due(&self) -> bool {
        self.parked.has_held()
            && self
                .releases_checked
                .is_none_or(|at| at.elapsed() >= RELEASE_CHECK)
    }
}

/// How often held keys look for an operator's release.
const RELEASE_CHECK: Duration = Duration::from_secs(1);

/// The parked keys of the assigned partitions.
pub(crate) struct Parking {
    pub topic: String,
    pub policy: KeyPolicy,
    /// Parked records read back per key and batch, at most.
    pub per_key: usize,
    partitions: HashMap<Tp, Partition>,
    /// The consumer generation the partitions were loaded for.
    generation: Option<u64>,
    /// Parked records in memory (bounded): due keys read back without a scan.
    cache: cache::Cache,
}

impl Parking {
    pub(crate) fn new(topic: String, policy: KeyPolicy, per_key: usize) -> Self {
        Parking {
            topic,
            policy,
            per_key: per_key.max(1),
            partitions: HashMap::new(),
            generation: None,
            cache: cache::Cache::default(),
        }
    }

    /// Forgets the parked keys: the next batch loads them again from the parking topic
    /// (after a batch that did not commit as far as the pipeline knows, but may have).
    pub(crate) fn reload(&mut self) {
        self.generation = None;
    }

    pub(crate) fn partition(&self, tp: &Tp) -> Option<&Partition> {
        self.partitions.get(tp)
    }

    /// Whether the assignment changed since it was loaded, a key is due at `now_ms`, or
    /// held keys should look for an operator's release: a batch must run even without
    /// input.
    pub(crate) fn wants_batch(&self, generation: u64, now_ms: i64) -> bool {
        self.generation != Some(generation)
            || self.partitions.values().any(|p| {
                p.parked.next_due().is_some_and(|due| due <= now_ms) || p.release_check_due()
            })
    }

    /// After a rebalance, loads the parked keys of every assigned partition (before any
    /// of their records is processed). A partition kept through the rebalance is loaded
    /// again too: another member may have owned it in between.
    pub(crate) async fn sync(
        &mut self,
        reader: &Reader,
        generation: u64,
        assignment: &TopicPartitionList,
        metrics: &Metrics,
    ) -> Result<(), Error> {
        if self.generation == Some(generation) {
            return Ok(());
        }
        self.partitions.clear();
        self.cache.clear();
        let assigned: HashSet<Tp> = assignment
            .elements()
            .iter()
            .map(|e| (Arc::from(e.topic()), e.partition()))
            .collect();
        let from = assigned
            .iter()
            .map(|tp| (tp.1, None))
            .collect::<HashSet<_>>();
        let fold = Fold {
            parked: assigned
                .iter()
                .map(|tp| (tp.clone(), ParkedPartition::default()))
                .collect(),
        };
        let (fold, ends) = reader.scan(from.into_iter().collect(), fold).await?;
        for (tp, parked) in fold.parked {
            if !parked.is_empty() {
                tracing::info!(topic = %tp.0, partition = tp.1, keys = parked.len(),
                    records = parked.parked_records(), "parked keys recovered");
            }
            let end = ends.get(&tp.1).copied().unwrap_or(0);
            self.partitions.insert(
                tp,
                Partition {
                    parked,
                    known_end: end,
                    releases_seen: end,
                    releases_checked: None,
                },
            );
        }
        self.generation = Some(generation);
        self.publish(metrics);
        Ok(())
    }

    /// The parked records of the keys due at `now_ms`, in order (at most `per_key` per
    /// key), read back from the parking topic in one pass over the partitions that have due
    /// keys; held keys first look for an operator's release.
    pub(crate) async fn due_records(
        &mut self,
        reader: &Reader,
        now_ms: i64,
    ) -> Result<Vec<Polled>, Error> {
        self.check_releases(reader).await?;
        let mut out = Vec::new();
        let mut due: HashMap<(Tp, Key), ParkedKey> = HashMap::new();
        let mut from: HashMap<i32, i64> = HashMap::new();
        for (tp, partition) in &self.partitions {
            for (key, state) in partition.parked.due(now_ms) {
                let id = (tp.clone(), key.clone());
                if let Some(records) = self.cache.records(&id, state.count, self.per_key) {
                    out.extend(records);
                    continue;
                }
                let start = from.entry(tp.1).or_insert(state.scan_from);
                *start = (*start).min(state.scan_from);
                due.insert(id, *state);
            }
        }
        if due.is_empty() {
            return Ok(out);
        }
        let collect = DueRecords {
            per_key: self.per_key,
            due,
            found: HashMap::new(),
        };
        let from = from.into_iter().map(|(p, at)| (p, Some(at))).collect();
        let (collected, ends) = reader.scan(from, collect).await?;
        let DueRecords { due, mut found, .. } = collected;
        for ((tp, key), mut state) in due {
            let records = found.remove(&(tp.clone(), key.clone()));
            match records.as_ref().and_then(|r| r.values().next()) {
                // the next read of this key starts at its first live record
                Some((parking_offset, _)) => state.scan_from = *parking_offset,
                None => {
                    tracing::warn!(topic = %tp.0, partition = tp.1, parked = state.count,
                        "a parked key's records are not in the parking topic: releasing it");
                    state.count = 0;
                }
            }
            if let Some(partition) = self.partitions.get_mut(&tp) {
                if let Some(end) = ends.get(&tp.1) {
                    partition.known_end = partition.known_end.max(*end);
                }
                partition.parked.set(key.clone(), Some(state));
            }
            if let Some(records) = records {
                let records: Vec<Polled> =
                    records.into_values().map(|(_, polled)| polled).collect();
                if records.len() as u64 == state.count {
                    // all of them: the key's next retries need no read
                    self.cache.fill((tp, key), records.clone());
                }
                out.extend(records);
            }
        }
        Ok(out)
    }

    /// Every [`RELEASE_CHECK`], for the partitions with held keys: applies the operators'
    /// releases written since the last look (one pass over those partitions).
    async fn check_releases(&mut self, reader: &Reader) -> Result<(), Error> {
        let mut held: HashSet<(Tp, Key)> = HashSet::new();
        let mut from: HashMap<i32, i64> = HashMap::new();
        for (tp, partition) in &mut self.partitions {
            if !partition.release_check_due() {
                continue;
            }
            partition.releases_checked = Some(Instant::now());
            let start = from.entry(tp.1).or_insert(partition.releases_seen);
            *start = (*start).min(partition.releases_seen);
            for (key, _) in partition.parked.keys().filter(|(_, k)| k.held) {
                held.insert((tp.clone(), key.clone()));
            }
        }
        if from.is_empty() {
            return Ok(());
        }
        let look = Releases {
            held,
            released: Vec::new(),
        };
        let from = from.into_iter().map(|(p, at)| (p, Some(at))).collect();
        let (look, ends) = reader.scan(from, look).await?;
        for (tp, partition) in &mut self.partitions {
            if let Some(end) = ends.get(&tp.1) {
                partition.releases_seen = partition.releases_seen.max(*end);
                partition.known_end = partition.known_end.max(*end);
            }
        }
        for (tp, key) in look.released {
            tracing::info!(topic = %tp.0, partition = tp.1, key = ?key, "held key released by an operator");
            if let Some(partition) = self.partitions.get_mut(&tp) {
                partition.parked.apply(&ParkingRecord::Release, key, 0);
            }
        }
        Ok(())
    }

    /// Applies a committed batch's changes.
    pub(crate) fn apply(&mut self, changes: Changes, metrics: &Metrics) {
        for ((tp, key), change, parked) in changes {
            let partition = self.partitions.entry(tp.clone()).or_default();
            let before = partition.parked.get(&key).map_or(0, |k| k.count);
            partition.parked.set(key.clone(), Some(change.key));
            self.cache.committed((tp, key), before, &change.key, parked);
        }
        self.publish(metrics);
    }

    fn publish(&self, metrics: &Metrics) {
        let (keys, records) = self.partitions.values().fold((0, 0), |(k, r), p| {
            (k + p.parked.len() as u64, r + p.parked.parked_records())
        });
        metrics.record_parked(keys, records);
    }
}

/// The source topic-partition a parking record read from parking partition `partition`
/// is about (a parking partition serves partition *p* of every input topic).
fn source_of(message: &BorrowedMessage<'_>, partition: i32) -> Option<Tp> {
    let headers = message.headers();
    let topic = parked::source_topic(
        headers
            .iter()
            .flat_map(|h| h.iter())
            .map(|h| (h.key, h.value)),
    )?;
    Some((Arc::from(std::str::from_utf8(topic).ok()?), partition))
}

/// Folds the records of the assigned source partitions.
struct Fold {
    parked: HashMap<Tp, ParkedPartition>,
}

impl Visit for Fold {
    fn visit(&mut self, s: Scanned<'_>) {
        let Some(tp) = source_of(s.message, s.partition) else {
            return;
        };
        if let Some(parked) = self.parked.get_mut(&tp) {
            parked.apply(&s.record, s.key, s.parking_offset);
        }
    }
}

/// Collects the parked records of due keys, in source order, at most `per_key` a key.
struct DueRecords {
    per_key: usize,
    due: HashMap<(Tp, Key), ParkedKey>,
    /// Per key: source offset -> (parking offset, record).
    found: HashMap<(Tp, Key), BTreeMap<i64, (i64, Polled)>>,
}

impl Visit for DueRecords {
    fn visit(&mut self, s: Scanned<'_>) {
        let ParkingRecord::Park { source_offset } = s.record else {
            return;
        };
        let Some(tp) = source_of(s.message, s.partition) else {
            return;
        };
        let id = (tp, s.key);
        let Some(state) = self.due.get(&id) else {
            return;
        };
        if source_offset <= state.upto || s.parking_offset < state.scan_from {
            return;
        }
        let records = self.found.entry(id.clone()).or_default();
        if records.len() >= self.per_key {
            return;
        }
        // the parked copy of the source record, back in its source's place
        let ((topic, partition), key) = id;
        let mut polled = Polled::copy(s.message, &mut Arena::unshared(), true);
        polled.topic = topic;
        polled.partition = partition;
        polled.offset = source_offset;
        polled.key = key;
        polled.headers = parked::source_headers(polled.headers);
        records.insert(source_offset, (s.parking_offset, polled));
    }
}

/// Finds operators' releases of held keys.
struct Releases {
    held: HashSet<(Tp, Key)>,
    released: Vec<(Tp, Key)>,
}

impl Visit for Releases {
    fn visit(&mut self, s: Scanned<'_>) {
        if s.record != ParkingRecord::Release {
            return;
        }
        let Some(tp) = source_of(s.message, s.partition) else {
            return;
        };
        let id = (tp, s.key);
        if self.held.contains(&id) {
            self.released.push(id);
        }
    }
}
