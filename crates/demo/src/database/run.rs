//! The demo with `--sink postgres|mariadb`: input written, workers killed and restarted,
//! the tables checked against the input.

use std::time::Duration;

use kafka_eos_testkit::write_records_with;

use crate::database::{check, connect, Sink, Tables, TablesOutcome};
use crate::error::DemoError;
use crate::orders::{generate, input_records};
use crate::process::WorkerSpec;
use crate::run::{cluster_and_topics, drive, DemoArgs};
use crate::worker::MetricsLine;

/// What the demo into a database measured.
#[derive(Debug, Clone)]
pub struct TablesReport {
    /// The database.
    pub sink: Sink,
    /// The tables.
    pub tables: Tables,
    /// The invariant: the tables are f(input).
    pub outcome: TablesOutcome,
    /// Workers killed with SIGKILL.
    pub kills: u32,
    /// Database transactions committed and rolled back (killed lives report up to their
    /// last half second).
    pub transactions: (u64, u64),
    /// Events applied per second, from the first worker start to the last progress.
    pub records_per_sec: f64,
    /// Where the workers' logs are.
    pub log_dir: std::path::PathBuf,
}

impl TablesReport {
    /// Whether the tables are exactly f(input).
    pub fn passed(&self) -> bool {
        self.outcome.holds()
    }

    /// Prints the report.
    pub fn print(&self) {
        println!();
        println!("=== kafka-eos demo: orders into {:?} ===", self.sink);
        println!(
            "tables:            {} (status by order), {} (fee balance by merchant), {} (offsets)",
            self.tables.status, self.tables.fees, self.tables.offsets
        );
        println!("workers killed:    {} (SIGKILL)", self.kills);
        println!(
            "transactions:      {} committed, {} rolled back",
            self.transactions.0, self.transactions.1
        );
        println!("throughput:        {:.0} events/s", self.records_per_sec);
        println!("worker logs:       {}", self.log_dir.display());
        println!("result:            {}", self.outcome);
    }
}

/// Runs the demo into the database of `args.sink`.
pub fn run(args: &DemoArgs, exe: std::path::PathBuf) -> Result<TablesReport, DemoError> {
    let url = args.sink.url(args.database_url.as_deref())?;
    if args.workers == 0 || args.partitions < 1 || args.orders == 0 {
        return Err(DemoError::Usage(
            "--workers, --partitions and --orders must be at least 1".into(),
        ));
    }
    if args.node_failovers > 0 {
        return Err(DemoError::Usage(
            "--node-failovers runs with the Kafka sink only (not --sink postgres|mariadb)".into(),
        ));
    }
    let log_dir = crate::process::fresh_log_dir()?;
    let crate::run::Setup {
        cluster,
        access,
        topics,
        ..
    } = cluster_and_topics(args, &log_dir, None)?;
    // an external cluster outlives runs, and so does its database: tables of this run's own
    let prefix = match &args.bootstrap {
        Some(_) => format!(
            "kafka_eos_demo_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ),
        None => "kafka_eos_demo".to_owned(),
    };
    let tables = Tables::with_prefix(&prefix);
    let bootstrap = cluster.bootstrap_servers();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let db = runtime.block_on(connect(&url))?;
    runtime.block_on(tables.recreate(&db))?;
    println!(
        "cluster: {bootstrap}; database: {} ({})",
        kafka_eos_sql::redact_url(&url),
        match args.sink {
            Sink::Postgres => "PostgreSQL",
            _ => "MariaDB",
        }
    );
    println!(
        "tables: {}, {}, {}",
        tables.status, tables.fees, tables.offsets
    );

    let events = generate(args.orders, args.seed);
    write_records_with(
        &access.client(&bootstrap)?,
        &topics.input,
        &input_records(&events),
    )?;
    println!("wrote {} order events to {}", events.len(), topics.input);

    let mut spec = WorkerSpec::new(exe, bootstrap, topics)?;
    spec.log_dir = log_dir;
    spec.env = access.worker_env.clone();
    spec.commit_interval_ms = args.commit_interval_ms;
    spec.pause_every = args.pause_every;
    spec.failures.transient = args.transient_failures;
    spec.max_attempts = args.crashes + 3;
    spec.default_log_filter = "info".into();
    spec.sink = args.sink;
    spec.database_url = Some(url);
    spec.tables = prefix;
    let total = events.len();
    let driven = drive(args, &spec, total, |_| {
        let applied = runtime
            .block_on(tables.events_applied(&db))
            .unwrap_or_default();
        (usize::try_from(applied).unwrap_or_default(), true)
    })?;
    // the last transactions are in: read the tables
    std::thread::sleep(Duration::from_millis(200));
    let outcome = runtime.block_on(check(&db, &tables, &events))?;
    let lines: Vec<MetricsLine> = driven
        .retired
        .iter()
        .chain(&driven.workers)
        .filter_map(crate::process::WorkerProcess::metrics)
        .collect();
    Ok(TablesReport {
        sink: args.sink,
        tables,
        outcome,
        kills: driven.kills,
        transactions: (
            lines.iter().map(|l| l.commits).sum(),
            lines.iter().map(|l| l.aborts).sum(),
        ),
        records_per_sec: total as f64 / driven.elapsed,
        log_dir: spec.log_dir,
    })
}
