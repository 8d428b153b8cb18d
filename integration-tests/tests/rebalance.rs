//! Rebalance suite: the next batch is collected while one is in its transaction, so a
//! rebalance can run mid-transaction (the collecting poll serves it). That batch is then
//! aborted (cause `rebalance`) and polled again from the committed offsets by whichever
//! instance owns its partitions now; the output, read by a read_committed reader, stays
//! exactly once and in order per key.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_eos_demo::orders::{result_of, OrderEvent};
use kafka_eos_integration_tests::{await_output, join_within_30s, order_records, runtime, Topics};
use kafka_eos_processor::core::rdkafka::consumer::{BaseConsumer, Consumer};
use kafka_eos_processor::core::rdkafka::ClientConfig;
use kafka_eos_processor::core::AbortCause;
use kafka_eos_processor::{BoxError, Input, JsonCodec, Output, PipelineBuilder, Processor};
use kafka_eos_testkit::{test_seed, verify_topic, wait_until, write_records, Cluster, Collector};

/// One result per event; the first instance stalls on its first record until the test
/// releases it (once a second instance has joined the group), 45 s at most.
struct StallOnce {
    output: String,
    stall: Option<Stall>,
}

/// The first instance's stall: `started` when its first record is processed, held until
/// `release`.
#[derive(Clone, Default)]
struct Stall {
    started: Arc<AtomicBool>,
    release: Arc<AtomicBool>,
}

impl Processor for StallOnce {
    type Input = OrderEvent;
    async fn process(&self, input: Input<OrderEvent>) -> Result<Vec<Output>, BoxError> {
        if let Some(stall) = &self.stall {
            if !stall.started.swap(true, Ordering::AcqRel) {
                let until = Instant::now() + Duration::from_secs(45);
                while !stall.release.load(Ordering::Acquire) && Instant::now() < until {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        let (key, value) = result_of(&input.value);
        Ok(vec![Output::new(&self.output, key, value)])
    }
}

/// The members of `group` (0 if it cannot be read).
fn members(bootstrap: &str, group: &str) -> usize {
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    client
        .fetch_group_list(Some(group), Duration::from_secs(5))
        .map_or(0, |list| {
            list.groups().iter().map(|g| g.members().len()).sum()
        })
}

#[test]
fn a_rebalance_during_a_transaction_aborts_the_batch_and_stays_exactly_once() {
    let seed = test_seed();
    let cluster = Cluster::from_env().unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let names = Topics::create_unique(&cluster, "rebalance", 4).unwrap();
    let (_, input, expected) = order_records(2_000, seed);
    write_records(&bootstrap, &names.input, &input).unwrap();

    let build = |instance: u32, stall: Option<Stall>| {
        PipelineBuilder::new()
            .bootstrap_servers(&bootstrap)
            .group_id(&names.group)
            .input_topic(&names.input)
            .instance_index(instance)
            .commit_every_records(200)
            .build(
                StallOnce {
                    output: names.output.clone(),
                    stall,
                },
                JsonCodec::<OrderEvent>::new(),
            )
            .unwrap()
    };
    let progress = Collector::start(&bootstrap, &[&names.output]).unwrap();
    let rt = runtime();
    let stall = Stall::default();
    let first = build(0, Some(stall.clone()));
    let (first_metrics, first_token) = (first.metrics(), first.shutdown_token());
    let first_task = rt.spawn(first.run());
    assert!(
        wait_until(
            || usize::from(stall.started.load(Ordering::Acquire)),
            |s| s == 1,
            Duration::from_secs(30)
        ),
        "the first instance never processed a record"
    );
    // the first batch is in its transaction until the second instance has joined
    let second = build(1, None);
    let (second_metrics, second_token) = (second.metrics(), second.shutdown_token());
    let second_task = rt.spawn(second.run());
    let joined = wait_until(
        || members(&bootstrap, &names.group),
        |n| n == 2,
        Duration::from_secs(25),
    );
    // The group now waits for the first instance to rejoin, which it does once its batch
    // ends; its next heartbeat (every 3 s) learns of the rebalance, and its collecting poll
    // serves the revocation meanwhile.
    std::thread::sleep(Duration::from_secs(5));
    stall.release.store(true, Ordering::Release);
    assert!(
        joined,
        "the second instance did not join while the batch was stalled"
    );

    let (finished, live) = await_output(progress, &names, expected.len(), Duration::from_secs(60));
    first_token.cancel();
    second_token.cancel();
    for task in [first_task, second_task] {
        let result = join_within_30s(&rt, task, "a pipeline did not stop");
        assert!(result.is_ok(), "{result:?}");
    }
    assert!(finished, "stalled at {live} of {}", expected.len());

    let report = verify_topic(&bootstrap, &names.output, &expected).unwrap();
    assert!(report.is_exactly_once(), "{report} (seed {seed})");
    // the stalled batch saw the rebalance before its commit and was aborted for it
    let first = first_metrics.snapshot();
    let aborted = first.aborts_by_cause[AbortCause::ALL
        .iter()
        .position(|c| *c == AbortCause::Rebalance)
        .unwrap()];
    assert!(aborted >= 1, "no abort for the rebalance: {first:?}");
    // and both instances did part of the work
    let second = second_metrics.snapshot();
    assert!(
        first.records_in > 0 && second.records_in > 0,
        "{first:?} {second:?}"
    );
    drop(rt);
}
