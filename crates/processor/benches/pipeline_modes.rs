//! Throughput of the `Pipeline` (exactly-once and at-least-once) against a hand-written
//! rdkafka transactional loop, on one embedded broker, at several commit intervals and
//! `max.in.flight.requests.per.connection` values.
//!
//! `cargo bench -p kafka-eos-processor --bench pipeline_modes`
//!
//! - `BENCH_RECORDS`: input records (default 200000; 100-byte values, 1000 keys,
//!   8 input partitions). At 50000 the consumer prefetches the whole input in one fetch and
//!   every configuration commits it in one or two transactions, so the commit interval
//!   is not exercised and start-up (group join, `init_transactions`) dominates.
//! - `BENCH_REPEATS`: runs of each configuration (default 3, interleaved); the table shows
//!   the median.
//! - `BENCH_INTERVALS`, `BENCH_IN_FLIGHT`: comma-separated subsets of the commit intervals
//!   (ms) and in-flight values to run (default all: 10,100,1000 and 1,5).
//! - `BENCH_LOG`: a tracing filter (e.g. `kafka_eos_core=debug`) to log to stderr.
//! - `BENCH_KINDS`: a subset of `loop,eos,alo` (ratios need `loop`).
//! - `BENCH_COMMIT_MAX_RECORDS`: the pipeline's `commit_every_records` (default: no cap, so
//!   that a batch is whatever arrived within the commit interval, as in the hand-written
//!   loop).
//!
//! Each configuration copies the same input to a fresh 8-partition output topic with a
//! fresh group. The clock runs from the start of the pipeline (client creation, group join
//! and `init_transactions` included) until every input record was committed and the group's
//! committed offsets (read by a `read_uncommitted` client, so pending transactional
//! offsets do not count) reach the input's end offsets. The output is then read with
//! `read_committed` and checked: exactly N records, each input record once, per-key order.
//!
//! Start-up dominates these runs (each commits a few times); the steady state at 100 ms
//! commits, keyed concurrency and end-to-end latency are measured by the `keyed` bench.

mod common;

use std::time::{Duration, Instant};

use common::{
    env_list, env_usize, env_words, init_log, input_records, median, runtime, wait_committed,
    BenchResult, CopySpec, Kind, Running,
};
use kafka_eos_processor::core::rdkafka::TopicPartitionList;
use kafka_eos_testkit::{check_exactly_once, read_committed, write_records, Cluster};

const PARTITIONS: i32 = 8;
const KEYS: usize = 1000;
const DEFAULT_RECORDS: usize = 200_000;
const DEFAULT_REPEATS: usize = 3;
const INTERVALS_MS: [u64; 3] = [10, 100, 1000];
const IN_FLIGHT: [u32; 2] = [1, 5];

struct Sample {
    per_s: f64,
    secs: f64,
    commits: u64,
    ok: bool,
    detail: String,
}

struct Row {
    kind: Kind,
    interval_ms: u64,
    in_flight: u32,
    per_s: f64,
    secs: f64,
    commits: f64,
    ok: bool,
    detail: String,
}

/// Copies the whole input with `kind`; returns the time from start-up to every input record
/// committed, and the commits.
fn timed_copy(
    rt: &tokio::runtime::Runtime,
    kind: Kind,
    spec: &CopySpec<'_>,
    end: &TopicPartitionList,
    n: u64,
) -> BenchResult<(Duration, u64)> {
    let started = Instant::now();
    tracing::info!("bench run start");
    let run = Running::copy(rt, kind, spec)?;
    let done = wait_committed(spec.bootstrap, spec.group, end, n, &run);
    let elapsed = started.elapsed();
    let commits = run.commits();
    let stopped = run.stop(rt);
    done.and(stopped)
        .map_err(|e| format!("{}: {e}", kind.name()))?;
    Ok((elapsed, commits))
}

fn main() -> BenchResult {
    init_log();
    let n = env_usize("BENCH_RECORDS").unwrap_or(DEFAULT_RECORDS);
    let repeats = env_usize("BENCH_REPEATS").unwrap_or(DEFAULT_REPEATS).max(1);
    let commit_max_records = env_usize("BENCH_COMMIT_MAX_RECORDS");
    let consumer_overrides: Vec<(String, String)> = std::env::var("BENCH_CONSUMER_OVERRIDES")
        .unwrap_or_default()
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let cluster = Cluster::embedded()?;
    let bootstrap = cluster.bootstrap_servers();
    let input = "bench-input";
    cluster.create_topic(input, PARTITIONS)?;
    let records = input_records(0..n, KEYS);
    write_records(&bootstrap, input, &records)?;
    let end = common::end_offsets(&cluster, input, PARTITIONS)?;
    let rt = runtime()?;

    let cap = commit_max_records.map_or_else(
        || "no record cap".to_owned(),
        |c| format!("max {c} records"),
    );
    println!(
        "pipeline_modes: N = {n} records (BENCH_RECORDS, default {DEFAULT_RECORDS}) x {} B, \
         {KEYS} keys, {PARTITIONS} partitions, one embedded broker; median of {repeats} runs \
         (BENCH_REPEATS); batch = commit interval ({cap}); time = start -> all input consumed \
         and committed offsets at the end",
        common::VALUE_BYTES
    );

    let intervals = env_list("BENCH_INTERVALS").unwrap_or_else(|| INTERVALS_MS.to_vec());
    let in_flights: Vec<u32> = env_list("BENCH_IN_FLIGHT")
        .map(|v| {
            v.into_iter()
                .filter_map(|f| u32::try_from(f).ok())
                .collect()
        })
        .unwrap_or_else(|| IN_FLIGHT.to_vec());
    let kinds = env_words("BENCH_KINDS");
    let configs: Vec<(Kind, u64, u32)> = intervals
        .iter()
        .flat_map(|&i| in_flights.iter().map(move |&f| (i, f)))
        .flat_map(|(i, f)| [Kind::Loop, Kind::Eos, Kind::Alo].map(|k| (k, i, f)))
        .filter(|(k, _, _)| {
            kinds
                .as_ref()
                .is_none_or(|ks| ks.iter().any(|w| w == k.key()))
        })
        .collect();
    let mut samples: Vec<Vec<Sample>> = configs.iter().map(|_| Vec::new()).collect();
    let mut run_id = 0;
    for rep in 0..repeats {
        for (c, &(kind, interval_ms, in_flight)) in configs.iter().enumerate() {
            run_id += 1;
            let output = format!("bench-output-{run_id}");
            let group = format!("bench-group-{run_id}");
            cluster.create_topic(&output, PARTITIONS)?;
            let spec = CopySpec {
                bootstrap: &bootstrap,
                input,
                output: &output,
                group: &group,
                interval: Duration::from_millis(interval_ms),
                producer_in_flight: in_flight,
                commit_max_records: commit_max_records.unwrap_or(usize::MAX),
                consumer_overrides: consumer_overrides.clone(),
                metrics_addr: None,
            };
            let (elapsed, commits) = timed_copy(&rt, kind, &spec, &end, n as u64)?;
            let read = read_committed(&bootstrap, &output, n, Duration::from_millis(300))
                .unwrap_or_default();
            let report = check_exactly_once(&records, &read);
            let sample = Sample {
                per_s: n as f64 / elapsed.as_secs_f64(),
                secs: elapsed.as_secs_f64(),
                commits,
                ok: report.is_exactly_once() && read.len() == n,
                detail: report.to_string(),
            };
            eprintln!(
                "run {}/{repeats}: {:<24} {:>5} ms  in-flight {}  {:>9.0} rec/s  {:>6.2} s  \
                 {:>4} commits  {}",
                rep + 1,
                kind.name(),
                interval_ms,
                in_flight,
                sample.per_s,
                sample.secs,
                sample.commits,
                sample.detail
            );
            samples[c].push(sample);
        }
    }

    let rows: Vec<Row> = configs
        .iter()
        .zip(&samples)
        .map(|(&(kind, interval_ms, in_flight), s)| Row {
            kind,
            interval_ms,
            in_flight,
            per_s: median(s.iter().map(|s| s.per_s).collect()),
            secs: median(s.iter().map(|s| s.secs).collect()),
            commits: median(s.iter().map(|s| s.commits as f64).collect()),
            ok: s.iter().all(|s| s.ok),
            detail: s
                .iter()
                .filter(|s| !s.ok)
                .map(|s| s.detail.clone())
                .collect::<Vec<_>>()
                .join("; "),
        })
        .collect();

    println!();
    println!(
        "| {:<24} | {:>18} | {:>13} | {:>10} | {:>8} | {:>7} | {:>13} | {:>8} |",
        "mode",
        "commit interval ms",
        "max.in.flight",
        "records/s",
        "time s",
        "commits",
        "ratio vs loop",
        "output"
    );
    println!(
        "|{:-<26}|{:->20}|{:->15}|{:->12}|{:->10}|{:->9}|{:->15}|{:->10}|",
        "", "", "", "", "", "", "", ""
    );
    for kind in [Kind::Eos, Kind::Alo, Kind::Loop] {
        for r in rows.iter().filter(|r| r.kind == kind) {
            let base = rows
                .iter()
                .find(|b| {
                    b.kind == Kind::Loop
                        && b.interval_ms == r.interval_ms
                        && b.in_flight == r.in_flight
                })
                .map_or(f64::NAN, |b| b.per_s);
            println!(
                "| {:<24} | {:>18} | {:>13} | {:>10.0} | {:>8.2} | {:>7.0} | {:>13.2} | {:>8} |",
                r.kind.name(),
                r.interval_ms,
                r.in_flight,
                r.per_s,
                r.secs,
                r.commits,
                r.per_s / base,
                if r.ok { "ok" } else { "MISMATCH" }
            );
        }
    }
    for r in rows.iter().filter(|r| !r.ok) {
        println!(
            "MISMATCH {} {} ms in-flight {}: {}",
            r.kind.name(),
            r.interval_ms,
            r.in_flight,
            r.detail
        );
    }
    Ok(())
}
