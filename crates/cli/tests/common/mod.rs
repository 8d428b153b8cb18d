//! Helpers shared by the `dlq replay` suites: dead letters written directly with the
//! documented headers, replay runs that collect their listing, committed reads.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic
#![allow(dead_code)]

use std::time::Duration;

use kafka_eos_cli::dlq::{self, dlq_headers, ReplayArgs, ReplaySummary, REPLAYED_FROM};
use kafka_eos_cli::CliError;
use kafka_eos_testkit::{read_committed, Cluster, Record};

/// How long a read waits for more records after the expected count (to catch duplicates).
pub const LINGER: Duration = Duration::from_millis(700);

/// A dead letter as a pipeline writes it: `key`, `value` (`None`: a tombstone), an original
/// header `trace` and a null header `unset`, then the error and the source headers (the
/// source topic only if `source` names one).
pub fn dead_letter(
    source: Option<&str>,
    src_offset: i64,
    key: &str,
    value: Option<&str>,
) -> Record {
    let mut r = match value {
        Some(v) => Record::new(key, v),
        None => Record::tombstone(key),
    };
    r = r
        .with_header("trace", format!("t-{key}"))
        .with_null_header("unset")
        .with_header(dlq_headers::ERROR, format!("cannot process {key}"))
        .with_header(dlq_headers::STAGE, "process");
    if let Some(s) = source {
        r = r.with_header(dlq_headers::TOPIC, s);
    }
    r.with_header(dlq_headers::PARTITION, "0")
        .with_header(dlq_headers::OFFSET, src_offset.to_string())
}

/// A cluster (embedded unless `KAFKA_BOOTSTRAP_SERVERS` is set) and its bootstrap servers.
pub fn cluster() -> (Cluster, String) {
    let cluster = Cluster::from_env().unwrap();
    let bootstrap = cluster.bootstrap_servers();
    (cluster, bootstrap)
}

/// The embedded broker, always (fault injection needs it), and its bootstrap servers.
pub fn embedded_cluster() -> (Cluster, String) {
    let cluster = Cluster::embedded().unwrap();
    let bootstrap = cluster.bootstrap_servers();
    (cluster, bootstrap)
}

/// Fresh topics named after `prefixes`, created with `partitions` each.
pub fn topics<const N: usize>(
    cluster: &Cluster,
    prefixes: [&str; N],
    partitions: i32,
) -> [String; N] {
    prefixes.map(|p| {
        let t = cluster.unique_topic(p);
        cluster.create_topic(&t, partitions).unwrap();
        t
    })
}

/// Runs a replay; returns its summary and the listing lines of the dead letters it handled.
pub fn replay(args: &ReplayArgs) -> Result<(ReplaySummary, Vec<String>), CliError> {
    let mut lines = Vec::new();
    let summary = dlq::replay(args, |letter, decision| {
        lines.push(letter.describe(decision))
    })?;
    Ok((summary, lines))
}

/// Every committed record of `topic` (at least `expected`, then nothing more for [`LINGER`]).
pub fn read(bootstrap: &str, topic: &str, expected: usize) -> Vec<Record> {
    read_committed(bootstrap, topic, expected, LINGER).unwrap()
}

/// The records of `topic` that carry the replayed-from header.
pub fn replayed(bootstrap: &str, topic: &str, expected: usize) -> Vec<Record> {
    read(bootstrap, topic, expected)
        .into_iter()
        .filter(|r| r.header(REPLAYED_FROM).is_some())
        .collect()
}

/// The values of `records` as text, sorted.
pub fn values(records: &[Record]) -> Vec<String> {
    let mut v: Vec<String> = records.iter().map(Record::value_text).collect();
    v.sort();
    v
}

/// The headers of `r` named `kafka-eos.*`.
pub fn reserved_headers(r: &Record) -> Vec<&str> {
    r.headers
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| k.starts_with("kafka-eos."))
        .collect()
}
