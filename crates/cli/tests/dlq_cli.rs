//! The `kafka-eos dlq replay` command as a process: `--help`, the summary line, and a
//! failure's exit status and message.

mod common;

use std::process::{Command, Output};

use common::{cluster, dead_letter, read, topics};
use kafka_eos_testkit::write_records;

#[cfg(test)] // test code: may unwrap (clippy.toml)
fn kafka_eos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kafka-eos"))
        .args(args)
        .env_remove("KAFKA_BOOTSTRAP_SERVERS")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_shows_an_example() {
    let out = kafka_eos(&["dlq", "replay", "--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for want in [
        "--bootstrap-servers",
        "--dry-run",
        "--source-topic",
        "Examples:",
    ] {
        assert!(help.contains(want), "{want} missing from:\n{help}");
    }
}

#[test]
fn replay_prints_a_summary_and_fails_clearly() {
    let (cluster, bootstrap) = cluster();
    let [dlq, orders] = topics(&cluster, ["dlq", "orders"], 1);
    let letters: Vec<_> = (0..3)
        .map(|i| dead_letter(Some(&orders), i, &format!("k{i}"), Some("v")))
        .collect();
    write_records(&bootstrap, &dlq, &letters).unwrap();

    let dry = kafka_eos(&[
        "dlq",
        "replay",
        "--bootstrap-servers",
        &bootstrap,
        "--topic",
        &dlq,
        "--dry-run",
    ]);
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    let listing = text(&dry.stdout);
    assert_eq!(
        listing.lines().count(),
        4,
        "three dead letters and the summary:\n{listing}"
    );
    assert!(
        listing.contains(&format!("{dlq}/0/2 from {orders}/0/2 -> {orders}")),
        "{listing}"
    );

    let run = kafka_eos(&[
        "dlq",
        "replay",
        "--bootstrap-servers",
        &bootstrap,
        "--topic",
        &dlq,
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(
        text(&run.stdout).trim(),
        format!("replayed 3 dead letters from {dlq} to {orders}")
    );
    assert_eq!(read(&bootstrap, &orders, 3).len(), 3);

    let missing = kafka_eos(&[
        "dlq",
        "replay",
        "--bootstrap",
        &bootstrap,
        "--topic",
        "no-such-dlq-x",
    ]);
    assert_eq!(missing.status.code(), Some(1));
    let stderr = text(&missing.stderr);
    assert!(
        stderr.contains("\"no-such-dlq-x\" does not exist"),
        "{stderr}"
    );
}
