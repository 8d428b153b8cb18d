//! Throughput of the embedded broker against librdkafka's mock cluster, both driven by
//! the same idempotent rdkafka producer (acks=all) and consumer; and of the embedded broker
//! over TLS and over TLS + SASL/SCRAM-SHA-512 against plaintext, and with a data dir
//! (durable logs; the OS's page cache, then an fsync per write) against in memory, in the
//! same run.
//!
//! `cargo bench -p kafka-eos-broker --bench broker_throughput` (`BENCH_RECORDS`, default
//! 100000 records of 100 bytes).

use std::time::{Duration, Instant};

use kafka_eos_broker::{BackgroundBroker, BrokerConfig, FsyncPolicy, TestCertificates};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

const TOPIC: &str = "bench";
const PARTITIONS: i32 = 4;
const RECORD_BYTES: usize = 100;
const TIMEOUT: Duration = Duration::from_secs(120);

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

struct Throughput {
    name: &'static str,
    produce_per_s: f64,
    consume_per_s: f64,
}

fn client_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4");
    c
}

/// Produces `n` records and reads them back with clients on `base` settings; returns
/// records/s for each direction.
fn run(name: &'static str, base: &ClientConfig, n: usize) -> BenchResult<Throughput> {
    let producer: BaseProducer = base
        .clone()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    // Warm up: metadata, producer id, connections.
    producer
        .send(
            BaseRecord::<[u8], [u8]>::to(TOPIC)
                .payload(&[0u8; RECORD_BYTES][..])
                .partition(0),
        )
        .map_err(|(e, _)| e)?;
    producer.flush(TIMEOUT)?;

    let payload = [7u8; RECORD_BYTES];
    let started = Instant::now();
    for i in 0..n {
        let mut record = BaseRecord::<[u8], [u8]>::to(TOPIC)
            .payload(&payload[..])
            .partition((i % PARTITIONS as usize) as i32);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    producer.poll(Duration::from_millis(1));
                    record = r;
                }
                Err((e, _)) => return Err(format!("{name}: send failed: {e}").into()),
            }
        }
    }
    producer.flush(TIMEOUT)?;
    let produce_secs = started.elapsed().as_secs_f64();

    let consumer: BaseConsumer = base
        .clone()
        .set("group.id", format!("bench-{name}"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(TOPIC, p, Offset::Beginning)?;
    }
    let total = n + 1; // with the warm-up record
    let started = Instant::now();
    consumer.assign(&tpl)?;
    let mut got = 0usize;
    while got < total {
        if started.elapsed() > TIMEOUT {
            return Err(format!("{name}: consumed only {got} of {total}").into());
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(_)) => got += 1,
            Some(Err(e)) => return Err(format!("{name}: consume error: {e}").into()),
            None => {}
        }
    }
    let consume_secs = started.elapsed().as_secs_f64();
    Ok(Throughput {
        name,
        produce_per_s: n as f64 / produce_secs,
        consume_per_s: total as f64 / consume_secs,
    })
}

fn main() -> BenchResult<()> {
    let n: usize = std::env::var("BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    println!("{n} records of {RECORD_BYTES} bytes, {PARTITIONS} partitions, idempotent producer, acks=all");

    let broker = BackgroundBroker::start(BrokerConfig::default())?;
    broker.create_topic(TOPIC, PARTITIONS)?;
    let embedded = run("embedded", &client_config(&broker.bootstrap_servers()), n)?;
    drop(broker);

    let mock = MockCluster::new(1)?;
    mock.create_topic(TOPIC, PARTITIONS, 1)?;
    let mocked = run("mock", &client_config(&mock.bootstrap_servers()), n)?;

    let (tls, scram) = secured(n)?;
    let (durable, fsynced) = durable(n)?;

    println!();
    println!("| broker                   | produce records/s | consume records/s |");
    println!("|--------------------------|------------------:|------------------:|");
    for r in [&embedded, &mocked, &tls, &scram, &durable, &fsynced] {
        println!(
            "| {:<24} | {:>17.0} | {:>17.0} |",
            r.name, r.produce_per_s, r.consume_per_s
        );
    }
    let ratio = |name: &str, a: &Throughput, b: &Throughput| {
        println!(
            "| {:<24} | {:>17.2} | {:>17.2} |",
            name,
            a.produce_per_s / b.produce_per_s,
            a.consume_per_s / b.consume_per_s
        );
    };
    ratio("embedded / mock", &embedded, &mocked);
    ratio("TLS / plaintext", &tls, &embedded);
    ratio("TLS + SCRAM / plaintext", &scram, &embedded);
    ratio("data dir / in memory", &durable, &embedded);
    ratio("fsync always / memory", &fsynced, &embedded);
    println!(
        "TLS vs plaintext (embedded broker): produce {:.2}x, consume {:.2}x",
        tls.produce_per_s / embedded.produce_per_s,
        tls.consume_per_s / embedded.consume_per_s
    );
    println!(
        "data dir vs in memory (embedded broker): produce {:.2}x, consume {:.2}x; with fsync always: produce {:.2}x",
        durable.produce_per_s / embedded.produce_per_s,
        durable.consume_per_s / embedded.consume_per_s,
        fsynced.produce_per_s / embedded.produce_per_s
    );
    Ok(())
}

/// The embedded broker with a data dir: writes left to the OS (the default), then each
/// fsynced before its answer.
fn durable(n: usize) -> BenchResult<(Throughput, Throughput)> {
    let mut results = Vec::new();
    for (name, policy) in [
        ("embedded, data dir", FsyncPolicy::Never),
        ("embedded, data dir+fsync", FsyncPolicy::Always),
    ] {
        let dir = std::env::temp_dir().join(format!(
            "kafka-eos-bench-data-{}-{}",
            std::process::id(),
            results.len()
        ));
        let broker = BackgroundBroker::start(BrokerConfig::default().data_dir(&dir).fsync(policy))?;
        broker.create_topic(TOPIC, PARTITIONS)?;
        results.push(run(name, &client_config(&broker.bootstrap_servers()), n)?);
        drop(broker);
        let _ = std::fs::remove_dir_all(&dir);
    }
    let fsynced = results.pop().ok_or("no fsync run")?;
    let durable = results.pop().ok_or("no data dir run")?;
    Ok((durable, fsynced))
}

/// The embedded broker over TLS, then over TLS + SASL/SCRAM-SHA-512 (certificates generated
/// for the run).
fn secured(n: usize) -> BenchResult<(Throughput, Throughput)> {
    let certs = TestCertificates::generate(&["localhost", "127.0.0.1"])?;
    let ca = std::env::temp_dir().join(format!("kafka-eos-bench-ca-{}.pem", std::process::id()));
    certs.write_ca(&ca)?;
    let ca_location = ca.display().to_string();

    let broker = BackgroundBroker::start(BrokerConfig::default().tls(certs.identity()))?;
    broker.create_topic(TOPIC, PARTITIONS)?;
    let mut base = client_config(&broker.bootstrap_servers());
    base.set("security.protocol", "ssl")
        .set("ssl.ca.location", &ca_location);
    let tls = run("embedded, TLS", &base, n)?;
    drop(broker);

    let broker = BackgroundBroker::start(
        BrokerConfig::default()
            .tls(certs.identity())
            .sasl_user("bench", "bench-password"),
    )?;
    broker.create_topic(TOPIC, PARTITIONS)?;
    let mut base = client_config(&broker.bootstrap_servers());
    base.set("security.protocol", "sasl_ssl")
        .set("ssl.ca.location", &ca_location)
        .set("sasl.mechanisms", "SCRAM-SHA-512")
        .set("sasl.username", "bench")
        .set("sasl.password", "bench-password");
    let scram = run("embedded, TLS + SCRAM", &base, n)?;
    drop(broker);
    let _ = std::fs::remove_file(&ca);
    Ok((tls, scram))
}
