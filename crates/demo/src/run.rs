//! The demo: order events through the exactly-once pipeline, run as worker processes that
//! are killed with SIGKILL at random points and restarted, then verified end to end with a
//! `read_committed` reader.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use kafka_eos_broker::BrokerConfig;

use crate::broker_process::{BrokerKills, BrokerProcess};
use kafka_eos_testkit::{write_records_with, Cluster, Collector, Record};
use rand::{Rng, SeedableRng};

use crate::error::DemoError;
use crate::orders::{expected_results, fails_permanently, generate, input_records, Failures};
use crate::process::{WorkerProcess, WorkerSpec};
use crate::report::DemoReport;
use crate::security::Access;
use crate::topics::Topics;
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
    /// Fraction of records (0..=1) whose first attempt fails (in each worker life): their
    /// keys park and are retried after a backoff, in order, while other keys flow.
    #[arg(long, default_value_t = 0.01)]
    pub transient_failures: f64,
    /// Orders whose records always fail: each is dead-lettered after its attempts.
    #[arg(long, default_value_t = 2)]
    pub permanent_failures: u32,
    /// Transaction commit interval of the workers (ms).
    #[arg(long, default_value_t = 100)]
    pub commit_interval_ms: u64,
    /// Simulated work in the workers: pause 1 ms every this many records (0: none).
    #[arg(long, default_value_t = 20)]
    pub pause_every: u64,
    /// Simulated latency of a call to another service per record (ms).
    #[arg(long, default_value_t = 0)]
    pub work_ms: u64,
    /// Records each worker processes at once (keys concurrently, each key in order).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Workers without a parking topic: a failing record is retried by replaying its batch,
    /// and the next batch is polled while one is in its transaction.
    #[arg(long)]
    pub no_parking: bool,
    /// Seed of the event generator and of the kill schedule.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Hide the progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Where the pipeline writes: the output topic (`kafka`), or PostgreSQL / MariaDB tables
    /// through the exactly-once database sink (an order-status table upserted by order id and
    /// a per-merchant fee balance incremented per event; no poison records nor
    /// always-failing orders then: the sink stops at those).
    #[arg(long, value_enum, default_value_t = crate::database::Sink::Kafka)]
    pub sink: crate::database::Sink,
    /// The database of `--sink postgres|mariadb` (default: this machine's `test` database).
    #[arg(long)]
    pub database_url: Option<String>,
    /// A side effect per order event outside Kafka (a row appended to a PostgreSQL effects
    /// log), guarded by this idempotency store; the run then checks that every effect ran,
    /// and ran again at most once per record in flight of a killed worker. With `postgres`
    /// or `layered`, the store's connections are also terminated every 3 s (outages).
    #[arg(long, value_enum)]
    pub side_effects: Option<crate::effects::Guard>,
    /// Serve each worker's metrics for Prometheus: worker `i` at this address's port + `i`
    /// (`http://HOST:PORT+i/metrics`, the URLs are printed; a restarted worker serves
    /// again at its port).
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Secure the embedded broker: TLS (a CA and a certificate generated for the run) and
    /// SASL/SCRAM-SHA-512 (user `demo`, a random password the workers read from a file).
    /// With `--bootstrap`, set the `KAFKA_EOS_SECURITY_PROTOCOL`, `KAFKA_EOS_SASL_*` and
    /// `KAFKA_EOS_SSL_*` variables instead (see the README).
    #[arg(long)]
    pub secure: bool,
    /// Nodes of the embedded broker (a cluster in one process; topics get this replication
    /// factor).
    #[arg(long, default_value_t = 1)]
    pub nodes: usize,
    /// How many times a node of the embedded cluster fails during the run (its leadership
    /// and coordinators move to live nodes, and it comes back a few seconds later); needs
    /// `--nodes 2` or more.
    #[arg(long, default_value_t = 0)]
    pub node_failovers: u32,
    /// How many times the broker is killed with SIGKILL (and restarted on its data dir)
    /// during the run: the broker then runs in a child process with a data dir (durable
    /// logs) instead of in the demo's process.
    #[arg(long, default_value_t = 0)]
    pub broker_kills: u32,
}

impl DemoArgs {
    /// The settings of a command line (`args[0]` is the program's name), as the binary
    /// parses them: what the suites run the demo with.
    pub fn from_args(args: &[&str]) -> Result<Self, clap::Error> {
        #[derive(clap::Parser)]
        struct Demo {
            #[command(flatten)]
            args: DemoArgs,
        }
        <Demo as clap::Parser>::try_parse_from(args).map(|d| d.args)
    }
}

/// The input: the events' records with `poison` undecodable records spread among them.
fn with_poison(events: Vec<Record>, poison: u32) -> Vec<Record> {
    let every = (events.len() / (poison as usize + 1)).max(1);
    let mut input = Vec::with_capacity(events.len() + poison as usize);
    let mut written = 0;
    for (i, r) in events.into_iter().enumerate() {
        input.push(r);
        if (i + 1) % every == 0 && written < poison {
            input.push(Record::new(format!("poison-{}", input.len()), "{not json"));
            written += 1;
        }
    }
    while written < poison {
        input.push(Record::new(format!("poison-{}", input.len()), "{not json"));
        written += 1;
    }
    input
}

pub(crate) fn progress_bar(hidden: bool, bar: ProgressBar) -> ProgressBar {
    if hidden {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}

/// The run's cluster (`--bootstrap`, else the embedded broker with `--partitions` per topic,
/// secured with `--secure`), how its clients reach it, and its topics, created: names of
/// this run's own on an external cluster, which outlives runs; the workers' defaults on the
/// embedded broker. `dir` holds a secured run's CA and password, and the data dir and log of
/// the broker process that `--broker-kills` starts from `broker_exe`.
pub(crate) fn cluster_and_topics(
    args: &DemoArgs,
    dir: &std::path::Path,
    broker_exe: Option<&std::path::Path>,
) -> Result<Setup, DemoError> {
    let mut process = None;
    let (cluster, access, topics) = match &args.bootstrap {
        Some(_) if args.secure => {
            return Err(DemoError::Usage(
                "--secure secures the embedded broker: with --bootstrap, give the cluster's \
                 security in the KAFKA_EOS_SECURITY_PROTOCOL, KAFKA_EOS_SASL_* and \
                 KAFKA_EOS_SSL_* variables"
                    .into(),
            ))
        }
        Some(_) if args.nodes > 1 || args.node_failovers > 0 || args.broker_kills > 0 => {
            return Err(DemoError::Usage(
                "--nodes, --node-failovers and --broker-kills shape the embedded broker: not \
                 with --bootstrap"
                    .into(),
            ))
        }
        Some(b) => {
            let cluster = Cluster::external(b.clone());
            let topics = Topics::unique(&cluster, "orders");
            (cluster, Access::from_env()?, topics)
        }
        None if args.broker_kills > 0 && (args.secure || args.node_failovers > 0) => {
            return Err(DemoError::Usage(
                "--broker-kills runs a plaintext broker process: not with --secure or \
                 --node-failovers"
                    .into(),
            ))
        }
        None if args.broker_kills > 0 => {
            let Some(exe) = broker_exe else {
                return Err(DemoError::Usage(
                    "--broker-kills runs with the Kafka sink only".into(),
                ));
            };
            let started = BrokerProcess::start(exe, dir, args.nodes, args.partitions)?;
            let cluster = Cluster::external(started.bootstrap_servers());
            process = Some(started);
            (cluster, Access::default(), Topics::fixed())
        }
        None => {
            let config = crate::failovers::cluster_config(
                BrokerConfig::default().default_partitions(args.partitions),
                args.nodes,
            );
            let (config, access) = if args.secure {
                Access::secure(config, dir)?
            } else {
                (config, Access::default())
            };
            (Cluster::embedded_with(config)?, access, Topics::fixed())
        }
    };
    topics.create(&cluster, args.partitions)?;
    Ok(Setup {
        cluster,
        access,
        topics,
        process,
    })
}

/// What a run works against.
pub(crate) struct Setup {
    /// The cluster.
    pub cluster: Cluster,
    /// How clients reach it.
    pub access: Access,
    /// The run's topics, created.
    pub topics: Topics,
    /// The broker process of `--broker-kills`.
    pub process: Option<BrokerProcess>,
}

/// Worker `instance`'s metrics address: `base`'s port + `instance` (`None` past 65535, or
/// port 0).
pub fn worker_metrics_addr(
    base: std::net::SocketAddr,
    instance: u32,
) -> Option<std::net::SocketAddr> {
    let port = u16::try_from(u32::from(base.port()) + instance).ok()?;
    (base.port() != 0).then(|| std::net::SocketAddr::new(base.ip(), port))
}

/// Runs the demo and returns its report. `exe` is the `kafka-eos-demo` binary that runs the
/// workers (`std::env::current_exe()` from the binary itself).
pub fn run(args: &DemoArgs, exe: std::path::PathBuf) -> Result<DemoReport, DemoError> {
    if args.workers == 0
        || args.partitions < 1
        || args.orders == 0
        || args.concurrency == 0
        || args.nodes == 0
    {
        return Err(DemoError::Usage(
            "--workers, --partitions, --orders, --concurrency and --nodes must be at least 1"
                .into(),
        ));
    }
    let mut failovers =
        crate::failovers::NodeFailovers::new(args.node_failovers, args.nodes, args.seed)?;
    if !(0.0..=1.0).contains(&args.transient_failures) {
        return Err(DemoError::Usage(
            "--transient-failures is a fraction of records, from 0 to 1".into(),
        ));
    }
    let metrics_addrs = match args.metrics_addr {
        Some(base) => (0..args.workers)
            .map(|i| worker_metrics_addr(base, i))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                DemoError::Usage(format!(
                    "--metrics-addr {base}: worker ports {}..{} must be 1..=65535",
                    base.port(),
                    u32::from(base.port()) + args.workers - 1
                ))
            })?,
        None => Vec::new(),
    };
    let log_dir = crate::process::fresh_log_dir()?;
    let Setup {
        cluster,
        access,
        topics,
        process,
    } = cluster_and_topics(args, &log_dir, Some(&exe))?;
    let mut broker_kills =
        process.map(|process| BrokerKills::new(process, args.broker_kills, args.seed));
    let bootstrap = cluster.bootstrap_servers();
    let client = access.client(&bootstrap)?;
    println!(
        "cluster: {bootstrap} ({}), {}",
        match (&args.bootstrap, args.nodes, &broker_kills) {
            (Some(_), _, _) => "external".to_string(),
            (None, n, Some(k)) => format!(
                "embedded broker in a child process, {n} node(s), data dir {}",
                k.process.data_dir().display()
            ),
            (None, 1, None) => "embedded broker".to_string(),
            (None, n, None) => format!("embedded broker, {n} nodes"),
        },
        access.describe()
    );

    // 1. the input: order events, plus poison records
    let events = generate(args.orders, args.seed);
    let input = with_poison(input_records(&events), args.poison);
    let spinner = progress_bar(
        args.no_progress,
        ProgressBar::new_spinner().with_message(format!("writing {} input records", input.len())),
    );
    spinner.enable_steady_tick(Duration::from_millis(100));
    write_records_with(&client, &topics.input, &input)?;
    spinner.finish_with_message(format!(
        "wrote {} input records to {}",
        input.len(),
        topics.input
    ));
    // the always-failing orders' records end in the dead-letter topic, not the output
    let (failing, healthy): (Vec<_>, Vec<_>) = events
        .iter()
        .cloned()
        .partition(|e| fails_permanently(e.order, args.permanent_failures));
    let expected = expected_results(&healthy);
    let expected_dead = args.poison as usize + failing.len();

    // 2. the reader, from the start, read_committed
    let collector = Collector::start_with(&client, &[&topics.output, &topics.dlq])?;

    // 3. the workers, and the kill schedule: at random points of the progress
    let mut spec = WorkerSpec::new(exe, bootstrap, topics.clone())?;
    spec.log_dir = log_dir;
    spec.env = access.worker_env.clone();
    spec.commit_interval_ms = args.commit_interval_ms;
    spec.pause_every = args.pause_every;
    spec.work_ms = args.work_ms;
    spec.concurrency = args.concurrency;
    spec.parking = !args.no_parking;
    spec.failures = Failures {
        transient: args.transient_failures,
        permanent: args.permanent_failures,
    };
    // a transient failure fails once per worker life: enough attempts that a record retried
    // across every restart still succeeds
    spec.max_attempts = args.crashes + 3;
    spec.default_log_filter = "info".into();
    spec.metrics_addr = args.metrics_addr;
    for (i, addr) in metrics_addrs.iter().enumerate() {
        println!("worker {i} metrics: http://{addr}/metrics");
    }
    let effects = match args.side_effects {
        Some(guard) => Some(Effects::prepare(guard, &mut spec)?),
        None => None,
    };
    let mut outages = 0u32;
    let mut last_outage = Instant::now();
    let driven = drive(args, &spec, expected.len(), |bar| {
        let done = collector.count_of(&topics.output);
        let fraction = done as f64 / expected.len() as f64;
        if let Some(event) = failovers.tick(cluster.embedded_broker(), fraction) {
            bar.set_message(event);
        }
        if let Some(kills) = &mut broker_kills {
            if let Some(event) = kills.tick(fraction) {
                bar.set_message(event);
            }
        }
        if let Some(e) = &effects {
            if e.guard.uses_postgres() && last_outage.elapsed() > Duration::from_secs(3) {
                outages += e.outage(&spec.effects_prefix);
                last_outage = Instant::now();
            }
        }
        (
            done,
            collector.count_of(&topics.dlq) >= expected_dead
                && failovers.finished()
                && broker_kills.as_ref().is_none_or(|k| k.schedule.finished()),
        )
    })?;
    let effects = match effects {
        Some(e) => Some(e.outcome(&events, driven.kills, args.concurrency, outages)?),
        None => None,
    };
    let (retired, workers, kills, elapsed) =
        (driven.retired, driven.workers, driven.kills, driven.elapsed);
    let (outputs, dlq) = collector.stop(&topics.output, &topics.dlq);
    let outcome = crate::verify::check(&input, &outputs, &dlq);

    let lines: Vec<MetricsLine> = retired
        .iter()
        .chain(&workers)
        .filter_map(WorkerProcess::metrics)
        .collect();
    let commits = lines.iter().map(|l| l.commits).sum();
    let aborts = lines.iter().map(|l| l.aborts).sum();
    let mut p50s: Vec<u64> = lines.iter().filter_map(|l| l.commit_p50_us).collect();
    p50s.sort_unstable();
    let p50 = p50s.get(p50s.len() / 2).copied();
    let p99 = lines.iter().filter_map(|l| l.commit_p99_us).max();
    let in_flight_peak = lines.iter().map(|l| l.in_flight_peak).max().unwrap_or(0);
    let parked = lines.iter().map(|l| l.records_parked).sum();
    let retries = lines.iter().map(|l| l.retries).sum();
    let still_parked = workers
        .iter()
        .filter_map(WorkerProcess::metrics)
        .map(|l| l.parked_keys)
        .sum();
    let broker_transactions = cluster.embedded_broker().map(|b| b.transaction_counts());
    Ok(DemoReport {
        records_in: input.len(),
        outcome,
        dead_lettered: dlq.len(),
        poison: args.poison as usize,
        always_failing: failing.len(),
        parked,
        retries,
        still_parked,
        kills,
        node_failovers: failovers.done(),
        broker_kills: broker_kills.as_ref().map_or(0, |k| k.process.kills),
        slowest_broker_restart: broker_kills.as_ref().map(|k| k.process.slowest_restart),
        nodes: args.nodes,
        broker_transactions,
        worker_transactions: (commits, aborts),
        records_per_sec: outputs.len() as f64 / elapsed,
        commit_latency_us: (p50, p99),
        in_flight_peak,
        concurrency: args.concurrency,
        log_dir: spec.log_dir,
        security: access.describe(),
        effects,
    })
}

/// The effects log of a run with `--side-effects`, read from the demo's thread.
struct Effects {
    guard: crate::effects::Guard,
    log: crate::effects::EffectLog,
    runtime: tokio::runtime::Runtime,
}

impl Effects {
    /// A fresh log (and store tables) for this run's workers.
    fn prepare(guard: crate::effects::Guard, spec: &mut WorkerSpec) -> Result<Self, DemoError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        spec.side_effects = Some(guard);
        spec.effects_prefix = format!(
            "kafka_eos_demo_fx_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let log = runtime.block_on(crate::effects::EffectLog::connect(&spec.effects_prefix))?;
        runtime.block_on(log.recreate(&spec.effects_prefix))?;
        println!(
            "side effects guarded by {}: log {}_effects",
            guard.name(),
            spec.effects_prefix
        );
        Ok(Effects {
            guard,
            log,
            runtime,
        })
    }

    /// Terminates the stores' connections; 1 if any was.
    fn outage(&self, prefix: &str) -> u32 {
        match self
            .runtime
            .block_on(self.log.cut_store_connections(prefix))
        {
            Ok(n) => u32::from(n > 0),
            Err(e) => {
                tracing::warn!(error = %e, "cannot inject a store outage");
                0
            }
        }
    }

    /// The log against the events.
    fn outcome(
        &self,
        events: &[crate::orders::OrderEvent],
        kills: u32,
        concurrency: usize,
        outages: u32,
    ) -> Result<crate::effects::EffectsOutcome, DemoError> {
        let (ran, runs) = self.runtime.block_on(self.log.counts())?;
        Ok(crate::effects::EffectsOutcome {
            guard: Some(self.guard),
            events: events.len() as i64,
            ran,
            extra_runs: runs - ran,
            allowed_extra: i64::from(kills) * concurrency as i64,
            outages,
        })
    }
}

/// The worker processes of a run once it is over.
pub(crate) struct Driven {
    /// Killed lives.
    pub retired: Vec<WorkerProcess>,
    /// The last lives, stopped gracefully.
    pub workers: Vec<WorkerProcess>,
    /// SIGKILLs sent.
    pub kills: u32,
    /// Seconds from the first start to the last progress.
    pub elapsed: f64,
}

/// Starts `args.workers` workers of `spec`, kills one with SIGKILL (and starts its next
/// life) at `args.crashes` random points of the progress, until `progress(bar)` says `total`
/// results are done (and its flag that everything else is) or nothing moves for 120 s; then
/// lingers (a late duplicate would show) and stops the workers gracefully.
pub(crate) fn drive(
    args: &DemoArgs,
    spec: &WorkerSpec,
    total: usize,
    mut progress: impl FnMut(&ProgressBar) -> (usize, bool),
) -> Result<Driven, DemoError> {
    let expected_len = total;
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed ^ 0x5eed);
    let started = Instant::now();
    let mut workers = (0..args.workers)
        .map(|i| spec.spawn(i, 0))
        .collect::<Result<Vec<_>, _>>()?;
    let mut retired: Vec<WorkerProcess> = Vec::new();
    let mut thresholds: Vec<f64> = (0..args.crashes)
        .map(|_| rng.gen_range(0.05..0.9))
        .collect();
    thresholds.sort_by(|a, b| a.total_cmp(b));
    let bar = progress_bar(args.no_progress, ProgressBar::new(expected_len as u64));
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} results  {per_sec}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut kills = 0u32;
    let mut last_progress = (0usize, Instant::now());
    let stalled_after = Duration::from_secs(120);
    loop {
        let (done, rest_done) = progress(&bar);
        bar.set_position(done as u64);
        if done != last_progress.0 {
            last_progress = (done, Instant::now());
        }
        if done >= expected_len && rest_done && kills as usize >= thresholds.len() {
            break;
        }
        if last_progress.1.elapsed() > stalled_after {
            bar.abandon_with_message("no progress for 120 s");
            break;
        }
        let fraction = done as f64 / expected_len as f64;
        if (kills as usize) < thresholds.len()
            && (fraction >= thresholds[kills as usize] || done >= expected_len)
        {
            let victim = rng.gen_range(0..workers.len());
            let (instance, life) = (workers[victim].instance, workers[victim].life + 1);
            let _ = workers[victim].kill(); // SIGKILL
            kills += 1;
            bar.set_message(format!(
                "killed worker {instance} (kill {kills}/{})",
                args.crashes
            ));
            std::thread::sleep(Duration::from_millis(rng.gen_range(50..400)));
            let next = spec.spawn(instance, life)?;
            retired.push(std::mem::replace(&mut workers[victim], next));
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

    // graceful stop: close the workers' stdin
    workers.iter_mut().for_each(WorkerProcess::request_stop);
    for w in &mut workers {
        w.stop(Duration::from_secs(30));
    }
    Ok(Driven {
        retired,
        workers,
        kills,
        elapsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poison_records_are_spread_and_counted() {
        let events: Vec<Record> = (0..100)
            .map(|i| Record::new(format!("k{i}"), "{}"))
            .collect();
        let input = with_poison(events, 5);
        let poison: Vec<usize> = input
            .iter()
            .enumerate()
            .filter(|(_, r)| r.key.starts_with(b"poison"))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(input.len(), 105);
        assert_eq!(poison.len(), 5);
        assert!(poison[0] > 0 && poison[4] < 104, "{poison:?}");
        assert_eq!(with_poison(vec![], 2).len(), 2);
    }
}
