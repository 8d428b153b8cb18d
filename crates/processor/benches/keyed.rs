//! Keyed concurrency, the steady state at 100 ms commits, and end-to-end latency, in one
//! run on one embedded broker (so ratios compare within the run).
//!
//! `cargo bench -p kafka-eos-processor --bench keyed`
//!
//! 1. Keyed speedup: exactly-once, a processor whose work is `tokio::time::sleep(2 ms)`,
//!    8 partitions, 10,000 keys, `max_in_flight(64)` vs `max_in_flight(1)`. Time = first
//!    `process` call -> every input record committed (`records_in`), so group join and
//!    `init_transactions` are left out. `BENCH_KEYED_RECORDS` (default 20000) and
//!    `BENCH_SEQ_RECORDS` (default 2000, for `max_in_flight(1)`).
//! 2. Parallel Consumer's published workload: 10,000 records (`BENCH_PC_RECORDS`), one
//!    partition, a key each, work uniform in 0-5 ms (`tokio::time::sleep`, seeded by the
//!    offset), 100 in flight, exactly-once; timed as in 1, once per batch size in
//!    `BENCH_PC_BATCHES` (`commit_every_records`, default `1000,10000`; 1000 is the default).
//! 3. Steady state at 100 ms commits: a zero-cost copy by the pipeline (exactly-once,
//!    at-least-once; the copy asks for no headers, `input_headers(false)`, so the pipeline
//!    copies key and value as the loop does; and exactly-once with headers read, the
//!    default) and by the hand-written transactional loop (`common`). A batch is what
//!    arrives in 100 ms, up to `BENCH_STEADY_MAX_BATCH` records (default 500,000, the same
//!    for every kind; see `STEADY_MAX_BATCH`), from a pre-written backlog
//!    (`BENCH_STEADY_RECORDS`, default 32,000,000 x 100 B over 8 partitions, written in
//!    about a minute and held by the embedded broker: ~5 GB peak RSS; the loop copies up to
//!    ~1.1M records/s). The output is trimmed as it is written (DeleteRecords every second up
//!    to the previous second's end, `common::trim`), so it costs no memory and the backlog
//!    is the input alone. After the first commit and
//!    `BENCH_STEADY_WARMUP_S` (default 2) the window opens at a commit and closes at the
//!    first commit after `BENCH_STEADY_WINDOW_S` (default 10) and at least 50 commits (with
//!    a backlog a cycle is the 100 ms poll plus copying what it brought, so 50 commits take
//!    10-25 s); records/s = records committed in the window / its length. Median of
//!    `BENCH_STEADY_REPEATS` (default 3) interleaved runs, every other repeat in reverse
//!    order (windows speed up over a run); the summary also gives exactly-once vs loop per
//!    repeat. `BENCH_STEADY_KINDS`: a subset of `loop,eos,eos-headers,alo`.
//! 4. End-to-end latency: a producer writes `BENCH_LATENCY_RATE` records/s (default 2000) for
//!    `BENCH_LATENCY_S` seconds (default 10), record timestamp and value = send time,
//!    `linger.ms=0`; the pipeline (exactly-once, 100 ms commits, copy) writes them out; a
//!    `read_committed` reader computes (time read - send time). Starts once the pipeline has
//!    committed, and the reader read, 100 warm-up records sent by the same producer.
//!
//! 5. Metrics overhead: the steady state of 3 (exactly-once, zero-cost copy) with the
//!    Prometheus endpoint on (`metrics_addr`, scraped every second by a thread, as Prometheus
//!    would) vs off, interleaved, median of `BENCH_METRICS_REPEATS` (default 3) windows each,
//!    each timed as in 3, from the same backlog. The metrics are always counted and
//!    published to the facade; "off" has no recorder behind it. Alone:
//!    `BENCH_PARTS=metrics cargo bench -p kafka-eos-processor --bench keyed` (~4 minutes).
//!
//! 6. Parking: the workload of 1 (`BENCH_PARKING_RECORDS`, default 60000) with retries
//!    parked, once without failures and once with 1% of the keys failing each record's first
//!    attempt (parked, retried after the default backoff); the healthy keys' records/s
//!    compared, timed until every input record is done or parked. Alone:
//!    `BENCH_PARTS=parking cargo bench -p kafka-eos-processor --bench keyed`.
//!
//! `BENCH_PARTS`: a subset of `keyed,pc,steady,latency,metrics,parking` (default all). `BENCH_LOG`: a
//! tracing filter for stderr. Ends with one line per target.

mod common;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::trim::Trimmer;
use common::{
    env_f64, env_list, env_usize, env_words, init_log, input_records, median, runtime, BenchResult,
    CopySpec, Kind, Running, RUN_TIMEOUT,
};
use kafka_eos_processor::config::Mode;
use kafka_eos_processor::core::rdkafka::message::Message;
use kafka_eos_processor::core::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use kafka_eos_processor::core::rdkafka::ClientConfig;
use kafka_eos_processor::{BoxError, Input, Output, Processor, RawBytes};
use kafka_eos_testkit::{
    check_exactly_once, committed_reader, read_committed, write_records, Cluster, Record,
};
use tokio::runtime::Runtime;

const PARTITIONS: i32 = 8;
const KEYS: usize = 10_000;
/// The pipeline's default `commit_every_records`.
const DEFAULT_BATCH: usize = 1000;
const COMMIT_EVERY: Duration = Duration::from_millis(100);
const KEYED_WORK: Duration = Duration::from_millis(2);
const KEYED_IN_FLIGHT: usize = 64;
const PC_WORK_MAX: Duration = Duration::from_millis(5);
const PC_IN_FLIGHT: usize = 100;
const STEADY_KEYS: usize = 1000;
const STEADY_MIN_COMMITS: u64 = 50;
/// The steady windows' record cap per transaction, for every kind: above the loop's batch
/// in 100 ms here (~420,000), below what the pipeline's prefetch can drain from
/// librdkafka's local queue in 100 ms (up to ~1,600,000: 1.5 s transactions, and too few
/// commits in a window).
const STEADY_MAX_BATCH: usize = 500_000;
/// Records written per `write_records` call while pre-writing the backlog.
const WRITE_CHUNK: usize = 500_000;
const LATENCY_WARMUP: usize = 100;

/// What the processor saw: its first call, its calls, the time spent in the simulated work.
#[derive(Default)]
struct WorkStats {
    first: OnceLock<Instant>,
    calls: AtomicU64,
    busy_us: AtomicU64,
}

impl WorkStats {
    fn mean_ms(&self) -> f64 {
        let calls = self.calls.load(Ordering::Relaxed).max(1);
        self.busy_us.load(Ordering::Relaxed) as f64 / calls as f64 / 1e3
    }

    fn busy_s(&self) -> f64 {
        self.busy_us.load(Ordering::Relaxed) as f64 / 1e6
    }
}

#[derive(Clone, Copy)]
enum Work {
    Fixed(Duration),
    /// Uniform in `0..=max`, drawn from the record's offset.
    Uniform(Duration),
}

impl Work {
    fn of(self, offset: i64) -> Duration {
        match self {
            Work::Fixed(d) => d,
            Work::Uniform(max) => {
                let max_us = u64::try_from(max.as_micros()).unwrap_or(u64::MAX);
                Duration::from_micros(splitmix64(offset as u64) % (max_us + 1))
            }
        }
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A processor that waits (a call to another service), then copies the record; the
/// records of the keys `failing` picks fail their first attempt.
struct SleepProcessor {
    topic: Arc<str>,
    work: Work,
    stats: Arc<WorkStats>,
    failing: Option<fn(&[u8]) -> bool>,
    failed: std::sync::Mutex<std::collections::HashSet<(i32, i64)>>,
}

impl Processor for SleepProcessor {
    type Input = Option<Vec<u8>>;

    async fn process(&self, input: Input<Option<Vec<u8>>>) -> Result<Vec<Output>, BoxError> {
        let started = Instant::now();
        self.stats.first.get_or_init(|| started);
        tokio::time::sleep(self.work.of(input.offset)).await;
        let busy = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.stats.busy_us.fetch_add(busy, Ordering::Relaxed);
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        let fails = self
            .failing
            .is_some_and(|f| input.key.as_deref().is_some_and(f));
        if fails
            && self
                .failed
                .lock()
                .map_err(|_| "poisoned")?
                .insert((input.partition, input.offset))
        {
            return Err("a failing key's first attempt (bench)".into());
        }
        Ok(vec![Output {
            topic: Arc::clone(&self.topic),
            key: input.key.map(Vec::from),
            value: input.value,
            ..Output::default()
        }])
    }
}

/// One row of the table.
struct Row {
    bench: &'static str,
    config: String,
    records: u64,
    secs: f64,
    per_s: f64,
    commits: f64,
    detail: String,
}

/// The embedded broker's topics, named after the run.
struct Topics<'a> {
    cluster: &'a Cluster,
    bootstrap: String,
}

impl Topics<'_> {
    /// A fresh topic with `records` in it.
    fn input(&self, prefix: &str, partitions: i32, records: &[Record]) -> BenchResult<String> {
        let topic = self.cluster.unique_topic(prefix);
        self.cluster.create_topic(&topic, partitions)?;
        write_records(&self.bootstrap, &topic, records)?;
        Ok(topic)
    }

    /// A fresh empty topic.
    fn empty(&self, prefix: &str) -> BenchResult<String> {
        let topic = self.cluster.unique_topic(prefix);
        self.cluster.create_topic(&topic, PARTITIONS)?;
        Ok(topic)
    }

    /// Drops a topic's records (outputs of the long runs are not kept in memory).
    fn delete(&self, topic: &str) -> BenchResult<()> {
        if let Some(broker) = self.cluster.embedded_broker() {
            broker.delete_topic(topic)?;
        }
        Ok(())
    }

    fn spec<'s>(&'s self, input: &'s str, output: &'s str, group: &'s str) -> CopySpec<'s> {
        CopySpec {
            bootstrap: &self.bootstrap,
            input,
            output,
            group,
            interval: COMMIT_EVERY,
            producer_in_flight: 1,
            commit_max_records: DEFAULT_BATCH,
            consumer_overrides: Vec::new(),
            metrics_addr: None,
        }
    }
}

/// One timed run of a [`SleepProcessor`] pipeline.
struct SleepRun<'a> {
    bench: &'static str,
    config: String,
    input: &'a str,
    /// What `input` holds.
    records: &'a [Record],
    in_flight: usize,
    /// `commit_every_records`.
    batch: usize,
    work: Work,
    /// Retries park in a parking topic; the keys this picks fail their first attempts.
    parking: Option<fn(&[u8]) -> bool>,
}

impl SleepRun<'_> {
    /// Runs the records through the pipeline; the time runs from the first `process` call
    /// to every input record committed. Checks the output.
    fn run(self, rt: &Runtime, topics: &Topics<'_>) -> BenchResult<Row> {
        let output = topics.empty("keyed-out")?;
        let group = topics.cluster.unique_topic("keyed-group");
        let mut spec = topics.spec(self.input, &output, &group);
        spec.commit_max_records = self.batch;
        let stats = Arc::new(WorkStats::default());
        let processor = SleepProcessor {
            topic: output.as_str().into(),
            work: self.work,
            stats: Arc::clone(&stats),
            failing: self.parking,
            failed: Default::default(),
        };
        let mut builder = spec
            .builder(Mode::ExactlyOnce)
            .max_in_flight(self.in_flight);
        let parked_topic = match self.parking {
            Some(_) => {
                let t = topics.empty("keyed-parked")?;
                builder = builder.parking_topic(&t, kafka_eos_processor::KeyPolicy::Release);
                Some(t)
            }
            None => None,
        };
        let pipeline = builder.build(processor, RawBytes)?;
        let run = Running::pipeline(rt, pipeline);
        let n = self.records.len();
        let done = run.wait_for("all input committed", RUN_TIMEOUT, |r| {
            r.records_in() >= n as u64
        });
        // parked records finish after the input: the run goes on until none is left
        let drained = match (&done, self.parking) {
            (Ok(_), Some(_)) => run
                .wait_for("every parked key released", RUN_TIMEOUT, |r| {
                    r.metrics().is_some_and(|m| m.snapshot().parked_keys == 0)
                })
                .map(drop),
            _ => Ok(()),
        };
        let m = run.metrics().map(|m| m.snapshot()).unwrap_or_default();
        run.stop(rt)?;
        let done = done?;
        drained?;
        let first = *stats.first.get().ok_or("no record was processed")?;
        let secs = done.duration_since(first).as_secs_f64();
        let read = read_committed(&topics.bootstrap, &output, n, Duration::ZERO)?;
        let report = check_exactly_once(self.records, &read);
        topics.delete(&output)?;
        if let Some(t) = parked_topic {
            topics.delete(&t)?;
        }
        let check = if report.is_exactly_once() && read.len() == n {
            "output ok".to_owned()
        } else {
            format!("OUTPUT MISMATCH: {report}")
        };
        eprintln!(
            "{}: {:.3} s, {:.0} records/s",
            self.config,
            secs,
            n as f64 / secs
        );
        Ok(Row {
            bench: self.bench,
            config: self.config,
            records: n as u64,
            secs,
            per_s: n as f64 / secs,
            commits: m.commits as f64,
            detail: format!(
                "peak in flight {}, {} parked, work {:.2} ms/record (measured): floor {:.3} s, \
                 commit p50 {} ms, {check}",
                m.in_flight_peak,
                m.records_parked,
                stats.mean_ms(),
                stats.busy_s() / self.in_flight as f64,
                ms(m.commit_latency_p50)
            ),
        })
    }
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".into(), |d| format!("{:.1}", d.as_secs_f64() * 1e3))
}

/// Part 1: `max_in_flight(1)` and `max_in_flight(64)` with 2 ms of work per record.
fn keyed_speedup(rt: &Runtime, topics: &Topics<'_>, rows: &mut Vec<Row>) -> BenchResult<f64> {
    let mut rates = Vec::new();
    for (in_flight, var, default) in [
        (1, "BENCH_SEQ_RECORDS", 2_000),
        (KEYED_IN_FLIGHT, "BENCH_KEYED_RECORDS", 20_000),
    ] {
        let n = env_usize(var).unwrap_or(default);
        let records = input_records(0..n, KEYS);
        let input = topics.input("keyed-in", PARTITIONS, &records)?;
        let row = SleepRun {
            bench: "1 keyed speedup",
            config: format!(
                "max_in_flight({in_flight}), 2 ms sleep, {PARTITIONS} partitions, {KEYS} keys"
            ),
            input: &input,
            records: &records,
            in_flight,
            batch: DEFAULT_BATCH,
            work: Work::Fixed(KEYED_WORK),
            parking: None,
        }
        .run(rt, topics)?;
        topics.delete(&input)?;
        rates.push(row.per_s);
        rows.push(row);
    }
    Ok(rates[1] / rates[0])
}

/// One key in 100 (`key-NNNNN` with NNNNN % 100 == 37).
fn one_key_in_100(key: &[u8]) -> bool {
    std::str::from_utf8(key)
        .ok()
        .and_then(|k| k.strip_prefix("key-"))
        .and_then(|n| n.parse::<u64>().ok())
        .is_some_and(|n| n % 100 == 37)
}

fn no_key(_: &[u8]) -> bool {
    false
}

/// Part 6: the workload of part 1 with retries parking, without failures and with 1% of the
/// keys failing their records' first attempts; returns the healthy keys' throughput ratio.
fn parking_healthy(rt: &Runtime, topics: &Topics<'_>, rows: &mut Vec<Row>) -> BenchResult<f64> {
    let n = env_usize("BENCH_PARKING_RECORDS").unwrap_or(60_000);
    let records = input_records(0..n, KEYS);
    let healthy = records.iter().filter(|r| !one_key_in_100(&r.key)).count();
    let mut healthy_rates = Vec::new();
    for (failing, label) in [
        (no_key as fn(&[u8]) -> bool, "no failures"),
        (
            one_key_in_100 as fn(&[u8]) -> bool,
            "1% of keys fail first attempts",
        ),
    ] {
        let input = topics.input("parking-in", PARTITIONS, &records)?;
        let mut row = SleepRun {
            bench: "6 parking",
            config: format!("as 1, max_in_flight({KEYED_IN_FLIGHT}), retries parked, {label}"),
            input: &input,
            records: &records,
            in_flight: KEYED_IN_FLIGHT,
            batch: DEFAULT_BATCH,
            work: Work::Fixed(KEYED_WORK),
            parking: Some(failing),
        }
        .run(rt, topics)?;
        topics.delete(&input)?;
        // the run is timed until every input record is done or parked: every healthy
        // record has committed by then (a parked key's records finish later)
        let counted = if failing(b"key-00037") { healthy } else { n };
        let rate = counted as f64 / row.secs;
        row.detail = format!("healthy records/s {rate:.0}; {}", row.detail);
        healthy_rates.push(rate);
        rows.push(row);
    }
    Ok(healthy_rates[1] / healthy_rates[0])
}

/// Part 2: Parallel Consumer's workload, once per batch size; returns (batch, seconds).
fn pc_workload(
    rt: &Runtime,
    topics: &Topics<'_>,
    rows: &mut Vec<Row>,
) -> BenchResult<Vec<(usize, f64)>> {
    let n = env_usize("BENCH_PC_RECORDS").unwrap_or(10_000);
    let batches = env_list("BENCH_PC_BATCHES").unwrap_or_else(|| vec![1000, 10_000]);
    let records = input_records(0..n, n);
    let input = topics.input("pc-in", 1, &records)?;
    let mut times = Vec::new();
    for batch in batches {
        let batch = usize::try_from(batch)?;
        let row = SleepRun {
            bench: "2 PC workload",
            config: format!(
                "1 partition, {n} keys, 0-5 ms sleep, {PC_IN_FLIGHT} in flight, batch {batch}"
            ),
            input: &input,
            records: &records,
            in_flight: PC_IN_FLIGHT,
            batch,
            work: Work::Uniform(PC_WORK_MAX),
            parking: None,
        }
        .run(rt, topics)?;
        times.push((batch, row.secs));
        rows.push(row);
    }
    topics.delete(&input)?;
    Ok(times)
}

/// Records committed over a window of a running copy, from one commit to another.
struct Window {
    records: u64,
    secs: f64,
    commits: u64,
    /// The input ran out before `window` and `STEADY_MIN_COMMITS` commits.
    short: bool,
    /// CPU seconds the whole process (pipeline, librdkafka, broker) used over the window
    /// (`None` where `/proc/self/stat` cannot be read).
    cpu_secs: Option<f64>,
}

/// CPU seconds (user + system) this process used so far, from `/proc/self/stat` (Linux).
fn process_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // fields after the command name (which may hold spaces): utime and stime are the 12th
    // and 13th, in clock ticks (100 per second on Linux)
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// After the first commit and `warmup`: from a commit to the first commit after `window`
/// and `STEADY_MIN_COMMITS` commits (or the last commit before the input ran out).
fn steady_window(
    run: &Running,
    warmup: Duration,
    window: Duration,
    input_len: u64,
) -> BenchResult<Window> {
    run.wait_for("committed once", RUN_TIMEOUT, |r| r.commits() >= 1)?;
    std::thread::sleep(warmup);
    // (when, records in, commits) at the next commit
    let next_commit = || -> BenchResult<(Instant, u64, u64)> {
        let before = run.records_in();
        if before >= input_len {
            return Err("the input ran out during the warm-up: raise BENCH_STEADY_RECORDS".into());
        }
        let at = run.wait_for("a further commit", Duration::from_secs(30), |r| {
            r.records_in() > before
        })?;
        Ok((at, run.records_in(), run.commits()))
    };
    let (start, r0, c0) = next_commit()?;
    let cpu0 = process_cpu_secs();
    let (mut end, mut r1, mut c1) = (start, r0, c0);
    let mut cpu1 = cpu0;
    loop {
        let next = next_commit()?;
        if next.1 >= input_len {
            // the last batch holds what was left: the window ends at the commit before it
            break;
        }
        (end, r1, c1) = next;
        cpu1 = process_cpu_secs();
        if end - start >= window && c1 - c0 >= STEADY_MIN_COMMITS {
            break;
        }
    }
    Ok(Window {
        records: r1 - r0,
        secs: (end - start).as_secs_f64(),
        commits: c1 - c0,
        short: end - start < window || c1 - c0 < STEADY_MIN_COMMITS,
        cpu_secs: cpu0.zip(cpu1).map(|(a, b)| b - a),
    })
}

/// The process's CPU time per record over a window (all threads: the pipeline's,
/// librdkafka's and the broker's), and the cores it kept busy.
fn cpu_per_record(w: &Window) -> String {
    match w.cpu_secs {
        Some(cpu) => format!(
            "{:.2} CPU us/record, {:.2} cores busy",
            cpu * 1e6 / w.records.max(1) as f64,
            cpu / w.secs
        ),
        None => "CPU time not read".to_owned(),
    }
}

/// The pre-written input of the steady windows (parts 3 and 5 share it), and how a window
/// is timed.
struct Backlog {
    topic: String,
    records: usize,
    /// Every kind's record cap per transaction.
    max_batch: usize,
    warmup: Duration,
    window: Duration,
}

impl Backlog {
    /// Pre-writes `BENCH_STEADY_RECORDS` records in chunks (a `Vec<Record>` of all of them
    /// would take gigabytes).
    fn write(topics: &Topics<'_>) -> BenchResult<Self> {
        let n = env_usize("BENCH_STEADY_RECORDS").unwrap_or(32_000_000);
        let topic = topics.cluster.unique_topic("steady-in");
        topics.cluster.create_topic(&topic, PARTITIONS)?;
        let started = Instant::now();
        for from in (0..n).step_by(WRITE_CHUNK) {
            let chunk = input_records(from..(from + WRITE_CHUNK).min(n), STEADY_KEYS);
            write_records(&topics.bootstrap, &topic, &chunk)?;
        }
        eprintln!(
            "steady: wrote {n} records in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(Backlog {
            topic,
            records: n,
            max_batch: env_usize("BENCH_STEADY_MAX_BATCH").unwrap_or(STEADY_MAX_BATCH),
            warmup: Duration::from_secs_f64(env_f64("BENCH_STEADY_WARMUP_S").unwrap_or(2.0)),
            window: Duration::from_secs_f64(env_f64("BENCH_STEADY_WINDOW_S").unwrap_or(10.0)),
        })
    }

    /// One steady window of `kind` copying the backlog into a fresh output topic, trimmed
    /// while it runs (`Trimmer`) and dropped after.
    fn copy(
        &self,
        rt: &Runtime,
        topics: &Topics<'_>,
        kind: Kind,
        metrics_addr: Option<std::net::SocketAddr>,
    ) -> BenchResult<Window> {
        let output = topics.empty("steady-out")?;
        let group = topics.cluster.unique_topic("steady-group");
        let mut spec = topics.spec(&self.topic, &output, &group);
        spec.commit_max_records = self.max_batch;
        spec.metrics_addr = metrics_addr;
        let trimmer = Trimmer::start(&topics.bootstrap, &output, PARTITIONS)?;
        let run = Running::copy(rt, kind, &spec)?;
        let w = steady_window(&run, self.warmup, self.window, self.records as u64);
        let trimmed = trimmer.stop();
        run.stop(rt)?;
        topics.delete(&output)?;
        if trimmed? == 0 {
            eprintln!("steady: the output of {} was never trimmed", kind.name());
        }
        w
    }
}

/// ", WINDOW SHORT..." when a window ran out of input before its length and commits.
fn short_note(ws: &[Window]) -> &'static str {
    if ws.iter().any(|w| w.short) {
        ", WINDOW SHORT: the input ran out (raise BENCH_STEADY_RECORDS)"
    } else {
        ""
    }
}

/// What part 3 compares: a kind's median records/s over the loop's, and per repeat (the
/// pair of windows that ran back to back).
struct VsLoop {
    median: f64,
    per_repeat: String,
}

/// Part 3: zero-cost copies at 100 ms commits, steady state; returns exactly-once vs loop,
/// exactly-once vs at-least-once, and exactly-once with headers read vs loop.
fn steady_state(
    rt: &Runtime,
    topics: &Topics<'_>,
    backlog: &Backlog,
    rows: &mut Vec<Row>,
) -> BenchResult<(VsLoop, f64, VsLoop)> {
    let repeats = env_usize("BENCH_STEADY_REPEATS").unwrap_or(3).max(1);
    let chosen = env_words("BENCH_STEADY_KINDS");
    let kinds: Vec<Kind> = [Kind::Loop, Kind::Eos, Kind::EosHeaders, Kind::Alo]
        .into_iter()
        .filter(|k| {
            chosen
                .as_ref()
                .is_none_or(|c| c.iter().any(|w| w == k.key()))
        })
        .collect();
    let mut windows: Vec<Vec<Window>> = kinds.iter().map(|_| Vec::new()).collect();
    for rep in 0..repeats {
        // every other repeat in reverse order: windows tend to speed up over a run, which
        // would favour whichever kind always ran later
        let mut order: Vec<(usize, Kind)> = kinds.iter().copied().enumerate().collect();
        if rep % 2 == 1 {
            order.reverse();
        }
        for (k, kind) in order {
            let w = backlog
                .copy(rt, topics, kind, None)
                .map_err(|e| format!("{}: {e}", kind.name()))?;
            eprintln!(
                "steady {}/{repeats}: {:<36} {:>9.0} records/s  {:>6} records per commit  {:.1} s, {} commits, {}",
                rep + 1,
                kind.name(),
                w.records as f64 / w.secs,
                w.records / w.commits.max(1),
                w.secs,
                w.commits,
                cpu_per_record(&w)
            );
            windows[k].push(w);
        }
    }
    let rate_of = |kind: Kind| {
        kinds.iter().position(|&k| k == kind).map_or(f64::NAN, |k| {
            median(
                windows[k]
                    .iter()
                    .map(|w| w.records as f64 / w.secs)
                    .collect(),
            )
        })
    };
    let (lp, eos, alo) = (rate_of(Kind::Loop), rate_of(Kind::Eos), rate_of(Kind::Alo));
    let rate = |w: &Window| w.records as f64 / w.secs;
    let vs_loop = |kind: Kind| {
        let per_repeat: Vec<String> = match (
            kinds.iter().position(|&k| k == kind),
            kinds.iter().position(|&k| k == Kind::Loop),
        ) {
            (Some(e), Some(l)) => windows[e]
                .iter()
                .zip(&windows[l])
                .map(|(e, l)| format!("{:.2}", rate(e) / rate(l)))
                .collect(),
            _ => Vec::new(),
        };
        VsLoop {
            median: rate_of(kind) / lp,
            per_repeat: per_repeat.join(", "),
        }
    };
    for (&kind, ws) in kinds.iter().zip(&windows) {
        let runs: Vec<String> = ws
            .iter()
            .map(|w| format!("{:.0}", w.records as f64 / w.secs))
            .collect();
        let short = short_note(ws);
        let per_s = rate_of(kind);
        rows.push(Row {
            bench: "3 steady, 100 ms commits",
            config: format!(
                "{}, zero-cost copy, at most {} records per commit",
                kind.name(),
                backlog.max_batch
            ),
            records: median(ws.iter().map(|w| w.records as f64).collect()) as u64,
            secs: median(ws.iter().map(|w| w.secs).collect()),
            per_s,
            commits: median(ws.iter().map(|w| w.commits as f64).collect()),
            detail: format!(
                "median of {} windows ({} records/s), {:.0} records per commit; \
                 vs loop {:.2}x, vs at-least-once {:.2}x{short}",
                ws.len(),
                runs.join(", "),
                median(
                    ws.iter()
                        .map(|w| w.records as f64 / w.commits.max(1) as f64)
                        .collect()
                ),
                per_s / lp,
                per_s / alo
            ),
        });
    }
    Ok((vs_loop(Kind::Eos), eos / alo, vs_loop(Kind::EosHeaders)))
}

/// Scrapes `addr` every second until `stop`; returns the scrapes that answered.
fn scraper(addr: std::net::SocketAddr, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut answered = 0;
        while !stop.load(Ordering::Relaxed) {
            if let Ok(mut s) = std::net::TcpStream::connect(addr) {
                let mut page = String::new();
                if s.write_all(b"GET /metrics HTTP/1.1\r\nconnection: close\r\n\r\n")
                    .is_ok()
                    && s.read_to_string(&mut page).is_ok()
                    && page.starts_with("HTTP/1.1 200")
                {
                    answered += 1;
                }
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        answered
    })
}

/// Part 5: the steady exactly-once copy with the metrics endpoint on vs off; returns on / off.
fn metrics_overhead(
    rt: &Runtime,
    topics: &Topics<'_>,
    backlog: &Backlog,
    rows: &mut Vec<Row>,
) -> BenchResult<f64> {
    let repeats = env_usize("BENCH_METRICS_REPEATS").unwrap_or(3).max(1);
    let mut windows: [Vec<Window>; 2] = [Vec::new(), Vec::new()];
    let mut scrapes = 0;
    for rep in 0..repeats {
        for (on, label) in [(false, "off"), (true, "on")] {
            let addr = if on {
                let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
                Some(probe.local_addr()?)
            } else {
                None
            };
            let stop = Arc::new(AtomicBool::new(false));
            let scraping = addr.map(|a| scraper(a, Arc::clone(&stop)));
            let w = backlog.copy(rt, topics, Kind::Eos, addr);
            stop.store(true, Ordering::Relaxed);
            if let Some(t) = scraping {
                scrapes += t.join().map_err(|_| "the scraper panicked")?;
            }
            let w = w.map_err(|e| format!("metrics {label}: {e}"))?;
            let rate = w.records as f64 / w.secs;
            eprintln!("metrics {}/{repeats}: endpoint {label:<3} {rate:>9.0} records/s  {:.1} s, {} commits", rep + 1, w.secs, w.commits);
            windows[usize::from(on)].push(w);
        }
    }
    if scrapes == 0 {
        return Err("the metrics endpoint never answered a scrape".into());
    }
    let rate = |ws: &[Window]| median(ws.iter().map(|w| w.records as f64 / w.secs).collect());
    let (off, on) = (rate(&windows[0]), rate(&windows[1]));
    for (label, ws, per_s) in [("off", &windows[0], off), ("on", &windows[1], on)] {
        let runs: Vec<String> = ws
            .iter()
            .map(|w| format!("{:.0}", w.records as f64 / w.secs))
            .collect();
        rows.push(Row {
            bench: "5 metrics endpoint, steady",
            config: format!("exactly-once, zero-cost copy, endpoint {label}"),
            records: median(ws.iter().map(|w| w.records as f64).collect()) as u64,
            secs: median(ws.iter().map(|w| w.secs).collect()),
            per_s,
            commits: median(ws.iter().map(|w| w.commits as f64).collect()),
            detail: format!(
                "median of {} windows ({}); {scrapes} scrapes answered in all{}",
                ws.len(),
                runs.join(", "),
                short_note(ws)
            ),
        });
    }
    Ok(on / off)
}

fn now_us() -> BenchResult<u64> {
    Ok(u64::try_from(
        SystemTime::now().duration_since(UNIX_EPOCH)?.as_micros(),
    )?)
}

/// The fixed-rate writer: idempotent, `linger.ms=0` (its batching is not the pipeline's).
fn latency_producer(bootstrap: &str) -> BenchResult<BaseProducer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "0")
        .create()?)
}

/// Writes `total` records at `rate` per second, each timestamped (and valued) with its
/// send time; returns the achieved rate.
fn produce_at_rate(
    producer: &BaseProducer,
    topic: &str,
    rate: f64,
    total: usize,
) -> BenchResult<f64> {
    let started = Instant::now();
    for i in 0..total {
        let due = started + Duration::from_secs_f64(i as f64 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let key = format!("key-{:05}", i % KEYS);
        let sent = now_us()?;
        let value = sent.to_string();
        let timestamp = i64::try_from(sent / 1000)?;
        common::send(
            producer,
            BaseRecord::to(topic)
                .key(key.as_str())
                .payload(value.as_str())
                .timestamp(timestamp),
        )?;
    }
    let achieved = total as f64 / started.elapsed().as_secs_f64();
    producer.flush(Duration::from_secs(30))?;
    Ok(achieved)
}

/// Reads `topic` `read_committed`: first the `warm` warm-up records (then says so on
/// `ready`), then until `expected` timed records arrived; returns (read time - send time) of
/// each, in microseconds.
fn read_latencies(
    bootstrap: &str,
    topic: &str,
    warm: usize,
    ready: &std::sync::mpsc::Sender<()>,
    expected: usize,
) -> BenchResult<Vec<u64>> {
    let reader = committed_reader(bootstrap, &[topic])?;
    let deadline = Instant::now() + RUN_TIMEOUT;
    let mut warmed = 0;
    let mut latencies = Vec::with_capacity(expected);
    while latencies.len() < expected {
        if Instant::now() > deadline {
            return Err(format!("read {} of {expected} timed records", latencies.len()).into());
        }
        match reader.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let now = now_us()?;
                let sent = m
                    .payload()
                    .and_then(|v| std::str::from_utf8(v).ok())
                    .and_then(|v| v.parse::<u64>().ok());
                match sent {
                    Some(sent) => latencies.push(now.saturating_sub(sent)),
                    None => {
                        warmed += 1;
                        if warmed == warm {
                            ready.send(())?;
                        }
                    }
                }
            }
            Some(Err(e)) => return Err(e.into()),
            None => {}
        }
    }
    Ok(latencies)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(f64::NAN, |&us| us as f64 / 1e3)
}

/// Part 4: send -> visible to a `read_committed` reader, exactly-once at 100 ms commits,
/// at a fixed input rate; returns (p50, p99) in ms.
fn e2e_latency(rt: &Runtime, topics: &Topics<'_>, rows: &mut Vec<Row>) -> BenchResult<(f64, f64)> {
    let rate = env_f64("BENCH_LATENCY_RATE").unwrap_or(2000.0);
    let secs = env_f64("BENCH_LATENCY_S").unwrap_or(10.0);
    let total = (rate * secs) as usize;
    let input = topics.empty("latency-in")?;
    let output = topics.empty("latency-out")?;
    let group = topics.cluster.unique_topic("latency-group");
    let spec = topics.spec(&input, &output, &group);
    let run = Running::copy(rt, Kind::Eos, &spec)?;
    let measured = (|| {
        // warm-up records through the same producer: it is connected and has its producer id
        let producer = latency_producer(&topics.bootstrap)?;
        for i in 0..LATENCY_WARMUP {
            let key = format!("key-{i:05}");
            common::send(
                &producer,
                BaseRecord::to(&input).key(key.as_str()).payload("warm-up"),
            )?;
        }
        producer.flush(Duration::from_secs(30))?;
        run.wait_for("warm-up committed", RUN_TIMEOUT, |r| {
            r.records_in() >= LATENCY_WARMUP as u64
        })?;
        let commits0 = run.commits();
        let (ready, warmed) = std::sync::mpsc::channel();
        let reader = {
            let (bootstrap, output) = (topics.bootstrap.clone(), output.clone());
            std::thread::spawn(move || {
                read_latencies(&bootstrap, &output, LATENCY_WARMUP, &ready, total)
            })
        };
        // the reader is assigned and has caught up
        if warmed.recv_timeout(RUN_TIMEOUT).is_err() {
            return Err(match reader.join() {
                Ok(Err(e)) => e,
                _ => "the reader did not read the warm-up records".into(),
            });
        }
        let achieved = produce_at_rate(&producer, &input, rate, total)?;
        let latencies = reader.join().map_err(|_| "the reader panicked")??;
        Ok::<_, common::BenchError>((latencies, achieved, run.commits() - commits0))
    })();
    let metrics = run.metrics().map(|m| m.snapshot()).unwrap_or_default();
    run.stop(rt)?;
    topics.delete(&input)?;
    topics.delete(&output)?;
    let (mut latencies, achieved, commits) = measured?;
    latencies.sort_unstable();
    let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
    rows.push(Row {
        bench: "4 end-to-end latency",
        config: format!("exactly-once, copy, 100 ms commits, {rate:.0} records/s in"),
        records: total as u64,
        secs: total as f64 / achieved,
        per_s: achieved,
        commits: commits as f64,
        detail: format!(
            "send -> read_committed: p50 {p50:.1} ms, p99 {p99:.1} ms, max {:.1} ms; commit p50 {} ms, p99 {} ms",
            percentile(&latencies, 1.0),
            ms(metrics.commit_latency_p50),
            ms(metrics.commit_latency_p99)
        ),
    });
    Ok((p50, p99))
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

fn main() -> BenchResult {
    init_log();
    let parts = env_words("BENCH_PARTS");
    let wanted = |p: &str| parts.as_ref().is_none_or(|ps| ps.iter().any(|w| w == p));
    let cluster = Cluster::embedded()?;
    let topics = Topics {
        bootstrap: cluster.bootstrap_servers(),
        cluster: &cluster,
    };
    let rt = runtime()?;
    let mut rows = Vec::new();
    let mut summary = Vec::new();

    if wanted("keyed") {
        let speedup = keyed_speedup(&rt, &topics, &mut rows)?;
        summary.push(format!(
            "keyed speedup vs sequential: {speedup:.1}x (target >= 20x): {}",
            met(speedup >= 20.0)
        ));
    }
    if wanted("pc") {
        for (batch, secs) in pc_workload(&rt, &topics, &mut rows)? {
            summary.push(format!(
                "PC workload (10,000 records, 0-5 ms, 100 in flight, batch {batch}): {secs:.3} s \
                 (target <= 0.5 s): {}",
                met(secs <= 0.5)
            ));
        }
    }
    // parts 3 and 5 share one backlog, written once
    let backlog = if wanted("steady") || wanted("metrics") {
        Some(Backlog::write(&topics)?)
    } else {
        None
    };
    if let (true, Some(backlog)) = (wanted("steady"), &backlog) {
        let (vs_loop, vs_alo, headers) = steady_state(&rt, &topics, backlog, &mut rows)?;
        // a ratio is NaN when BENCH_STEADY_KINDS left out one of its kinds
        if vs_loop.median.is_finite() {
            summary.push(format!(
                "pipeline exactly-once vs hand-written loop, steady, 100 ms commits: {:.2}x \
                 (target >= 1.0x): {} (per repeat: {})",
                vs_loop.median,
                met(vs_loop.median >= 1.0),
                vs_loop.per_repeat
            ));
        }
        if headers.median.is_finite() {
            summary.push(format!(
                "  the same with the input's headers read (the default; the loop reads none): \
                 {:.2}x (per repeat: {})",
                headers.median, headers.per_repeat
            ));
        }
        if vs_alo.is_finite() {
            summary.push(format!(
                "exactly-once vs at-least-once, steady, 100 ms commits: {vs_alo:.2}x \
                 (target >= 0.95x): {}",
                met(vs_alo >= 0.95)
            ));
        }
    }
    if wanted("latency") {
        let (p50, p99) = e2e_latency(&rt, &topics, &mut rows)?;
        summary.push(format!(
            "end-to-end latency, exactly-once, 100 ms commits: p50 {p50:.1} ms, p99 {p99:.1} ms \
             (no target)"
        ));
    }

    if wanted("parking") {
        let ratio = parking_healthy(&rt, &topics, &mut rows)?;
        summary.push(format!(
            "healthy throughput with 1% failing keys: {ratio:.2}x (target >= 0.9x): {}",
            met(ratio >= 0.9)
        ));
    }

    if let (true, Some(backlog)) = (wanted("metrics"), &backlog) {
        let ratio = metrics_overhead(&rt, &topics, backlog, &mut rows)?;
        summary.push(format!(
            "metrics on vs off: {ratio:.2}x (target >= 0.98x): {}",
            met(ratio >= 0.98)
        ));
    }
    if let Some(backlog) = backlog {
        topics.delete(&backlog.topic)?;
    }

    println!();
    println!("| bench | configuration | records | time s | records/s | commits | detail |");
    println!("|---|---|---:|---:|---:|---:|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.3} | {:.0} | {:.0} | {} |",
            r.bench, r.config, r.records, r.secs, r.per_s, r.commits, r.detail
        );
    }
    println!();
    for line in summary {
        println!("{line}");
    }
    Ok(())
}
