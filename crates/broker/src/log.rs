//! The log of one partition: stored batches, the high watermark, the last stable offset,
//! open and aborted transactions.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::batch::{self, BatchError, BatchHeader, Marker};
use crate::leader_epochs::LeaderEpochs;
use crate::producer_state::{ProducerStates, SequenceCheck};
use crate::store::Segment;

mod recovery;

/// One stored batch.
#[derive(Debug, Clone)]
struct StoredBatch {
    base_offset: i64,
    last_offset: i64,
    max_timestamp: i64,
    header: BatchHeader,
    data: Bytes,
}

/// A transaction aborted in this partition: its first data offset and the offset of the
/// abort marker. Fetch lists it to read_committed readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
}

/// Why a produce to this partition failed (mapped to Kafka error codes by the handler).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AppendError {
    /// Records without a key sent to a compacted topic (`cleanup.policy` has `compact`):
    /// their indexes in the batch. Kafka refuses the whole batch (INVALID_RECORD).
    KeylessOnCompacted(Vec<i32>),
    Batch(BatchError),
    /// An idempotent producer must send one batch per partition and request.
    InvalidRecord,
    OutOfOrderSequence,
    InvalidProducerEpoch,
    /// A transactional batch for a partition not added to the producer's transaction.
    InvalidTxnState,
    /// A batch larger than the topic's `max.message.bytes`.
    MessageTooLarge,
    /// The log file could not be written (KAFKA_STORAGE_ERROR); nothing was appended.
    Storage,
}

/// The topic settings an append follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AppendPolicy {
    /// The broker's clock (ms since the epoch).
    pub now_ms: i64,
    /// `message.timestamp.type=LogAppendTime`: stamp batches with `now_ms`.
    pub log_append_time: bool,
    /// `max.message.bytes`: the largest batch accepted.
    pub max_batch_bytes: usize,
    /// `cleanup.policy` has `compact`: every record needs a key.
    pub compacted: bool,
}

/// The result of appending a produce request's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Appended {
    pub base_offset: i64,
    pub log_append_time: i64,
}

/// What a fetch found.
#[derive(Debug, Clone, Default)]
pub(crate) struct FetchedData {
    pub records: Vec<Bytes>,
    pub bytes: usize,
    pub aborted: Vec<AbortedTxn>,
}

/// A partition's log.
#[derive(Debug, Default)]
pub(crate) struct PartitionLog {
    batches: Vec<StoredBatch>,
    next_offset: i64,
    log_start_offset: i64,
    /// producer id -> first offset of its open transaction in this partition
    open_txns: BTreeMap<i64, i64>,
    aborted: Vec<AbortedTxn>,
    producers: ProducerStates,
    /// The leader epochs and where each began.
    epochs: LeaderEpochs,
    /// The log file (with a data dir).
    segment: Option<Segment>,
}

impl PartitionLog {
    /// The high watermark (single node: every appended record is replicated).
    pub fn high_watermark(&self) -> i64 {
        self.next_offset
    }

    /// The offset below which every transaction is decided.
    pub fn last_stable_offset(&self) -> i64 {
        self.open_txns
            .values()
            .copied()
            .min()
            .unwrap_or(self.next_offset)
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// The leader epochs of this log.
    pub fn epochs(&self) -> &LeaderEpochs {
        &self.epochs
    }

    /// A new leader took over: the next leader epoch begins at the log's end.
    pub fn begin_leader_epoch(&mut self) -> i32 {
        self.epochs.begin_next(self.next_offset)
    }

    /// Appends a produce request's record set. `txn_allowed` says whether a transactional
    /// producer has added this partition to its ongoing transaction.
    /// The topic's settings come in `policy`.
    pub fn append(
        &mut self,
        records: &Bytes,
        policy: AppendPolicy,
        txn_allowed: impl Fn(i64, i16) -> bool,
    ) -> Result<Appended, AppendError> {
        let batches = batch::split_batches(records).map_err(AppendError::Batch)?;
        if batches
            .iter()
            .any(|(_, data)| data.len() > policy.max_batch_bytes)
        {
            return Err(AppendError::MessageTooLarge);
        }
        if policy.compacted {
            // uncompressed batches only: a compressed one is not inspected
            let keyless: Vec<i32> = batches
                .iter()
                .filter_map(|(h, data)| batch::keyless_records(data, h))
                .flatten()
                .collect();
            if !keyless.is_empty() {
                return Err(AppendError::KeylessOnCompacted(keyless));
            }
        }
        let idempotent = batches.iter().any(|(h, _)| h.producer_id >= 0);
        if idempotent && batches.len() != 1 {
            return Err(AppendError::InvalidRecord);
        }
        if let [(h, _)] = batches.as_slice() {
            if h.producer_id >= 0 {
                if h.is_transactional() && !txn_allowed(h.producer_id, h.producer_epoch) {
                    if self
                        .producers
                        .epoch(h.producer_id)
                        .is_some_and(|e| e > h.producer_epoch)
                    {
                        return Err(AppendError::InvalidProducerEpoch);
                    }
                    return Err(AppendError::InvalidTxnState);
                }
                match self.producers.check(h) {
                    SequenceCheck::Append => {}
                    SequenceCheck::Duplicate(base_offset) => {
                        return Ok(Appended {
                            base_offset,
                            log_append_time: -1,
                        })
                    }
                    SequenceCheck::StaleEpoch => return Err(AppendError::InvalidProducerEpoch),
                    SequenceCheck::OutOfOrder => return Err(AppendError::OutOfOrderSequence),
                }
            }
        }
        let base_offset = self.next_offset;
        let stamp = policy.log_append_time.then_some(policy.now_ms);
        let epoch = self.epochs.current();
        let mut offset = self.next_offset;
        let stored: Vec<(BatchHeader, Bytes)> = batches
            .into_iter()
            .map(|(mut h, data)| {
                if let Some(now) = stamp {
                    h.stamp_log_append_time(now);
                }
                let data = batch::stored_copy(&data, offset, epoch, stamp);
                h.base_offset = offset;
                offset += i64::from(h.last_offset_delta) + 1;
                (h, data)
            })
            .collect();
        if let Some(segment) = &mut self.segment {
            if let Err(e) = segment.append(stored.iter().map(|(_, d)| d)) {
                tracing::error!(path = %segment.path().display(), error = %e, "cannot write to the partition log");
                return Err(AppendError::Storage);
            }
        }
        for (h, data) in stored {
            self.push(h, data, None);
        }
        Ok(Appended {
            base_offset,
            log_append_time: stamp.unwrap_or(-1),
        })
    }

    /// The bookkeeping of a stored batch, shared by appends, markers and recovery: the
    /// producer's sequences, its open transaction (a marker closes it, an abort marker
    /// enters the aborted index), the batch and the next offset.
    fn push(&mut self, h: BatchHeader, data: Bytes, marker: Option<Marker>) {
        let offset = h.base_offset;
        let last_offset = offset + i64::from(h.last_offset_delta);
        match marker {
            Some(marker) => {
                self.producers
                    .record_marker(h.producer_id, h.producer_epoch);
                if let Some(first_offset) = self.open_txns.remove(&h.producer_id) {
                    if marker == Marker::Abort {
                        self.aborted.push(AbortedTxn {
                            producer_id: h.producer_id,
                            first_offset,
                            last_offset: offset,
                        });
                    }
                }
            }
            None if h.producer_id >= 0 && !h.is_control() => {
                self.producers.record(&h, offset);
                if h.is_transactional() {
                    self.open_txns.entry(h.producer_id).or_insert(offset);
                }
            }
            None => {}
        }
        self.batches.push(StoredBatch {
            base_offset: offset,
            last_offset,
            max_timestamp: h.max_timestamp,
            header: h,
            data,
        });
        self.next_offset = last_offset + 1;
    }

    /// Writes a commit or abort marker for `producer_id` and returns the marker's offset.
    /// A marker that cannot be written to the log file takes the data dir offline (the
    /// transaction coordinator persisted its decision first, so recovery writes it again).
    pub fn write_marker(
        &mut self,
        producer_id: i64,
        epoch: i16,
        marker: Marker,
        now_ms: i64,
    ) -> i64 {
        let offset = self.next_offset;
        let data = batch::control_batch(
            offset,
            producer_id,
            epoch,
            marker,
            0,
            self.epochs.current(),
            now_ms,
        );
        if let Some(segment) = &mut self.segment {
            if let Err(e) = segment.append([&data]) {
                tracing::error!(path = %segment.path().display(), error = %e, "cannot write a transaction marker");
                segment.fail();
            }
        }
        let header = BatchHeader {
            base_offset: offset,
            attributes: 0x30,
            last_offset_delta: 0,
            base_timestamp: now_ms,
            max_timestamp: now_ms,
            producer_id,
            producer_epoch: epoch,
            base_sequence: -1,
            records_count: 1,
        };
        self.push(header, data, Some(marker));
        offset
    }

    /// Reads batches from `offset`, at most `max_bytes` (but always a whole first batch),
    /// below `upper` (the high watermark or, for read_committed, the last stable offset).
    /// Returns `None` when `offset` is out of range.
    pub fn read(&self, offset: i64, max_bytes: usize, read_committed: bool) -> Option<FetchedData> {
        if offset < self.log_start_offset || offset > self.next_offset {
            return None;
        }
        let upper = if read_committed {
            self.last_stable_offset()
        } else {
            self.next_offset
        };
        let mut out = FetchedData::default();
        let start = self.batches.partition_point(|b| b.last_offset < offset);
        let mut last = offset;
        for b in &self.batches[start..] {
            if b.base_offset >= upper {
                break;
            }
            if !out.records.is_empty() && out.bytes + b.data.len() > max_bytes {
                break;
            }
            out.bytes += b.data.len();
            out.records.push(b.data.clone());
            last = b.last_offset;
        }
        if read_committed && !out.records.is_empty() {
            out.aborted = self
                .aborted
                .iter()
                .filter(|a| a.last_offset >= offset && a.first_offset <= last)
                .copied()
                .collect();
        }
        Some(out)
    }

    /// The first offset whose record timestamp is at least `timestamp`, with that timestamp.
    pub fn offset_for_timestamp(&self, timestamp: i64, upper: i64) -> Option<(i64, i64)> {
        for b in &self.batches {
            if b.base_offset >= upper {
                return None;
            }
            if b.header.is_control() || b.max_timestamp < timestamp {
                continue;
            }
            if let Some(records) = batch::record_timestamps(&b.data, &b.header) {
                for (ts, delta) in records {
                    if ts >= timestamp {
                        return Some((b.base_offset + delta, ts));
                    }
                }
            }
            return Some((b.base_offset, b.max_timestamp));
        }
        None
    }

    /// The offset and timestamp of the record with the largest timestamp (ListOffsets -3).
    pub fn max_timestamp_offset(&self, upper: i64) -> Option<(i64, i64)> {
        let mut best: Option<(i64, i64)> = None;
        for b in self
            .batches
            .iter()
            .filter(|b| b.base_offset < upper && !b.header.is_control())
        {
            let candidate = batch::record_timestamps(&b.data, &b.header)
                .and_then(|r| {
                    r.into_iter()
                        .max_by_key(|(ts, _)| *ts)
                        .map(|(ts, d)| (b.base_offset + d, ts))
                })
                .unwrap_or((b.last_offset, b.max_timestamp));
            if best.is_none_or(|(_, ts)| candidate.1 > ts) {
                best = Some(candidate);
            }
        }
        best
    }

    /// DeleteRecords: moves the log start offset up to `offset` (`-1`: the high
    /// watermark) and drops the batches wholly below it. Returns the new log start offset,
    /// or `None` when `offset` lies beyond the high watermark.
    pub fn delete_records(&mut self, offset: i64) -> Option<i64> {
        let target = if offset == -1 {
            self.next_offset
        } else {
            offset
        };
        if target < 0 || target > self.next_offset {
            return None;
        }
        if target > self.log_start_offset {
            self.log_start_offset = target;
            let keep = self.batches.partition_point(|b| b.last_offset < target);
            self.batches.drain(..keep);
        }
        Some(self.log_start_offset)
    }

    /// DescribeProducers: each producer's id, epoch, last sequence and the first offset of
    /// its open transaction here (-1 if none).
    pub fn active_producers(&self) -> Vec<(i64, i16, i32, i64)> {
        self.producers
            .describe()
            .into_iter()
            .map(|(pid, epoch, seq)| {
                (
                    pid,
                    epoch,
                    seq,
                    self.open_txns.get(&pid).copied().unwrap_or(-1),
                )
            })
            .collect()
    }

    /// Producer ids with an open transaction in this partition.
    pub fn has_open_txn(&self, producer_id: i64) -> bool {
        self.open_txns.contains_key(&producer_id)
    }
}
