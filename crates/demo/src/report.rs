//! What the demo measured, and how it prints.

use std::path::PathBuf;

use crate::verify::Outcome;

/// What the demo measured.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// Input records written (events + poison records).
    pub records_in: usize,
    /// The invariant: every input record in the output (as f(record)) or in the
    /// dead-letter topic, exactly once, each key in order.
    pub outcome: Outcome,
    /// Records in the dead-letter topic.
    pub dead_lettered: usize,
    /// Poison records written (undecodable: dead-lettered).
    pub poison: usize,
    /// Records of the always-failing orders (dead-lettered after their attempts).
    pub always_failing: usize,
    /// Records parked (written to the parking topic) over all worker lives.
    pub parked: u64,
    /// Failed attempts scheduled for a retry, over all worker lives.
    pub retries: u64,
    /// Keys still parked when the workers stopped.
    pub still_parked: u64,
    /// Workers killed with SIGKILL.
    pub kills: u32,
    /// Nodes of the embedded broker (1 for an external cluster).
    pub nodes: usize,
    /// Nodes of the embedded cluster that failed and came back during the run.
    pub node_failovers: u32,
    /// SIGKILLs of the broker process (`--broker-kills`).
    pub broker_kills: u32,
    /// The longest of its restarts, from the kill to listening again (recovery included).
    pub slowest_broker_restart: Option<std::time::Duration>,
    /// Transactions as the embedded broker counted them.
    pub broker_transactions: Option<kafka_eos_broker::TransactionCounts>,
    /// Worker-reported commits / aborts (killed lives report up to their last half second).
    pub worker_transactions: (u64, u64),
    /// Output records per second, from the first worker start to the last output.
    pub records_per_sec: f64,
    /// Commit latency: median of the workers' p50s, maximum of their p99s (µs).
    pub commit_latency_us: (Option<u64>, Option<u64>),
    /// The most records a worker processed at once.
    pub in_flight_peak: u64,
    /// The workers' `--concurrency`.
    pub concurrency: usize,
    /// Where the workers' logs are (and a `--secure` run's CA and password file).
    pub log_dir: PathBuf,
    /// How the clients reached the cluster: `PLAINTEXT`, `SASL_SSL (SCRAM-SHA-512, user demo)`.
    pub security: String,
    /// The side effects' runs (`--side-effects`).
    pub effects: Option<crate::effects::EffectsOutcome>,
}

impl DemoReport {
    /// True when every input record is in the output or the dead-letter topic exactly once,
    /// in order, the dead letters are the poison records and the always-failing orders'
    /// records, and no key is still parked.
    pub fn passed(&self) -> bool {
        self.outcome.holds()
            && self.dead_lettered == self.poison + self.always_failing
            && self.still_parked == 0
            && self.effects.is_none_or(|e| e.holds())
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
        let (out, dead) = (&self.outcome.output, &self.outcome.dead_letters);
        println!(
            "  results expected / read    {} / {}",
            out.expected, out.actual
        );
        println!(
            "  duplicates                 {}",
            out.duplicates + dead.duplicates
        );
        println!(
            "  missing                    {}",
            out.missing + dead.missing
        );
        println!(
            "  unexpected                 {}",
            out.unexpected + dead.unexpected
        );
        println!(
            "  per-key order violations   {}",
            out.order_violations + dead.order_violations
        );
        println!(
            "  dead-lettered              {} ({} poison, {} of always-failing orders)",
            self.dead_lettered, self.poison, self.always_failing
        );
        println!(
            "  parked / retried           {} records parked, {} retries, {} keys still parked",
            self.parked, self.retries, self.still_parked
        );
        println!("  workers killed (SIGKILL)   {}", self.kills);
        if let Some(slowest) = self.slowest_broker_restart {
            println!(
                "  broker killed (SIGKILL)    {} (data dir recovered; slowest restart {} ms)",
                self.broker_kills,
                slowest.as_millis()
            );
        }
        if self.nodes > 1 {
            println!(
                "  broker nodes               {} ({} node failovers)",
                self.nodes, self.node_failovers
            );
        }
        match self.broker_transactions {
            Some(c) => println!(
                "  transactions (broker)      {} committed, {} aborted ({} by the pipeline, {} fenced by a restart, {} timed out)",
                c.committed,
                c.aborted + c.fenced + c.timed_out,
                c.aborted,
                c.fenced,
                c.timed_out
            ),
            None => println!("  transactions (broker)      n/a (the broker is not in this process)"),
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
            "  in flight (peak / bound)   {} / {}",
            self.in_flight_peak, self.concurrency
        );
        println!(
            "  commit latency             p50 {}, p99 {}",
            ms(self.commit_latency_us.0),
            ms(self.commit_latency_us.1)
        );
        println!("  worker logs                {}", self.log_dir.display());
        println!("  security                   {}", self.security);
        if let Some(e) = &self.effects {
            println!("  side effects               {e}");
        }
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
