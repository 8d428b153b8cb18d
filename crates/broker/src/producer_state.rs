//! Idempotent-producer state of one partition: the epoch and the last five batches of each
//! producer id, to acknowledge retried batches with their original offsets and to reject
//! gaps (`OUT_OF_ORDER_SEQUENCE_NUMBER`) and stale epochs (`INVALID_PRODUCER_EPOCH`).

use std::collections::{HashMap, VecDeque};

use crate::batch::BatchHeader;

/// How many recent batches per producer are remembered for duplicate detection (as Kafka).
const CACHED_BATCHES: usize = 5;

/// A batch appended earlier by one producer.
#[derive(Debug, Clone, Copy)]
struct CachedBatch {
    first_seq: i32,
    last_seq: i32,
    base_offset: i64,
}

/// One producer id's state in one partition.
#[derive(Debug, Clone, Default)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<CachedBatch>,
}

/// The verdict on an incoming batch of an idempotent or transactional producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SequenceCheck {
    /// Append it.
    Append,
    /// Already appended: acknowledge with this base offset, do not append again.
    Duplicate(i64),
    /// The batch's epoch is older than the producer's current one.
    StaleEpoch,
    /// A gap or a reordering of sequence numbers.
    OutOfOrder,
}

/// Producer ids and their sequence state, for one partition.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProducerStates {
    entries: HashMap<i64, ProducerEntry>,
}

fn in_sequence(last_seq: i32, next_seq: i32) -> bool {
    next_seq == last_seq.wrapping_add(1) || (last_seq == i32::MAX && next_seq == 0)
}

impl ProducerStates {
    /// Checks a batch that carries a producer id, before it is appended.
    pub fn check(&self, h: &BatchHeader) -> SequenceCheck {
        let Some(entry) = self.entries.get(&h.producer_id) else {
            // First batch we see from this producer in this partition. Kafka accepts any
            // sequence here only if the state may have been lost; we keep state forever,
            // so the first batch must start at 0.
            return if h.base_sequence == 0 {
                SequenceCheck::Append
            } else {
                SequenceCheck::OutOfOrder
            };
        };
        if h.producer_epoch < entry.epoch {
            return SequenceCheck::StaleEpoch;
        }
        if h.producer_epoch > entry.epoch {
            return if h.base_sequence == 0 {
                SequenceCheck::Append
            } else {
                SequenceCheck::OutOfOrder
            };
        }
        if let Some(dup) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == h.last_sequence())
        {
            return SequenceCheck::Duplicate(dup.base_offset);
        }
        match entry.batches.back() {
            Some(last) if in_sequence(last.last_seq, h.base_sequence) => SequenceCheck::Append,
            // Only markers were written for this epoch so far (e.g. after a fencing abort).
            None if h.base_sequence == 0 => SequenceCheck::Append,
            _ => SequenceCheck::OutOfOrder,
        }
    }

    /// Records an appended batch.
    pub fn record(&mut self, h: &BatchHeader, base_offset: i64) {
        let entry = self.entries.entry(h.producer_id).or_default();
        if h.producer_epoch != entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == CACHED_BATCHES {
            entry.batches.pop_front();
        }
        entry.batches.push_back(CachedBatch {
            first_seq: h.base_sequence,
            last_seq: h.last_sequence(),
            base_offset,
        });
    }

    /// Records a transaction marker written with `epoch`: older epochs are fenced from now on.
    pub fn record_marker(&mut self, producer_id: i64, epoch: i16) {
        let entry = self.entries.entry(producer_id).or_default();
        if epoch > entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
    }

    /// Every producer that wrote here: id, epoch and last sequence (-1 after markers only).
    pub fn describe(&self) -> Vec<(i64, i16, i32)> {
        let mut out: Vec<_> = self
            .entries
            .iter()
            .map(|(pid, e)| (*pid, e.epoch, e.batches.back().map_or(-1, |b| b.last_seq)))
            .collect();
        out.sort_unstable();
        out
    }

    /// The current epoch of `producer_id` in this partition, if it wrote here.
    pub fn epoch(&self, producer_id: i64) -> Option<i16> {
        self.entries.get(&producer_id).map(|e| e.epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, n: i32) -> BatchHeader {
        BatchHeader {
            base_offset: 0,
            attributes: 0,
            last_offset_delta: n - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            records_count: n,
        }
    }

    #[test]
    fn duplicates_gaps_and_epochs() {
        let mut s = ProducerStates::default();
        assert_eq!(s.check(&header(1, 0, 3, 1)), SequenceCheck::OutOfOrder);
        assert_eq!(s.check(&header(1, 0, 0, 2)), SequenceCheck::Append);
        s.record(&header(1, 0, 0, 2), 10);
        assert_eq!(s.check(&header(1, 0, 0, 2)), SequenceCheck::Duplicate(10));
        assert_eq!(s.check(&header(1, 0, 3, 1)), SequenceCheck::OutOfOrder);
        assert_eq!(s.check(&header(1, 0, 2, 1)), SequenceCheck::Append);
        s.record(&header(1, 0, 2, 1), 12);
        assert_eq!(s.check(&header(1, 1, 5, 1)), SequenceCheck::OutOfOrder);
        assert_eq!(s.check(&header(1, 1, 0, 1)), SequenceCheck::Append);
        s.record_marker(1, 2);
        assert_eq!(s.check(&header(1, 1, 3, 1)), SequenceCheck::StaleEpoch);
        assert_eq!(s.check(&header(1, 2, 0, 1)), SequenceCheck::Append);
        assert_eq!(s.epoch(1), Some(2));
    }

    #[test]
    fn only_five_batches_are_remembered() {
        let mut s = ProducerStates::default();
        for i in 0..6 {
            s.record(&header(9, 0, i, 1), i64::from(i));
        }
        assert_eq!(s.check(&header(9, 0, 0, 1)), SequenceCheck::OutOfOrder);
        assert_eq!(s.check(&header(9, 0, 1, 1)), SequenceCheck::Duplicate(1));
    }
}
