//! Transactions against the embedded broker, driven by librdkafka: commit markers, aborted
//! data hidden from read_committed readers, the last stable offset, fencing, transactional
//! offsets and transaction timeouts.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

mod common;

use std::time::Duration;

use common::*;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::producer::Producer;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

fn values(reads: &[Read]) -> Vec<String> {
    reads.iter().map(|r| r.value.clone()).collect()
}

fn assert_fenced(result: Result<(), KafkaError>) {
    match result {
        Err(KafkaError::Transaction(e)) => {
            assert!(e.is_fatal(), "fencing must be fatal, got {e:?}");
            assert!(
                matches!(
                    e.code(),
                    RDKafkaErrorCode::ProducerFenced
                        | RDKafkaErrorCode::InvalidProducerEpoch
                        | RDKafkaErrorCode::Fenced
                ),
                "expected a fenced error, got {:?}",
                e.code()
            );
        }
        other => panic!("expected a fenced transaction error, got {other:?}"),
    }
}

#[test]
fn committed_is_visible_and_aborted_hidden_from_read_committed() {
    let broker = broker();
    broker.create_topic("t", 1).unwrap();
    let p = txn_producer(&broker, "tx-visibility");
    p.begin_transaction().unwrap();
    for i in 0..3 {
        send(&p, "t", 0, "k", &format!("c1-{i}"));
    }
    p.commit_transaction(TIMEOUT).unwrap();
    p.begin_transaction().unwrap();
    for i in 0..3 {
        send(&p, "t", 0, "k", &format!("a-{i}"));
    }
    p.flush(TIMEOUT).unwrap();
    p.abort_transaction(TIMEOUT).unwrap();
    p.begin_transaction().unwrap();
    for i in 0..2 {
        send(&p, "t", 0, "k", &format!("c2-{i}"));
    }
    p.commit_transaction(TIMEOUT).unwrap();

    let committed = read_all(
        &consumer(&broker, "read_committed", &[]),
        "t",
        1,
        Some(5),
        Duration::from_millis(500),
    );
    assert_eq!(values(&committed), ["c1-0", "c1-1", "c1-2", "c2-0", "c2-1"]);
    let all = read_all(
        &consumer(&broker, "read_uncommitted", &[]),
        "t",
        1,
        Some(8),
        Duration::from_millis(500),
    );
    assert_eq!(
        values(&all),
        ["c1-0", "c1-1", "c1-2", "a-0", "a-1", "a-2", "c2-0", "c2-1"]
    );
    // 3 data + marker, 3 data + marker, 2 data + marker
    let (hw, lso) = broker.offsets("t", 0).unwrap();
    assert_eq!((hw, lso), (11, 11));
    // offsets are the broker's, markers take one
    assert_eq!(
        committed.iter().map(|r| r.offset).collect::<Vec<_>>(),
        [0, 1, 2, 8, 9]
    );
}

#[test]
fn an_open_transaction_holds_read_committed_readers_at_the_lso() {
    let broker = broker();
    broker.create_topic("lso", 1).unwrap();
    let a = txn_producer(&broker, "tx-open-a");
    let b = txn_producer(&broker, "tx-open-b");
    a.begin_transaction().unwrap();
    send(&a, "lso", 0, "a", "a-open");
    a.flush(TIMEOUT).unwrap();
    b.begin_transaction().unwrap();
    send(&b, "lso", 0, "b", "b-done");
    b.commit_transaction(TIMEOUT).unwrap();

    let (hw, lso) = broker.offsets("lso", 0).unwrap();
    assert_eq!((hw, lso), (3, 0), "A's open record at 0 holds the LSO");
    let rc = consumer(&broker, "read_committed", &[]);
    assert!(read_all(&rc, "lso", 1, None, Duration::from_millis(700)).is_empty());
    let (_, high) = rc.fetch_watermarks("lso", 0, TIMEOUT).unwrap();
    assert_eq!(
        high, 0,
        "ListOffsets(latest, read_committed) answers the LSO"
    );
    let ru = consumer(&broker, "read_uncommitted", &[]);
    let (_, high) = ru.fetch_watermarks("lso", 0, TIMEOUT).unwrap();
    assert_eq!(
        high, 3,
        "ListOffsets(latest, read_uncommitted) answers the high watermark"
    );
    assert_eq!(
        values(&read_all(
            &ru,
            "lso",
            1,
            Some(2),
            Duration::from_millis(300)
        )),
        ["a-open", "b-done"]
    );

    a.commit_transaction(TIMEOUT).unwrap();
    let after = read_all(
        &consumer(&broker, "read_committed", &[]),
        "lso",
        1,
        Some(2),
        Duration::from_millis(500),
    );
    assert_eq!(values(&after), ["a-open", "b-done"]);
}

#[test]
fn a_second_producer_with_the_same_id_fences_the_first_and_aborts_its_transaction() {
    let broker = broker();
    broker.create_topic("fence", 2).unwrap();
    let zombie = txn_producer(&broker, "tx-fence");
    zombie.begin_transaction().unwrap();
    send(&zombie, "fence", 0, "z", "zombie-0");
    send(&zombie, "fence", 1, "z", "zombie-1");
    zombie.flush(TIMEOUT).unwrap();
    assert!(broker.transactions()[0].ongoing);

    let fresh = txn_producer(&broker, "tx-fence");
    let info = &broker.transactions()[0];
    // As in Kafka: the fencing abort is written with epoch 1, the new producer gets epoch 2.
    assert_eq!(
        (info.epoch, info.ongoing),
        (2, false),
        "InitProducerId bumped the epoch and aborted"
    );
    assert_fenced(zombie.commit_transaction(TIMEOUT));

    fresh.begin_transaction().unwrap();
    send(&fresh, "fence", 0, "f", "fresh");
    fresh.commit_transaction(TIMEOUT).unwrap();

    let rc = read_all(
        &consumer(&broker, "read_committed", &[]),
        "fence",
        2,
        Some(1),
        Duration::from_millis(700),
    );
    assert_eq!(values(&rc), ["fresh"]);
    let mut ru = values(&read_all(
        &consumer(&broker, "read_uncommitted", &[]),
        "fence",
        2,
        Some(3),
        Duration::from_millis(500),
    ));
    ru.sort();
    assert_eq!(ru, ["fresh", "zombie-0", "zombie-1"]);
}

#[test]
fn offsets_sent_in_an_aborted_transaction_are_not_committed_and_committed_ones_are() {
    let broker = broker();
    broker.create_topic("in", 1).unwrap();
    broker.create_topic("out", 1).unwrap();
    let group = "eos-group";
    let c = consumer(&broker, "read_committed", &[("group.id", group)]);
    let cgm = c.group_metadata().expect("group metadata");
    let p = txn_producer(&broker, "tx-offsets");

    let offsets = |o: i64| {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("in", 0, Offset::Offset(o))
            .unwrap();
        tpl
    };
    p.begin_transaction().unwrap();
    send(&p, "out", 0, "k", "v-aborted");
    p.send_offsets_to_transaction(&offsets(5), &cgm, TIMEOUT)
        .unwrap();
    p.flush(TIMEOUT).unwrap();
    p.abort_transaction(TIMEOUT).unwrap();
    assert_eq!(
        committed(&broker, group, "in", 1)[&0],
        Offset::Invalid.to_raw().unwrap()
    );

    p.begin_transaction().unwrap();
    send(&p, "out", 0, "k", "v-committed");
    p.send_offsets_to_transaction(&offsets(7), &cgm, TIMEOUT)
        .unwrap();
    p.commit_transaction(TIMEOUT).unwrap();
    assert_eq!(committed(&broker, group, "in", 1)[&0], 7);
    let out = read_all(
        &consumer(&broker, "read_committed", &[]),
        "out",
        1,
        Some(1),
        Duration::from_millis(500),
    );
    assert_eq!(values(&out), ["v-committed"]);
}

#[test]
fn a_transaction_open_past_its_timeout_is_aborted_and_its_producer_fenced() {
    let broker = broker();
    broker.create_topic("slow", 1).unwrap();
    let p = producer(
        &broker,
        &[
            ("transactional.id", "tx-slow"),
            ("transaction.timeout.ms", "1500"),
        ],
    );
    p.init_transactions(TIMEOUT).unwrap();
    p.begin_transaction().unwrap();
    send(&p, "slow", 0, "k", "too-slow");
    p.flush(TIMEOUT).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while broker.transactions()[0].ongoing {
        assert!(
            std::time::Instant::now() < deadline,
            "the coordinator never expired the transaction"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (hw, lso) = broker.offsets("slow", 0).unwrap();
    assert_eq!((hw, lso), (2, 2), "abort marker written, LSO released");
    assert!(
        p.commit_transaction(TIMEOUT).is_err(),
        "the timed-out producer cannot commit"
    );
    let rc = read_all(
        &consumer(&broker, "read_committed", &[]),
        "slow",
        1,
        None,
        Duration::from_millis(700),
    );
    assert!(rc.is_empty(), "aborted by timeout: {rc:?}");
}
