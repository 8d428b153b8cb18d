//! [`Stats`]: what a running sink has done, read while it runs, and published through the
//! [`metrics`](https://docs.rs/metrics) facade (to the recorder the application installed;
//! every metric labelled with `group`):
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `kafka_eos_database_records_total` | counter | `group` | records whose rows and offsets committed |
//! | `kafka_eos_database_transactions_total` | counter | `group`, `outcome` (`committed`, `rolled_back`, `fenced`) | database transactions, by how they ended |
//! | `kafka_eos_database_dead_letters_total` | counter | `group` | records written to the dead-letter table (committed) |
//! | `kafka_eos_database_commit_seconds` | histogram | `group` | a batch's transaction, from `BEGIN` to the end of `COMMIT` |

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of a [`DatabaseSink`](crate::DatabaseSink), shared with it
/// ([`DatabaseSink::stats`](crate::DatabaseSink::stats)): read them while it runs.
#[derive(Debug, Default)]
pub struct Stats {
    /// The consumer group: the label of the published metrics.
    group: String,
    records: AtomicU64,
    transactions: AtomicU64,
    rollbacks: AtomicU64,
    fenced: AtomicU64,
    dead_letters: AtomicU64,
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
    /// Records written to the dead-letter table in committed transactions.
    pub dead_letters: u64,
    /// Transactions that found their partition moved by another instance (nothing of them
    /// committed; the consumer was moved to the stored position).
    pub fenced: u64,
}

/// The published metrics' names.
pub mod metric_names {
    /// Counter: records whose rows and offsets committed.
    pub const RECORDS: &str = "kafka_eos_database_records_total";
    /// Counter, label `outcome`: database transactions, by how they ended.
    pub const TRANSACTIONS: &str = "kafka_eos_database_transactions_total";
    /// Counter: records written to the dead-letter table (committed).
    pub const DEAD_LETTERS: &str = "kafka_eos_database_dead_letters_total";
    /// Histogram: a batch's transaction, `BEGIN` to the end of `COMMIT`, in seconds.
    pub const COMMIT_SECONDS: &str = "kafka_eos_database_commit_seconds";
}

impl Stats {
    pub(crate) fn new(group: &str) -> Self {
        Stats {
            group: group.to_owned(),
            ..Stats::default()
        }
    }

    fn transaction(&self, outcome: &'static str) {
        ::metrics::counter!(metric_names::TRANSACTIONS, "group" => self.group.clone(), "outcome" => outcome)
            .increment(1);
    }

    pub(crate) fn committed(&self, records: u64, took: std::time::Duration) {
        self.records.fetch_add(records, Ordering::Relaxed);
        self.transactions.fetch_add(1, Ordering::Relaxed);
        ::metrics::counter!(metric_names::RECORDS, "group" => self.group.clone())
            .increment(records);
        ::metrics::histogram!(metric_names::COMMIT_SECONDS, "group" => self.group.clone())
            .record(took.as_secs_f64());
        self.transaction("committed");
    }

    pub(crate) fn dead_lettered(&self, records: u64) {
        self.dead_letters.fetch_add(records, Ordering::Relaxed);
        ::metrics::counter!(metric_names::DEAD_LETTERS, "group" => self.group.clone())
            .increment(records);
    }

    pub(crate) fn rolled_back(&self) {
        self.rollbacks.fetch_add(1, Ordering::Relaxed);
        self.transaction("rolled_back");
    }

    pub(crate) fn fenced(&self) {
        self.fenced.fetch_add(1, Ordering::Relaxed);
        self.transaction("fenced");
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            records: self.records.load(Ordering::Relaxed),
            transactions: self.transactions.load(Ordering::Relaxed),
            rollbacks: self.rollbacks.load(Ordering::Relaxed),
            fenced: self.fenced.load(Ordering::Relaxed),
            dead_letters: self.dead_letters.load(Ordering::Relaxed),
        }
    }
}
