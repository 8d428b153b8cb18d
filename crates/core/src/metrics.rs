//! Counters and commit-latency percentiles of a pipeline.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// How many recent commit latencies are kept for percentiles.
pub const LATENCY_RESERVOIR: usize = 1024;

/// Lock-free counters (plus a small latency reservoir) shared by producer and pipeline.
///
/// Cheap to update from any thread; read with [`Metrics::snapshot`].
#[derive(Debug, Default)]
pub struct Metrics {
    transactions_begun: AtomicU64,
    commits: AtomicU64,
    aborts: AtomicU64,
    retries: AtomicU64,
    records_in: AtomicU64,
    records_out: AtomicU64,
    send_failures: AtomicU64,
    producer_rebuilds: AtomicU64,
    dead_lettered: AtomicU64,
    latencies: Mutex<VecDeque<u64>>,
}

/// A point-in-time copy of [`Metrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Transactions begun.
    pub transactions_begun: u64,
    /// Transactions committed.
    pub commits: u64,
    /// Transactions aborted.
    pub aborts: u64,
    /// Retried operations (each retry counts once).
    pub retries: u64,
    /// Input records consumed.
    pub records_in: u64,
    /// Output records delivered.
    pub records_out: u64,
    /// Failed sends.
    pub send_failures: u64,
    /// Producers rebuilt after a fatal error.
    pub producer_rebuilds: u64,
    /// Records written to a dead-letter topic.
    pub dead_lettered: u64,
    /// Median commit latency over the recent reservoir.
    pub commit_latency_p50: Option<Duration>,
    /// 99th percentile commit latency over the recent reservoir.
    pub commit_latency_p99: Option<Duration>,
    /// Largest commit latency in the reservoir.
    pub commit_latency_max: Option<Duration>,
}

impl Metrics {
    /// New zeroed metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts a begun transaction.
    pub fn record_begin(&self) {
        self.transactions_begun.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a commit and records its latency.
    pub fn record_commit(&self, latency: Duration) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        if let Ok(mut l) = self.latencies.lock() {
            if l.len() == LATENCY_RESERVOIR {
                l.pop_front();
            }
            l.push_back(micros);
        }
    }

    /// Counts an abort.
    pub fn record_abort(&self) {
        self.aborts.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a retry.
    pub fn record_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `n` consumed records.
    pub fn record_in(&self, n: u64) {
        self.records_in.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` delivered records.
    pub fn record_out(&self, n: u64) {
        self.records_out.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a failed send.
    pub fn record_send_failure(&self) {
        self.send_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a producer rebuild.
    pub fn record_rebuild(&self) {
        self.producer_rebuilds.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a dead-lettered record.
    pub fn record_dead_letter(&self) {
        self.dead_lettered.fetch_add(1, Ordering::Relaxed);
    }

    /// A consistent-enough copy of all counters and the latency percentiles.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let (p50, p99, max) = match self.latencies.lock() {
            Ok(l) => {
                let mut v: Vec<u64> = l.iter().copied().collect();
                v.sort_unstable();
                (
                    percentile(&v, 50),
                    percentile(&v, 99),
                    v.last().copied().map(Duration::from_micros),
                )
            }
            Err(_) => (None, None, None),
        };
        MetricsSnapshot {
            transactions_begun: self.transactions_begun.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
            aborts: self.aborts.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            records_in: self.records_in.load(Ordering::Relaxed),
            records_out: self.records_out.load(Ordering::Relaxed),
            send_failures: self.send_failures.load(Ordering::Relaxed),
            producer_rebuilds: self.producer_rebuilds.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            commit_latency_p50: p50,
            commit_latency_p99: p99,
            commit_latency_max: max,
        }
    }
}

/// Nearest-rank percentile of sorted microsecond samples.
fn percentile(sorted: &[u64], pct: usize) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (pct * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().map(Duration::from_micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_percentiles() {
        let m = Metrics::new();
        assert_eq!(m.snapshot().commit_latency_p50, None);
        for ms in 1..=100u64 {
            m.record_commit(Duration::from_millis(ms));
        }
        m.record_abort();
        m.record_retry();
        m.record_retry();
        m.record_in(10);
        m.record_out(7);
        let s = m.snapshot();
        assert_eq!(s.commits, 100);
        assert_eq!(s.aborts, 1);
        assert_eq!(s.retries, 2);
        assert_eq!(s.records_in, 10);
        assert_eq!(s.records_out, 7);
        assert_eq!(s.commit_latency_p50, Some(Duration::from_millis(50)));
        assert_eq!(s.commit_latency_p99, Some(Duration::from_millis(99)));
        assert_eq!(s.commit_latency_max, Some(Duration::from_millis(100)));
    }

    #[test]
    fn reservoir_keeps_recent() {
        let m = Metrics::new();
        for _ in 0..LATENCY_RESERVOIR {
            m.record_commit(Duration::from_secs(10));
        }
        for _ in 0..LATENCY_RESERVOIR {
            m.record_commit(Duration::from_millis(1));
        }
        let s = m.snapshot();
        assert_eq!(s.commit_latency_max, Some(Duration::from_millis(1)));
        assert_eq!(s.commits, 2 * LATENCY_RESERVOIR as u64);
    }
}
