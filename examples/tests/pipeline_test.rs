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
use kafka_eos_testkit::{check_exactly_once, run_pipeline, write_records_async, Cluster, Record};

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

    async fn process(&self, input: Input<Order>) -> Result<Vec<Output>, BoxError> {
        let order = input.value;
        let fee = (order.amount_cents * 3 / 100).to_string();
        Ok(vec![Output::new(&self.output, order.id.to_string(), fee)])
    }
}

/// A plain `#[tokio::test]` (current-thread runtime): the testkit's `_async` calls and
/// `run_pipeline` never block it, so the pipeline runs on the same thread as the test.
#[tokio::test]
async fn every_order_gets_exactly_one_fee() -> Result<(), Box<dyn Error>> {
    let cluster = Cluster::from_env()?; // embedded, unless KAFKA_BOOTSTRAP_SERVERS is set
    let bootstrap = cluster.bootstrap_servers();
    let input_topic = cluster.unique_topic("orders");
    let output_topic = cluster.unique_topic("order-fees");
    let group = cluster.unique_topic("order-fees-test");
    cluster.create_topic_async(&input_topic, 4).await?;
    cluster.create_topic_async(&output_topic, 4).await?;

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
    write_records_async(&bootstrap, &input_topic, &input).await?;

    // Expected output: f(input), computed independently of the processor, in input order.
    let expected: Vec<Record> = orders
        .iter()
        .map(|o| Record::new(o.id.to_string(), (o.amount_cents * 3 / 100).to_string()))
        .collect();

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

    // Run the pipeline until its OUTPUT topic, read as a read_committed consumer sees it,
    // holds the expected count (and nothing more arrives for a moment, to catch duplicates);
    // then it is stopped gracefully. An error the pipeline stops with is returned at once.
    let run = run_pipeline(
        pipeline,
        &bootstrap,
        &output_topic,
        expected.len(),
        Duration::from_secs(60),
    )
    .await?;

    let report = check_exactly_once(&expected, &run.records);
    assert!(report.is_exactly_once(), "{report}");
    assert_eq!(run.metrics.records_in, orders.len() as u64);
    Ok(())
}
