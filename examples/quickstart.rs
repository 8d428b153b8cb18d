//! The README quick start, runnable: the `Fees` pipeline (one fee record per order) against
//! an embedded broker started in this process.
//!
//! It creates an input and an output topic, writes a few orders, runs the pipeline until
//! their fees are out, stops it gracefully with its shutdown token, reads the output with a
//! `read_committed` reader and checks it is exactly f(input): one fee per order, no
//! duplicate, nothing missing. It exits non-zero if not.
//!
//! ```text
//! cargo run -p kafka-eos-examples --example quickstart
//! RUST_LOG=kafka_eos_processor=debug cargo run -p kafka-eos-examples --example quickstart
//! KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 cargo run -p kafka-eos-examples --example quickstart
//! ```
//!
//! With `KAFKA_BOOTSTRAP_SERVERS` set it runs against that cluster instead (topics and the
//! group get unique names).

use std::error::Error;
use std::time::{Duration, Instant};

use kafka_eos_processor::{BoxError, Input, JsonCodec, Output, PipelineBuilder, Processor};
use kafka_eos_testkit::{check_exactly_once, read_committed, write_records, Cluster, Record};
use tracing_subscriber::EnvFilter;

#[derive(serde::Serialize, serde::Deserialize)]
struct Order {
    id: u64,
    amount_cents: u64,
}

/// One fee record per order event, keyed by order id.
///
/// As in the README, except that the output topic is a field: the example uses a unique
/// topic name per run.
struct Fees {
    output: String,
}

impl Processor for Fees {
    type Input = Order;

    async fn process(&self, input: Input<Order>) -> Result<Vec<Output>, BoxError> {
        let order = input.value;
        let fee = (order.amount_cents * 3 / 100).to_string();
        Ok(vec![Output::new(&self.output, order.id.to_string(), fee)])
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    // `RUST_LOG=kafka_eos_processor=debug` logs every batch; the default shows warnings only.
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .init();
    let started = Instant::now();

    // The embedded broker, or the cluster in KAFKA_BOOTSTRAP_SERVERS.
    let cluster = Cluster::from_env()?;
    let bootstrap = cluster.bootstrap_servers();
    let input_topic = cluster.unique_topic("orders");
    let output_topic = cluster.unique_topic("order-fees");
    let group = cluster.unique_topic("order-fees-group");
    cluster.create_topic(&input_topic, 3)?;
    cluster.create_topic(&output_topic, 3)?;
    println!("cluster at {bootstrap}; topics {input_topic} -> {output_topic}");

    // A few orders, keyed by order id.
    let orders: Vec<Order> = (1..=10)
        .map(|id| Order {
            id,
            amount_cents: id * 1_250,
        })
        .collect();
    let input: Vec<Record> = orders
        .iter()
        .map(|o| Ok(Record::new(o.id.to_string(), serde_json::to_vec(o)?)))
        .collect::<Result<_, serde_json::Error>>()?;
    write_records(&bootstrap, &input_topic, &input)?;
    println!("wrote {} orders", input.len());

    // f(input): what the pipeline must write, exactly once each.
    let expected: Vec<Record> = orders
        .iter()
        .map(|o| Record::new(o.id.to_string(), (o.amount_cents * 3 / 100).to_string()))
        .collect();

    // In a service this is just `pipeline.run().await` in `#[tokio::main]` (see the README).
    // Here the testkit's reader blocks this thread, so the pipeline runs on a multi-thread
    // runtime's workers while this thread waits for the output.
    let runtime = tokio::runtime::Runtime::new()?;
    let pipeline = PipelineBuilder::new()
        .bootstrap_servers(&bootstrap)
        .group_id(&group)
        .input_topic(&input_topic)
        .app_name("fees") // transactional.id = fees-<group>-0: stable across restarts
        .stop_on_signals(true) // Ctrl-C: finish the batch, commit, leave the group
        .build(
            Fees {
                output: output_topic.clone(),
            },
            JsonCodec::<Order>::new(),
        )?;
    let shutdown = pipeline.shutdown_token();
    let metrics = pipeline.metrics();
    let task = runtime.spawn(pipeline.run());
    println!("pipeline started (group {group})");

    // Everything the pipeline committed, as a read_committed consumer sees it; the reader
    // waits for the expected count, then half a second more to catch duplicates.
    let read = read_committed(
        &bootstrap,
        &output_topic,
        expected.len(),
        Duration::from_millis(500),
    );

    // Graceful stop: the current batch is committed, the consumer leaves the group.
    shutdown.cancel();
    runtime.block_on(async { tokio::time::timeout(Duration::from_secs(30), task).await })???;
    let read = read?;
    let m = metrics.snapshot();
    println!(
        "pipeline stopped: {} records in, {} out, {} transactions committed, {} aborted",
        m.records_in, m.records_out, m.commits, m.aborts
    );

    let mut fees: Vec<(u64, String, i32, i64)> = read
        .iter()
        .map(|r| {
            let id = String::from_utf8_lossy(&r.key).parse().unwrap_or(u64::MAX);
            let fee = r.value_text();
            (id, fee, r.partition, r.offset)
        })
        .collect();
    fees.sort();
    for (id, fee, partition, offset) in &fees {
        println!("  order {id:>2}: fee {fee:>3} cents  (partition {partition}, offset {offset})");
    }

    let report = check_exactly_once(&expected, &read);
    if !report.is_exactly_once() {
        eprintln!("FAILED: the output is not exactly f(input): {report}");
        return Err(format!("output check failed: {report}").into());
    }
    println!(
        "OK: output = f(input), exactly once ({report}) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
