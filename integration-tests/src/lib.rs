//! Shared helpers of the in-process end-to-end suites in `tests/`: the demo's order input
//! and its expected output, and a Tokio runtime for the pipelines under test.
//!
//! The suites run against the embedded broker by default and against any cluster when
//! `KAFKA_BOOTSTRAP_SERVERS` is set ([`kafka_eos_testkit::Cluster::from_env`]); suites that
//! inject faults always start an embedded broker. The suites that kill worker processes
//! live beside the worker, in `crates/demo/tests`.

use std::time::Duration;

use kafka_eos_demo::orders::{expected_results, generate, input_records, OrderEvent};
use kafka_eos_testkit::{wait_until, Collector, Record};

pub use kafka_eos_demo::topics::Topics;

/// The order events of `orders` orders, as input records (JSON values keyed by order), and
/// the expected output `f(input)` (one result per event, each key's results in order).
pub fn order_records(orders: u64, seed: u64) -> (Vec<OrderEvent>, Vec<Record>, Vec<Record>) {
    let events = generate(orders, seed);
    let (input, expected) = (input_records(&events), expected_results(&events));
    (events, input, expected)
}

/// Waits up to `timeout` for `expected` records on `names.output` (as `progress` collects
/// them), then stops `progress`: whether they all came, and how many did.
pub fn await_output(
    progress: Collector,
    names: &Topics,
    expected: usize,
    timeout: Duration,
) -> (bool, usize) {
    let finished = wait_until(
        || progress.count_of(&names.output),
        |n| n >= expected,
        timeout,
    );
    let live = progress.count_of(&names.output);
    drop(progress.stop(&names.output, &names.dlq));
    (finished, live)
}

/// What the pipeline `task` spawned on `rt` returned, once it stops: it must within 30 s
/// (a pipeline stuck in a blocking client call fails the test, saying `what`, instead of
/// hanging it).
pub fn join_within_30s<T>(
    rt: &tokio::runtime::Runtime,
    task: tokio::task::JoinHandle<T>,
    what: &str,
) -> T {
    match rt.block_on(async { tokio::time::timeout(Duration::from_secs(30), task).await }) {
        Ok(joined) => joined.expect("the pipeline's task panicked"),
        Err(_) => panic!("{what}"),
    }
}

/// A multi-threaded Tokio runtime for in-process pipelines. The suites are plain `#[test]`s
/// because the embedded broker runs on a runtime of its own, which cannot be started or
/// dropped inside another.
pub fn runtime() -> tokio::runtime::Runtime {
    // `RUST_LOG=kafka_eos_processor=debug cargo nextest run --no-capture ...` shows the pipelines' logs
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}
