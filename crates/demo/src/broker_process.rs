//! `--broker-kills K`: the embedded broker runs in a child process of its own
//! (`kafka-eos-demo broker`) with a data dir, and at K random points of the run it is killed
//! with SIGKILL and started again on the same ports and data dir. Everything the broker
//! acknowledged must survive (its durable logs), its open transactions are completed or
//! aborted as Kafka's coordinator does, and the workers and the reader reconnect: the
//! run's check is the same, exactly once.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kafka_eos_broker::{BackgroundBroker, BrokerConfig};
use rand::{Rng, SeedableRng};

use crate::schedule::Schedule;
use crate::DemoError;

/// What the broker process prints once it listens, before its bootstrap servers.
const LISTENING: &str = "listening ";

/// How long a (re)started broker may take to listen (recovery included).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Settings of `kafka-eos-demo broker`: the demo's broker process under `--broker-kills`.
#[derive(Debug, Clone, clap::Args)]
pub struct BrokerArgs {
    /// The first node's port (node `i` listens on `port + i`).
    #[arg(long)]
    pub port: u16,
    /// Nodes of the cluster.
    #[arg(long, default_value_t = 1)]
    pub nodes: usize,
    /// Default partitions of auto-created topics.
    #[arg(long, default_value_t = 1)]
    pub partitions: i32,
    /// The data dir: the logs, offsets and transactions that survive a kill.
    #[arg(long)]
    pub data_dir: PathBuf,
}

/// Runs the broker of `args` until standard input closes (the demo's graceful stop) or the
/// process is killed, printing `listening <bootstrap servers>` once it serves.
pub fn serve(args: &BrokerArgs) -> Result<(), DemoError> {
    let config = crate::failovers::cluster_config(
        BrokerConfig::default()
            .listen(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), args.port))
            .default_partitions(args.partitions)
            .data_dir(&args.data_dir),
        args.nodes,
    );
    let broker = BackgroundBroker::start(config)?;
    println!("{LISTENING}{}", broker.bootstrap_servers());
    // until the demo closes our stdin (or kills us)
    std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink())?;
    drop(broker);
    Ok(())
}

/// The broker child process, started again on the same ports after each kill.
#[derive(Debug)]
pub struct BrokerProcess {
    exe: PathBuf,
    args: BrokerArgs,
    log_path: PathBuf,
    child: Child,
    bootstrap: String,
    /// SIGKILLs sent.
    pub kills: u32,
    /// The longest restart, from the kill to listening again.
    pub slowest_restart: Duration,
}

impl BrokerProcess {
    /// Starts a broker of `nodes` nodes in a child process of `exe`, its data dir and log in
    /// `dir`, on free ports.
    pub fn start(exe: &Path, dir: &Path, nodes: usize, partitions: i32) -> Result<Self, DemoError> {
        let log_path = dir.join("broker.log");
        let data_dir = dir.join("broker-data");
        let mut last = None;
        for _ in 0..10 {
            let args = BrokerArgs {
                port: free_ports(nodes)?,
                nodes,
                partitions,
                data_dir: data_dir.clone(),
            };
            match spawn(exe, &args, &log_path) {
                Ok((child, bootstrap)) => {
                    return Ok(Self {
                        exe: exe.to_owned(),
                        args,
                        log_path,
                        child,
                        bootstrap,
                        kills: 0,
                        slowest_restart: Duration::ZERO,
                    })
                }
                // another process took a port between the probe and the bind: other ports
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| start_error("no ports found", &log_path)))
    }

    /// Its bootstrap servers (the same after every restart).
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// Kills it with SIGKILL, waits `down_for`, and starts it again on the same ports and
    /// data dir.
    pub fn kill_and_restart(&mut self, down_for: Duration) -> Result<(), DemoError> {
        let killed = Instant::now();
        self.child.kill()?;
        self.child.wait()?;
        self.kills += 1;
        std::thread::sleep(down_for);
        let (child, _) = spawn(&self.exe, &self.args, &self.log_path)?;
        self.child = child;
        self.slowest_restart = self.slowest_restart.max(killed.elapsed() - down_for);
        Ok(())
    }

    /// Its data dir.
    pub fn data_dir(&self) -> &Path {
        &self.args.data_dir
    }

    /// The last `max` bytes of its log.
    pub fn log_tail(&self, max: usize) -> String {
        crate::process::log_tail(&self.log_path, max)
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        // closing stdin stops it gracefully; a broker that does not stop is killed
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The broker process of `--broker-kills` and when it is killed.
pub(crate) struct BrokerKills {
    /// The broker process.
    pub process: BrokerProcess,
    /// When it is killed.
    pub schedule: Schedule,
    rng: rand::rngs::StdRng,
    restarted: Instant,
}

/// How long the broker runs before it may be killed again.
const MIN_BROKER_UPTIME: Duration = Duration::from_millis(1_500);

impl BrokerKills {
    /// `count` kills of `process` at random points of the run, from `seed`.
    pub(crate) fn new(process: BrokerProcess, count: u32, seed: u64) -> Self {
        Self {
            process,
            schedule: Schedule::new(count, seed ^ 0xb40c, 0.1..0.85),
            rng: rand::rngs::StdRng::seed_from_u64(seed ^ 0xb40d),
            restarted: Instant::now(),
        }
    }

    /// Kills and restarts the broker when the next kill is due; what happened, if anything.
    /// A broker that does not come back fails the run's progress (the run stalls and says
    /// so), with its log's end printed here.
    pub(crate) fn tick(&mut self, fraction: f64) -> Option<String> {
        // each kill after the workers got going again, so that kills meet transactions
        if !self.schedule.due(fraction) || self.restarted.elapsed() < MIN_BROKER_UPTIME {
            return None;
        }
        self.schedule.mark_done();
        // at any point of a transaction, not just after a commit became visible
        std::thread::sleep(Duration::from_millis(self.rng.gen_range(0..100)));
        let down_for = Duration::from_millis(self.rng.gen_range(100..1_000));
        Some(match self.process.kill_and_restart(down_for) {
            Ok(()) => {
                self.restarted = Instant::now();
                format!(
                    "broker killed and restarted (kill {}/{})",
                    self.schedule.done(),
                    self.schedule.total()
                )
            }
            Err(e) => {
                eprintln!("{e}\n{}", self.process.log_tail(2_000));
                format!("broker did not restart: {e}")
            }
        })
    }
}

/// A port `p` with `p..p + n` free right now.
fn free_ports(n: usize) -> std::io::Result<u16> {
    let any = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0);
    loop {
        let first = TcpListener::bind(any)?;
        let port = first.local_addr()?.port();
        let rest: Option<Vec<TcpListener>> = (1..n)
            .map(|i| {
                let p = u16::try_from(usize::from(port) + i).ok()?;
                TcpListener::bind(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), p)).ok()
            })
            .collect();
        if rest.is_some() {
            return Ok(port);
        }
    }
}

/// Starts `exe broker` with `args`, appending to its log, and waits until it listens.
fn spawn(exe: &Path, args: &BrokerArgs, log_path: &Path) -> Result<(Child, String), DemoError> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)?;
    let mut child = Command::new(exe)
        .arg("broker")
        .args(["--port", &args.port.to_string()])
        .args(["--nodes", &args.nodes.to_string()])
        .args(["--partitions", &args.partitions.to_string()])
        .arg("--data-dir")
        .arg(&args.data_dir)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "kafka_eos_broker=info".into()),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()?;
    let Some(out) = child.stdout.take() else {
        return Err(start_error("no standard output", log_path));
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(out).lines();
        let _ = tx.send(lines.next());
        // keep the pipe open (and drained) while the broker runs
        lines.for_each(drop);
    });
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(Some(Ok(line))) if line.starts_with(LISTENING) => {
            Ok((child, line[LISTENING.len()..].to_owned()))
        }
        other => {
            let _ = child.kill();
            let _ = child.wait();
            let reason = match other {
                Err(_) => format!("not listening after {START_TIMEOUT:?}"),
                _ => "exited before listening".to_owned(),
            };
            Err(start_error(&reason, log_path))
        }
    }
}

fn start_error(reason: &str, log_path: &Path) -> DemoError {
    DemoError::BrokerStart {
        reason: reason.to_owned(),
        log_tail: crate::process::log_tail(log_path, 2_000),
    }
}
