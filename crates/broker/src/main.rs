//! `kafka-eos-broker`: runs the embedded broker as a standalone process.

use std::time::Duration;

use clap::Parser;
use kafka_eos_broker::{BrokerConfig, EmbeddedBroker};

/// A single-node Kafka-protocol broker with faithful transactions, for local work and tests.
#[derive(Debug, Parser)]
#[command(name = "kafka-eos-broker", version)]
struct Args {
    /// Port to listen on (0 picks a free one).
    #[arg(long, short, default_value_t = 9092, env = "KAFKA_EOS_BROKER_PORT")]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Partition count of auto-created topics.
    #[arg(long, default_value_t = 1)]
    default_partitions: i32,
    /// Refuse to auto-create topics on Metadata requests.
    #[arg(long)]
    no_auto_create: bool,
    /// Topics to create at start, as NAME or NAME:PARTITIONS.
    #[arg(long = "topic", value_name = "NAME[:PARTITIONS]")]
    topics: Vec<String>,
    /// group.initial.rebalance.delay.ms.
    #[arg(long, default_value_t = 0)]
    initial_rebalance_delay_ms: u64,
    /// Log filter (tracing EnvFilter syntax), e.g. info or kafka_eos_broker=debug.
    #[arg(long, default_value = "info", env = "RUST_LOG")]
    log_level: String,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&args.log_level))
        .init();
    let config = BrokerConfig::default()
        .listen(std::net::SocketAddr::new(args.host, args.port))
        .default_partitions(args.default_partitions)
        .auto_create_topics(!args.no_auto_create)
        .group_initial_rebalance_delay(Duration::from_millis(args.initial_rebalance_delay_ms));
    let broker = match EmbeddedBroker::start(config).await {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    for spec in &args.topics {
        let (name, partitions) = match spec.split_once(':') {
            Some((n, p)) => match p.parse::<i32>() {
                Ok(p) => (n, p),
                Err(_) => {
                    eprintln!("error: bad partition count in --topic {spec:?}");
                    return std::process::ExitCode::FAILURE;
                }
            },
            None => (spec.as_str(), args.default_partitions),
        };
        if let Err(e) = broker.create_topic(name, partitions) {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    }
    println!("bootstrap.servers={}", broker.bootstrap_servers());
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("error: cannot wait for Ctrl-C: {e}");
    }
    broker.shutdown().await;
    std::process::ExitCode::SUCCESS
}
