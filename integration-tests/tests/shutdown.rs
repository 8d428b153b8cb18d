//! Graceful shutdown: SIGTERM makes a worker finish its batch, commit, leave the group and
//! exit 0; a successor continues from the committed offsets, exactly once overall.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use kafka_eos_integration_tests::{order_records, seed, wait_until, Collector, Names, WorkerSpec};
use kafka_eos_testkit::{verify_topic, write_records, Cluster};

#[test]
fn sigterm_stops_a_worker_gracefully_and_its_successor_finishes_exactly_once() {
    let seed = seed();
    let cluster = Cluster::from_env().unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let names = Names::create(&cluster, "sigterm", 4).unwrap();
    let (_, input, expected) = order_records(3_000, seed);
    write_records(&bootstrap, &names.input, &input).unwrap();
    let progress = Collector::start(&bootstrap, &[&names.output]).unwrap();
    let mut spec = WorkerSpec::new(
        env!("CARGO_BIN_EXE_eos-worker"),
        bootstrap.clone(),
        names.clone(),
    )
    .unwrap();
    spec.pause_every = 5;
    spec.commit_records = 200;
    let mut first = spec.spawn(0, 0).unwrap();
    assert!(
        wait_until(
            || progress.count_of(&names.output),
            |n| n >= expected.len() / 5,
            Duration::from_secs(30)
        ),
        "no progress\n{}",
        first.log_tail(3000)
    );
    // SIGTERM, as systemd or Kubernetes send it
    let status = std::process::Command::new("kill")
        .args(["-TERM", &first.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(s) = first.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "no exit 30 s after SIGTERM\n{}",
            first.log_tail(3000)
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}\n{}", first.log_tail(3000));
    let at_stop = progress.count_of(&names.output);
    assert!(
        at_stop < expected.len(),
        "the first worker finished everything before the signal"
    );

    let mut second = spec.spawn(0, 1).unwrap();
    assert!(
        wait_until(
            || progress.count_of(&names.output),
            |n| n >= expected.len(),
            Duration::from_secs(30)
        ),
        "stalled\n{}",
        second.log_tail(3000)
    );
    drop(progress.stop(&names.output, &names.dlq));
    assert!(second
        .stop(Duration::from_secs(30))
        .is_some_and(|s| s.success()));
    let report = verify_topic(&bootstrap, &names.output, &expected).unwrap();
    assert!(report.is_exactly_once(), "{report} (seed {seed})");
    if let Some(broker) = cluster.embedded_broker() {
        // a graceful stop finishes its transaction: nothing was fenced or timed out
        let counts = broker.transaction_counts();
        assert_eq!((counts.fenced, counts.timed_out), (0, 0), "{counts:?}");
    }
}
