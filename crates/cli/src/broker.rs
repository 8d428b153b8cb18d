//! `kafka-eos broker`: the embedded broker as a standalone process, until Ctrl-C.

use std::time::Duration;

use kafka_eos_broker::{BrokerConfig, EmbeddedBroker};

use crate::error::CliError;

/// Arguments of `broker`.
#[derive(Debug, Clone, clap::Args)]
pub struct BrokerArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, short, default_value_t = 9092, env = "KAFKA_EOS_BROKER_PORT")]
    pub port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Partition count of auto-created topics.
    #[arg(long, default_value_t = 1)]
    pub default_partitions: i32,
    /// Refuse to auto-create topics on Metadata requests.
    #[arg(long)]
    pub no_auto_create: bool,
    /// Topics to create at start, as NAME or NAME:PARTITIONS.
    #[arg(long = "topic", value_name = "NAME[:PARTITIONS]")]
    pub topics: Vec<String>,
    /// group.initial.rebalance.delay.ms.
    #[arg(long, default_value_t = 0)]
    pub initial_rebalance_delay_ms: u64,
}

impl BrokerArgs {
    /// The broker's configuration.
    pub fn config(&self) -> BrokerConfig {
        BrokerConfig::default()
            .listen(std::net::SocketAddr::new(self.host, self.port))
            .default_partitions(self.default_partitions)
            .auto_create_topics(!self.no_auto_create)
            .group_initial_rebalance_delay(Duration::from_millis(self.initial_rebalance_delay_ms))
    }

    /// The `--topic` specs as (name, partitions); a usage error for a bad count.
    pub fn topics(&self) -> Result<Vec<(String, i32)>, CliError> {
        self.topics
            .iter()
            .map(|spec| match spec.split_once(':') {
                Some((name, p)) => match p.parse::<i32>() {
                    Ok(p) if p >= 1 => Ok((name.to_owned(), p)),
                    _ => Err(CliError::Usage(format!(
                        "bad partition count in --topic {spec:?}"
                    ))),
                },
                None => Ok((spec.clone(), self.default_partitions)),
            })
            .collect()
    }
}

/// Starts the broker, creates the `--topic`s, prints `bootstrap.servers=HOST:PORT` and
/// serves until Ctrl-C.
pub async fn run(args: &BrokerArgs) -> Result<(), CliError> {
    let topics = args.topics()?;
    let broker = EmbeddedBroker::start(args.config()).await?;
    for (name, partitions) in &topics {
        broker.create_topic(name, *partitions)?;
    }
    println!("bootstrap.servers={}", broker.bootstrap_servers());
    tokio::signal::ctrl_c().await?;
    broker.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        broker: BrokerArgs,
    }

    #[test]
    fn topic_specs_parse_with_the_default_partition_count() {
        let cli = Cli::parse_from([
            "x",
            "--default-partitions",
            "3",
            "--topic",
            "orders:8",
            "--topic",
            "results",
        ]);
        assert_eq!(
            cli.broker.topics().unwrap(),
            vec![("orders".to_owned(), 8), ("results".to_owned(), 3)]
        );
        let bad = Cli::parse_from(["x", "--topic", "orders:zero"]);
        assert!(bad
            .broker
            .topics()
            .unwrap_err()
            .to_string()
            .contains("orders:zero"));
    }
}
