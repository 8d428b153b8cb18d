//! `kafka-eos`: the embedded broker, operations on a pipeline's consumer group, and
//! dead-letter replay.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kafka_eos_cli::dlq::{self, DlqCommand, ReplayArgs};
use kafka_eos_cli::parked::{self, ParkedCommand};
use kafka_eos_cli::{broker, lag, offsets, skew, CliError};

/// Operate exactly-once Kafka pipelines: run a local broker, reset a group's offsets, show
/// lag, replay dead letters.
#[derive(Debug, Parser)]
#[command(name = "kafka-eos", version, after_help = kafka_eos_cli::client::SECURITY_HELP)]
struct Cli {
    /// Log filter (tracing EnvFilter syntax), e.g. info or kafka_eos_broker=debug.
    #[arg(long, global = true, env = "RUST_LOG")]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the embedded broker until Ctrl-C.
    Broker(broker::BrokerArgs),
    /// Reset a consumer group's offsets (replay).
    Offsets(offsets::OffsetsArgs),
    /// How a topic's records and keys spread over its partitions; --key-field shows the
    /// spread a JSON field of the value would give as the key instead.
    Skew(skew::SkewArgs),
    /// A group's lag per partition, and the skew; --watch refreshes it with rates and time
    /// to catch up, --json prints one JSON object per sample.
    Lag(lag::LagArgs),
    /// Dead letters: replay them to their source topics after a fix, exactly once.
    Dlq(dlq::DlqArgs),
    /// Parked keys (retries parked by a pipeline): list them, release a held one.
    #[command(after_help = parked::EXAMPLES)]
    Parked(parked::ParkedArgs),
}

/// Every this many replayed dead letters, a progress line on stderr.
const PROGRESS_EVERY: u64 = 1000;

/// `dlq replay`: a dry run lists each dead letter on stdout; a real run prints progress
/// on stderr and one summary line on stdout.
fn replay(args: &ReplayArgs) -> Result<(), CliError> {
    let mut replayed = 0u64;
    let summary = dlq::replay(args, |letter, decision| {
        if args.dry_run {
            println!("{}", letter.describe(decision));
        } else if matches!(decision, dlq::Decision::Replay { .. }) {
            replayed += 1;
            if replayed.is_multiple_of(PROGRESS_EVERY) {
                eprintln!(
                    "{replayed} dead letters replayed so far (at {})",
                    letter.position()
                );
            }
        }
    })?;
    println!("{summary}");
    Ok(())
}

fn init_tracing(filter: Option<&str>, default: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            filter.unwrap_or(default),
        ))
        .with_writer(std::io::stderr)
        .init();
}

fn run(cli: Cli) -> Result<(), CliError> {
    let log = cli.log_level.as_deref();
    match cli.command {
        Command::Broker(args) => {
            init_tracing(log, "info");
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(broker::run(&args))
        }
        Command::Offsets(args) => {
            init_tracing(log, "warn");
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
        Command::Lag(mut args) => {
            init_tracing(log, "warn");
            if !args.watch {
                args.count = Some(1);
            }
            let (json, clear) = (args.json, args.watch && !args.json);
            lag::watch(&args, |sample| {
                if json {
                    match serde_json::to_string(sample) {
                        Ok(line) => println!("{line}"),
                        Err(e) => eprintln!("cannot print the sample as JSON: {e}"),
                    }
                } else {
                    if clear {
                        print!("\x1b[2J\x1b[H"); // clear the terminal: one table at a time
                    }
                    println!("{}", lag::table(sample));
                }
            })
        }
        Command::Skew(args) => {
            init_tracing(log, "warn");
            let report = skew::run(&args)?;
            if args.json {
                match serde_json::to_string(&report) {
                    Ok(line) => println!("{line}"),
                    Err(e) => eprintln!("cannot print the report as JSON: {e}"),
                }
            } else {
                print!("{}", skew::text(&report));
            }
            Ok(())
        }
        Command::Parked(args) => {
            init_tracing(log, "warn");
            match args.command {
                ParkedCommand::List(args) => {
                    let keys = parked::list(
                        &args.parking.bootstrap_servers,
                        &args.parking.topic,
                        args.source_topic.as_deref(),
                    )?;
                    if args.json {
                        for key in &keys {
                            match serde_json::to_string(key) {
                                Ok(line) => println!("{line}"),
                                Err(e) => eprintln!("cannot print the key as JSON: {e}"),
                            }
                        }
                    } else {
                        print!("{}", parked::table(&keys, now_ms()));
                    }
                    Ok(())
                }
                ParkedCommand::Release(args) => {
                    let key = parked::release(&args)?;
                    println!(
                        "{} key {} of {}/{} ({} records parked, {})",
                        if args.dry_run {
                            "would release"
                        } else {
                            "released"
                        },
                        args.key,
                        key.source_topic,
                        key.partition,
                        key.records,
                        if key.held {
                            "held"
                        } else {
                            "not held: retried at once"
                        }
                    );
                    Ok(())
                }
            }
        }
        Command::Dlq(args) => {
            init_tracing(log, "warn");
            match args.command {
                DlqCommand::Replay(args) => replay(&args),
            }
        }
    }
}

/// The wall clock in ms since the epoch.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
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
