//! `kafka-eos-demo worker`: one instance of the demo's order pipeline. The demo and the
//! crash suites run several as child processes ([`crate::process`]) and kill them; it stops
//! gracefully when its standard input closes, on Ctrl-C or on SIGTERM, and prints a metrics
//! line (`METRICS {json}`) to stdout every half second. Its exit statuses are in [`crate::exit`].

use std::io::Read;
use std::time::Duration;

use kafka_eos_processor::config::Mode;
use kafka_eos_processor::{
    Backoff, CancellationToken, ErrorPolicy, JsonCodec, KeyPolicy, Metrics, PipelineBuilder,
};
use serde::Serialize;

use crate::error::DemoError;
use crate::orders::{Failures, OrderEvent, OrderProcessor};

/// Settings of one worker.
#[derive(Debug, Clone, clap::Args)]
pub struct WorkerArgs {
    /// bootstrap.servers of the cluster.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    pub bootstrap: String,
    /// Consumer group of the pipeline.
    #[arg(long, default_value = "order-pipeline")]
    pub group: String,
    /// Input topic (order events).
    #[arg(long, default_value = "orders")]
    pub input: String,
    /// Output topic (order results).
    #[arg(long, default_value = "order-results")]
    pub output: String,
    /// Dead-letter topic for records that cannot be decoded or keep failing.
    #[arg(long, default_value = "orders-dlq")]
    pub dlq: String,
    /// Parking topic: a failing record parks its key there (as many partitions as the input).
    #[arg(long, default_value = "orders-parked")]
    pub parked: String,
    /// Fraction of records (0..=1) whose first attempt fails (injected; in each worker life).
    #[arg(long, default_value_t = 0.0)]
    pub transient_failures: f64,
    /// How many orders always fail (injected): their records are dead-lettered.
    #[arg(long, default_value_t = 0)]
    pub permanent_failures: u32,
    /// Attempts of a failing record before it is dead-lettered.
    #[arg(long, default_value_t = 3)]
    pub max_attempts: u32,
    /// First retry backoff (ms), doubled after each failed attempt up to --retry-max-ms.
    #[arg(long, default_value_t = 100)]
    pub retry_initial_ms: u64,
    /// Longest retry backoff (ms).
    #[arg(long, default_value_t = 2000)]
    pub retry_max_ms: u64,
    /// Instance index: with the app and group, it makes the stable transactional.id.
    #[arg(long, default_value_t = 0)]
    pub instance: u32,
    /// Commit a transaction at least this often (ms).
    #[arg(long, default_value_t = 100)]
    pub commit_interval_ms: u64,
    /// Commit after this many records at most.
    #[arg(long, default_value_t = 1000)]
    pub commit_records: usize,
    /// Run at-least-once instead of exactly-once.
    #[arg(long)]
    pub at_least_once: bool,
    /// No parking topic: a failing record is retried by replaying its batch (and the next
    /// batch is polled while one is in its transaction).
    #[arg(long)]
    pub no_parking: bool,
    /// Simulated work: pause 1 ms every this many records (0: none).
    #[arg(long, default_value_t = 0)]
    pub pause_every: u64,
    /// Simulated latency of a call to another service per record (ms; 0: none).
    #[arg(long, default_value_t = 0)]
    pub work_ms: u64,
    /// Records processed at once (keys concurrently, each key in order).
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Stop when standard input closes (the demo's graceful stop).
    #[arg(long)]
    pub stop_on_stdin_eof: bool,
    /// Where the results go: the output topic, or PostgreSQL / MariaDB tables (through
    /// `kafka-eos-database`).
    #[arg(long, value_enum, default_value_t = crate::database::Sink::Kafka)]
    pub sink: crate::database::Sink,
    /// The database of `--sink postgres|mariadb` (default: this machine's `test` database).
    #[arg(long)]
    pub database_url: Option<String>,
    /// Prefix of the tables of `--sink postgres|mariadb`.
    #[arg(long, default_value = "kafka_eos_demo")]
    pub tables: String,
    /// A side effect per record outside Kafka (a row appended to an effects log), guarded
    /// by this idempotency store (see [`crate::effects`]).
    #[arg(long, value_enum)]
    pub side_effects: Option<crate::effects::Guard>,
    /// Prefix of the effects log, the stores' tables and keys, and the stores' PostgreSQL
    /// `application_name`.
    #[arg(long, default_value = "kafka_eos_demo")]
    pub effects_prefix: String,
    /// Serve the pipeline's metrics for Prometheus at `http://HOST:PORT/metrics`.
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// The prefix of a worker's metrics lines on stdout.
pub const METRICS_PREFIX: &str = "METRICS ";

/// The metrics line a worker prints.
#[derive(Debug, Clone, Serialize, serde::Deserialize, Default)]
pub struct MetricsLine {
    /// Worker instance.
    pub instance: u32,
    /// Transactions committed.
    pub commits: u64,
    /// Transactions aborted.
    pub aborts: u64,
    /// Records consumed.
    pub records_in: u64,
    /// Records produced.
    pub records_out: u64,
    /// Records dead-lettered.
    pub dead_lettered: u64,
    /// Commit latency p50 in microseconds.
    pub commit_p50_us: Option<u64>,
    /// Commit latency p99 in microseconds.
    pub commit_p99_us: Option<u64>,
    /// The most records processed at once.
    #[serde(default)]
    pub in_flight_peak: u64,
    /// Records written to the parking topic (committed).
    #[serde(default)]
    pub records_parked: u64,
    /// Failed attempts scheduled for a retry.
    #[serde(default)]
    pub retries: u64,
    /// Keys parked now.
    #[serde(default)]
    pub parked_keys: u64,
}

fn line(instance: u32, m: &Metrics) -> MetricsLine {
    let s = m.snapshot();
    MetricsLine {
        instance,
        commits: s.commits,
        aborts: s.aborts,
        records_in: s.records_in,
        records_out: s.records_out,
        dead_lettered: s.dead_lettered,
        commit_p50_us: s.commit_latency_p50.map(|d| d.as_micros() as u64),
        commit_p99_us: s.commit_latency_p99.map(|d| d.as_micros() as u64),
        in_flight_peak: s.in_flight_peak,
        records_parked: s.records_parked,
        retries: s.record_retries_by_attempt.iter().sum(),
        parked_keys: s.parked_keys,
    }
}

fn print_metrics(line: &MetricsLine) {
    if let Ok(json) = serde_json::to_string(line) {
        println!("{METRICS_PREFIX}{json}");
    }
}

/// Runs the worker until shutdown.
pub async fn run(args: WorkerArgs) -> Result<(), DemoError> {
    if args.sink != crate::database::Sink::Kafka {
        return crate::database::run_worker(args).await;
    }
    let token = CancellationToken::new();
    let mut builder = PipelineBuilder::new();
    if let Some(addr) = args.metrics_addr {
        builder = builder.metrics_addr(addr);
    }
    let builder = builder
        .bootstrap_servers(&args.bootstrap)
        .security(kafka_eos_processor::config::Security::from_env()?)
        .group_id(&args.group)
        .input_topic(&args.input)
        .app_name("kafka-eos-demo")
        .instance_index(args.instance)
        .commit_every(Duration::from_millis(args.commit_interval_ms))
        .commit_every_records(args.commit_records)
        .mode(if args.at_least_once {
            Mode::AtLeastOnce
        } else {
            Mode::ExactlyOnce
        })
        // Static membership (KIP-345): a restarted worker takes its predecessor's place
        // at once instead of waiting for the dead member's session to expire.
        .consumer_override(
            "group.instance.id",
            format!("{}-{}", args.group, args.instance),
        )
        .consumer_override("session.timeout.ms", "10000")
        .on_error(ErrorPolicy::DeadLetter(args.dlq.clone()))
        .max_attempts(args.max_attempts)
        .retry_schedule(Backoff::new(
            Duration::from_millis(args.retry_initial_ms),
            Duration::from_millis(args.retry_max_ms),
        ))
        .max_in_flight(args.concurrency)
        .shutdown(token.clone())
        .stop_on_signals(true);
    // parked records are written in the transaction: exactly once only (at least once
    // replays the batch)
    let builder = if args.at_least_once || args.no_parking {
        builder
    } else {
        builder.parking_topic(&args.parked, KeyPolicy::Release)
    };
    let inner = OrderProcessor::new(args.output.clone(), args.pause_every)
        .with_work(Duration::from_millis(args.work_ms))
        .with_failures(Failures {
            transient: args.transient_failures,
            permanent: args.permanent_failures,
        });
    let run = Serve {
        args: &args,
        builder,
        token,
    };
    match args.side_effects {
        None => run.serve(inner).await,
        Some(guard) => crate::effects::with_guard(guard, &args.effects_prefix, inner, run).await,
    }
}

/// The pipeline of a worker, once its processor is known.
struct Serve<'a> {
    args: &'a WorkerArgs,
    builder: PipelineBuilder,
    token: CancellationToken,
}

impl Serve<'_> {
    async fn serve<P: kafka_eos_processor::Processor<Input = OrderEvent>>(
        self,
        processor: P,
    ) -> Result<(), DemoError> {
        let pipeline = self
            .builder
            .build(processor, JsonCodec::<OrderEvent>::new())?;
        let metrics = pipeline.metrics();
        let instance = self.args.instance;
        serve(
            self.args,
            self.token,
            move || line(instance, &metrics),
            pipeline.run(),
        )
        .await
    }
}

impl crate::effects::GuardedRun for Serve<'_> {
    async fn run<S: kafka_eos_idempotency::IdempotencyStore>(
        self,
        processor: crate::effects::Guarded<S>,
    ) -> Result<(), DemoError> {
        self.serve(processor).await
    }
}

/// Runs `work` until it ends, stopping it through `token` when standard input closes (with
/// `--stop-on-stdin-eof`), and prints `line()` every half second and at the end.
pub(crate) async fn serve<E>(
    args: &WorkerArgs,
    token: CancellationToken,
    line: impl Fn() -> MetricsLine + Send + Sync + 'static,
    work: impl std::future::Future<Output = Result<(), E>>,
) -> Result<(), DemoError>
where
    DemoError: From<E>,
{
    if args.stop_on_stdin_eof {
        let t = token.clone();
        std::thread::spawn(move || {
            let mut sink = [0u8; 64];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            t.cancel();
        });
    }
    let line = std::sync::Arc::new(line);
    let reporter = {
        let line = std::sync::Arc::clone(&line);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(500));
            loop {
                every.tick().await;
                print_metrics(&line());
            }
        })
    };
    tracing::info!(instance = args.instance, sink = ?args.sink, "worker started");
    let result = work.await;
    reporter.abort();
    print_metrics(&line());
    result.map_err(DemoError::from)
}

impl MetricsLine {
    /// Parses a line of a worker's stdout; `None` for any other line.
    pub fn parse(line: &str) -> Option<Self> {
        serde_json::from_str(line.strip_prefix(METRICS_PREFIX)?).ok()
    }
}
