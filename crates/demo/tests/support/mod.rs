//! A prepared worker-process run, shared by the suites that start, kill and restart
//! `kafka-eos-demo worker` processes: topics created, the order input written, a
//! `read_committed` reader collecting the output. Runs against the embedded broker, or any
//! cluster when `KAFKA_BOOTSTRAP_SERVERS` is set.
#![cfg(test)] // test code: clippy.toml lets it unwrap

use std::time::Duration;

use kafka_eos_demo::orders::{expected_results, generate, input_records};
use kafka_eos_demo::process::WorkerSpec;
use kafka_eos_demo::topics::Topics;
use kafka_eos_testkit::{test_seed, wait_until, Cluster, Collector, ExactlyOnceReport, Record};

/// The `kafka-eos-demo` binary of this package.
pub const DEMO_EXE: &str = env!("CARGO_BIN_EXE_kafka-eos-demo");

/// One prepared run.
#[derive(Debug)]
pub struct WorkerRun {
    /// Replay with `EOS_TEST_SEED`.
    pub seed: u64,
    /// The cluster (embedded unless `KAFKA_BOOTSTRAP_SERVERS` is set).
    pub cluster: Cluster,
    /// Topics and group.
    pub topics: Topics,
    /// f(input), each key's results in input order.
    pub expected: Vec<Record>,
    /// The output read so far.
    pub progress: Collector,
    /// How to start workers (200-record transactions, simulated work every 5 records).
    pub spec: WorkerSpec,
}

impl WorkerRun {
    /// Prepares a run of `orders` orders over `partitions` partitions.
    pub fn prepare(prefix: &str, partitions: i32, orders: u64) -> Self {
        let seed = test_seed();
        eprintln!("seed {seed} (replay with EOS_TEST_SEED={seed})");
        let cluster = Cluster::from_env().unwrap();
        let bootstrap = cluster.bootstrap_servers();
        let topics = Topics::unique(&cluster, prefix);
        topics.create(&cluster, partitions).unwrap();
        let events = generate(orders, seed);
        kafka_eos_testkit::write_records(&bootstrap, &topics.input, &input_records(&events))
            .unwrap();
        let progress = Collector::start(&bootstrap, &[&topics.output]).unwrap();
        let mut spec = WorkerSpec::new(DEMO_EXE, bootstrap, topics.clone()).unwrap();
        spec.commit_records = 200;
        spec.pause_every = 5;
        Self {
            seed,
            cluster,
            topics,
            expected: expected_results(&events),
            progress,
            spec,
        }
    }

    /// Results read so far.
    pub fn output_count(&self) -> usize {
        self.progress.count_of(&self.topics.output)
    }

    /// Waits until `done(results read)` holds, or the output stalls for `stall`.
    pub fn wait_for(&self, done: impl FnMut(usize) -> bool, stall: Duration) -> bool {
        wait_until(|| self.output_count(), done, stall)
    }

    /// Stops the reader and checks the output with a fresh read_committed reader.
    pub fn verify(self) -> (ExactlyOnceReport, Cluster) {
        drop(self.progress.stop(&self.topics.output, &self.topics.dlq));
        let report = kafka_eos_testkit::verify_topic(
            &self.cluster.bootstrap_servers(),
            &self.topics.output,
            &self.expected,
        )
        .unwrap();
        (report, self.cluster)
    }
}
