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
//! and `init_transactions` included) until every input record was consumed and the group's
//! committed offsets (read by a `read_uncommitted` client, so pending transactional
//! offsets do not count) reach the input's end offsets. The output is then read with
//! `read_committed` and checked: exactly N records, each input record once, per-key order.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_arguments
)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_eos_processor::config::{Mode, PipelineConfig};
use kafka_eos_processor::core::rdkafka::consumer::{BaseConsumer, Consumer};
use kafka_eos_processor::core::rdkafka::error::KafkaError;
use kafka_eos_processor::core::rdkafka::message::Message;
use kafka_eos_processor::core::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use kafka_eos_processor::core::rdkafka::types::RDKafkaErrorCode;
use kafka_eos_processor::core::rdkafka::{ClientConfig, Offset, TopicPartitionList};
use kafka_eos_processor::{
    BoxError, CancellationToken, Input, Output, PipelineBuilder, Processor, RawBytes,
};
use kafka_eos_testkit::{check_exactly_once, read_committed, write_records, Cluster, Record};

const PARTITIONS: i32 = 8;
const KEYS: usize = 1000;
const VALUE_BYTES: usize = 100;
const DEFAULT_RECORDS: usize = 200_000;
const DEFAULT_REPEATS: usize = 3;
const INTERVALS_MS: [u64; 3] = [10, 100, 1000];
const IN_FLIGHT: [u32; 2] = [1, 5];
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
const KAFKA_TIMEOUT: Duration = Duration::from_secs(30);

/// Copies each input record to `topic`, same key and value (a tombstone stays one).
struct CopyProcessor {
    topic: String,
}

impl Processor for CopyProcessor {
    type Input = Option<Vec<u8>>;

    async fn process(&self, input: Input<Option<Vec<u8>>>) -> Result<Vec<Output>, BoxError> {
        Ok(vec![Output {
            topic: self.topic.clone(),
            key: input.key.map(Vec::from),
            value: input.value,
            ..Output::default()
        }])
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Eos,
    Alo,
    Loop,
}

impl Kind {
    /// The name `BENCH_KINDS` uses.
    fn key(self) -> String {
        match self {
            Kind::Eos => "eos",
            Kind::Alo => "alo",
            Kind::Loop => "loop",
        }
        .to_owned()
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Eos => "pipeline exactly-once",
            Kind::Alo => "pipeline at-least-once",
            Kind::Loop => "hand-written txn loop",
        }
    }
}

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

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// The input: `n` records over `KEYS` keys, each value unique (index) and 100 bytes.
fn input_records(n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let key = format!("key-{:04}", i % KEYS);
            let mut value = format!("value-{i:010}-").into_bytes();
            value.resize(VALUE_BYTES, b'x');
            Record::new(key, value)
        })
        .collect()
}

/// Waits until `records_in() >= n` and the group's committed offsets equal `end`.
fn wait_done(
    bootstrap: &str,
    group: &str,
    end: &TopicPartitionList,
    n: u64,
    records_in: &dyn Fn() -> u64,
    failed: &dyn Fn() -> bool,
) -> bool {
    let checker: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("isolation.level", "read_uncommitted")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let deadline = Instant::now() + RUN_TIMEOUT;
    while Instant::now() < deadline {
        if failed() {
            return false;
        }
        if records_in() >= n {
            match checker.committed_offsets(end.clone(), KAFKA_TIMEOUT) {
                Ok(committed) => {
                    let all = end.elements().iter().all(|e| {
                        committed
                            .find_partition(e.topic(), e.partition())
                            .is_some_and(|c| c.offset() == e.offset())
                    });
                    if all {
                        return true;
                    }
                }
                Err(e) => eprintln!("committed offsets: {e}"),
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

fn pipeline_run(
    rt: &tokio::runtime::Runtime,
    bootstrap: &str,
    input: &str,
    output: &str,
    group: &str,
    kind: Kind,
    interval_ms: u64,
    in_flight: u32,
    end: &TopicPartitionList,
    n: u64,
) -> (Duration, u64) {
    let mode = if kind == Kind::Eos {
        Mode::ExactlyOnce
    } else {
        Mode::AtLeastOnce
    };
    let token = CancellationToken::new();
    let mut builder = PipelineBuilder::new()
        .bootstrap_servers(bootstrap)
        .group_id(group)
        .input_topic(input)
        .app_name("bench")
        .mode(mode)
        .commit_every(Duration::from_millis(interval_ms))
        .commit_every_records(env_usize("BENCH_COMMIT_MAX_RECORDS").unwrap_or(usize::MAX))
        .shutdown(token.clone());
    if let Ok(extra) = std::env::var("BENCH_CONSUMER_OVERRIDES") {
        for kv in extra.split(',').filter(|kv| !kv.is_empty()) {
            if let Some((k, v)) = kv.split_once('=') {
                builder = builder.consumer_override(k.trim(), v.trim());
            }
        }
    }
    if in_flight != 1 {
        builder = builder.producer_override(
            "max.in.flight.requests.per.connection",
            in_flight.to_string(),
        );
    }
    let pipeline = builder
        .build(
            CopyProcessor {
                topic: output.to_owned(),
            },
            RawBytes,
        )
        .unwrap();
    let metrics = pipeline.metrics();
    let started = Instant::now();
    tracing::info!("bench run start");
    let handle = rt.spawn(pipeline.run());
    let done = wait_done(
        bootstrap,
        group,
        end,
        n,
        &|| metrics.snapshot().records_in,
        &|| handle.is_finished(),
    );
    let elapsed = started.elapsed();
    token.cancel();
    let result = rt.block_on(handle).unwrap();
    if let Err(e) = result {
        panic!("{} failed: {e}", kind.name());
    }
    let m = metrics.snapshot();
    assert!(done, "{} did not finish: {m:?}", kind.name());
    assert!(m.records_out >= n, "{m:?}");
    (elapsed, m.commits)
}

/// The straightforward loop: poll for one interval, then one transaction for the batch:
/// begin, send each record, wait for the deliveries,
/// `send_offsets_to_transaction(position, group metadata)`, commit. Same client settings
/// as the pipeline (rendered by the same config crate).
fn hand_written_loop(
    consumer_cfg: &ClientConfig,
    producer_cfg: &ClientConfig,
    input: &str,
    output: &str,
    interval: Duration,
    records_in: &AtomicU64,
    commits: &AtomicU64,
    stop: &AtomicBool,
) -> Result<(), KafkaError> {
    let consumer: BaseConsumer = consumer_cfg.create()?;
    consumer.subscribe(&[input])?;
    let producer: BaseProducer = producer_cfg.create()?;
    producer.init_transactions(KAFKA_TIMEOUT)?;
    let mut batch = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let deadline = Instant::now() + interval;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match consumer.poll(left) {
                Some(Ok(m)) => {
                    records_in.fetch_add(1, Ordering::Relaxed);
                    batch.push(m);
                }
                Some(Err(e)) => eprintln!("consumer error: {e}"),
                None => {}
            }
        }
        if batch.is_empty() {
            continue;
        }
        producer.begin_transaction()?;
        for m in batch.drain(..) {
            let mut record = BaseRecord::<[u8], [u8]>::to(output);
            if let Some(k) = m.key() {
                record = record.key(k);
            }
            if let Some(v) = m.payload() {
                record = record.payload(v);
            }
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        producer.poll(Duration::from_millis(1));
                        record = back;
                    }
                    Err((e, _)) => return Err(e),
                }
            }
            producer.poll(Duration::ZERO);
        }
        // Wait for the delivery reports before committing, as the pipeline does. Left to
        // `commit_transaction`, rdkafka 0.39's `BaseProducer::flush` polls in 100 ms slices
        // (`poll` runs to its deadline), which puts a 100 ms floor under every commit.
        while producer.in_flight_count() > 0 {
            producer.poll(Duration::from_millis(1));
        }
        let position = consumer.position()?;
        let group = consumer
            .group_metadata()
            .ok_or(KafkaError::MessageConsumptionFatal(
                RDKafkaErrorCode::InvalidGroupId,
            ))?;
        producer.send_offsets_to_transaction(&position, &group, KAFKA_TIMEOUT)?;
        producer.commit_transaction(KAFKA_TIMEOUT)?;
        commits.fetch_add(1, Ordering::Relaxed);
    }
    consumer.unsubscribe();
    Ok(())
}

fn loop_run(
    rt: &tokio::runtime::Runtime,
    bootstrap: &str,
    input: &str,
    output: &str,
    group: &str,
    interval_ms: u64,
    in_flight: u32,
    end: &TopicPartitionList,
    n: u64,
) -> (Duration, u64) {
    let interval = Duration::from_millis(interval_ms);
    let cfg = PipelineConfig::builder()
        .bootstrap_servers(bootstrap)
        .group_id(group)
        .input_topic(input)
        .transactional_id(format!("bench-{group}-0"))
        .commit_interval(interval)
        .max_in_flight(in_flight)
        .build()
        .unwrap();
    let consumer_cfg = cfg.consumer_config().unwrap();
    let producer_cfg = cfg.producer_config().unwrap();
    let records_in = Arc::new(AtomicU64::new(0));
    let commits = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let handle = {
        let (input, output) = (input.to_owned(), output.to_owned());
        let (records_in, commits, stop) = (
            Arc::clone(&records_in),
            Arc::clone(&commits),
            Arc::clone(&stop),
        );
        rt.spawn_blocking(move || {
            hand_written_loop(
                &consumer_cfg,
                &producer_cfg,
                &input,
                &output,
                interval,
                &records_in,
                &commits,
                &stop,
            )
        })
    };
    let done = wait_done(
        bootstrap,
        group,
        end,
        n,
        &|| records_in.load(Ordering::Relaxed),
        &|| handle.is_finished(),
    );
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    if let Err(e) = rt.block_on(handle).unwrap() {
        panic!("hand-written loop failed: {e}");
    }
    assert!(done, "hand-written loop did not finish");
    (elapsed, commits.load(Ordering::Relaxed))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        l if l % 2 == 1 => v[l / 2],
        l => (v[l / 2 - 1] + v[l / 2]) / 2.0,
    }
}

/// A comma-separated list of numbers from the environment (a subset of the table).
fn env_list(name: &str) -> Option<Vec<u64>> {
    let v = std::env::var(name).ok()?;
    let list: Vec<u64> = v.split(',').filter_map(|x| x.trim().parse().ok()).collect();
    (!list.is_empty()).then_some(list)
}

fn main() {
    if let Ok(filter) = std::env::var("BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let n = env_usize("BENCH_RECORDS").unwrap_or(DEFAULT_RECORDS);
    let repeats = env_usize("BENCH_REPEATS").unwrap_or(DEFAULT_REPEATS).max(1);
    let cluster = Cluster::embedded().unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let broker = cluster.embedded_broker().unwrap();
    let input = "bench-input";
    cluster.create_topic(input, PARTITIONS).unwrap();
    let records = input_records(n);
    write_records(&bootstrap, input, &records).unwrap();
    let mut end = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        let (hw, _) = broker.offsets(input, p).unwrap();
        end.add_partition_offset(input, p, Offset::Offset(hw))
            .unwrap();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let cap = env_usize("BENCH_COMMIT_MAX_RECORDS").map_or_else(
        || "no record cap".to_owned(),
        |c| format!("max {c} records"),
    );
    println!(
        "pipeline_modes: N = {n} records (BENCH_RECORDS, default {DEFAULT_RECORDS}) x {VALUE_BYTES} B, \
         {KEYS} keys, {PARTITIONS} partitions, one embedded broker; median of {repeats} runs \
         (BENCH_REPEATS); batch = commit interval ({cap}); time = start -> all input consumed \
         and committed offsets at the end"
    );

    let intervals = env_list("BENCH_INTERVALS").unwrap_or_else(|| INTERVALS_MS.to_vec());
    let in_flights: Vec<u32> = env_list("BENCH_IN_FLIGHT")
        .map(|v| v.into_iter().map(|f| f as u32).collect())
        .unwrap_or_else(|| IN_FLIGHT.to_vec());
    let kinds: Option<Vec<String>> = std::env::var("BENCH_KINDS").ok().map(|v| {
        v.split(',')
            .map(|k| k.trim().to_ascii_lowercase())
            .collect()
    });
    let configs: Vec<(Kind, u64, u32)> = intervals
        .iter()
        .flat_map(|&i| in_flights.iter().map(move |&f| (i, f)))
        .flat_map(|(i, f)| [Kind::Loop, Kind::Eos, Kind::Alo].map(|k| (k, i, f)))
        .filter(|(k, _, _)| kinds.as_ref().is_none_or(|ks| ks.contains(&k.key())))
        .collect();
    let mut samples: Vec<Vec<Sample>> = configs.iter().map(|_| Vec::new()).collect();
    let mut run_id = 0;
    for rep in 0..repeats {
        for (c, &(kind, interval_ms, in_flight)) in configs.iter().enumerate() {
            run_id += 1;
            let output = format!("bench-output-{run_id}");
            let group = format!("bench-group-{run_id}");
            cluster.create_topic(&output, PARTITIONS).unwrap();
            let (elapsed, commits) = match kind {
                Kind::Loop => loop_run(
                    &rt,
                    &bootstrap,
                    input,
                    &output,
                    &group,
                    interval_ms,
                    in_flight,
                    &end,
                    n as u64,
                ),
                Kind::Eos | Kind::Alo => pipeline_run(
                    &rt,
                    &bootstrap,
                    input,
                    &output,
                    &group,
                    kind,
                    interval_ms,
                    in_flight,
                    &end,
                    n as u64,
                ),
            };
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
}
