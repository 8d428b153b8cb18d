//! `kafka-eos demo`: order events through the exactly-once pipeline, run as worker
//! processes that are killed with SIGKILL and restarted, then verified end to end with a
//! read_committed reader.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use kafka_eos_broker::BrokerConfig;
use kafka_eos_testkit::{check_exactly_once, write_records, Cluster, ExactlyOnceReport, Record};
use rand::{Rng, SeedableRng};

use crate::collector::Collector;
use crate::error::CliError;
use crate::orders::{generate, result_of};
use crate::worker::MetricsLine;

/// Settings of the demo.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Use this cluster instead of starting the embedded broker.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    pub bootstrap: Option<String>,
    /// Orders to generate (each has 2 to 4 events).
    #[arg(long, default_value_t = 15_000)]
    pub orders: u64,
    /// Partitions of the input and output topics.
    #[arg(long, default_value_t = 8)]
    pub partitions: i32,
    /// Worker processes.
    #[arg(long, default_value_t = 2)]
    pub workers: u32,
    /// How many times a worker is killed with SIGKILL (and restarted) during the run.
    #[arg(long, default_value_t = 5)]
    pub crashes: u32,
    /// Records that cannot be decoded, to show the dead-letter policy.
    #[arg(long, default_value_t = 5)]
    pub poison: u32,
    /// Transaction commit interval of the workers (ms).
    #[arg(long, default_value_t = 100)]
    pub commit_interval_ms: u64,
    /// Simulated work in the workers: pause 1 ms every this many records (0: none).
    #[arg(long, default_value_t = 20)]
    pub pause_every: u64,
    /// Seed of the event generator and of the kill schedule.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Hide the progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// What the demo measured.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// Input records written (events + poison records).
    pub records_in: usize,
    /// The exactly-once comparison of the output with f(input).
    pub check: ExactlyOnceReport,
    /// Records in the dead-letter topic (expected: the poison records).
    pub dead_lettered: usize,
    /// Poison records written.
    pub poison: usize,
    /// Workers killed with SIGKILL.
    pub kills: u32,
    /// Transactions as the embedded broker counted them.
    pub broker_transactions: Option<kafka_eos_broker::TransactionCounts>,
    /// Worker-reported commits / aborts (killed lives report up to their last half second).
    pub worker_transactions: (u64, u64),
    /// Output records per second, from the first worker start to the last output.
    pub records_per_sec: f64,
    /// Commit latency: median of the workers' p50s, maximum of their p99s (µs).
    pub commit_latency_us: (Option<u64>, Option<u64>),
    /// Where the workers' logs are.
    pub log_dir: PathBuf,
}

impl DemoReport {
    /// True when the output is exactly f(input) and every poison record was dead-lettered once.
    pub fn passed(&self) -> bool {
        self.check.is_exactly_once() && self.dead_lettered == self.poison
    }

    /// Prints the report.
    pub fn print(&self) {
        let ms = |v: Option<u64>| {
            v.map_or("n/a".to_owned(), |us| {
                format!("{:.1} ms", us as f64 / 1000.0)
            })
        };
        println!();
        println!("kafka-eos demo report");
        println!("  records in                 {}", self.records_in);
        println!(
            "  results expected / read    {} / {}",
            self.check.expected, self.check.actual
        );
        println!("  duplicates                 {}", self.check.duplicates);
        println!("  missing                    {}", self.check.missing);
        println!("  unexpected                 {}", self.check.unexpected);
        println!(
            "  per-key order violations   {}",
            self.check.order_violations
        );
        println!(
            "  dead-lettered (poison)     {} ({} written)",
            self.dead_lettered, self.poison
        );
        println!("  workers killed (SIGKILL)   {}", self.kills);
        match self.broker_transactions {
            Some(c) => println!(
                "  transactions (broker)      {} committed, {} aborted ({} by the pipeline, {} fenced by a restart, {} timed out)",
                c.committed,
                c.aborted + c.fenced + c.timed_out,
                c.aborted,
                c.fenced,
                c.timed_out
            ),
            None => println!("  transactions (broker)      n/a (external cluster)"),
        }
        println!(
            "  transactions (workers)     {} committed, {} aborted",
            self.worker_transactions.0, self.worker_transactions.1
        );
        println!(
            "  throughput                 {:.0} records/s",
            self.records_per_sec
        );
        println!(
            "  commit latency             p50 {}, p99 {}",
            ms(self.commit_latency_us.0),
            ms(self.commit_latency_us.1)
        );
        println!("  worker logs                {}", self.log_dir.display());
        println!(
            "  verdict                    {}",
            if self.passed() {
                "EXACTLY ONCE"
            } else {
                "FAILED"
            }
        );
    }
}

struct Worker {
    instance: u32,
    life: u32,
    child: Child,
}

type MetricsBoard = Arc<Mutex<HashMap<(u32, u32), MetricsLine>>>;

fn spawn_worker(
    args: &DemoArgs,
    bootstrap: &str,
    topics: &Topics,
    instance: u32,
    life: u32,
    log_dir: &std::path::Path,
    board: &MetricsBoard,
) -> Result<Worker, CliError> {
    let exe = std::env::current_exe()?;
    let log = std::fs::File::create(log_dir.join(format!("worker-{instance}-{life}.log")))?;
    let mut child = Command::new(exe)
        .arg("worker")
        .args(["--bootstrap", bootstrap])
        .args(["--group", &topics.group])
        .args(["--input", &topics.input])
        .args(["--output", &topics.output])
        .args(["--dlq", &topics.dlq])
        .args(["--instance", &instance.to_string()])
        .args(["--commit-interval-ms", &args.commit_interval_ms.to_string()])
        .args(["--pause-every", &args.pause_every.to_string()])
        .arg("--stop-on-stdin-eof")
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()?;
    if let Some(out) = child.stdout.take() {
        let board = board.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(json) = line.strip_prefix("METRICS ") {
                    if let Ok(m) = serde_json::from_str::<MetricsLine>(json) {
                        if let Ok(mut b) = board.lock() {
                            b.insert((instance, life), m);
                        }
                    }
                }
            }
        });
    }
    Ok(Worker {
        instance,
        life,
        child,
    })
}

/// The topic and group names of one run.
#[derive(Debug, Clone)]
pub(crate) struct Topics {
    pub input: String,
    pub output: String,
    pub dlq: String,
    pub group: String,
}

/// Runs the demo and returns its report.
pub fn run(args: &DemoArgs) -> Result<DemoReport, CliError> {
    if args.workers == 0 || args.partitions < 1 || args.orders == 0 {
        return Err(CliError::Usage(
            "--workers, --partitions and --orders must be at least 1".into(),
        ));
    }
    let cluster = match &args.bootstrap {
        Some(b) => Cluster::external(b.clone()),
        None => {
            Cluster::embedded_with(BrokerConfig::default().default_partitions(args.partitions))?
        }
    };
    let bootstrap = cluster.bootstrap_servers();
    let topics = if args.bootstrap.is_some() {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        Topics {
            input: format!("orders-{suffix}"),
            output: format!("order-results-{suffix}"),
            dlq: format!("orders-dlq-{suffix}"),
            group: format!("order-pipeline-{suffix}"),
        }
    } else {
        Topics {
            input: "orders".into(),
            output: "order-results".into(),
            dlq: "orders-dlq".into(),
            group: "order-pipeline".into(),
        }
    };
    for t in [&topics.input, &topics.output] {
        cluster.create_topic(t, args.partitions)?;
    }
    cluster.create_topic(&topics.dlq, 1)?;
    println!(
        "cluster: {bootstrap} ({})",
        if args.bootstrap.is_some() {
            "external"
        } else {
            "embedded broker"
        }
    );

    // 1. the input: order events, plus poison records
    let events = generate(args.orders, args.seed);
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed ^ 0x5eed);
    let mut input: Vec<Record> = Vec::with_capacity(events.len() + args.poison as usize);
    for e in &events {
        let value = serde_json::to_vec(e).map_err(|e| CliError::Usage(e.to_string()))?;
        input.push(Record::new(e.key(), value));
        if (input.len() as u64)
            .is_multiple_of((events.len() as u64 / (u64::from(args.poison) + 1)).max(1))
            && input
                .iter()
                .filter(|r| r.key.starts_with(b"poison"))
                .count()
                < args.poison as usize
        {
            let n = input.len();
            input.push(Record::new(format!("poison-{n}"), "{not json"));
        }
    }
    while input
        .iter()
        .filter(|r| r.key.starts_with(b"poison"))
        .count()
        < args.poison as usize
    {
        let n = input.len();
        input.push(Record::new(format!("poison-{n}"), "{not json"));
    }
    let spinner =
        ProgressBar::new_spinner().with_message(format!("writing {} input records", input.len()));
    if args.no_progress {
        spinner.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    spinner.enable_steady_tick(Duration::from_millis(100));
    write_records(&bootstrap, &topics.input, &input)?;
    spinner.finish_with_message(format!(
        "wrote {} input records to {}",
        input.len(),
        topics.input
    ));

    let expected: Vec<Record> = events
        .iter()
        .map(|e| {
            let (k, v) = result_of(e);
            Record::new(k, v)
        })
        .collect();

    // 2. the reader, from the start, read_committed
    let collector = Collector::start(&bootstrap, &[&topics.output, &topics.dlq])?;

    // 3. the workers, and the kill schedule: at random points of the progress
    let log_dir = std::env::temp_dir().join(format!("kafka-eos-demo-{}", std::process::id()));
    std::fs::create_dir_all(&log_dir)?;
    let board: MetricsBoard = Arc::new(Mutex::new(HashMap::new()));
    let started = Instant::now();
    let mut workers = Vec::new();
    for i in 0..args.workers {
        workers.push(spawn_worker(
            args, &bootstrap, &topics, i, 0, &log_dir, &board,
        )?);
    }
    let mut thresholds: Vec<f64> = (0..args.crashes)
        .map(|_| rng.gen_range(0.05..0.9))
        .collect();
    thresholds.sort_by(|a, b| a.total_cmp(b));
    let bar = ProgressBar::new(expected.len() as u64);
    if args.no_progress {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} results  {per_sec}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut kills = 0u32;
    let mut last_progress = (0usize, Instant::now());
    let stalled_after = Duration::from_secs(120);
    loop {
        let done = collector.count_of(&topics.output);
        bar.set_position(done as u64);
        if done != last_progress.0 {
            last_progress = (done, Instant::now());
        }
        if done >= expected.len() && kills as usize >= thresholds.len() {
            break;
        }
        if last_progress.1.elapsed() > stalled_after {
            bar.abandon_with_message("no progress for 120 s");
            break;
        }
        let fraction = done as f64 / expected.len() as f64;
        if (kills as usize) < thresholds.len()
            && (fraction >= thresholds[kills as usize] || done >= expected.len())
        {
            let victim = rng.gen_range(0..workers.len());
            let w = &mut workers[victim];
            let _ = w.child.kill(); // SIGKILL
            let _ = w.child.wait();
            kills += 1;
            bar.set_message(format!(
                "killed worker {} (kill {kills}/{})",
                w.instance, args.crashes
            ));
            std::thread::sleep(Duration::from_millis(rng.gen_range(50..400)));
            let (instance, life) = (w.instance, w.life + 1);
            *w = spawn_worker(args, &bootstrap, &topics, instance, life, &log_dir, &board)?;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = last_progress
        .1
        .duration_since(started)
        .as_secs_f64()
        .max(0.001);
    bar.finish_with_message("all results read; lingering to catch duplicates");
    // linger: a duplicate written late would show up here
    std::thread::sleep(Duration::from_millis(1500));

    // 4. graceful stop: close the workers' stdin
    for w in &mut workers {
        drop(w.child.stdin.take());
    }
    for w in &mut workers {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match w.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = w.child.kill();
                    let _ = w.child.wait();
                    break;
                }
            }
        }
    }
    let (outputs, dlq) = collector.stop(&topics.output, &topics.dlq);
    let check = check_exactly_once(&expected, &outputs);

    let lines: Vec<MetricsLine> = board
        .lock()
        .map(|b| b.values().cloned().collect())
        .unwrap_or_default();
    let commits = lines.iter().map(|l| l.commits).sum();
    let aborts = lines.iter().map(|l| l.aborts).sum();
    let mut p50s: Vec<u64> = lines.iter().filter_map(|l| l.commit_p50_us).collect();
    p50s.sort_unstable();
    let p50 = p50s.get(p50s.len() / 2).copied();
    let p99 = lines.iter().filter_map(|l| l.commit_p99_us).max();
    let broker_transactions = cluster.embedded_broker().map(|b| b.transaction_counts());
    Ok(DemoReport {
        records_in: input.len(),
        check,
        dead_lettered: dlq.len(),
        poison: args.poison as usize,
        kills,
        broker_transactions,
        worker_transactions: (commits, aborts),
        records_per_sec: outputs.len() as f64 / elapsed,
        commit_latency_us: (p50, p99),
        log_dir,
    })
}
