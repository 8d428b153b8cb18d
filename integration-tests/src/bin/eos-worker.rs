//! `eos-worker`: one instance of the demo's order pipeline, as a child process the
//! end-to-end suites start, kill with SIGKILL and restart.
//!
//! It prints `METRICS {json}` lines to stdout and stops gracefully when standard input
//! closes (with `--stop-on-stdin-eof`). Exit status: 0 after a graceful stop,
//! [`EXIT_FENCED`] when a newer instance with the same `--instance` fenced it, 1 on any
//! other error.

use std::process::ExitCode;

use clap::Parser;
use kafka_eos_cli::worker::{self, WorkerArgs};
use kafka_eos_cli::CliError;

/// Exit status of a worker that was fenced by a newer instance.
const EXIT_FENCED: u8 = 3;

/// One worker of the order pipeline.
#[derive(Debug, Parser)]
#[command(name = "eos-worker")]
struct Args {
    #[command(flatten)]
    worker: WorkerArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("eos-worker: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(worker::run(args.worker)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Pipeline(e)) if e.is_fenced() => {
            eprintln!("eos-worker: fenced: {e}");
            ExitCode::from(EXIT_FENCED)
        }
        Err(e) => {
            eprintln!("eos-worker: {e}");
            ExitCode::FAILURE
        }
    }
}
