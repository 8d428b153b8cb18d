//! Crash suite: worker processes killed with SIGKILL at random moments and restarted with
//! the same `--instance`; the output is still exactly f(input).
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

use std::time::{Duration, Instant};

mod support;

use kafka_eos_demo::orders::Failures;
use kafka_eos_demo::process::WorkerProcess;
use kafka_eos_processor::core::lag::total_lag;
use kafka_eos_testkit::wait_until;
use rand::{Rng, SeedableRng};
use support::WorkerRun;

const ORDERS: u64 = 14_000;
const PARTITIONS: i32 = 8;
const WORKERS: u32 = 2;
const KILLS: usize = 6;

fn logs(workers: &[WorkerProcess]) -> String {
    workers
        .iter()
        .map(|w| w.log_tail(3000))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn sigkilled_workers_restart_and_the_output_stays_exactly_once() {
    let (_, parked) = crash_run(WorkerRun::prepare("crash", PARTITIONS, ORDERS));
    assert_eq!(parked, 0, "nothing fails: nothing parks");
}

/// The same under keyed concurrency: 64 records in flight per worker, each calling a
/// service that takes 2 ms. Every key's results stay in input order (the check counts
/// per-key order violations), exactly once.
///
/// Parking under SIGKILL: 3 % of the records fail their first attempt in each worker life,
/// so keys are parked (their records in the parking topic, their state rebuilt by each new
/// life) when the kills land; every result still comes once, in its key's order.
#[test]
fn sigkilled_keyed_workers_with_64_in_flight_stay_exactly_once_and_in_key_order() {
    let mut run = WorkerRun::prepare("keyed-crash", PARTITIONS, ORDERS);
    run.spec.concurrency = 64;
    run.spec.work_ms = 2;
    run.spec.failures = Failures {
        transient: 0.03,
        permanent: 0,
    };
    // a record fails once per life: never dead-lettered
    run.spec.max_attempts = 50;
    let (peak, parked) = crash_run(run);
    assert!(peak > 1, "no two records ran at once (peak {peak})");
    assert!(peak <= 64, "the bound was exceeded (peak {peak})");
    assert!(parked > 0, "no record was parked by the last lives");
}

/// Without parking (`--no-parking`), each worker polls its next batch while one is in its
/// transaction: kills land with two batches in hand. 3 % of the records fail their first
/// attempt in each life, so batches abort and replay (the batch polled behind them too).
#[test]
fn sigkilled_workers_polling_ahead_without_parking_stay_exactly_once_and_in_key_order() {
    let mut run = WorkerRun::prepare("prefetch-crash", PARTITIONS, ORDERS);
    run.spec.parking = false;
    run.spec.failures = Failures {
        transient: 0.03,
        permanent: 0,
    };
    run.spec.max_attempts = 50;
    let (_, parked) = crash_run(run);
    assert_eq!(parked, 0, "a run without parking parked records");
}

/// Kills the run's workers at random points, restarts them, and checks the output; returns
/// the largest in-flight peak a worker reported and the records the last lives parked.
fn crash_run(run: WorkerRun) -> (u64, u64) {
    let (seed, total) = (run.seed, run.expected.len());
    assert!(total >= 50_000, "only {total} input records");
    // Simulated per-record work and smallish transactions (the run's defaults): a
    // consuming worker is inside a transaction almost all the time, so kills land
    // mid-transaction (the open transaction is aborted when the next life fences it).
    let spec = &run.spec;
    let mut workers: Vec<WorkerProcess> = (0..WORKERS).map(|i| spec.spawn(i, 0).unwrap()).collect();

    // Kill at random points of the progress, so every kill lands while work remains; the
    // victim is one of the workers consuming at that moment (a kill of a worker still
    // joining the group, or of one whose partitions are drained, would test little).
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut thresholds: Vec<usize> = (0..KILLS)
        .map(|_| (rng.gen_range(0.05..0.75) * total as f64) as usize)
        .collect();
    thresholds.sort_unstable();
    let started = Instant::now();
    let mut kills = 0;
    for threshold in &thresholds {
        let reached = run.wait_for(
            |n| n >= *threshold && workers.iter().any(WorkerProcess::is_consuming),
            Duration::from_secs(30),
        );
        let done = run.output_count();
        assert!(
            reached,
            "no progress for 30 s at {done} of {total} results (waiting for {threshold}, {kills} kills so far)\n{}",
            logs(&workers)
        );
        assert!(
            done < total,
            "all {done} results were written before kill {} could land; the run is too fast for its kill schedule",
            kills + 1
        );
        let consuming: Vec<usize> = (0..workers.len())
            .filter(|i| workers[*i].is_consuming())
            .collect();
        let victim = consuming[rng.gen_range(0..consuming.len())];
        let w = &mut workers[victim];
        // SIGKILL: no clean-up, no graceful leave, a transaction possibly open
        w.kill().unwrap();
        kills += 1;
        eprintln!(
            "kill {kills}: worker {} life {} at {done} results ({:?})",
            w.instance,
            w.life,
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(rng.gen_range(20..300)));
        let (instance, life) = (w.instance, w.life + 1);
        *w = spec.spawn(instance, life).unwrap();
    }
    assert!(kills >= 5, "only {kills} kills");

    let finished = run.wait_for(|n| n >= total, Duration::from_secs(30));
    assert!(
        finished,
        "stalled at {} of {total} results\n{}",
        run.output_count(),
        logs(&workers)
    );
    eprintln!("all results after {:?}", started.elapsed());

    // Graceful stop: the last lives exit 0.
    let (mut peak, mut parked) = (0, 0);
    for w in &mut workers {
        let status = w.stop(Duration::from_secs(30));
        assert!(
            status.is_some_and(|s| s.success()),
            "worker {} did not stop gracefully: {status:?}\n{}",
            w.instance,
            w.log_tail(3000)
        );
        peak = peak.max(w.metrics().map_or(0, |m| m.in_flight_peak));
        parked += w.metrics().map_or(0, |m| m.records_parked);
    }

    let (report, cluster) = run.verify();
    assert!(report.is_exactly_once(), "{report} (seed {seed})");

    if let Some(broker) = cluster.embedded_broker() {
        let counts = broker.transaction_counts();
        eprintln!("broker transactions: {counts:?}");
        assert!(counts.committed > 0, "{counts:?}");
        // a killed worker's open transaction is aborted when its next life fences it
        assert!(
            counts.fenced > 0,
            "no kill landed mid-transaction: {counts:?}"
        );
    }
    (peak, parked)
}

/// At-least-once promises less: after SIGKILLs nothing is missing and nothing unexpected
/// appears, each key's first results come in order, but replays may duplicate results.
#[test]
fn at_least_once_loses_nothing_when_workers_are_killed() {
    let mut run = WorkerRun::prepare("alo-crash", 4, 4_000);
    run.spec.at_least_once = true;
    let (seed, total) = (run.seed, run.expected.len());
    let spec = &run.spec;
    let mut worker = spec.spawn(0, 0).unwrap();
    for (life, fraction) in [(1, 0.2), (2, 0.5)] {
        let threshold = (total as f64 * fraction) as usize;
        assert!(
            run.wait_for(|n| n >= threshold, Duration::from_secs(30)),
            "no progress\n{}",
            worker.log_tail(3000)
        );
        worker.kill().unwrap();
        worker = spec.spawn(0, life).unwrap();
    }
    // Duplicates make the output count a poor measure: wait until the group has consumed
    // and committed the whole input instead.
    let lag = || {
        total_lag(
            &run.cluster.bootstrap_servers(),
            &run.topics.group,
            &run.topics.input,
            Duration::from_secs(30),
        )
        .map_or(usize::MAX, |l| l as usize)
    };
    assert!(
        wait_until(lag, |l| l == 0, Duration::from_secs(40)),
        "stalled at lag {}\n{}",
        lag(),
        worker.log_tail(3000)
    );
    let status = worker.stop(Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");

    let (report, _) = run.verify();
    assert_eq!(
        (report.missing, report.unexpected, report.order_violations),
        (0, 0, 0),
        "{report} (seed {seed})"
    );
    eprintln!("at-least-once after 2 kills: {report}");
}
