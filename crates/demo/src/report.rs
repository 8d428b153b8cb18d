//! What the demo measured, and how it prints.

use std::path::PathBuf;

use kafka_eos_testkit::ExactlyOnceReport;

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
    /// The most records a worker processed at once.
    pub in_flight_peak: u64,
    /// The workers' `--concurrency`.
    pub concurrency: usize,
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
            "  in flight (peak / bound)   {} / {}",
            self.in_flight_peak, self.concurrency
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
