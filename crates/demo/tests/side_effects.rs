//! Side effects outside Kafka under SIGKILL: the demo's order pipeline with one effect per
//! event (a row appended to a PostgreSQL log, outside the Kafka transaction), guarded by
//! `kafka-eos-idempotency` with each store: Redis, PostgreSQL, MariaDB, and Redis layered in
//! front of PostgreSQL. Two workers, 16 records in flight each, killed 5 times over more than
//! 50,000 records; with a PostgreSQL store its connections are also terminated every 3 s.
//!
//! Every event's effect must have run, and run again at most once per record in flight of a
//! killed worker: the window between an effect and its done mark, which the docs name. The
//! Kafka output is still exactly f(input).
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

use kafka_eos_demo::run::{run, DemoArgs};

fn guarded_by(guard: &str) {
    let seed = kafka_eos_testkit::test_seed().to_string();
    let args = DemoArgs::from_args(&[
        "kafka-eos-demo",
        "--side-effects",
        guard,
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
    let effects = report
        .effects
        .expect("a run with side effects reports them");
    assert!(effects.events >= 50_000, "{effects}");
    assert_eq!(report.kills, 5);
    assert!(
        effects.holds(),
        "{effects}\nworker logs: {}",
        report.log_dir.display()
    );
    if guard == "postgres" || guard == "layered" {
        assert!(effects.outages >= 3, "{effects}");
    }
    assert!(
        report.passed(),
        "seed {seed}: worker logs {}",
        report.log_dir.display()
    );
}

#[test]
fn effects_guarded_by_redis_run_once_per_event_but_for_the_crash_windows() {
    guarded_by("redis");
}

#[test]
fn effects_guarded_by_postgres_run_once_per_event_but_for_the_crash_windows() {
    guarded_by("postgres");
}

#[test]
fn effects_guarded_by_mariadb_run_once_per_event_but_for_the_crash_windows() {
    guarded_by("mariadb");
}

#[test]
fn effects_guarded_by_the_layered_store_run_once_per_event_but_for_the_crash_windows() {
    guarded_by("layered");
}
