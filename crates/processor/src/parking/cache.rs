//! Parked records kept in memory once their transaction committed, so a due key is retried
//! without reading the parking topic back. Bounded: at most [`CACHED_RECORDS`] over all
//! keys; a key whose records do not all fit is not cached, and is read back from the topic
//! when due. A key is either cached whole (every record it has parked, in order) or not at
//! all; the cache is emptied on every rebalance (the parking topic is the truth).

use std::collections::{HashMap, VecDeque};

use kafka_eos_core::parked::{Key, ParkedKey};

use super::Tp;
use crate::batch::Polled;

/// Parked records held in memory, over all keys, at most.
pub(crate) const CACHED_RECORDS: usize = 10_000;

/// The cached keys.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    keys: HashMap<(Tp, Key), VecDeque<Polled>>,
    records: usize,
}

impl Cache {
    /// Forgets everything (a rebalance).
    pub(crate) fn clear(&mut self) {
        self.keys.clear();
        self.records = 0;
    }

    /// The key's parked records (up to `n`), if it is cached with exactly `count` of them.
    pub(crate) fn records(&self, id: &(Tp, Key), count: u64, n: usize) -> Option<Vec<Polled>> {
        let records = self.keys.get(id)?;
        (records.len() as u64 == count).then(|| records.iter().take(n).cloned().collect())
    }

    /// Caches a key's every parked record (read back from the topic), if they fit.
    pub(crate) fn fill(&mut self, id: (Tp, Key), records: Vec<Polled>) {
        self.remove(&id);
        if self.records + records.len() <= CACHED_RECORDS {
            self.records += records.len();
            self.keys.insert(id, records.into());
        }
    }

    /// After a commit: the key's state is now `state`; `before` was its parked count before
    /// the batch, `parked` the records the batch parked for it (in order).
    pub(crate) fn committed(
        &mut self,
        id: (Tp, Key),
        before: u64,
        state: &ParkedKey,
        parked: Vec<Polled>,
    ) {
        if !state.is_live() {
            self.remove(&id);
            return;
        }
        if !self.keys.contains_key(&id) && before > 0 {
            return; // its older records are only in the topic
        }
        let records = self.keys.entry(id.clone()).or_default();
        let before_len = records.len();
        while records.front().is_some_and(|r| r.offset <= state.upto) {
            records.pop_front();
        }
        records.extend(parked);
        let after_len = records.len();
        self.records = self.records.saturating_sub(before_len) + after_len;
        if self.records > CACHED_RECORDS || after_len as u64 != state.count {
            self.remove(&id);
        }
    }

    fn remove(&mut self, id: &(Tp, Key)) {
        if let Some(records) = self.keys.remove(id) {
            self.records = self.records.saturating_sub(records.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;

    use super::*;

    fn record(offset: i64) -> Polled {
        Polled {
            topic: Arc::from("in"),
            partition: 0,
            offset,
            timestamp: None,
            key: Some(Bytes::from_static(b"k")),
            value: Some(offset.to_string().into()),
            headers: Vec::new(),
        }
    }

    fn id() -> (Tp, Key) {
        ((Arc::from("in"), 0), Some(Bytes::from_static(b"k")))
    }

    fn state(count: u64, upto: i64) -> ParkedKey {
        ParkedKey {
            count,
            upto,
            ..ParkedKey::new(0)
        }
    }

    fn offsets(records: Option<Vec<Polled>>) -> Option<Vec<i64>> {
        records.map(|r| r.iter().map(|p| p.offset).collect())
    }

    #[test]
    fn a_key_is_cached_whole_from_its_first_park_until_it_is_done() {
        let mut cache = Cache::default();
        cache.committed(id(), 0, &state(1, 4), vec![record(5)]);
        assert_eq!(offsets(cache.records(&id(), 1, 10)), Some(vec![5]));
        cache.committed(id(), 1, &state(2, 4), vec![record(7)]);
        assert_eq!(
            offsets(cache.records(&id(), 2, 1)),
            Some(vec![5]),
            "at most n"
        );
        // the head is done
        cache.committed(id(), 2, &state(1, 5), Vec::new());
        assert_eq!(offsets(cache.records(&id(), 1, 10)), Some(vec![7]));
        // a count that does not match is not trusted
        assert_eq!(offsets(cache.records(&id(), 3, 10)), None);
        cache.committed(id(), 1, &state(0, 7), Vec::new());
        assert_eq!(
            offsets(cache.records(&id(), 0, 10)),
            None,
            "done: forgotten"
        );
        assert_eq!(cache.records, 0);
    }

    #[test]
    fn a_key_with_records_only_in_the_topic_or_too_many_is_not_cached() {
        let mut cache = Cache::default();
        // it had parked records before the batch, not in the cache
        cache.committed(id(), 3, &state(4, -1), vec![record(9)]);
        assert!(cache.records(&id(), 4, 10).is_none());
        // filled from a read of all of them
        cache.fill(id(), vec![record(1), record(2)]);
        assert_eq!(offsets(cache.records(&id(), 2, 10)), Some(vec![1, 2]));
        let many: Vec<Polled> = (0..=CACHED_RECORDS as i64).map(record).collect();
        cache.fill(id(), many);
        assert!(cache
            .records(&id(), CACHED_RECORDS as u64 + 1, 10)
            .is_none());
        assert_eq!(cache.records, 0);
    }
}
