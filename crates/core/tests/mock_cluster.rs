//! Error-path tests on librdkafka's mock cluster.
//!
//! The mock cluster runs the transactional protocol but writes no commit/abort markers,
//! so these tests check flows and error classification only, never exactly-once output.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

use std::time::Duration;

use kafka_eos_core::rdkafka::consumer::{BaseConsumer, Consumer};
use kafka_eos_core::rdkafka::mocking::MockCluster;
use kafka_eos_core::rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use kafka_eos_core::rdkafka::{ClientConfig, Offset, TopicPartitionList};
use kafka_eos_core::{Error, ErrorKind, OwnedRecord, RetryPolicy, TransactionalProducer};

const TOPIC: &str = "out";

fn cluster(
    brokers: i32,
) -> MockCluster<'static, kafka_eos_core::rdkafka::producer::DefaultProducerContext> {
    let mock = MockCluster::new(brokers).unwrap();
    mock.create_topic(TOPIC, 3, brokers).unwrap();
    mock.create_topic("in", 1, brokers).unwrap();
    mock
}

fn producer(bootstrap: &str, id: &str) -> TransactionalProducer {
    let profile = kafka_eos_core::config::ProducerProfile::idempotent(bootstrap)
        .transactional(id)
        .transaction_timeout(Duration::from_secs(20))
        .set("message.timeout.ms", "10000");
    TransactionalProducer::new(&profile)
        .unwrap()
        .with_operation_timeout(Duration::from_secs(10))
        .with_retry_policy(
            RetryPolicy::default()
                .max_attempts(20)
                .initial_backoff(Duration::from_millis(100))
                .max_backoff(Duration::from_millis(500)),
        )
}

fn rec(i: u32) -> OwnedRecord {
    OwnedRecord::new(TOPIC, format!("k{i}"), format!("v{i}")).header("n", i.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_commits_and_counts() {
    let mock = cluster(1);
    let mut p = producer(&mock.bootstrap_servers(), "happy-0");
    p.init_transactions().await.unwrap();
    for round in 0..3 {
        p.begin().await.unwrap();
        assert!(p.in_transaction());
        for i in 0..5 {
            let d = p.send(rec(round * 10 + i)).await.unwrap();
            assert!(d.offset >= 0);
            assert!((0..3).contains(&d.partition));
        }
        p.commit().await.unwrap();
        assert!(!p.in_transaction());
    }
    let s = p.metrics().snapshot();
    assert_eq!(s.transactions_begun, 3);
    assert_eq!(s.commits, 3);
    assert_eq!(s.aborts, 0);
    assert_eq!(s.records_out, 15);
    assert!(s.commit_latency_p50.is_some());
    assert!(s.commit_latency_p99 >= s.commit_latency_p50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_out_of_state_are_rejected() {
    let mock = cluster(1);
    let mut p = producer(&mock.bootstrap_servers(), "state-0");
    let e = p.begin().await.unwrap_err();
    assert!(matches!(e, Error::State { .. }), "{e:?}");
    p.init_transactions().await.unwrap();
    let e = p.commit().await.unwrap_err();
    assert!(matches!(e, Error::State { .. }), "{e:?}");
    let e = p.send(rec(1)).await.unwrap_err();
    assert_eq!(e.record, rec(1), "the record is handed back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transactions_on_end_txn_is_recovered() {
    let mock = cluster(1);
    let mut p = producer(&mock.bootstrap_servers(), "concurrent-0");
    p.init_transactions().await.unwrap();
    p.begin().await.unwrap();
    p.send(rec(1)).await.unwrap();
    mock.request_errors(
        RDKafkaApiKey::EndTxn,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
        ],
    );
    p.commit().await.unwrap();
    let s = p.metrics().snapshot();
    assert_eq!(s.commits, 1);
    assert_eq!(
        s.aborts, 0,
        "a retriable commit error must never turn into an abort"
    );
    // The next transaction works normally.
    p.begin().await.unwrap();
    p.send(rec(2)).await.unwrap();
    p.commit().await.unwrap();
    assert_eq!(p.metrics().snapshot().commits, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_not_available_on_init_is_recovered() {
    let mock = cluster(1);
    mock.request_errors(
        RDKafkaApiKey::FindCoordinator,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
        ],
    );
    mock.request_errors(
        RDKafkaApiKey::InitProducerId,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS,
        ],
    );
    let mut p = producer(&mock.bootstrap_servers(), "coord-0");
    p.init_transactions().await.unwrap();
    p.begin().await.unwrap();
    p.send(rec(1)).await.unwrap();
    p.commit().await.unwrap();
    assert_eq!(p.metrics().snapshot().commits, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_timeout_is_retriable_and_the_same_commit_is_retried() {
    let mock = cluster(1);
    let profile = kafka_eos_core::config::ProducerProfile::idempotent(mock.bootstrap_servers())
        .transactional("timeout-0")
        .transaction_timeout(Duration::from_secs(30));
    // A single attempt shows the classification of the raw error.
    let mut p = TransactionalProducer::new(&profile)
        .unwrap()
        .with_operation_timeout(Duration::from_secs(2))
        .with_retry_policy(RetryPolicy::default().max_attempts(1));
    p.init_transactions().await.unwrap();
    p.begin().await.unwrap();
    p.send(rec(1)).await.unwrap();
    mock.broker_down(1).unwrap();
    let err = p.commit().await.unwrap_err();
    let Error::RetriesExhausted { source, .. } = &err else {
        panic!("expected a retriable error wrapped by the exhausted policy, got {err:?}");
    };
    assert_eq!(source.kind(), ErrorKind::Retriable, "{source:?}");
    assert_eq!(source.kind(), ErrorKind::Retriable);
    assert!(
        p.in_transaction(),
        "a timed-out commit leaves the transaction open"
    );
    mock.broker_up(1).unwrap();
    // Retry the same operation: commit again (the client may need a few tries to reconnect;
    // every try is the same commit, never an abort).
    let mut last = None;
    for _ in 0..10 {
        match p.commit().await {
            Ok(()) => {
                last = None;
                break;
            }
            Err(e) => {
                let kind = match &e {
                    Error::RetriesExhausted { source, .. } => source.kind(),
                    other => other.kind(),
                };
                assert_eq!(kind, ErrorKind::Retriable, "{e:?}");
                last = Some(e);
            }
        }
    }
    assert!(last.is_none(), "the commit never went through: {last:?}");
    let s = p.metrics().snapshot();
    assert_eq!(s.commits, 1);
    assert_eq!(s.aborts, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_retry_loop_rides_out_a_broker_outage() {
    let mock = cluster(1);
    let mut p = producer(&mock.bootstrap_servers(), "outage-0")
        .with_operation_timeout(Duration::from_secs(1));
    p.init_transactions().await.unwrap();
    p.begin().await.unwrap();
    p.send(rec(1)).await.unwrap();
    mock.broker_down(1).unwrap();
    let restore = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        mock.broker_up(1).unwrap();
    };
    let (commit, ()) = tokio::join!(p.commit(), restore);
    commit.unwrap();
    let s = p.metrics().snapshot();
    assert_eq!(s.commits, 1);
    assert!(s.retries >= 1, "the commit was retried: {s:?}");
    assert_eq!(s.aborts, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_produce_is_abortable_and_abort_recovers() {
    let mock = cluster(1);
    let mut p = producer(&mock.bootstrap_servers(), "abortable-0");
    p.init_transactions().await.unwrap();
    p.begin().await.unwrap();
    mock.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE],
    );
    let send_err = p.send(rec(7)).await.unwrap_err();
    assert_eq!(send_err.kind(), ErrorKind::Abortable, "{send_err:?}");
    assert_eq!(send_err.record, rec(7), "the record is handed back");
    let commit_err = p.commit().await.unwrap_err();
    assert_eq!(commit_err.kind(), ErrorKind::Abortable, "{commit_err:?}");
    assert_eq!(commit_err.kind(), ErrorKind::Abortable);
    p.abort().await.unwrap();
    assert!(!p.in_transaction());
    // Replay as the loop does: begin, send, commit; on an abortable error abort and
    // replay again. (librdkafka needs an epoch bump after the skipped sequence, so the
    // first replay may itself turn abortable.)
    let mut record = send_err.record;
    let mut replays = 0;
    loop {
        replays += 1;
        assert!(replays <= 5, "replay did not recover");
        p.begin().await.unwrap();
        let outcome = match p.send(record.clone()).await {
            Ok(_) => p.commit().await,
            Err(e) => {
                record = e.record.clone();
                Err(e.error)
            }
        };
        match outcome {
            Ok(()) => break,
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Abortable, "{e:?}");
                p.abort().await.unwrap();
            }
        }
    }
    let s = p.metrics().snapshot();
    assert_eq!(s.commits, 1);
    assert!(s.aborts >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueued_records_are_counted_and_a_failed_one_is_handed_back() {
    let mock = cluster(1);
    let mut p = producer(&mock.bootstrap_servers(), "enqueue-0");
    p.init_transactions().await.unwrap();
    p.begin().await.unwrap();
    for i in 0..50 {
        p.enqueue(rec(i)).await.unwrap();
    }
    p.await_deliveries().await.unwrap();
    assert_eq!(
        p.metrics().snapshot().records_out,
        50,
        "every delivery counted"
    );
    p.commit().await.unwrap();

    // a failed delivery among enqueued records: awaited, reported with its record
    p.begin().await.unwrap();
    mock.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE],
    );
    p.enqueue(rec(99).partition(2)).await.unwrap();
    let failed = p.await_deliveries().await.unwrap_err();
    assert_eq!(failed.kind(), ErrorKind::Abortable, "{failed:?}");
    assert_eq!(
        failed.record,
        rec(99).partition(2),
        "the record is rebuilt from its delivery report"
    );
    p.abort().await.unwrap();

    // The next transaction starts with clean counts: it never reports the aborted one's
    // record. (librdkafka bumps the epoch after the skipped sequence, which may purge the
    // first replay's record: then that transaction is aborted and replayed, as the loop does.)
    let mut replays = 0;
    loop {
        replays += 1;
        assert!(replays <= 5, "replay did not recover");
        p.begin().await.unwrap();
        p.enqueue(rec(100)).await.unwrap();
        match p.await_deliveries().await {
            Ok(()) => break,
            Err(e) => {
                let own = rec(100);
                assert_eq!(
                    (&e.record.key, &e.record.value),
                    (&own.key, &own.value),
                    "{e:?}"
                );
                p.abort().await.unwrap();
            }
        }
    }
    p.commit().await.unwrap();
    assert_eq!(p.metrics().snapshot().records_out, 51);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zombie_is_fenced_with_its_transactional_id() {
    // The mock cluster hands out a new producer id per init_transactions instead of
    // bumping the epoch of the transactional id, so fencing is injected: the error a
    // zombie sees when a newer instance took over its transactional.id.
    let mock = cluster(1);
    let mut zombie = producer(&mock.bootstrap_servers(), "fence-me-0");
    zombie.init_transactions().await.unwrap();
    zombie.begin().await.unwrap();
    zombie.send(rec(1)).await.unwrap();
    mock.request_errors(
        RDKafkaApiKey::EndTxn,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_PRODUCER_FENCED],
    );
    let err = zombie.commit().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Fenced, "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Fenced);
    match &err {
        Error::Fenced {
            transactional_id, ..
        } => assert_eq!(transactional_id, "fence-me-0"),
        other => panic!("expected Error::Fenced, got {other:?}"),
    }
    assert!(err.to_string().contains("fence-me-0"));
    assert_eq!(zombie.metrics().snapshot().commits, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fatal_error_then_rebuild_recovers() {
    let mock = cluster(1);
    let mut p = producer(&mock.bootstrap_servers(), "fatal-0");
    p.init_transactions().await.unwrap();
    p.begin().await.unwrap();
    p.send(rec(1)).await.unwrap();
    mock.request_errors(
        RDKafkaApiKey::EndTxn,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_INVALID_TXN_STATE],
    );
    let err = p.commit().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Fatal, "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Fatal);
    p.rebuild().await.unwrap();
    assert!(!p.in_transaction());
    p.begin().await.unwrap();
    p.send(rec(1)).await.unwrap();
    p.commit().await.unwrap();
    let s = p.metrics().snapshot();
    assert_eq!((s.commits, s.producer_rebuilds), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_offsets_and_illegal_generation() {
    let mock = cluster(1);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", mock.bootstrap_servers())
        .set("group.id", "offsets-group")
        .create()
        .unwrap();
    let mut p = producer(&mock.bootstrap_servers(), "offsets-0");
    p.init_transactions().await.unwrap();

    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("in", 0, Offset::Offset(5))
        .unwrap();

    // Happy path: offsets join the transaction and commit with it.
    p.begin().await.unwrap();
    p.send(rec(1)).await.unwrap();
    p.send_offsets(&tpl, consumer.group_metadata().unwrap())
        .await
        .unwrap();
    p.commit().await.unwrap();

    // ILLEGAL_GENERATION on TxnOffsetCommit: abortable.
    p.begin().await.unwrap();
    p.send(rec(2)).await.unwrap();
    mock.request_errors(
        RDKafkaApiKey::TxnOffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION],
    );
    let err = p
        .send_offsets(&tpl, consumer.group_metadata().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Abortable, "{err:?}");
    p.abort().await.unwrap();
    p.begin().await.unwrap();
    p.send(rec(2)).await.unwrap();
    p.send_offsets(&tpl, consumer.group_metadata().unwrap())
        .await
        .unwrap();
    p.commit().await.unwrap();
    let s = p.metrics().snapshot();
    assert_eq!((s.commits, s.aborts), (2, 1));
}
