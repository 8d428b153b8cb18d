//! Scale-out suite: a second worker (another `--instance`) joins mid-run, partitions move
//! to it; the output is still exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use kafka_eos_integration_tests::{order_records, seed, wait_until, Collector, Names, WorkerSpec};
use kafka_eos_testkit::{verify_topic, write_records, Cluster};

#[test]
fn a_second_instance_joins_mid_run_and_the_output_stays_exactly_once() {
    let seed = seed();
    let cluster = Cluster::from_env().unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let names = Names::create(&cluster, "scale", 8).unwrap();
    let (_, input, expected) = order_records(6_000, seed);
    write_records(&bootstrap, &names.input, &input).unwrap();

    let progress = Collector::start(&bootstrap, &[&names.output]).unwrap();
    let mut spec = WorkerSpec::new(
        env!("CARGO_BIN_EXE_eos-worker"),
        bootstrap.clone(),
        names.clone(),
    )
    .unwrap();
    spec.commit_records = 200;
    spec.pause_every = 5;
    let mut first = spec.spawn(0, 0).unwrap();
    assert!(
        wait_until(
            || progress.count_of(&names.output),
            |n| n >= expected.len() / 5 && first.is_consuming(),
            Duration::from_secs(30)
        ),
        "the first worker made no progress\n{}",
        first.log_tail(3000)
    );
    let before_join = progress.count_of(&names.output);
    assert!(
        before_join < expected.len(),
        "no work left for the second worker"
    );

    let mut second = spec.spawn(1, 0).unwrap();
    let finished = wait_until(
        || progress.count_of(&names.output),
        |n| n >= expected.len(),
        Duration::from_secs(30),
    );
    let live = progress.count_of(&names.output);
    drop(progress.stop(&names.output, &names.dlq));
    assert!(
        finished,
        "stalled at {live} of {}\n{}\n{}",
        expected.len(),
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

    let report = verify_topic(&bootstrap, &names.output, &expected).unwrap();
    assert!(report.is_exactly_once(), "{report} (seed {seed})");
}
