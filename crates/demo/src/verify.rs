//! `kafka-eos-demo verify`: re-reads the demo's input and output topics and checks that the
//! output is exactly f(input): no duplicate, nothing missing, each key in order.

use std::time::Duration;

use kafka_eos_testkit::{check_exactly_once, read_committed, ExactlyOnceReport};

use crate::error::DemoError;
use crate::orders::{expected_results, OrderEvent};

/// Arguments of `verify`.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// bootstrap.servers of the cluster.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    pub bootstrap: String,
    /// Input topic (order events).
    #[arg(long, default_value = "orders")]
    pub input: String,
    /// Output topic (order results).
    #[arg(long, default_value = "order-results")]
    pub output: String,
    /// Stop reading a topic after this long without a new record (ms).
    #[arg(long, default_value_t = 2000)]
    pub idle_ms: u64,
}

/// Reads both topics and compares.
pub fn run(args: &VerifyArgs) -> Result<ExactlyOnceReport, DemoError> {
    let idle = Duration::from_millis(args.idle_ms);
    let input = read_committed(&args.bootstrap, &args.input, 0, idle)?;
    let events: Vec<OrderEvent> = input
        .iter()
        .filter_map(|r| serde_json::from_slice::<OrderEvent>(r.value.as_deref()?).ok())
        .collect();
    let expected = expected_results(&events);
    let output = read_committed(&args.bootstrap, &args.output, expected.len(), idle)?;
    Ok(check_exactly_once(&expected, &output))
}
