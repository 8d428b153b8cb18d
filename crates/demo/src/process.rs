//! Worker child processes: the one place that starts `kafka-eos-demo worker`, reads its
//! metrics lines, stops it gracefully or kills it. The demo and the crash suites share it.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::topics::Topics;
use crate::worker::MetricsLine;

/// How to start the worker processes of one pipeline.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    /// Path of the `kafka-eos-demo` binary (`env!("CARGO_BIN_EXE_kafka-eos-demo")` in a
    /// test, `std::env::current_exe()` in the demo).
    pub exe: PathBuf,
    /// bootstrap.servers.
    pub bootstrap: String,
    /// Topics and group.
    pub topics: Topics,
    /// Transaction commit interval (ms).
    pub commit_interval_ms: u64,
    /// Largest transaction (records).
    pub commit_records: usize,
    /// Simulated work: the processor pauses 1 ms every this many records (0: none).
    pub pause_every: u64,
    /// Simulated latency of a call to another service per record (ms).
    pub work_ms: u64,
    /// Records each worker processes at once (keyed concurrency).
    pub concurrency: usize,
    /// Run the workers at-least-once instead of exactly-once.
    pub at_least_once: bool,
    /// Park a failing record's key (exactly once); `false`: retries replay the batch, and
    /// the next batch is polled while one is in its transaction.
    pub parking: bool,
    /// Failures the workers inject.
    pub failures: crate::orders::Failures,
    /// Attempts of a failing record before it is dead-lettered.
    pub max_attempts: u32,
    /// The workers' `RUST_LOG` when the caller's environment sets none.
    pub default_log_filter: String,
    /// Where the workers' stderr logs go.
    pub log_dir: PathBuf,
    /// Worker `i` serves its metrics at this address's port + `i` (`None`: no endpoint).
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Where the results go (`--sink`).
    pub sink: crate::database::Sink,
    /// The database of `--sink postgres|mariadb` (`None`: the worker's default).
    pub database_url: Option<String>,
    /// Prefix of the tables of `--sink postgres|mariadb`.
    pub tables: String,
    /// The side effect's guard (`--side-effects`; `None`: no side effect).
    pub side_effects: Option<crate::effects::Guard>,
    /// Prefix of the effects log and the stores' tables and keys.
    pub effects_prefix: String,
    /// Environment variables of the workers (a secured run's security settings).
    pub env: Vec<(String, String)>,
}

/// A new directory for a run's worker logs (and a secured run's CA and password) under
/// the system temp directory.
pub fn fresh_log_dir() -> std::io::Result<PathBuf> {
    let dir =
        std::env::temp_dir().join(format!("kafka-eos-demo-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

impl WorkerSpec {
    /// A spec with a 100 ms commit interval, 1000-record transactions, `warn` logs and a
    /// fresh log directory under the system temp directory.
    pub fn new(
        exe: impl Into<PathBuf>,
        bootstrap: String,
        topics: Topics,
    ) -> std::io::Result<Self> {
        let log_dir = fresh_log_dir()?;
        Ok(Self {
            exe: exe.into(),
            bootstrap,
            topics,
            commit_interval_ms: 100,
            commit_records: 1000,
            pause_every: 0,
            work_ms: 0,
            concurrency: 1,
            at_least_once: false,
            parking: true,
            failures: crate::orders::Failures::default(),
            max_attempts: 3,
            default_log_filter: "warn".into(),
            log_dir,
            metrics_addr: None,
            sink: crate::database::Sink::Kafka,
            database_url: None,
            tables: "kafka_eos_demo".into(),
            side_effects: None,
            effects_prefix: "kafka_eos_demo".into(),
            env: Vec::new(),
        })
    }

    /// Starts life `life` of worker `instance` (a restart keeps the instance, so its
    /// transactional id fences the previous life).
    pub fn spawn(&self, instance: u32, life: u32) -> std::io::Result<WorkerProcess> {
        let log_path = self.log_dir.join(format!("worker-{instance}-{life}.log"));
        let log = std::fs::File::create(&log_path)?;
        let t = &self.topics;
        let mut child = Command::new(&self.exe)
            .arg("worker")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(["--bootstrap", &self.bootstrap])
            .args(["--group", &t.group])
            .args(["--input", &t.input])
            .args(["--output", &t.output])
            .args(["--dlq", &t.dlq])
            .args(["--parked", &t.parked])
            .args(["--transient-failures", &self.failures.transient.to_string()])
            .args(["--permanent-failures", &self.failures.permanent.to_string()])
            .args(["--max-attempts", &self.max_attempts.to_string()])
            .args(["--instance", &instance.to_string()])
            .args(["--commit-interval-ms", &self.commit_interval_ms.to_string()])
            .args(["--commit-records", &self.commit_records.to_string()])
            .args(["--pause-every", &self.pause_every.to_string()])
            .args(["--work-ms", &self.work_ms.to_string()])
            .args(["--concurrency", &self.concurrency.to_string()])
            .args(self.at_least_once.then_some("--at-least-once"))
            .args((!self.parking).then_some("--no-parking"))
            .arg("--stop-on-stdin-eof")
            .args([
                "--sink",
                match self.sink {
                    crate::database::Sink::Kafka => "kafka",
                    crate::database::Sink::Postgres => "postgres",
                    crate::database::Sink::Mariadb => "mariadb",
                },
            ])
            .args(["--tables", &self.tables])
            .args(["--effects-prefix", &self.effects_prefix])
            .args(
                self.side_effects
                    .iter()
                    .flat_map(|guard| ["--side-effects", guard.name()]),
            )
            .args(
                self.database_url
                    .iter()
                    .flat_map(|url| ["--database-url", url.as_str()]),
            )
            .args(
                self.metrics_addr
                    .and_then(|base| crate::run::worker_metrics_addr(base, instance))
                    .map(|addr| ["--metrics-addr".to_owned(), addr.to_string()])
                    .into_iter()
                    .flatten(),
            )
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| self.default_log_filter.clone()),
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
                    if let Some(m) = MetricsLine::parse(&line) {
                        if let Ok(mut pair) = metrics.lock() {
                            pair.previous = pair.last.replace(m);
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

/// One `kafka-eos-demo worker` child process. Dropping it kills the process if it still runs.
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

    /// Asks it to stop gracefully (closes its standard input) without waiting.
    pub fn request_stop(&mut self) {
        drop(self.child.stdin.take());
    }

    /// Graceful stop: closes its standard input and waits up to `timeout` for it to exit;
    /// kills it after that. Returns the exit status of a graceful exit, `None` if killed.
    pub fn stop(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.request_stop();
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
