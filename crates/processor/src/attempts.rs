//! How often each record of the batch being replayed has failed, and when it first did:
//! the attempt number of its next try, and the history its dead letter carries.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A record: topic, partition, offset.
pub(crate) type RecordId = (Arc<str>, i32, i64);

/// A record's failures so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failures {
    /// Failed attempts.
    pub count: u32,
    /// When the first of them failed (ms since the epoch).
    pub first_ms: i64,
}

/// The failures of the records of the batch being replayed (cleared when a batch commits).
#[derive(Debug, Default)]
pub(crate) struct Attempts {
    failed: HashMap<RecordId, Failures>,
}

impl Attempts {
    /// The failures of `id` so far (`None`: none). No lookup while nothing has failed, the
    /// common case.
    pub(crate) fn of(&self, id: impl FnOnce() -> RecordId) -> Option<Failures> {
        if self.failed.is_empty() {
            return None;
        }
        self.failed.get(&id()).copied()
    }

    /// Records that `id` failed at `at_ms`.
    pub(crate) fn failed(&mut self, id: RecordId, at_ms: i64) {
        self.failed
            .entry(id)
            .and_modify(|f| f.count += 1)
            .or_insert(Failures {
                count: 1,
                first_ms: at_ms,
            });
    }

    /// Forgets every record (its batch committed).
    pub(crate) fn clear(&mut self) {
        self.failed.clear();
    }
}

/// The wall clock in ms since the epoch (0 if it is before the epoch).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_count_up_and_keep_the_first_time() {
        let mut a = Attempts::default();
        let id = || (Arc::from("in"), 1, 7);
        assert_eq!(a.of(id), None);
        a.failed(id(), 100);
        a.failed(id(), 250);
        a.failed((Arc::from("in"), 1, 8), 300);
        assert_eq!(
            a.of(id),
            Some(Failures {
                count: 2,
                first_ms: 100
            })
        );
        a.clear();
        assert_eq!(a.of(id), None);
        assert!(now_ms() > 1_600_000_000_000);
    }
}
