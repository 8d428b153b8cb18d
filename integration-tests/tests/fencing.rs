//! Fencing suite: a newer pipeline with the same `transactional.id` fences the older one,
//! which stops with the Fenced error; the output is still exactly once.

use std::time::Duration;

use kafka_eos_demo::orders::{OrderEvent, OrderProcessor};
use kafka_eos_integration_tests::{await_output, join_within_30s, order_records, runtime, Topics};
use kafka_eos_processor::{CancellationToken, JsonCodec, PipelineBuilder};
use kafka_eos_testkit::{test_seed, verify_topic, wait_until, write_records, Cluster, Collector};

#[test]
fn the_older_pipeline_is_fenced_and_stops_and_the_output_stays_exactly_once() {
    let seed = test_seed();
    let cluster = Cluster::from_env().unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let names = Topics::create_unique(&cluster, "fencing", 4).unwrap();
    let (_, input, expected) = order_records(3_000, seed);
    // Half the input now, half after the newer instance started: whatever partitions the
    // older keeps after the rebalance, it has work left, so it must touch the coordinator
    // (and learn it is fenced). An idle zombie cannot know it is fenced, in Kafka too.
    let (first_half, second_half) = input.split_at(input.len() / 2);
    write_records(&bootstrap, &names.input, first_half).unwrap();
    let transactional_id = cluster.unique_topic("fencing-txn");

    let build = |shutdown: CancellationToken| {
        PipelineBuilder::new()
            .bootstrap_servers(&bootstrap)
            .group_id(&names.group)
            .input_topic(&names.input)
            .transactional_id(&transactional_id)
            .commit_every_records(100)
            .shutdown(shutdown)
            .build(
                OrderProcessor::new(names.output.clone(), 5),
                JsonCodec::<OrderEvent>::new(),
            )
            .unwrap()
    };
    let progress = Collector::start(&bootstrap, &[&names.output]).unwrap();
    let rt = runtime();
    let old_token = CancellationToken::new();
    let older = rt.spawn(build(old_token.clone()).run());
    assert!(
        wait_until(
            || progress.count_of(&names.output),
            |n| n >= expected.len() / 10,
            Duration::from_secs(30)
        ),
        "the first pipeline made no progress"
    );
    assert!(
        progress.count_of(&names.output) < expected.len(),
        "work must remain when the newer instance starts"
    );

    // Same transactional.id: its init_transactions bumps the epoch and fences the older.
    let new_token = CancellationToken::new();
    let newer = rt.spawn(build(new_token.clone()).run());
    write_records(&bootstrap, &names.input, second_half).unwrap();
    let older_result = join_within_30s(
        &rt,
        older,
        "the older pipeline kept running after being fenced",
    );
    match older_result {
        Err(e) => assert!(e.is_fenced(), "stopped with {e:?}, not fenced"),
        Ok(()) => panic!("the older pipeline stopped without an error"),
    }
    assert!(!old_token.is_cancelled());

    let (finished, live) = await_output(progress, &names, expected.len(), Duration::from_secs(30));
    new_token.cancel();
    let newer_result = join_within_30s(&rt, newer, "the newer pipeline did not stop");
    assert!(newer_result.is_ok(), "{newer_result:?}");
    assert!(finished, "stalled at {live} of {}", expected.len());

    let report = verify_topic(&bootstrap, &names.output, &expected).unwrap();
    assert!(report.is_exactly_once(), "{report} (seed {seed})");
    drop(rt);
}
