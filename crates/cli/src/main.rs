//! `kafka-eos`: demo, broker, worker, verify, offsets, lag.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kafka_eos_broker::{BrokerConfig, EmbeddedBroker};
use kafka_eos_cli::{demo, lag, offsets, verify, worker, CliError};

/// Exactly-once Kafka pipelines: run the demo, a local broker, or operate a group.
#[derive(Debug, Parser)]
#[command(name = "kafka-eos", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Order events through the exactly-once pipeline with workers killed and restarted, then verified.
    Demo(demo::DemoArgs),
    /// Run the embedded broker until Ctrl-C.
    Broker {
        /// Port (0 picks a free one).
        #[arg(long, default_value_t = 9092)]
        port: u16,
        /// Partitions of auto-created topics.
        #[arg(long, default_value_t = 1)]
        default_partitions: i32,
    },
    /// One instance of the demo's order pipeline.
    #[command(hide = true)]
    Worker(worker::WorkerArgs),
    /// Check that an output topic is exactly f(input topic).
    Verify(verify::VerifyArgs),
    /// Reset a consumer group's offsets (replay).
    Offsets(offsets::OffsetsArgs),
    /// A group's lag per partition, and the skew.
    Lag(lag::LagArgs),
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Demo(args) => {
            init_tracing("warn");
            let report = demo::run(&args)?;
            report.print();
            if report.passed() {
                Ok(())
            } else {
                Err(CliError::NotExactlyOnce(report.check))
            }
        }
        Command::Broker {
            port,
            default_partitions,
        } => {
            init_tracing("info");
            runtime()?.block_on(async {
                let broker = EmbeddedBroker::start(
                    BrokerConfig::default()
                        .port(port)
                        .default_partitions(default_partitions),
                )
                .await?;
                println!("bootstrap.servers={}", broker.bootstrap_servers());
                tokio::signal::ctrl_c().await?;
                broker.shutdown().await;
                Ok(())
            })
        }
        Command::Worker(args) => {
            init_tracing("info");
            runtime()?.block_on(worker::run(args))
        }
        Command::Verify(args) => {
            init_tracing("warn");
            let report = verify::run(&args)?;
            println!("{report}");
            if report.is_exactly_once() {
                Ok(())
            } else {
                Err(CliError::NotExactlyOnce(report))
            }
        }
        Command::Offsets(args) => {
            init_tracing("warn");
            let moved = offsets::run(&args)?;
            for (p, o) in moved {
                println!(
                    "{}/{p} -> {o}{}",
                    args.topic,
                    if args.dry_run { " (dry run)" } else { "" }
                );
            }
            Ok(())
        }
        Command::Lag(args) => {
            init_tracing("warn");
            let lags = lag::run(&args)?;
            println!(
                "{:>9} {:>12} {:>12} {:>10}",
                "partition", "committed", "end", "lag"
            );
            for l in &lags {
                let c = l.committed.map_or("-".to_owned(), |c| c.to_string());
                println!("{:>9} {:>12} {:>12} {:>10}", l.partition, c, l.end, l.lag);
            }
            let total: i64 = lags.iter().map(|l| l.lag).sum();
            println!("total lag {total}, skew (max/mean) {:.2}", lag::skew(&lags));
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
