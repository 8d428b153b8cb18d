//! The service's tests, with `kafka-eos-testkit` as a dev-dependency: the pipeline on the
//! embedded broker (or `KAFKA_BOOTSTRAP_SERVERS`), output = f(input); and the embedded broker
//! surviving a hostile frame, which proves the kafka-protocol fix reaches a project outside
//! the kafka-eos workspace.

use std::error::Error;
use std::time::Duration;

use kafka_eos_testkit::{
    check_exactly_once, read_committed_async, run_pipeline, write_records_async, Cluster, Record,
};
use order_fees_service::{fee_cents, pipeline, Order};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn every_order_gets_exactly_one_fee() -> Result<(), Box<dyn Error>> {
    let cluster = Cluster::from_env()?; // embedded, unless KAFKA_BOOTSTRAP_SERVERS is set
    let bootstrap = cluster.bootstrap_servers();
    let input = cluster.unique_topic("orders");
    let output = cluster.unique_topic("order-fees");
    cluster.create_topic_async(&input, 4).await?;
    cluster.create_topic_async(&output, 4).await?;

    // 120 events of 15 orders: several per key, so per-key order is checked too.
    let orders: Vec<Order> = (0..120u64)
        .map(|i| Order {
            id: i % 15,
            amount_cents: 500 + i * 11,
        })
        .collect();
    let mut records = Vec::new();
    for o in &orders {
        records.push(Record::new(o.id.to_string(), serde_json::to_vec(o)?));
    }
    write_records_async(&bootstrap, &input, &records).await?;

    // f(input), in input order.
    let expected: Vec<Record> = orders
        .iter()
        .map(|o| Record::new(o.id.to_string(), fee_cents(o).to_string()))
        .collect();

    let group = cluster.unique_topic("order-fees");
    let pipeline = pipeline(&bootstrap, &group, &input, &output)?;
    let run = run_pipeline(
        pipeline,
        &bootstrap,
        &output,
        expected.len(),
        Duration::from_secs(60),
    )
    .await?;

    let report = check_exactly_once(&expected, &run.records);
    assert!(report.is_exactly_once(), "{report}");
    assert_eq!(run.metrics.records_in, orders.len() as u64);
    Ok(())
}

/// A Metadata v0 request whose topics array claims 2^31-1 entries, in a 14-byte frame body
/// (api key 3, version 0, correlation id 1, null client id, the count). The unpatched
/// kafka-protocol 0.18.0 reserves room for all of them (about 150 GB) and the allocator
/// aborts the process: this test binary, which hosts the broker.
const HOSTILE_FRAME: [u8; 14] = [0, 3, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff];

#[tokio::test]
async fn the_embedded_broker_survives_a_huge_array_count() -> Result<(), Box<dyn Error>> {
    let cluster = Cluster::embedded()?; // always the embedded broker: it is what is tested
    let addr = cluster
        .embedded_broker()
        .ok_or("an embedded broker")?
        .local_addr();

    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(&(HOSTILE_FRAME.len() as i32).to_be_bytes())
        .await?;
    stream.write_all(&HOSTILE_FRAME).await?;
    stream.flush().await?;
    // The broker closes this connection (end of stream or a reset), without answering.
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await?;
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "expected the connection closed, got {read:?}"
    );

    // ... and goes on serving: a new topic, a record written and read back.
    let bootstrap = cluster.bootstrap_servers();
    let topic = cluster.unique_topic("after-hostile-frame");
    cluster.create_topic_async(&topic, 1).await?;
    let record = Record::new("k", "still serving");
    write_records_async(&bootstrap, &topic, std::slice::from_ref(&record)).await?;
    let read = read_committed_async(&bootstrap, &topic, 1, Duration::ZERO).await?;
    assert_eq!(read.len(), 1);
    assert_eq!((&read[0].key, &read[0].value), (&record.key, &record.value));
    Ok(())
}
