//! Start-up time of the embedded broker (in process, one node and three) against librdkafka's
//! mock cluster of as many brokers: from nothing to a client's first metadata answer, median
//! and worst of `BENCH_STARTS` (default 20) starts each, alternating.
//!
//! `cargo bench -p kafka-eos-broker --bench startup`

use std::time::{Duration, Instant};

use kafka_eos_broker::{BackgroundBroker, BrokerConfig};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

const TIMEOUT: Duration = Duration::from_secs(10);

/// Until a fresh client on `bootstrap` gets a metadata answer.
fn first_answer(bootstrap: &str) -> BenchResult<()> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .create()?;
    consumer.fetch_metadata(None, TIMEOUT)?;
    Ok(())
}

fn embedded(nodes: usize) -> BenchResult<Duration> {
    let started = Instant::now();
    let broker = BackgroundBroker::start(BrokerConfig::default().nodes(nodes))?;
    first_answer(&broker.bootstrap_servers())?;
    let took = started.elapsed();
    drop(broker);
    Ok(took)
}

fn mock(nodes: i32) -> BenchResult<Duration> {
    let started = Instant::now();
    let cluster = MockCluster::new(nodes)?;
    first_answer(&cluster.bootstrap_servers())?;
    let took = started.elapsed();
    drop(cluster);
    Ok(took)
}

/// (median, worst) in milliseconds.
fn summary(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (ms(times[times.len() / 2]), ms(times[times.len() - 1]))
}

fn main() -> BenchResult<()> {
    let starts: usize = std::env::var("BENCH_STARTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
        .max(1);
    let mut ratios = Vec::new();
    println!("{starts} starts each, to a fresh client's first metadata answer");
    println!();
    println!("| broker                          | median ms | worst ms |");
    println!("|---------------------------------|----------:|---------:|");
    for nodes in [1, 3] {
        let (mut e, mut m) = (Vec::new(), Vec::new());
        for _ in 0..starts {
            e.push(embedded(nodes)?);
            m.push(mock(nodes as i32)?);
        }
        let (e, m) = (summary(e), summary(m));
        println!(
            "| embedded, {nodes} node(s), in process | {:>9.1} | {:>8.1} |",
            e.0, e.1
        );
        println!(
            "| librdkafka MockCluster({nodes})       | {:>9.1} | {:>8.1} |",
            m.0, m.1
        );
        ratios.push(format!(
            "embedded vs mock start-up at {nodes} node(s) (median): {:.2}x the time",
            e.0 / m.0
        ));
    }
    for line in ratios {
        println!("{line}");
    }
    Ok(())
}
