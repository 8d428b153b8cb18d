//! Counters and commit-latency percentiles of a pipeline, read in process with
//! [`Metrics::snapshot`] and, once [`Metrics::publish`]ed, also through the [`metrics`]
//! facade (names in [`names`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

mod facade;
pub mod names;

use facade::Facade;

/// How many recent commit latencies are kept for percentiles.
pub const LATENCY_RESERVOIR: usize = 1024;

/// Attempts counted one by one in [`MetricsSnapshot::record_retries_by_attempt`]; retries
/// after later attempts count in the last bucket.
pub const ATTEMPT_BUCKETS: usize = 8;

/// How many [`AbortCause`]s there are.
pub const ABORT_CAUSES: usize = 6;

/// Why a transaction was aborted (the label `cause` of `kafka_eos_transactions_aborted_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortCause {
    /// Records failed and will be retried: the batch is replayed.
    Retry,
    /// A record stops the pipeline (undecodable under `ErrorPolicy::Stop`, `Failure::stop`,
    /// attempts spent under `ErrorPolicy::Stop`).
    Stop,
    /// A Kafka or delivery error inside the transaction (a failed send, an abortable or
    /// fatal error of begin, send offsets or commit).
    Error,
    /// The pipeline stopped with a transaction open.
    Shutdown,
    /// A rebalance ran while the batch was in its transaction (the partitions may have
    /// moved): the batch is polled again from the committed offsets.
    Rebalance,
    /// An abort whose caller named no cause ([`TransactionalProducer::abort`](crate::TransactionalProducer::abort)).
    Other,
}

impl AbortCause {
    /// Every cause, in the order of [`MetricsSnapshot::aborts_by_cause`].
    pub const ALL: [AbortCause; ABORT_CAUSES] = [
        AbortCause::Retry,
        AbortCause::Stop,
        AbortCause::Error,
        AbortCause::Shutdown,
        AbortCause::Rebalance,
        AbortCause::Other,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            AbortCause::Retry => "retry",
            AbortCause::Stop => "stop",
            AbortCause::Error => "error",
            AbortCause::Shutdown => "shutdown",
            AbortCause::Rebalance => "rebalance",
            AbortCause::Other => "other",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Lock-free counters (plus a small latency reservoir) shared by producer and pipeline.
///
/// Cheap to update from any thread; read with [`Metrics::snapshot`]. After
/// [`Metrics::publish`] every update also goes to the handles registered with a
/// [`metrics::Recorder`] (the application's, or the pipeline's Prometheus endpoint): one
/// more atomic operation per update, no lookup by name.
#[derive(Debug, Default)]
pub struct Metrics {
    transactions_begun: AtomicU64,
    commits: AtomicU64,
    aborts: AtomicU64,
    aborts_by_cause: [AtomicU64; ABORT_CAUSES],
    fencings: AtomicU64,
    retries: AtomicU64,
    records_polled: AtomicU64,
    records_replayed: AtomicU64,
    process_calls: AtomicU64,
    records_in: AtomicU64,
    records_out: AtomicU64,
    send_failures: AtomicU64,
    producer_rebuilds: AtomicU64,
    dead_lettered: AtomicU64,
    in_flight_peak: AtomicU64,
    pauses: AtomicU64,
    records_parked: AtomicU64,
    parked_keys: AtomicU64,
    parked_records: AtomicU64,
    record_retries: [AtomicU64; ATTEMPT_BUCKETS],
    latencies: Mutex<VecDeque<u64>>,
    /// The facade's handles, once published.
    facade: OnceLock<Facade>,
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
    /// Transactions aborted, by [`AbortCause`] (in the order of [`AbortCause::ALL`]).
    pub aborts_by_cause: [u64; ABORT_CAUSES],
    /// Times this pipeline's producer found itself fenced by a newer instance (it stops).
    pub fencings: u64,
    /// Retried operations (each retry counts once).
    pub retries: u64,
    /// Input records taken from the consumer, replays included (a record processed again
    /// after an abort counts each time it is taken).
    pub records_polled: u64,
    /// Of [`MetricsSnapshot::records_polled`], the records taken again after an abort
    /// rewound their partition (replays).
    pub records_replayed: u64,
    /// Calls of the processor (attempts): a record that fails and is retried counts once per
    /// attempt.
    pub process_calls: u64,
    /// Input records done: their outputs (or dead letter) and the input offset past them
    /// committed. Each input record counts once per pipeline instance, whatever its retries.
    pub records_in: u64,
    /// Output records acknowledged by the broker. In exactly-once mode this includes the
    /// outputs of transactions that later aborted (never visible to `read_committed` readers).
    pub records_out: u64,
    /// Failed sends.
    pub send_failures: u64,
    /// Producers rebuilt after a fatal error.
    pub producer_rebuilds: u64,
    /// Records written to a dead-letter topic in a committed transaction (or, at least once,
    /// acknowledged before the offset commit).
    pub dead_lettered: u64,
    /// The most records processed at once (keyed concurrency), since the start.
    pub in_flight_peak: u64,
    /// Times the consumer's partitions were paused because a batch stayed in flight long
    /// (a stalled processor): nothing more is fetched until it completes.
    pub pauses: u64,
    /// Records written to the parking topic in committed transactions: records that
    /// failed and parked, and later records of their keys that parked behind them.
    pub records_parked: u64,
    /// Keys parked now, over the assigned partitions (a gauge).
    pub parked_keys: u64,
    /// Records parked now, over the assigned partitions (a gauge).
    pub parked_records: u64,
    /// Records the processor failed on that were scheduled for another attempt, by the
    /// attempt that failed: `[0]` after a first attempt, `[1]` after a second, ..., the
    /// last bucket after any later one. A record that fails twice and then succeeds counts
    /// in `[0]` and `[1]`; one that fails its last attempt is dead-lettered instead.
    pub record_retries_by_attempt: [u64; ATTEMPT_BUCKETS],
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

    /// Publishes these metrics through the [`metrics`] facade: registers one handle per
    /// metric with `recorder`, each carrying `labels` (the pipeline's `group`), and
    /// describes them. From then on every update also goes to its handle; the counters
    /// start from the totals counted so far. Only the first call registers: it returns
    /// `false` if the metrics were already published (shared by two pipelines, say).
    pub fn publish(&self, recorder: &dyn ::metrics::Recorder, labels: &[::metrics::Label]) -> bool {
        let mut fresh = false;
        let facade = self.facade.get_or_init(|| {
            fresh = true;
            Facade::register(recorder, labels)
        });
        if fresh {
            let s = self.snapshot();
            facade.records_in.absolute(s.records_in);
            facade.records_out.absolute(s.records_out);
            facade.records_polled.absolute(s.records_polled);
            facade.records_replayed.absolute(s.records_replayed);
            facade.process_calls.absolute(s.process_calls);
            facade.transactions_begun.absolute(s.transactions_begun);
            facade.commits.absolute(s.commits);
            for (counter, n) in facade.aborts.iter().zip(s.aborts_by_cause) {
                counter.absolute(n);
            }
            facade.fencings.absolute(s.fencings);
            facade.retries.absolute(s.retries);
            facade.send_failures.absolute(s.send_failures);
            facade.producer_rebuilds.absolute(s.producer_rebuilds);
            facade.dead_lettered.absolute(s.dead_lettered);
            facade.pauses.absolute(s.pauses);
            for (counter, n) in facade
                .record_retries
                .iter()
                .zip(s.record_retries_by_attempt)
            {
                counter.absolute(n);
            }
            facade.in_flight_peak.set(s.in_flight_peak as f64);
            facade.records_parked.absolute(s.records_parked);
            facade.parked_keys.set(s.parked_keys as f64);
            facade.parked_records.set(s.parked_records as f64);
        }
        fresh
    }

    /// Whether [`Metrics::publish`] was called.
    pub fn is_published(&self) -> bool {
        self.facade.get().is_some()
    }

    /// The facade's handles, if published.
    #[inline]
    fn facade(&self) -> Option<&Facade> {
        self.facade.get()
    }

    /// Counts a begun transaction.
    pub fn record_begin(&self) {
        self.transactions_begun.fetch_add(1, Ordering::Relaxed);
        if let Some(f) = self.facade() {
            f.transactions_begun.increment(1);
        }
    }

    /// Counts a commit and records its latency.
    pub fn record_commit(&self, latency: Duration) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        if let Some(f) = self.facade() {
            f.commits.increment(1);
            f.commit_latency.record(latency.as_secs_f64());
        }
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        if let Ok(mut l) = self.latencies.lock() {
            if l.len() == LATENCY_RESERVOIR {
                l.pop_front();
            }
            l.push_back(micros);
        }
    }

    /// Counts an abort, and why.
    pub fn record_abort(&self, cause: AbortCause) {
        self.aborts.fetch_add(1, Ordering::Relaxed);
        self.aborts_by_cause[cause.index()].fetch_add(1, Ordering::Relaxed);
        if let Some(f) = self.facade() {
            f.aborts[cause.index()].increment(1);
        }
    }

    /// Counts a fencing: the producer was fenced by a newer instance.
    pub fn record_fenced(&self) {
        self.fencings.fetch_add(1, Ordering::Relaxed);
        if let Some(f) = self.facade() {
            f.fencings.increment(1);
        }
    }

    /// Counts a retry.
    pub fn record_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        if let Some(f) = self.facade() {
            f.retries.increment(1);
        }
    }

    /// Counts `n` records taken from the consumer, of which `replayed` were taken again
    /// after an abort.
    pub fn record_polled(&self, n: u64, replayed: u64) {
        self.records_polled.fetch_add(n, Ordering::Relaxed);
        self.records_replayed.fetch_add(replayed, Ordering::Relaxed);
        if let Some(f) = self.facade() {
            f.records_polled.increment(n);
            f.records_replayed.increment(replayed);
        }
    }

    /// Counts a call of the processor.
    pub fn record_process_call(&self) {
        self.process_calls.fetch_add(1, Ordering::Relaxed);
        if let Some(f) = self.facade() {
            f.process_calls.increment(1);
        }
    }

    /// Counts `n` input records done (committed), of which `dead_lettered` went to a
    /// dead-letter topic.
    pub fn record_in(&self, n: u64, dead_lettered: u64) {
        self.records_in.fetch_add(n, Ordering::Relaxed);
        self.dead_lettered
            .fetch_add(dead_lettered, Ordering::Relaxed);
        if let Some(f) = self.facade() {
            f.records_in.increment(n);
            f.dead_lettered.increment(dead_lettered);
        }
    }

    /// Counts `n` delivered records.
    pub fn record_out(&self, n: u64) {
        self.records_out.fetch_add(n, Ordering::Relaxed);
        if let Some(f) = self.facade() {
            f.records_out.increment(n);
        }
    }

    /// Counts a failed send.
    pub fn record_send_failure(&self) {
        self.send_failures.fetch_add(1, Ordering::Relaxed);
        if let Some(f) = self.facade() {
            f.send_failures.increment(1);
        }
    }

    /// Counts a producer rebuild.
    pub fn record_rebuild(&self) {
        self.producer_rebuilds.fetch_add(1, Ordering::Relaxed);
        if let Some(f) = self.facade() {
            f.producer_rebuilds.increment(1);
        }
    }

    /// Raises the in-flight peak to `n` if higher.
    pub fn record_in_flight_peak(&self, n: u64) {
        let before = self.in_flight_peak.fetch_max(n, Ordering::Relaxed);
        if let Some(f) = self.facade().filter(|_| n > before) {
            f.in_flight_peak.set(n as f64);
        }
    }

    /// Sets the input records of the open transaction (polled, not yet committed or
    /// rewound); published as a gauge only (nothing in [`MetricsSnapshot`]).
    pub fn set_in_flight(&self, n: u64) {
        if let Some(f) = self.facade() {
            f.in_flight.set(n as f64);
        }
    }

    /// Counts a pause of the consumer.
    pub fn record_pause(&self) {
        self.pauses.fetch_add(1, Ordering::Relaxed);
        if let Some(f) = self.facade() {
            f.pauses.increment(1);
        }
    }

    /// Counts `n` records written to the parking topic (their transaction committed).
    pub fn record_records_parked(&self, n: u64) {
        self.records_parked.fetch_add(n, Ordering::Relaxed);
        if let Some(f) = self.facade() {
            f.records_parked.increment(n);
        }
    }

    /// Sets the parked keys and records of the assigned partitions.
    pub fn record_parked(&self, keys: u64, records: u64) {
        self.parked_keys.store(keys, Ordering::Relaxed);
        self.parked_records.store(records, Ordering::Relaxed);
        if let Some(f) = self.facade() {
            f.parked_keys.set(keys as f64);
            f.parked_records.set(records as f64);
        }
    }

    /// Counts a record scheduled for another attempt after its attempt number `attempt`
    /// (1 = the first) failed.
    pub fn record_attempt_retry(&self, attempt: u32) {
        let bucket = (attempt.max(1) as usize - 1).min(ATTEMPT_BUCKETS - 1);
        self.record_retries[bucket].fetch_add(1, Ordering::Relaxed);
        if let Some(counter) = self.facade().and_then(|f| f.record_retries.get(bucket)) {
            counter.increment(1);
        }
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
            aborts_by_cause: std::array::from_fn(|i| {
                self.aborts_by_cause[i].load(Ordering::Relaxed)
            }),
            fencings: self.fencings.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            records_polled: self.records_polled.load(Ordering::Relaxed),
            records_replayed: self.records_replayed.load(Ordering::Relaxed),
            process_calls: self.process_calls.load(Ordering::Relaxed),
            records_in: self.records_in.load(Ordering::Relaxed),
            records_out: self.records_out.load(Ordering::Relaxed),
            send_failures: self.send_failures.load(Ordering::Relaxed),
            producer_rebuilds: self.producer_rebuilds.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            in_flight_peak: self.in_flight_peak.load(Ordering::Relaxed),
            pauses: self.pauses.load(Ordering::Relaxed),
            records_parked: self.records_parked.load(Ordering::Relaxed),
            parked_keys: self.parked_keys.load(Ordering::Relaxed),
            parked_records: self.parked_records.load(Ordering::Relaxed),
            record_retries_by_attempt: std::array::from_fn(|i| {
                self.record_retries[i].load(Ordering::Relaxed)
            }),
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
    use ::metrics::{
        Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString, Unit,
    };
    use std::sync::Arc;

    #[test]
    fn counters_and_percentiles() {
        let m = Metrics::new();
        assert_eq!(m.snapshot().commit_latency_p50, None);
        for ms in 1..=100u64 {
            m.record_commit(Duration::from_millis(ms));
        }
        m.record_abort(AbortCause::Retry);
        m.record_retry();
        m.record_retry();
        m.record_polled(12, 2);
        m.record_process_call();
        m.record_in(10, 1);
        m.record_out(7);
        for attempt in [1, 1, 2, 8, 30] {
            m.record_attempt_retry(attempt);
        }
        let s = m.snapshot();
        assert_eq!(s.record_retries_by_attempt, [2, 1, 0, 0, 0, 0, 0, 2]);
        assert_eq!((s.records_polled, s.records_replayed), (12, 2));
        assert_eq!((s.process_calls, s.dead_lettered), (1, 1));
        assert_eq!(s.commits, 100);
        assert_eq!(s.aborts, 1);
        assert_eq!(s.retries, 2);
        assert_eq!(s.records_in, 10);
        assert_eq!(s.records_out, 7);
        assert_eq!(s.commit_latency_p50, Some(Duration::from_millis(50)));
        assert_eq!(s.commit_latency_p99, Some(Duration::from_millis(99)));
        assert_eq!(s.commit_latency_max, Some(Duration::from_millis(100)));
    }

    /// Counters and gauges by rendered key (`name{label=value,...}`), histograms dropped.
    #[derive(Default)]
    struct TestRecorder(Mutex<Vec<(String, Arc<AtomicU64>)>>);

    impl TestRecorder {
        fn handle(&self, key: &Key) -> Arc<AtomicU64> {
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let name = format!("{}{{{}}}", key.name(), labels.join(","));
            let cell = Arc::new(AtomicU64::new(0));
            self.0.lock().unwrap().push((name, Arc::clone(&cell)));
            cell
        }
        fn get(&self, name: &str) -> u64 {
            let all = self.0.lock().unwrap();
            let cell = all.iter().find(|(n, _)| n == name);
            cell.unwrap_or_else(|| panic!("{name} not registered"))
                .1
                .load(Ordering::Relaxed)
        }
    }

    impl Recorder for TestRecorder {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(self.handle(key))
        }
        fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::from_arc(self.handle(key))
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    #[test]
    fn published_handles_follow_the_counters() {
        let m = Metrics::new();
        m.record_in(5, 0); // before publishing: carried over
        let recorder = TestRecorder::default();
        let labels = [Label::new(names::LABEL_GROUP, "g")];
        assert!(m.publish(&recorder, &labels));
        assert!(!m.publish(&recorder, &labels), "registers once");
        m.record_in(3, 1);
        m.record_polled(9, 2);
        m.record_begin();
        m.record_commit(Duration::from_millis(3));
        m.record_attempt_retry(1);
        m.record_attempt_retry(12);
        m.record_in_flight_peak(4);
        m.set_in_flight(7);
        assert_eq!(recorder.get("kafka_eos_records_in_total{group=g}"), 8);
        assert_eq!(recorder.get("kafka_eos_dead_letters_total{group=g}"), 1);
        assert_eq!(recorder.get("kafka_eos_records_polled_total{group=g}"), 9);
        assert_eq!(recorder.get("kafka_eos_records_replayed_total{group=g}"), 2);
        assert_eq!(
            recorder.get("kafka_eos_transactions_begun_total{group=g}"),
            1
        );
        assert_eq!(
            recorder.get("kafka_eos_transactions_committed_total{group=g}"),
            1
        );
        assert_eq!(
            recorder.get("kafka_eos_record_retries_total{group=g,attempt=1}"),
            1
        );
        assert_eq!(
            recorder.get("kafka_eos_record_retries_total{group=g,attempt=8+}"),
            1
        );
        let gauge = |name| f64::from_bits(recorder.get(name));
        assert_eq!(gauge("kafka_eos_records_in_flight_peak{group=g}"), 4.0);
        assert_eq!(gauge("kafka_eos_records_in_flight{group=g}"), 7.0);
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
