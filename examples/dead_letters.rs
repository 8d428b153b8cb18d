//! Poison records and `ErrorPolicy::DeadLetter`: records that cannot be decoded, or that the
//! processor keeps failing on, go to a dead-letter topic (inside the same transaction as
//! the good records' outputs) instead of stopping the pipeline.
//!
//! The input holds good orders, two values that are not JSON and one order the processor
//! always rejects. The example shows the good orders processed, the three poison records in
//! the dead-letter topic with the headers the pipeline adds (error, stage, source topic,
//! partition and offset: `kafka_eos_processor::dlq_headers`), and checks the counts; it
//! exits non-zero if they are wrong.
//!
//! ```text
//! cargo run -p kafka-eos-examples --example dead_letters
//! KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 cargo run -p kafka-eos-examples --example dead_letters
//! ```

use std::error::Error;
use std::time::{Duration, Instant};

use kafka_eos_processor::{
    dlq_headers, BoxError, ErrorPolicy, Input, JsonCodec, Output, PipelineBuilder, Processor,
};
use kafka_eos_testkit::{check_exactly_once, read_committed, write_records, Cluster, Record};
use tracing_subscriber::EnvFilter;

#[derive(serde::Serialize, serde::Deserialize)]
struct Order {
    id: u64,
    amount_cents: u64,
}

/// One fee per order; orders of amount 0 are rejected with an error, every time.
struct Fees {
    output: String,
}

impl Processor for Fees {
    type Input = Order;

    async fn process(&self, input: Input<Order>) -> Result<Vec<Output>, BoxError> {
        let order = input.value;
        if order.amount_cents == 0 {
            // A returned error aborts the batch and replays it; after `max_attempts`
            // the record goes to the dead-letter topic and the rest of the batch commits.
            return Err(format!("order {}: amount must be positive", order.id).into());
        }
        let fee = (order.amount_cents * 3 / 100).to_string();
        Ok(vec![Output::new(&self.output, order.id.to_string(), fee)])
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .init();
    let started = Instant::now();

    let cluster = Cluster::from_env()?;
    let bootstrap = cluster.bootstrap_servers();
    let input_topic = cluster.unique_topic("orders");
    let output_topic = cluster.unique_topic("order-fees");
    let dlq_topic = cluster.unique_topic("orders-dlq");
    let group = cluster.unique_topic("order-fees-group");
    // One input partition, so the offsets printed below are the records' positions.
    cluster.create_topic(&input_topic, 1)?;
    cluster.create_topic(&output_topic, 1)?;
    cluster.create_topic(&dlq_topic, 1)?;
    println!("cluster at {bootstrap}; topics {input_topic} -> {output_topic}, dead letters to {dlq_topic}");

    // Good orders 1..=8 (order 5 has amount 0: the processor rejects it), plus two values
    // that are not JSON at all.
    let mut input = Vec::new();
    let mut expected = Vec::new();
    for id in 1..=8u64 {
        let amount_cents = if id == 5 { 0 } else { id * 1_000 };
        let order = Order { id, amount_cents };
        input.push(Record::new(id.to_string(), serde_json::to_vec(&order)?));
        if amount_cents > 0 {
            expected.push(Record::new(
                id.to_string(),
                (amount_cents * 3 / 100).to_string(),
            ));
        }
        if id == 3 {
            input.push(Record::new("bad-1", "{not json"));
        }
    }
    input.push(Record::new("bad-2", "hello"));
    let expected_dead = input.len() - expected.len();
    write_records(&bootstrap, &input_topic, &input)?;
    println!(
        "wrote {} records: {} good orders, {expected_dead} poison records",
        input.len(),
        expected.len()
    );

    // The testkit's reader blocks this thread: the pipeline runs on the runtime's workers.
    let runtime = tokio::runtime::Runtime::new()?;
    let pipeline = PipelineBuilder::new()
        .bootstrap_servers(&bootstrap)
        .group_id(&group)
        .input_topic(&input_topic)
        .app_name("fees")
        .max_attempts(2) // a failing record is tried twice, then dead-lettered
        .on_error(ErrorPolicy::DeadLetter(dlq_topic.clone()))
        .build(
            Fees {
                output: output_topic.clone(),
            },
            JsonCodec::<Order>::new(),
        )?;
    let shutdown = pipeline.shutdown_token();
    let metrics = pipeline.metrics();
    let task = runtime.spawn(pipeline.run());

    let outputs = read_committed(
        &bootstrap,
        &output_topic,
        expected.len(),
        Duration::from_millis(500),
    );
    let dead = read_committed(
        &bootstrap,
        &dlq_topic,
        expected_dead,
        Duration::from_millis(500),
    );
    shutdown.cancel();
    runtime.block_on(async { tokio::time::timeout(Duration::from_secs(30), task).await })???;
    let (outputs, dead) = (outputs?, dead?);
    let m = metrics.snapshot();
    println!(
        "pipeline stopped: {} records in (replays included), {} transactions committed, {} aborted",
        m.records_in, m.commits, m.aborts
    );

    println!("outputs ({output_topic}):");
    for r in &outputs {
        println!(
            "  order {}: fee {} cents",
            String::from_utf8_lossy(&r.key),
            r.value_text()
        );
    }
    println!("dead letters ({dlq_topic}):");
    for r in &dead {
        println!(
            "  key {:?}, value {:?}",
            String::from_utf8_lossy(&r.key),
            r.value_text()
        );
        for name in [
            dlq_headers::STAGE,
            dlq_headers::ERROR,
            dlq_headers::TOPIC,
            dlq_headers::PARTITION,
            dlq_headers::OFFSET,
        ] {
            println!(
                "    {name} = {}",
                r.header(name).unwrap_or_else(|| "<missing>".into())
            );
        }
    }

    let mut problems = Vec::new();
    let report = check_exactly_once(&expected, &outputs);
    if !report.is_exactly_once() {
        problems.push(format!("outputs are not exactly f(good input): {report}"));
    }
    let stage_count = |stage: &str| {
        dead.iter()
            .filter(|r| r.header(dlq_headers::STAGE).as_deref() == Some(stage))
            .count()
    };
    let (decode, process) = (stage_count("decode"), stage_count("process"));
    if (dead.len(), decode, process) != (3, 2, 1) {
        problems.push(format!(
            "expected 3 dead letters (2 decode, 1 process), read {} ({decode} decode, {process} process)",
            dead.len()
        ));
    }
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("FAILED: {p}");
        }
        return Err(problems.join("; ").into());
    }
    println!(
        "OK: {} fees exactly once, {} dead letters ({decode} undecodable, {process} rejected) in {:.1} s",
        outputs.len(),
        dead.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
