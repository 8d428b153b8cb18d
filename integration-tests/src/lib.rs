//! Shared helpers of the end-to-end suites in `tests/`: the order input and its expected
//! output, topic sets with unique names, worker child processes (the `eos-worker` binary
//! of this package), progress waits and a Tokio runtime for in-process pipelines.
//!
//! The suites run against the embedded broker by default and against any cluster when
//! `KAFKA_BOOTSTRAP_SERVERS` is set ([`Cluster::from_env`]); suites that inject faults
//! always start an embedded broker.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_eos_cli::orders::{generate, result_of, OrderEvent};
use kafka_eos_cli::worker::MetricsLine;
use kafka_eos_testkit::{Cluster, Record};

pub use kafka_eos_cli::collector::Collector;

/// Exit status of an `eos-worker` that was fenced by a newer instance.
pub const EXIT_FENCED: i32 = 3;

/// The order events of `orders` orders as input records (JSON values keyed by order), and
/// the expected output `f(input)` (one result per event, each key's results in order).
pub fn order_records(orders: u64, seed: u64) -> (Vec<OrderEvent>, Vec<Record>, Vec<Record>) {
    let events = generate(orders, seed);
    let input = events
        .iter()
        .map(|e| Record::new(e.key(), serde_json::to_vec(e).unwrap_or_default()))
        .collect();
    let expected = events
        .iter()
        .map(|e| {
            let (k, v) = result_of(e);
            Record::new(k, v)
        })
        .collect();
    (events, input, expected)
}

/// A seed for this run: `EOS_TEST_SEED` when set (to replay a failure), else random.
pub fn seed() -> u64 {
    std::env::var("EOS_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random)
}

/// The topic and group names of one test, unique per run (external clusters outlive tests).
#[derive(Debug, Clone)]
pub struct Names {
    /// Input topic.
    pub input: String,
    /// Output topic.
    pub output: String,
    /// Dead-letter topic.
    pub dlq: String,
    /// Consumer group.
    pub group: String,
}

impl Names {
    /// Unique names prefixed with `prefix`; creates the input and output topics with
    /// `partitions` partitions and the dead-letter topic with one.
    pub fn create(
        cluster: &Cluster,
        prefix: &str,
        partitions: i32,
    ) -> kafka_eos_testkit::Result<Self> {
        let names = Names {
            input: cluster.unique_topic(&format!("{prefix}-in")),
            output: cluster.unique_topic(&format!("{prefix}-out")),
            dlq: cluster.unique_topic(&format!("{prefix}-dlq")),
            group: cluster.unique_topic(&format!("{prefix}-group")),
        };
        cluster.create_topic(&names.input, partitions)?;
        cluster.create_topic(&names.output, partitions)?;
        cluster.create_topic(&names.dlq, 1)?;
        Ok(names)
    }
}

/// How to start `eos-worker` processes of one pipeline.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    /// Path of the `eos-worker` binary (`env!("CARGO_BIN_EXE_eos-worker")` in a test).
    pub exe: PathBuf,
    /// bootstrap.servers.
    pub bootstrap: String,
    /// Topics and group.
    pub names: Names,
    /// Transaction commit interval (ms).
    pub commit_interval_ms: u64,
    /// Largest transaction (records).
    pub commit_records: usize,
    /// Simulated work: the processor pauses 1 ms every this many records (0: none).
    pub pause_every: u64,
    /// Run the workers at-least-once instead of exactly-once.
    pub at_least_once: bool,
    /// Where the workers' stderr logs go.
    pub log_dir: PathBuf,
}

impl WorkerSpec {
    /// A spec with a 100 ms commit interval, 1000-record transactions and a fresh log
    /// directory under the system temp directory.
    pub fn new(exe: impl Into<PathBuf>, bootstrap: String, names: Names) -> std::io::Result<Self> {
        let log_dir =
            std::env::temp_dir().join(format!("kafka-eos-it-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&log_dir)?;
        Ok(Self {
            exe: exe.into(),
            bootstrap,
            names,
            commit_interval_ms: 100,
            commit_records: 1000,
            pause_every: 0,
            at_least_once: false,
            log_dir,
        })
    }

    /// Starts life `life` of worker `instance`.
    pub fn spawn(&self, instance: u32, life: u32) -> std::io::Result<WorkerProcess> {
        let log_path = self.log_dir.join(format!("worker-{instance}-{life}.log"));
        let log = std::fs::File::create(&log_path)?;
        let mut child = Command::new(&self.exe)
            .args(["--bootstrap", &self.bootstrap])
            .args(["--group", &self.names.group])
            .args(["--input", &self.names.input])
            .args(["--output", &self.names.output])
            .args(["--dlq", &self.names.dlq])
            .args(["--instance", &instance.to_string()])
            .args(["--commit-interval-ms", &self.commit_interval_ms.to_string()])
            .args(["--commit-records", &self.commit_records.to_string()])
            .args(["--pause-every", &self.pause_every.to_string()])
            .args(self.at_least_once.then_some("--at-least-once"))
            .arg("--stop-on-stdin-eof")
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .env_remove("KAFKA_BOOTSTRAP_SERVERS")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()?;
        let metrics: Arc<Mutex<MetricsPair>> = Arc::default();
        if let Some(out) = child.stdout.take() {
            let metrics = Arc::clone(&metrics);
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if let Some(json) = line.strip_prefix("METRICS ") {
                        if let Ok(m) = serde_json::from_str::<MetricsLine>(json) {
                            if let Ok(mut pair) = metrics.lock() {
                                pair.previous = pair.last.replace(m);
                            }
                        }
                    }
                }
            });
        }
        Ok(WorkerProcess {
            instance,
            life,
            child,
            metrics,
            log_path,
        })
    }
}

/// One running `eos-worker` child process.
#[derive(Debug)]
pub struct WorkerProcess {
    /// Its instance index (`--instance`).
    pub instance: u32,
    /// How many times this instance was restarted before this life.
    pub life: u32,
    child: Child,
    metrics: Arc<Mutex<MetricsPair>>,
    log_path: PathBuf,
}

#[derive(Debug, Default)]
struct MetricsPair {
    previous: Option<MetricsLine>,
    last: Option<MetricsLine>,
}

impl WorkerProcess {
    /// The last metrics line it printed (every 500 ms, and once when it stops).
    pub fn metrics(&self) -> Option<MetricsLine> {
        self.metrics.lock().ok().and_then(|m| m.last.clone())
    }

    /// Whether it consumed records between its last two metrics lines (half a second
    /// apart): it owns partitions with work left and is inside its transaction loop.
    pub fn is_consuming(&self) -> bool {
        self.metrics
            .lock()
            .is_ok_and(|m| match (&m.previous, &m.last) {
                (Some(p), Some(l)) => l.records_in > p.records_in,
                _ => false,
            })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills it with SIGKILL and reaps it.
    pub fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill()?;
        self.child.wait().map(drop)
    }

    /// Its exit status, if it has exited.
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Graceful stop: closes its standard input and waits up to `timeout` for it to exit;
    /// kills it after that. Returns the exit status of a graceful exit, `None` if killed.
    pub fn stop(&mut self, timeout: Duration) -> Option<ExitStatus> {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => {
                    let _ = self.kill();
                    return None;
                }
            }
        }
    }

    /// The last `max` bytes of its log (stderr), for failure messages.
    pub fn log_tail(&self, max: usize) -> String {
        log_tail(&self.log_path, max)
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.kill();
        }
    }
}

/// The last `max` bytes of a file.
pub fn log_tail(path: &Path, max: usize) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    let start = s.len().saturating_sub(max);
    let start = (start..s.len())
        .find(|i| s.is_char_boundary(*i))
        .unwrap_or(s.len());
    format!("--- {} ---\n{}", path.display(), &s[start..])
}

/// Polls `done` every 20 ms until it holds or `stall` passes without `progress` changing.
/// Returns whether `done` held.
pub fn wait_until(
    mut progress: impl FnMut() -> usize,
    mut done: impl FnMut(usize) -> bool,
    stall: Duration,
) -> bool {
    let mut last = (progress(), Instant::now());
    loop {
        let p = progress();
        if done(p) {
            return true;
        }
        if p != last.0 {
            last = (p, Instant::now());
        } else if last.1.elapsed() > stall {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A multi-threaded Tokio runtime for in-process pipelines. The suites are plain `#[test]`s
/// because the embedded broker runs on a runtime of its own, which cannot be started or
/// dropped inside another.
pub fn runtime() -> tokio::runtime::Runtime {
    // `RUST_LOG=kafka_eos_processor=debug cargo nextest run --no-capture ...` shows the pipelines' logs
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic_runtime(&e),
    }
}

#[cold]
#[allow(clippy::panic)]
fn panic_runtime(e: &std::io::Error) -> ! {
    panic!("cannot build a Tokio runtime: {e}")
}

/// A prepared worker-process run: topics created, the order input written, a
/// read_committed reader collecting the output, and a spec for the `eos-worker` processes
/// (200-record transactions, simulated work every 5 records).
#[derive(Debug)]
pub struct WorkerRun {
    /// Replay with `EOS_TEST_SEED`.
    pub seed: u64,
    /// The cluster (embedded unless `KAFKA_BOOTSTRAP_SERVERS` is set).
    pub cluster: Cluster,
    /// Topics and group.
    pub names: Names,
    /// f(input), each key's results in input order.
    pub expected: Vec<Record>,
    /// The output read so far.
    pub progress: Collector,
    /// How to start workers.
    pub spec: WorkerSpec,
}

impl WorkerRun {
    /// Prepares a run of `orders` orders over `partitions` partitions; `exe` is
    /// `env!("CARGO_BIN_EXE_eos-worker")`.
    pub fn prepare(exe: &str, prefix: &str, partitions: i32, orders: u64) -> Self {
        let seed = seed();
        eprintln!("seed {seed} (replay with EOS_TEST_SEED={seed})");
        let cluster = Cluster::from_env().unwrap_or_else(|e| fail(&e));
        let bootstrap = cluster.bootstrap_servers();
        let names = Names::create(&cluster, prefix, partitions).unwrap_or_else(|e| fail(&e));
        let (_, input, expected) = order_records(orders, seed);
        kafka_eos_testkit::write_records(&bootstrap, &names.input, &input)
            .unwrap_or_else(|e| fail(&e));
        let progress = Collector::start(&bootstrap, &[&names.output]).unwrap_or_else(|e| fail(&e));
        let mut spec = WorkerSpec::new(exe, bootstrap, names.clone()).unwrap_or_else(|e| fail(&e));
        spec.commit_records = 200;
        spec.pause_every = 5;
        Self {
            seed,
            cluster,
            names,
            expected,
            progress,
            spec,
        }
    }

    /// Results read so far.
    pub fn output_count(&self) -> usize {
        self.progress.count_of(&self.names.output)
    }

    /// Waits until `done(results read)` holds, or the output stalls for `stall`.
    pub fn wait_for(&self, done: impl FnMut(usize) -> bool, stall: Duration) -> bool {
        wait_until(|| self.output_count(), done, stall)
    }

    /// Stops the reader and checks the output with a fresh read_committed reader.
    pub fn verify(self) -> (kafka_eos_testkit::ExactlyOnceReport, Cluster) {
        drop(self.progress.stop(&self.names.output, &self.names.dlq));
        let report = kafka_eos_testkit::verify_topic(
            &self.cluster.bootstrap_servers(),
            &self.names.output,
            &self.expected,
        )
        .unwrap_or_else(|e| fail(&e));
        (report, self.cluster)
    }
}

#[cold]
#[allow(clippy::panic)]
fn fail(e: &dyn std::fmt::Display) -> ! {
    panic!("test set-up failed: {e}")
}
