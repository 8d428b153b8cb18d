//! `kafka-eos-demo`: the order-pipeline demo (the default), one `worker` of it, or `verify`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kafka_eos_demo::{broker_process, database, exit, run, verify, worker, DemoError};

/// Order events through the exactly-once pipeline, with workers killed and restarted, verified.
#[derive(Debug, Parser)]
#[command(
    name = "kafka-eos-demo",
    version,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    demo: run::DemoArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One instance of the order pipeline (the demo starts these; so do the crash suites).
    Worker(Box<worker::WorkerArgs>),
    /// Check that a run's output topic is exactly f(input topic).
    Verify(verify::VerifyArgs),
    /// The demo's broker process under `--broker-kills` (embedded broker with a data dir).
    #[command(hide = true)]
    Broker(broker_process::BrokerArgs),
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main_result(cli: Cli) -> Result<(), DemoError> {
    match cli.command {
        None if cli.demo.sink != database::Sink::Kafka => {
            init_tracing("warn");
            let report = database::run::run(&cli.demo, std::env::current_exe()?)?;
            report.print();
            if report.passed() {
                Ok(())
            } else {
                Err(DemoError::TablesNotExactlyOnce(report.outcome))
            }
        }
        None => {
            init_tracing("warn");
            let report = run::run(&cli.demo, std::env::current_exe()?)?;
            report.print();
            if report.passed() {
                Ok(())
            } else {
                Err(DemoError::NotExactlyOnce(report.outcome))
            }
        }
        Some(Command::Worker(args)) => {
            init_tracing("warn");
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(worker::run(*args))
        }
        Some(Command::Broker(args)) => {
            init_tracing("kafka_eos_broker=info");
            broker_process::serve(&args)
        }
        Some(Command::Verify(args)) => {
            init_tracing("warn");
            let report = verify::run(&args)?;
            println!("{report}");
            if report.holds() {
                Ok(())
            } else {
                Err(DemoError::NotExactlyOnce(report))
            }
        }
    }
}

fn main() -> ExitCode {
    match main_result(Cli::parse()) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            eprintln!("kafka-eos-demo: {e}");
            ExitCode::from(exit::code_of(&e))
        }
    }
}
