//! Contiguous-offset tracking for out-of-order completions.

use std::collections::{BTreeMap, HashMap};

use rdkafka::{Offset, TopicPartitionList};

use crate::error::{Error, Operation, Result};

/// Per-partition tracking of dispatched and completed offsets.
///
/// Records may complete out of order (concurrent workers); the offset that may be
/// committed is 1 + the highest offset below which every dispatched record completed.
/// Offsets need not be contiguous numbers (compaction and transaction markers leave
/// gaps), so what counts is the set of offsets actually dispatched with
/// [`PartitionOffsets::track`].
///
/// ```
/// use kafka_eos_core::PartitionOffsets;
///
/// let mut p = PartitionOffsets::new();
/// for o in [10, 11, 12] { p.track(o); }
/// p.complete(12);
/// assert_eq!(p.committable(), None); // 10 is still running
/// p.complete(10);
/// assert_eq!(p.committable(), Some(11));
/// p.complete(11);
/// assert_eq!(p.committable(), Some(13));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionOffsets {
    /// Dispatched offsets not yet folded into the watermark, with their done flag.
    pending: BTreeMap<i64, bool>,
    /// Highest offset such that every dispatched offset up to it completed.
    watermark: Option<i64>,
}

impl PartitionOffsets {
    /// Nothing tracked yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a dispatched record's offset.
    pub fn track(&mut self, offset: i64) {
        if self.watermark.is_none_or(|w| offset > w) {
            self.pending.entry(offset).or_insert(false);
        }
    }

    /// Marks `offset` as completed; returns `false` if it was not in flight.
    pub fn complete(&mut self, offset: i64) -> bool {
        match self.pending.get_mut(&offset) {
            Some(done) if !*done => *done = true,
            _ => return false,
        }
        while let Some(entry) = self.pending.first_entry() {
            if !*entry.get() {
                break;
            }
            let (o, _) = entry.remove_entry();
            self.watermark = Some(o);
        }
        true
    }

    /// The offset to commit (the next one to read): 1 + the highest offset below which
    /// every dispatched record completed; `None` if nothing can be committed yet.
    pub fn committable(&self) -> Option<i64> {
        self.watermark.map(|w| w + 1)
    }

    /// Records still running.
    pub fn in_flight(&self) -> usize {
        self.pending.values().filter(|done| !**done).count()
    }
}

/// [`PartitionOffsets`] for every partition of a consumer.
#[derive(Debug, Clone, Default)]
pub struct OffsetTracker {
    partitions: HashMap<(String, i32), PartitionOffsets>,
}

impl OffsetTracker {
    /// Empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a dispatched record.
    pub fn track(&mut self, topic: &str, partition: i32, offset: i64) {
        self.partitions
            .entry((topic.to_owned(), partition))
            .or_default()
            .track(offset);
    }

    /// Marks a record completed; `false` if it was not tracked.
    pub fn complete(&mut self, topic: &str, partition: i32, offset: i64) -> bool {
        self.partitions
            .get_mut(&(topic.to_owned(), partition))
            .is_some_and(|p| p.complete(offset))
    }

    /// The committable offset of one partition.
    pub fn committable(&self, topic: &str, partition: i32) -> Option<i64> {
        self.partitions
            .get(&(topic.to_owned(), partition))
            .and_then(PartitionOffsets::committable)
    }

    /// All committable offsets, sorted by topic and partition.
    pub fn committable_offsets(&self) -> BTreeMap<(String, i32), i64> {
        self.partitions
            .iter()
            .filter_map(|(k, p)| p.committable().map(|o| (k.clone(), o)))
            .collect()
    }

    /// All committable offsets as a list for `send_offsets_to_transaction`.
    pub fn to_topic_partition_list(&self) -> Result<TopicPartitionList> {
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), offset) in self.committable_offsets() {
            tpl.add_partition_offset(&topic, partition, Offset::Offset(offset))
                .map_err(|e| Error::kafka(Operation::SendOffsets, e))?;
        }
        Ok(tpl)
    }

    /// Records still running over all partitions.
    pub fn in_flight(&self) -> usize {
        self.partitions
            .values()
            .map(PartitionOffsets::in_flight)
            .sum()
    }

    /// `true` if nothing was tracked since the last [`OffsetTracker::clear`].
    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty()
    }

    /// Forgets one partition (revoked).
    pub fn remove_partition(&mut self, topic: &str, partition: i32) {
        self.partitions.remove(&(topic.to_owned(), partition));
    }

    /// Forgets everything (after a commit or an abort).
    pub fn clear(&mut self) {
        self.partitions.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order() {
        let mut p = PartitionOffsets::new();
        assert_eq!(p.committable(), None);
        p.track(0);
        assert_eq!(p.committable(), None);
        assert!(p.complete(0));
        assert_eq!(p.committable(), Some(1));
    }

    #[test]
    fn out_of_order_completion_waits_for_lowest() {
        let mut p = PartitionOffsets::new();
        for o in 0..5 {
            p.track(o);
        }
        assert!(p.complete(3));
        assert!(p.complete(1));
        assert_eq!(p.committable(), None, "0 still running");
        assert!(p.complete(0));
        assert_eq!(p.committable(), Some(2), "2 still running");
        assert!(p.complete(4));
        assert_eq!(p.committable(), Some(2));
        assert!(p.complete(2));
        assert_eq!(p.committable(), Some(5));
        assert_eq!(p.in_flight(), 0);
    }

    #[test]
    fn gaps_in_offsets_are_not_holes() {
        // Offsets 10, 12, 15 (11, 13, 14 are markers or compacted away).
        let mut p = PartitionOffsets::new();
        for o in [10, 12, 15] {
            p.track(o);
        }
        p.complete(12);
        assert_eq!(p.committable(), None);
        p.complete(10);
        // Resuming at 13 is correct: the consumer skips the markers at 13 and 14.
        assert_eq!(p.committable(), Some(13));
        p.complete(15);
        assert_eq!(p.committable(), Some(16));
    }

    #[test]
    fn unknown_completion_is_reported() {
        let mut p = PartitionOffsets::new();
        p.track(1);
        assert!(!p.complete(2));
        assert!(p.complete(1));
        assert!(!p.complete(1), "double completion");
    }

    #[test]
    fn tracker_multi_partition() {
        let mut t = OffsetTracker::new();
        t.track("a", 0, 5);
        t.track("a", 0, 6);
        t.track("a", 1, 100);
        t.track("b", 0, 7);
        t.complete("a", 0, 6);
        t.complete("a", 1, 100);
        assert!(!t.complete("zzz", 0, 1));
        assert_eq!(t.committable("a", 0), None);
        assert_eq!(t.committable("a", 1), Some(101));
        assert_eq!(t.committable("b", 0), None);
        assert_eq!(t.in_flight(), 2);
        t.complete("a", 0, 5);
        let tpl = t.to_topic_partition_list().unwrap();
        assert_eq!(tpl.count(), 2);
        let e = tpl.find_partition("a", 0).unwrap();
        assert_eq!(e.offset(), Offset::Offset(7));
        t.remove_partition("a", 1);
        assert_eq!(t.committable("a", 1), None);
        t.clear();
        assert!(t.is_empty());
    }
}
