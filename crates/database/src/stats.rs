//! [`Stats`]: what a running sink has done, read while it runs.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of a [`DatabaseSink`](crate::DatabaseSink), shared with it
/// ([`DatabaseSink::stats`](crate::DatabaseSink::stats)): read them while it runs.
#[derive(Debug, Default)]
pub struct Stats {
    records: AtomicU64,
    transactions: AtomicU64,
    rollbacks: AtomicU64,
    fenced: AtomicU64,
}

/// A copy of [`Stats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Records whose rows and offsets committed.
    pub records: u64,
    /// Database transactions committed.
    pub transactions: u64,
    /// Transactions rolled back to run again (a processor error, the database down).
    pub rollbacks: u64,
    /// Transactions that found their partition moved by another instance (nothing of them
    /// committed; the consumer was moved to the stored position).
    pub fenced: u64,
}

impl Stats {
    pub(crate) fn committed(&self, records: u64) {
        self.records.fetch_add(records, Ordering::Relaxed);
        self.transactions.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn rolled_back(&self) {
        self.rollbacks.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn fenced(&self) {
        self.fenced.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            records: self.records.load(Ordering::Relaxed),
            transactions: self.transactions.load(Ordering::Relaxed),
            rollbacks: self.rollbacks.load(Ordering::Relaxed),
            fenced: self.fenced.load(Ordering::Relaxed),
        }
    }
}
