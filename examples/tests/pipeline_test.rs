//! How to test your own pipeline with `kafka-eos-testkit` (as a dev-dependency): write input
//! records, run the pipeline, read its *output* topic with a `read_committed` reader and
//! compare it with f(input) — what the pipeline must write, exactly once.
//!
//! ```text
//! cargo test -p kafka-eos-examples
//! KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 cargo test -p kafka-eos-examples   # a real cluster
//! ```
//!
//! The test uses an embedded broker started in the test process unless
//! `KAFKA_BOOTSTRAP_SERVERS` is set; topic and group names are unique per run, so tests can
//! run in parallel and against a shared cluster.

use std::error::Error;
use std::time::Duration;

use kafka_eos_processor::{BoxError, Input, JsonCodec, Output, PipelineBuilder, Processor};
use kafka_eos_testkit::{check_exactly_once, read_committed, write_records, Cluster, Record};

// In your crate this is `use my_app::{Fees, Order};`.
#[derive(serde::Serialize, serde::Deserialize)]
struct Order {
    id: u64,
    amount_cents: u64,
}

struct Fees {
    output: String,
}

impl Processor for Fees {
    type Input = Order;

    async fn process(&mut self, input: Input<Order>) -> Result<Vec<Output>, BoxError> {
        let order = input.value;
        let fee = (order.amount_cents * 3 / 100).to_string();
        Ok(vec![Output::new(&self.output, order.id.to_string(), fee)])
    }
}

#[test]
fn every_order_gets_exactly_one_fee() -> Result<(), Box<dyn Error>> {
    let cluster = Cluster::from_env()?; // embedded, unless KAFKA_BOOTSTRAP_SERVERS is set
    let bootstrap = cluster.bootstrap_servers();
    let input_topic = cluster.unique_topic("orders");
    let output_topic = cluster.unique_topic("order-fees");
    let group = cluster.unique_topic("order-fees-test");
    cluster.create_topic(&input_topic, 4)?;
    cluster.create_topic(&output_topic, 4)?;

    // Input: 200 events of 20 orders (several per key, so per-key order is checked too).
    let orders: Vec<Order> = (0..200u64)
        .map(|i| Order {
            id: i % 20,
            amount_cents: 100 + i * 7,
        })
        .collect();
    let mut input = Vec::new();
    for o in &orders {
        input.push(Record::new(o.id.to_string(), serde_json::to_vec(o)?));
    }
    write_records(&bootstrap, &input_topic, &input)?;

    // Expected output: f(input), computed independently of the processor, in input order.
    let expected: Vec<Record> = orders
        .iter()
        .map(|o| Record::new(o.id.to_string(), (o.amount_cents * 3 / 100).to_string()))
        .collect();

    // The testkit's calls (write_records, read_committed) block the calling thread. The
    // pipeline therefore runs on a multi-thread runtime's worker threads, never on this
    // thread: a blocking read here cannot starve it. (A `#[tokio::test]` current-thread
    // runtime with the read on the same thread would hang until the reader's deadline.)
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let pipeline = PipelineBuilder::new()
        .bootstrap_servers(&bootstrap)
        .group_id(&group)
        .input_topic(&input_topic)
        .commit_every_records(50) // several transactions
        .build(
            Fees {
                output: output_topic.clone(),
            },
            JsonCodec::<Order>::new(),
        )?;
    let shutdown = pipeline.shutdown_token();
    let task = runtime.spawn(pipeline.run());

    // Read the OUTPUT topic as a read_committed consumer sees it: wait for the expected
    // count, then a second more to catch duplicates.
    let read = read_committed(
        &bootstrap,
        &output_topic,
        expected.len(),
        Duration::from_secs(1),
    );

    // Stop gracefully, and check the pipeline itself ended without an error.
    shutdown.cancel();
    let stopped =
        runtime.block_on(async { tokio::time::timeout(Duration::from_secs(30), task).await })??;
    assert!(stopped.is_ok(), "the pipeline failed: {stopped:?}");
    let read = read?;

    let report = check_exactly_once(&expected, &read);
    assert!(report.is_exactly_once(), "{report}");
    Ok(())
}
