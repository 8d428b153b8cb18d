//! The demo against the failures of the broker itself (issue 12): the broker process
//! killed with SIGKILL and restarted on its data dir (`--broker-kills`), and nodes of a
//! three-node cluster failing over and coming back (`--nodes 3 --node-failovers`), each
//! while workers are killed too, over 50,000+ records; the output, read by a read_committed
//! reader, must be f(input) exactly once, in order per key. Both shape the embedded broker,
//! so they run on it whatever `KAFKA_BOOTSTRAP_SERVERS` says.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

use kafka_eos_demo::report::DemoReport;
use kafka_eos_demo::run::{run, DemoArgs};

fn demo(extra: &[&str]) -> DemoReport {
    let seed = kafka_eos_testkit::test_seed().to_string();
    let mut argv = vec![
        "kafka-eos-demo",
        "--orders",
        "14000",
        "--crashes",
        "3",
        "--seed",
        &seed,
        "--no-progress",
    ];
    argv.extend_from_slice(extra);
    let mut args = DemoArgs::from_args(&argv).unwrap();
    args.bootstrap = None;
    let report = run(&args, env!("CARGO_BIN_EXE_kafka-eos-demo").into()).unwrap();
    report.print();
    assert!(report.records_in >= 50_000, "{}", report.records_in);
    assert_eq!(report.kills, 3);
    assert!(
        report.passed(),
        "{} (seed {seed})\nlogs: {}",
        report.outcome,
        report.log_dir.display()
    );
    report
}

#[test]
fn the_broker_killed_with_sigkill_and_restarted_on_its_data_dir_loses_and_repeats_nothing() {
    let report = demo(&["--broker-kills", "3"]);
    assert_eq!(report.broker_kills, 3);
    assert!(report.slowest_broker_restart.is_some());
    let log = std::fs::read_to_string(report.log_dir.join("broker.log")).unwrap();
    assert_eq!(
        log.matches("recovered the data dir").count(),
        3,
        "every restart recovers the data dir"
    );
}

#[test]
fn nodes_failing_over_in_a_three_node_cluster_lose_and_repeat_nothing() {
    let report = demo(&["--nodes", "3", "--node-failovers", "2"]);
    assert_eq!(report.nodes, 3);
    assert_eq!(report.node_failovers, 2);
}
