//! Keyed scheduling inside one transaction: records of different keys run concurrently,
//! records of one key run one after the other in input order, at most `max_in_flight` at
//! once (and at most `per_partition` of one partition), started at most `rate` per second.
//!
//! The scheduler knows nothing of Kafka: it runs jobs (anything with a lane and a
//! partition) through an async closure, so its ordering and bounds are unit-tested here.
//! All lanes are polled on the caller's task (no spawning): concurrency is for work that
//! waits (a call to another service), not for CPU-bound work.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// The lane a record runs in: its key, or its partition when it has no key (records
/// without a key keep their partition's order).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Lane {
    /// Records with this key (whatever their partition).
    Key(Bytes),
    /// Records without a key of this topic-partition.
    Unkeyed(Arc<str>, i32),
}

/// What the closure says after a job: go on with the lane, or stop every lane (the batch
/// is lost: a record must be retried, or the pipeline stops).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Go on.
    Continue,
    /// Start no further job in any lane; jobs already running finish.
    StopAll,
}

/// Bounds of one pipeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Limits {
    /// Records processed at once, over all partitions (at least 1).
    pub max_in_flight: usize,
    /// Records processed at once per partition (`None`: only the global bound).
    pub per_partition: Option<usize>,
    /// Records started per second (`None`: unlimited).
    pub rate: Option<f64>,
}

impl Limits {
    /// One record at a time, unthrottled: the records can simply run in input order.
    pub(crate) fn is_sequential(&self) -> bool {
        self.max_in_flight <= 1 && self.rate.is_none()
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_in_flight: 1,
            per_partition: None,
            rate: None,
        }
    }
}

/// Spaces job starts `1 / rate` seconds apart (a leaky bucket without burst).
#[derive(Debug)]
pub(crate) struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter for `rate` starts per second (`rate` > 0).
    pub(crate) fn new(rate: f64) -> Self {
        RateLimiter {
            interval: Duration::from_secs_f64(1.0 / rate),
            next: Mutex::new(None),
        }
    }

    /// Waits for this caller's slot.
    pub(crate) async fn acquire(&self) {
        let now = Instant::now();
        let slot = match self.next.lock() {
            Ok(mut next) => {
                let slot = next.map_or(now, |n| n.max(now));
                *next = Some(slot + self.interval);
                slot
            }
            Err(_) => now,
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// Counts the jobs running now and the most that ever ran at once.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl InFlight {
    pub(crate) fn enter(&self) {
        let n = self.now.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak.fetch_max(n, Ordering::AcqRel);
    }

    pub(crate) fn leave(&self) {
        self.now.fetch_sub(1, Ordering::AcqRel);
    }

    /// The most jobs that ran at once.
    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Ordering::Acquire)
    }
}

/// Runs `jobs` (in input order) through `work`: lanes concurrently, each lane in order,
/// within `limits`. `lane_of` and `partition_of` (topic and partition, say) place a job. Returns when every lane has
/// finished or stopped (after a [`Next::StopAll`], no job starts; running ones finish).
pub(crate) async fn run_lanes<J, Part, W, Fut>(
    jobs: Vec<J>,
    limits: &Limits,
    rate: Option<&RateLimiter>,
    in_flight: &InFlight,
    lane_of: impl Fn(&J) -> Lane,
    partition_of: impl Fn(&J) -> Part,
    work: W,
) where
    Part: std::hash::Hash + Eq,
    W: Fn(J) -> Fut,
    Fut: Future<Output = Next>,
{
    let mut order: Vec<Lane> = Vec::new();
    let mut lanes: HashMap<Lane, Vec<J>> = HashMap::new();
    let mut partitions: HashMap<Part, Semaphore> = HashMap::new();
    for job in jobs {
        let lane = lane_of(&job);
        if let Some(p) = limits.per_partition {
            partitions
                .entry(partition_of(&job))
                .or_insert_with(|| Semaphore::new(p.max(1)));
        }
        lanes
            .entry(lane.clone())
            .or_insert_with(|| {
                order.push(lane);
                Vec::new()
            })
            .push(job);
    }
    let global = Semaphore::new(limits.max_in_flight.max(1));
    let stopped = AtomicBool::new(false);
    let (global, stopped, partitions, work, partition_of) =
        (&global, &stopped, &partitions, &work, &partition_of);
    let mut running: FuturesUnordered<_> = order
        .into_iter()
        .filter_map(|lane| lanes.remove(&lane))
        .map(|lane_jobs| async move {
            for job in lane_jobs {
                if stopped.load(Ordering::Acquire) {
                    return;
                }
                // the partition's permit first: a lane waiting for it holds no global one
                let _partition = match partitions.get(&partition_of(&job)) {
                    Some(s) => match s.acquire().await {
                        Ok(permit) => Some(permit),
                        Err(_) => return,
                    },
                    None => None,
                };
                let Ok(_global) = global.acquire().await else {
                    return;
                };
                if let Some(r) = rate {
                    r.acquire().await;
                }
                if stopped.load(Ordering::Acquire) {
                    return;
                }
                in_flight.enter();
                let next = work(job).await;
                in_flight.leave();
                if next == Next::StopAll {
                    stopped.store(true, Ordering::Release);
                    return;
                }
            }
        })
        .collect();
    while running.next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// (key, partition, sequence number within the key)
    type TestJob = (u8, i32, u32);

    fn jobs(keys: u8, per_key: u32, partitions: i32) -> Vec<TestJob> {
        let mut v = Vec::new();
        for seq in 0..per_key {
            for k in 0..keys {
                v.push((k, i32::from(k) % partitions, seq));
            }
        }
        v
    }

    fn lane((k, _, _): &TestJob) -> Lane {
        Lane::Key(Bytes::from(vec![*k]))
    }

    async fn run(
        jobs: Vec<TestJob>,
        limits: Limits,
        work_ms: u64,
        stop_at: Option<TestJob>,
    ) -> (Vec<TestJob>, usize) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let in_flight = InFlight::default();
        let rate = limits.rate.map(RateLimiter::new);
        run_lanes(
            jobs,
            &limits,
            rate.as_ref(),
            &in_flight,
            lane,
            |j| j.1,
            |job| {
                let log = Arc::clone(&log);
                async move {
                    tokio::time::sleep(Duration::from_millis(work_ms)).await;
                    log.lock().unwrap().push(job);
                    if Some(job) == stop_at {
                        Next::StopAll
                    } else {
                        Next::Continue
                    }
                }
            },
        )
        .await;
        let done = log.lock().unwrap().clone();
        (done, in_flight.peak())
    }

    fn assert_each_key_in_order(done: &[TestJob]) {
        let mut last: HashMap<u8, u32> = HashMap::new();
        for (k, _, seq) in done {
            let prev = last.insert(*k, *seq);
            assert_eq!(
                prev.map_or(0, |p| p + 1),
                *seq,
                "key {k} out of order: {done:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn keys_run_concurrently_each_in_order_within_the_bound() {
        let limits = Limits {
            max_in_flight: 4,
            ..Limits::default()
        };
        let started = Instant::now();
        let (done, peak) = run(jobs(8, 5, 2), limits, 10, None).await;
        assert_eq!(done.len(), 40);
        assert_each_key_in_order(&done);
        assert_eq!(peak, 4);
        // 40 jobs of 10 ms, 4 at a time: 100 ms of (paused, exact) time
        assert_eq!(started.elapsed(), Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn one_in_flight_is_sequential_in_input_order() {
        let input = jobs(3, 4, 1);
        let (done, peak) = run(input.clone(), Limits::default(), 1, None).await;
        assert_eq!(done, input);
        assert_eq!(peak, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn one_key_never_runs_two_records_at_once() {
        let limits = Limits {
            max_in_flight: 16,
            ..Limits::default()
        };
        let (done, peak) = run(jobs(1, 10, 1), limits, 5, None).await;
        assert_each_key_in_order(&done);
        assert_eq!(peak, 1, "a single key is a single lane");
    }

    #[tokio::test(start_paused = true)]
    async fn the_per_partition_bound_holds() {
        let limits = Limits {
            max_in_flight: 16,
            per_partition: Some(1),
            rate: None,
        };
        // 8 keys over 2 partitions: at most 2 at once
        let (done, peak) = run(jobs(8, 2, 2), limits, 5, None).await;
        assert_eq!(done.len(), 16);
        assert_each_key_in_order(&done);
        assert_eq!(peak, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_limit_spaces_starts() {
        let limits = Limits {
            max_in_flight: 16,
            per_partition: None,
            rate: Some(100.0),
        };
        let started = Instant::now();
        let (done, _) = run(jobs(10, 1, 1), limits, 0, None).await;
        assert_eq!(done.len(), 10);
        // starts at 0, 10, ..., 90 ms
        assert_eq!(started.elapsed(), Duration::from_millis(90));
    }

    #[tokio::test(start_paused = true)]
    async fn stop_all_starts_nothing_more() {
        let limits = Limits {
            max_in_flight: 2,
            ..Limits::default()
        };
        let (done, _) = run(jobs(4, 5, 1), limits, 10, Some((1, 0, 0))).await;
        // the first wave (keys 0 and 1) ran; nothing started after key 1 asked to stop
        assert!(done.len() <= 2, "{done:?}");
        assert!(done.contains(&(1, 0, 0)));
    }
}
