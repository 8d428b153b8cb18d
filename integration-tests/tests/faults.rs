//! Broker-fault suite (embedded broker only: faults are injected into it): error codes on
//! EndTxn, AddPartitionsToTxn, TxnOffsetCommit and Produce, a broker bounce, and a commit
//! whose response is lost (its outcome unknown to the pipeline), while an
//! in-process pipeline runs; it recovers and the output is exactly once.

use std::time::Duration;

use kafka_eos_broker::protocol::messages::ApiKey;
use kafka_eos_broker::protocol::ResponseError;
use kafka_eos_broker::{Faults, TransactionCounts};
use kafka_eos_demo::orders::{Failures, OrderEvent, OrderProcessor};
use kafka_eos_integration_tests::{await_output, join_within_30s, order_records, runtime, Topics};
use kafka_eos_processor::core::RetryPolicy;
use kafka_eos_processor::{
    CancellationToken, JsonCodec, KeyPolicy, MetricsSnapshot, PipelineBuilder,
};
use kafka_eos_testkit::{test_seed, verify_topic, wait_until, write_records, Cluster, Collector};

/// Runs a pipeline over ~7,500 order events; once a fifth of the results is out (a
/// transaction is in flight), calls `inject`; then checks exactly-once.
fn run_with(inject: impl FnOnce(&Faults)) -> (TransactionCounts, MetricsSnapshot) {
    run_tuned(|b| b, Failures::default(), inject)
}

/// [`run_with`], the pipeline's settings tuned by `tune`; with `failures`, the processor
/// fails records and retries park.
fn run_tuned(
    tune: impl FnOnce(PipelineBuilder) -> PipelineBuilder,
    failures: Failures,
    inject: impl FnOnce(&Faults),
) -> (TransactionCounts, MetricsSnapshot) {
    let seed = test_seed();
    let cluster = Cluster::embedded().unwrap();
    let faults = cluster.faults().unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let names = Topics::create_unique(&cluster, "faults", 4).unwrap();
    let (_, input, expected) = order_records(2_000, seed);
    write_records(&bootstrap, &names.input, &input).unwrap();

    let progress = Collector::start(&bootstrap, &[&names.output]).unwrap();
    let token = CancellationToken::new();
    let mut builder = PipelineBuilder::new()
        .bootstrap_servers(&bootstrap)
        .group_id(&names.group)
        .input_topic(&names.input)
        .commit_every_records(100)
        .operation_timeout(Duration::from_secs(10))
        .shutdown(token.clone());
    if failures != Failures::default() {
        builder = builder
            .parking_topic(&names.parked, KeyPolicy::Release)
            .max_attempts(50)
            .retry_backoff(Duration::from_millis(50), Duration::from_millis(200));
    }
    let pipeline = tune(builder)
        .build(
            OrderProcessor::new(names.output.clone(), 10).with_failures(failures),
            JsonCodec::<OrderEvent>::new(),
        )
        .unwrap();
    let metrics = pipeline.metrics();
    let rt = runtime();
    let task = rt.spawn(pipeline.run());
    assert!(
        wait_until(
            || progress.count_of(&names.output),
            |n| n >= expected.len() / 5,
            Duration::from_secs(30)
        ),
        "no progress before the fault"
    );
    assert!(progress.count_of(&names.output) < expected.len());
    inject(&faults);
    let (finished, live) = await_output(progress, &names, expected.len(), Duration::from_secs(40));
    token.cancel();
    let result = join_within_30s(&rt, task, "the pipeline did not stop");
    assert!(
        finished,
        "stalled at {live} of {} ({result:?})",
        expected.len()
    );
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(faults.pending_errors(), 0, "every injected error was hit");
    faults.clear();

    let report = verify_topic(&bootstrap, &names.output, &expected).unwrap();
    assert!(report.is_exactly_once(), "{report} (seed {seed})");
    let counts = cluster.embedded_broker().unwrap().transaction_counts();
    assert!(counts.committed > 0, "{counts:?}");
    drop(rt);
    (counts, metrics.snapshot())
}

#[test]
fn end_txn_errors_are_recovered() {
    run_with(|f| {
        f.fail_next(ApiKey::EndTxn, ResponseError::CoordinatorLoadInProgress, 2);
        f.fail_next(ApiKey::EndTxn, ResponseError::ConcurrentTransactions, 2);
        f.fail_next(ApiKey::EndTxn, ResponseError::NotCoordinator, 1);
    });
}

#[test]
fn add_partitions_to_txn_errors_are_recovered() {
    run_with(|f| {
        f.fail_next(
            ApiKey::AddPartitionsToTxn,
            ResponseError::ConcurrentTransactions,
            2,
        );
        f.fail_next(
            ApiKey::AddPartitionsToTxn,
            ResponseError::CoordinatorLoadInProgress,
            1,
        );
        f.fail_next(ApiKey::AddPartitionsToTxn, ResponseError::NotCoordinator, 1);
    });
}

#[test]
fn txn_offset_commit_errors_are_recovered() {
    run_with(|f| {
        f.fail_next(
            ApiKey::TxnOffsetCommit,
            ResponseError::CoordinatorLoadInProgress,
            2,
        );
        f.fail_next(ApiKey::TxnOffsetCommit, ResponseError::NotCoordinator, 1);
        f.fail_next(
            ApiKey::AddOffsetsToTxn,
            ResponseError::ConcurrentTransactions,
            1,
        );
    });
}

#[test]
fn produce_errors_are_recovered() {
    run_with(|f| {
        f.fail_next(ApiKey::Produce, ResponseError::NotLeaderOrFollower, 3);
        f.fail_next(ApiKey::Produce, ResponseError::RequestTimedOut, 2);
    });
}

/// The commit takes effect, but its response comes after the pipeline gave up on it (two
/// 1 s attempts): the outcome is unknown. Replaying the batch from its start would
/// duplicate it; the pipeline resumes from the committed offsets instead.
fn lose_a_commit_response(failures: Failures) -> MetricsSnapshot {
    let (counts, metrics) = run_tuned(
        |b| {
            b.operation_timeout(Duration::from_secs(1)).retry_policy(
                RetryPolicy::default()
                    .max_attempts(2)
                    .initial_backoff(Duration::from_millis(50)),
            )
        },
        failures,
        |f| {
            f.add_response_latency(ApiKey::EndTxn, Duration::from_secs(4));
            std::thread::sleep(Duration::from_secs(3));
            f.add_response_latency(ApiKey::EndTxn, Duration::ZERO);
        },
    );
    assert!(
        metrics.producer_rebuilds + metrics.aborts > 0,
        "a commit was given up on: {metrics:?} {counts:?}"
    );
    metrics
}

#[test]
fn a_commit_whose_response_is_lost_is_not_replayed() {
    lose_a_commit_response(Failures::default());
}

/// The same with parked keys: the batch whose commit landed unknown to the pipeline had
/// parked records and changed parked keys; the pipeline reads the parked keys again from
/// the parking topic (its memory may lag the commit), so none is lost or run twice.
#[test]
fn a_lost_commit_response_with_parked_keys_loses_and_repeats_nothing() {
    let metrics = lose_a_commit_response(Failures {
        transient: 0.1,
        permanent: 0,
    });
    assert!(metrics.records_parked > 0, "{metrics:?}");
}

#[test]
fn a_broker_bounce_mid_transaction_is_recovered() {
    run_with(|f| f.bounce(Duration::from_millis(500)));
}

#[test]
fn everything_at_once() {
    let (counts, metrics) = run_with(|f| {
        f.fail_next(ApiKey::Produce, ResponseError::NotLeaderOrFollower, 2);
        f.fail_next(
            ApiKey::AddPartitionsToTxn,
            ResponseError::ConcurrentTransactions,
            1,
        );
        f.fail_next(
            ApiKey::TxnOffsetCommit,
            ResponseError::CoordinatorLoadInProgress,
            1,
        );
        f.fail_next(ApiKey::EndTxn, ResponseError::ConcurrentTransactions, 1);
        f.bounce(Duration::from_millis(300));
    });
    assert!(metrics.commits > 0, "{metrics:?} {counts:?}");
}
