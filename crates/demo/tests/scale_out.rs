//! Scale-out suite: a second worker (another `--instance`) joins mid-run, partitions move
//! to it; the output is still exactly once.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

use std::time::Duration;

mod support;

use kafka_eos_demo::orders::Failures;
use kafka_eos_demo::worker::MetricsLine;
use support::WorkerRun;

#[test]
fn a_second_instance_joins_mid_run_and_the_output_stays_exactly_once() {
    scale_out(WorkerRun::prepare("scale", 8, 6_000));
}

/// The same with keyed concurrency: the rebalance comes while the first worker has up to
/// 64 records in flight (its batch finishes and commits before the partitions move).
#[test]
fn a_second_keyed_instance_joins_while_records_are_in_flight() {
    let mut run = WorkerRun::prepare("keyed-scale", 8, 6_000);
    run.spec.concurrency = 64;
    // slow calls (about 3,000 records/s a worker): work is left when the joiner is in
    run.spec.work_ms = 20;
    scale_out(run);
}

/// A rebalance while keys are parked: 5 % of the records fail their first attempt, so the
/// first worker has parked keys when the second joins; the partitions that move take their
/// parked keys along (the new owner folds the parking partition first).
#[test]
fn a_second_instance_joins_while_keys_are_parked() {
    let mut run = WorkerRun::prepare("parked-scale", 8, 14_000);
    assert!(
        run.expected.len() >= 50_000,
        "{} records",
        run.expected.len()
    );
    run.spec.concurrency = 16;
    run.spec.work_ms = 5;
    run.spec.failures = Failures {
        transient: 0.05,
        permanent: 0,
    };
    run.spec.max_attempts = 50;
    let (m1, m2) = scale_out(run);
    assert!(
        m1.records_parked + m2.records_parked > 0,
        "nothing parked: {m1:?} {m2:?}"
    );
}

fn scale_out(run: WorkerRun) -> (MetricsLine, MetricsLine) {
    let total = run.expected.len();
    let mut first = run.spec.spawn(0, 0).unwrap();
    assert!(
        run.wait_for(
            |n| n >= total / 5 && first.is_consuming(),
            Duration::from_secs(30)
        ),
        "the first worker made no progress\n{}",
        first.log_tail(3000)
    );
    let before_join = run.output_count();
    assert!(before_join < total, "no work left for the second worker");

    let mut second = run.spec.spawn(1, 0).unwrap();
    let finished = run.wait_for(|n| n >= total, Duration::from_secs(30));
    assert!(
        finished,
        "stalled at {} of {total}\n{}\n{}",
        run.output_count(),
        first.log_tail(3000),
        second.log_tail(3000)
    );
    // the last metrics lines, printed on the graceful stop
    let s1 = first.stop(Duration::from_secs(30));
    let s2 = second.stop(Duration::from_secs(30));
    assert!(s1.is_some_and(|s| s.success()), "first: {s1:?}");
    assert!(s2.is_some_and(|s| s.success()), "second: {s2:?}");
    let (m1, m2) = (first.metrics().unwrap(), second.metrics().unwrap());
    // partitions moved to the joiner: it processed records the first one had been assigned
    assert!(m2.records_out > 0, "the second worker got no work: {m2:?}");
    assert!(
        m1.records_out >= before_join as u64,
        "first {m1:?}, {before_join} results before the join"
    );

    let seed = run.seed;
    let (report, _) = run.verify();
    assert!(report.is_exactly_once(), "{report} (seed {seed})");
    (m1, m2)
}
