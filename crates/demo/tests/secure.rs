//! `kafka-eos demo --secure`: the order pipeline over TLS + SASL/SCRAM-SHA-512 on the
//! embedded broker, workers killed with SIGKILL 5 times over 50,000+ records; the output,
//! read back over TLS + SCRAM, must be f(input) exactly once, and the password (generated
//! for the run, read by the workers from a file) must appear in no worker's log.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

use kafka_eos_demo::run::{run, DemoArgs};

#[test]
fn the_secure_demo_survives_sigkills_exactly_once_without_printing_its_password() {
    let seed = kafka_eos_testkit::test_seed().to_string();
    let args = DemoArgs::from_args(&[
        "kafka-eos-demo",
        "--secure",
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
    assert_eq!(report.security, "SASL_SSL (SCRAM-SHA-512, user demo)");
    assert!(report.records_in >= 50_000, "{}", report.records_in);
    assert_eq!(report.kills, 5);
    assert!(
        report.passed(),
        "{}\nworker logs: {}",
        report.outcome,
        report.log_dir.display()
    );
    let password = std::fs::read_to_string(report.log_dir.join("password")).unwrap();
    assert!(password.len() >= 16);
    let mut logs = 0;
    for entry in std::fs::read_dir(&report.log_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            logs += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                !text.contains(&password),
                "the password is in {}",
                path.display()
            );
        }
    }
    assert!(logs >= 7, "only {logs} worker logs");
}
