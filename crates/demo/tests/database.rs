//! The database sink under SIGKILL: the demo's order pipeline into PostgreSQL and into
//! MariaDB (`--sink`), two workers killed 5 times at random points of the progress over
//! more than 50,000 events. The tables must be f(input): each order's status row holds its
//! last event with every event applied once and in order, each merchant's fee balance (a
//! non-idempotent increment per event) is the sum over the input.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

use kafka_eos_demo::database::run::{run, TablesReport};
use kafka_eos_demo::run::DemoArgs;

fn demo(sink: &str) -> TablesReport {
    let seed = kafka_eos_testkit::test_seed().to_string();
    let args = DemoArgs::from_args(&[
        "kafka-eos-demo",
        "--sink",
        sink,
        "--orders",
        "14000",
        "--crashes",
        "5",
        "--seed",
        &seed,
        "--no-progress",
    ])
    .unwrap();
    let report = run(&args, env!("CARGO_BIN_EXE_kafka-eos-demo").into()).unwrap();
    report.print();
    assert!(report.outcome.events >= 50_000, "{}", report.outcome);
    assert_eq!(report.kills, 5);
    assert!(
        report.passed(),
        "{}\nworker logs: {}",
        report.outcome,
        report.log_dir.display()
    );
    report
}

#[test]
fn sigkilled_sink_workers_leave_postgres_tables_equal_to_f_of_the_input() {
    demo("postgres");
}

#[test]
fn sigkilled_sink_workers_leave_mariadb_tables_equal_to_f_of_the_input() {
    demo("mariadb");
}
