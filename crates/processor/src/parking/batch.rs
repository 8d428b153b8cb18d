//! One batch's changes to the parked keys. The lanes read and change them as they go (a
//! record of a parked key parks behind it; a failing head stays parked with a new due
//! time); the changes become state records in the batch's transaction, and reach
//! [`Parking`] only once it committed.

use std::collections::HashMap;
use std::sync::Mutex;

use kafka_eos_core::parked::{self, Key, ParkedKey};
use kafka_eos_core::OwnedRecord;

use super::{KeyPolicy, Parking, Tp};
use crate::batch::{self, Polled};

/// A key's state after this batch, and how many of its parked records the batch finished.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Change {
    pub key: ParkedKey,
    pub done: u64,
    /// A parked record of the key failed (or its key is held): its later parked records
    /// read back in this batch are not tried.
    pub blocked: bool,
}

/// A batch's changes: each changed key's new state, and the records it parked (in order).
pub(crate) type Changes = Vec<((Tp, Key), Change, Vec<Polled>)>;

/// The parked keys as one batch sees them.
pub(crate) struct BatchParking<'a> {
    parking: &'a Parking,
    now_ms: i64,
    changes: Mutex<HashMap<(Tp, Key), Change>>,
    /// The records parked in this batch, per key, in order (for the cache).
    parked: Mutex<HashMap<(Tp, Key), Vec<Polled>>>,
}

impl<'a> BatchParking<'a> {
    pub(crate) fn new(parking: &'a Parking, now_ms: i64) -> Self {
        BatchParking {
            parking,
            now_ms,
            changes: Mutex::new(HashMap::new()),
            parked: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn policy(&self) -> KeyPolicy {
        self.parking.policy
    }

    pub(crate) fn topic(&self) -> &str {
        &self.parking.topic
    }

    /// Runs `f` on the key's change (made from its committed state, or a new key).
    fn change<R>(&self, tp: &Tp, key: &Key, f: impl FnOnce(&mut Change) -> R) -> Option<R> {
        let mut changes = self.changes.lock().ok()?;
        // a new key is kept past the batch: its own copy, not a slice of the batch's arena
        let id = (tp.clone(), key.clone());
        let id = if changes.contains_key(&id) {
            id
        } else {
            (id.0, batch::detached(key))
        };
        let change = changes.entry(id).or_insert_with(|| {
            let committed = self.parking.partition(tp);
            Change {
                key: committed
                    .and_then(|p| p.parked.get(key).copied())
                    .unwrap_or_else(|| ParkedKey::new(committed.map_or(0, |p| p.known_end))),
                done: 0,
                blocked: false,
            }
        });
        Some(f(change))
    }

    /// The key's state now, if it is parked.
    fn current(&self, tp: &Tp, key: &Key) -> Option<Change> {
        if let Ok(changes) = self.changes.lock() {
            if let Some(c) = changes.get(&(tp.clone(), key.clone())) {
                return Some(*c);
            }
        }
        let committed = self.parking.partition(tp)?.parked.get(key)?;
        Some(Change {
            key: *committed,
            done: 0,
            blocked: false,
        })
    }

    /// Whether a record of the key must park behind it (it has parked records, or is
    /// held).
    pub(crate) fn is_parked(&self, tp: &Tp, key: &Key) -> bool {
        self.current(tp, key).is_some_and(|c| c.key.is_live())
    }

    /// Whether the key's parked records read back in this batch must wait (an earlier one
    /// failed again, or the key is held).
    pub(crate) fn is_blocked(&self, tp: &Tp, key: &Key) -> bool {
        self.current(tp, key)
            .is_some_and(|c| c.blocked || c.key.held)
    }

    /// The head's failures so far: (attempts, first failure ms).
    pub(crate) fn head_failures(&self, tp: &Tp, key: &Key) -> (u32, i64) {
        self.current(tp, key)
            .map_or((0, 0), |c| (c.key.attempts, c.key.first_failure_ms))
    }

    /// A record of the key parks behind its parked records.
    pub(crate) fn parked_behind(&self, tp: &Tp, msg: &Polled) {
        self.change(tp, &msg.key, |c| c.key.count += 1);
        self.remember(tp, msg);
    }

    /// Keeps a copy of a parked record, for the cache once the batch commits.
    fn remember(&self, tp: &Tp, msg: &Polled) {
        if let Ok(mut parked) = self.parked.lock() {
            parked
                .entry((tp.clone(), msg.key.clone()))
                .or_default()
                .push(msg.detached());
        }
    }

    /// A record that was not parked failed its first attempt and parks, due at `due_ms`.
    pub(crate) fn parked_failed(&self, tp: &Tp, msg: &Polled, failed_ms: i64, due_ms: i64) {
        let offset = msg.offset;
        self.remember(tp, msg);
        self.change(tp, &msg.key, |c| {
            // the key's earlier records are done: a read of its parked records skips any
            // older park records of it still in the topic
            c.key.upto = c.key.upto.max(offset - 1);
            c.key.count += 1;
            c.key.attempts = 1;
            c.key.first_failure_ms = failed_ms;
            c.key.last_failure_ms = failed_ms;
            c.key.due_ms = due_ms;
            c.blocked = true;
        });
    }

    /// The key's head failed again (attempt `attempts`): it stays parked, due at `due_ms`.
    pub(crate) fn head_failed(
        &self,
        tp: &Tp,
        key: &Key,
        attempts: u32,
        failed_ms: i64,
        due_ms: i64,
    ) {
        self.change(tp, key, |c| {
            if c.key.attempts == 0 {
                c.key.first_failure_ms = failed_ms;
            }
            c.key.attempts = attempts;
            c.key.last_failure_ms = failed_ms;
            c.key.due_ms = due_ms;
            c.blocked = true;
        });
    }

    /// The key's head (at source `offset`) is done: it succeeded, or was dead-lettered
    /// (`dead_lettered`: under [`KeyPolicy::Hold`] the key is then held).
    pub(crate) fn head_done(&self, tp: &Tp, key: &Key, offset: i64, dead_lettered: bool) {
        let hold = dead_lettered && self.policy() == KeyPolicy::Hold;
        let now = self.now_ms;
        self.change(tp, key, |c| {
            c.key.upto = c.key.upto.max(offset);
            c.key.count = c.key.count.saturating_sub(1);
            c.key.attempts = 0;
            c.key.first_failure_ms = 0;
            c.key.last_failure_ms = 0;
            c.key.due_ms = now;
            c.done += 1;
            if hold {
                c.key.held = true;
                c.blocked = true;
            }
        });
    }

    /// A record that was not parked was dead-lettered: under [`KeyPolicy::Hold`] its key
    /// is held (its later records park).
    pub(crate) fn dead_lettered(&self, tp: &Tp, key: &Key, offset: i64) {
        if self.policy() == KeyPolicy::Hold {
            self.change(tp, key, |c| {
                c.key.upto = c.key.upto.max(offset);
                c.key.held = true;
                c.blocked = true;
            });
        }
    }

    /// The batch's changes, and their state records (one per changed key).
    pub(crate) fn finish(self) -> (Changes, Vec<OwnedRecord>) {
        let mut parked = self.parked.into_inner().unwrap_or_default();
        let changes: Changes = self
            .changes
            .into_inner()
            .map(|c| {
                c.into_iter()
                    .map(|(id, change)| {
                        let records = parked.remove(&id).unwrap_or_default();
                        (id, change, records)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let records = changes
            .iter()
            .map(|((tp, key), c, _)| {
                parked::state_record(
                    &self.parking.topic,
                    &tp.0,
                    tp.1,
                    key.as_deref(),
                    &c.key.state(c.done),
                )
            })
            .collect();
        (changes, records)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use kafka_eos_core::parked::{ParkedPartition, ParkingRecord};

    use super::*;

    fn record(key: &'static [u8], offset: i64) -> Polled {
        Polled {
            topic: Arc::from("in"),
            partition: 0,
            offset,
            timestamp: None,
            key: Some(Bytes::from_static(key)),
            value: None,
            headers: Vec::new(),
        }
    }

    /// The state records a batch writes, folded after its park records, give the state
    /// the batch leaves in memory: a rebuild from the topic agrees with the running state.
    #[test]
    fn the_records_a_batch_writes_fold_into_the_state_it_keeps() {
        let parking = Parking::new("parked".into(), KeyPolicy::Hold, 100);
        let tp: Tp = (Arc::from("in"), 0);
        let batch = BatchParking::new(&parking, 1_000);
        let (a, b) = (record(b"a", 10), record(b"b", 11));
        assert!(!batch.is_parked(&tp, &a.key));
        batch.parked_failed(&tp, &a, 900, 1_500);
        assert!(batch.is_parked(&tp, &a.key) && batch.is_blocked(&tp, &a.key));
        batch.parked_behind(&tp, &record(b"a", 12));
        // b is dead-lettered under Hold: held, nothing parked
        batch.dead_lettered(&tp, &b.key, 11);
        assert!(batch.is_parked(&tp, &b.key));
        assert_eq!(batch.head_failures(&tp, &a.key), (1, 900));
        let (changes, records) = batch.finish();
        assert_eq!((changes.len(), records.len()), (2, 2));

        let mut folded = ParkedPartition::default();
        let mut offset = 0;
        for ((_, key), _, parked) in &changes {
            for p in parked {
                folded.apply(
                    &ParkingRecord::Park {
                        source_offset: p.offset,
                    },
                    key.clone(),
                    offset,
                );
                offset += 1;
            }
        }
        for r in &records {
            let parsed =
                ParkingRecord::parse(r.headers.iter().map(|(n, v)| (n.as_str(), v.as_deref())))
                    .unwrap()
                    .unwrap();
            folded.apply(
                &parsed,
                r.key.as_deref().map(Bytes::copy_from_slice),
                offset,
            );
            offset += 1;
        }
        for ((_, key), change, _) in &changes {
            let got = folded.get(key).copied().unwrap();
            let want = change.key;
            assert_eq!(
                (got.count, got.attempts, got.due_ms, got.held, got.upto),
                (want.count, want.attempts, want.due_ms, want.held, want.upto),
                "{key:?}"
            );
        }
        let a_state = folded.get(&a.key).unwrap();
        assert_eq!((a_state.count, a_state.upto, a_state.due_ms), (2, 9, 1_500));
        assert!(folded.get(&b.key).unwrap().held);
    }
}
