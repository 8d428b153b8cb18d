//! Every fault of [`kafka_eos_broker::Faults`], shown working: injected error codes, added
//! latency, dropped connections, pause/resume, bounce and shortened transaction timeouts.

mod common;

use std::time::{Duration, Instant};

use common::raw::{
    batch, decode_response, produce_request, ProducerFields, RawClient, Rec, PRODUCE_VERSION,
};
use common::*;
use kafka_eos_broker::protocol::messages::{
    ApiKey, ApiVersionsRequest, MetadataRequest, ProduceRequest,
};
use kafka_eos_broker::protocol::ResponseError;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::Producer;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

fn one(value: &str) -> bytes::Bytes {
    batch(&[Rec::value(value)], ProducerFields::NONE)
}

#[test]
fn fail_next_answers_the_next_requests_of_one_api_with_the_code_then_recovers() {
    let broker = broker();
    broker.create_topic("f", 1).unwrap();
    let faults = broker.faults();
    let mut c = RawClient::connect(broker.local_addr());
    faults.fail_next(ApiKey::Produce, ResponseError::NotLeaderOrFollower, 2);
    faults.fail_next_code(
        ApiKey::Produce as i16,
        ResponseError::RequestTimedOut.code(),
        1,
    );

    // Other APIs are not affected.
    let p = c.fetch("f", 0, 0, 0, 1);
    assert_eq!(p.error_code, 0);

    let codes: Vec<i16> = (0..4)
        .map(|i| c.produce("f", 0, one(&format!("v{i}"))).error_code)
        .collect();
    assert_eq!(
        codes,
        [
            ResponseError::NotLeaderOrFollower.code(),
            ResponseError::NotLeaderOrFollower.code(),
            ResponseError::RequestTimedOut.code(),
            0
        ]
    );
    assert_eq!(
        broker.offsets("f", 0).unwrap().0,
        1,
        "failed requests were not executed"
    );

    // clear() removes what is left.
    faults.fail_next(ApiKey::Produce, ResponseError::NotLeaderOrFollower, 5);
    faults.clear();
    assert_eq!(c.produce("f", 0, one("after-clear")).error_code, 0);

    // An injected error reaches librdkafka too, which retries.
    faults.fail_next(ApiKey::Produce, ResponseError::NotLeaderOrFollower, 2);
    let p = producer(&broker, &[]);
    send(&p, "f", 0, "k", "via-rdkafka");
    p.flush(TIMEOUT).unwrap();
    assert_eq!(broker.offsets("f", 0).unwrap().0, 3);
    assert_eq!(
        c.produce("f", 0, one("used-up")).error_code,
        0,
        "the librdkafka retries used the faults up"
    );
}

#[test]
fn add_latency_delays_every_request_of_that_api() {
    let broker = broker();
    broker.create_topic("slow", 1).unwrap();
    let faults = broker.faults();
    let mut c = RawClient::connect(broker.local_addr());
    let delay = Duration::from_millis(300);
    faults.add_latency(ApiKey::Metadata, delay);
    for _ in 0..2 {
        let started = Instant::now();
        let md = c.request(12, &MetadataRequest::default().with_topics(None));
        assert!(started.elapsed() >= delay, "took {:?}", started.elapsed());
        assert_eq!(md.topics.len(), 1, "the delayed request is still answered");
    }
    // Removing the latency: the request is still answered (no lower bound applies any more).
    faults.add_latency(ApiKey::Metadata, Duration::ZERO);
    let md = c.request(12, &MetadataRequest::default().with_topics(None));
    assert_eq!(md.topics.len(), 1);
    // Latency on Produce holds librdkafka's delivery back too.
    faults.add_latency(ApiKey::Produce, delay);
    let p = producer(&broker, &[]);
    let started = Instant::now();
    send(&p, "slow", 0, "k", "v");
    p.flush(TIMEOUT).unwrap();
    assert!(started.elapsed() >= delay);
    assert_eq!(broker.offsets("slow", 0).unwrap().0, 1);
}

#[test]
fn drop_connections_closes_every_connection_and_clients_reconnect() {
    let broker = broker();
    broker.create_topic("d", 1).unwrap();
    let mut a = RawClient::connect(broker.local_addr());
    let mut b = RawClient::connect(broker.local_addr());
    assert_eq!(a.produce("d", 0, one("before")).error_code, 0);
    let _ = b.request(3, &ApiVersionsRequest::default());

    let p = producer(&broker, &[]);
    let c = consumer(&broker, "read_uncommitted", &[]);
    // connected before the drop
    assert_eq!(c.fetch_watermarks("d", 0, TIMEOUT).unwrap(), (0, 1));
    for i in 0..50 {
        send(&p, "d", 0, "k", &format!("r{i}"));
    }
    p.flush(TIMEOUT).unwrap();

    broker.faults().drop_connections();
    assert!(a.is_closed_by_peer(Duration::from_secs(5)));
    assert!(b.is_closed_by_peer(Duration::from_secs(5)));
    // New connections are accepted at once.
    let mut fresh = RawClient::connect(broker.local_addr());
    assert_eq!(fresh.produce("d", 0, one("after")).error_code, 0);

    for i in 50..100 {
        send(&p, "d", 0, "k", &format!("r{i}"));
    }
    p.flush(TIMEOUT).unwrap();
    // The consumer connected before the drop reconnects; librdkafka reports the drop as a
    // transient error event, which is not a failure.
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("d", 0, Offset::Beginning).unwrap();
    c.assign(&tpl).unwrap();
    let mut values = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    while values.len() < 102 {
        assert!(
            Instant::now() < deadline,
            "only {} records arrived",
            values.len()
        );
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => values.push(String::from_utf8(m.payload().unwrap().to_vec()).unwrap()),
            Some(Err(KafkaError::MessageConsumption(
                RDKafkaErrorCode::AllBrokersDown | RDKafkaErrorCode::BrokerTransportFailure,
            ))) => {}
            Some(Err(e)) => panic!("consume error: {e}"),
            None => {}
        }
    }
    let mut expected = vec!["before".to_owned()];
    expected.extend((0..50).map(|i| format!("r{i}")));
    expected.push("after".to_owned());
    expected.extend((50..100).map(|i| format!("r{i}")));
    assert_eq!(values, expected);
}

#[test]
fn a_paused_broker_answers_nothing_until_resumed() {
    let broker = broker();
    broker.create_topic("p", 1).unwrap();
    let faults = broker.faults();
    let mut c = RawClient::connect(broker.local_addr());
    faults.pause();
    let cid = c
        .send(PRODUCE_VERSION, &produce_request("p", 0, one("held"), -1))
        .unwrap();
    assert!(
        c.poll_frame(Duration::from_millis(500)).is_none(),
        "no answer while paused"
    );
    assert_eq!(
        broker.offsets("p", 0).unwrap().0,
        0,
        "not executed while paused"
    );

    faults.resume();
    let frame = c
        .poll_frame(Duration::from_secs(10))
        .expect("answered after resume");
    let r = decode_response::<ProduceRequest>(frame, PRODUCE_VERSION, cid);
    let part = &r.responses[0].partition_responses[0];
    assert_eq!((part.error_code, part.base_offset), (0, 0));
    assert_eq!(broker.offsets("p", 0).unwrap().0, 1);

    // librdkafka's produce completes only after resume.
    let p = producer(&broker, &[]);
    p.flush(TIMEOUT).unwrap(); // connected before the pause
    faults.pause();
    send(&p, "p", 0, "k", "paused-rdkafka");
    assert!(
        p.flush(Duration::from_millis(700)).is_err(),
        "not delivered while paused"
    );
    assert_eq!(broker.offsets("p", 0).unwrap().0, 1);
    faults.resume();
    p.flush(TIMEOUT).unwrap();
    assert_eq!(broker.offsets("p", 0).unwrap().0, 2);
}

#[test]
fn a_bounce_cuts_connections_refuses_new_ones_for_a_while_and_keeps_all_state() {
    let broker = broker();
    broker.create_topic("b", 2).unwrap();
    // data, committed offsets, a transactional id with a committed transaction
    let tp = txn_producer(&broker, "tx-bounce");
    tp.begin_transaction().unwrap();
    send(&tp, "b", 0, "k", "txn-before");
    tp.commit_transaction(TIMEOUT).unwrap();
    let p = producer(&broker, &[]);
    send(&p, "b", 1, "k", "plain-before");
    p.flush(TIMEOUT).unwrap();
    let group = "bounce-group";
    let gc = consumer(&broker, "read_committed", &[("group.id", group)]);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("b", 0, Offset::Offset(1)).unwrap();
    tpl.add_partition_offset("b", 1, Offset::Offset(1)).unwrap();
    gc.commit(&tpl, CommitMode::Sync).unwrap();
    let txns_before = broker.transactions();
    let offsets_before = (
        broker.offsets("b", 0).unwrap(),
        broker.offsets("b", 1).unwrap(),
    );

    let mut held = RawClient::connect(broker.local_addr());
    broker.faults().bounce(Duration::from_millis(1_500));
    assert!(
        held.is_closed_by_peer(Duration::from_secs(5)),
        "connections are cut"
    );
    let mut refused = RawClient::connect(broker.local_addr());
    assert!(
        refused.is_closed_by_peer(Duration::from_secs(1)),
        "new connections are refused while down"
    );

    // After the window: connections are accepted and everything is still there.
    std::thread::sleep(Duration::from_millis(1_600));
    let mut raw = RawClient::connect(broker.local_addr());
    assert_eq!(raw.produce("b", 1, one("raw-after")).error_code, 0);
    assert_eq!(broker.transactions(), txns_before, "transactional ids kept");
    assert_eq!(
        (
            broker.offsets("b", 0).unwrap(),
            broker.offsets("b", 1).unwrap().0
        ),
        (offsets_before.0, 2)
    );
    let committed = committed(&broker, group, "b", 2);
    assert_eq!(
        (committed[&0], committed[&1]),
        (1, 1),
        "committed offsets kept"
    );

    // The clients from before the bounce carry on.
    tp.begin_transaction().unwrap();
    send(&tp, "b", 0, "k", "txn-after");
    tp.commit_transaction(TIMEOUT).unwrap();
    send(&p, "b", 1, "k", "plain-after");
    p.flush(TIMEOUT).unwrap();
    let values: Vec<String> = read_all(
        &consumer(&broker, "read_committed", &[]),
        "b",
        2,
        Some(5),
        Duration::from_millis(300),
    )
    .into_iter()
    .map(|r| r.value)
    .collect();
    let mut sorted = values.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "plain-after",
            "plain-before",
            "raw-after",
            "txn-after",
            "txn-before"
        ]
    );
}

#[test]
fn set_transaction_timeout_aborts_an_open_transaction_sooner() {
    let broker = broker();
    broker.create_topic("t", 1).unwrap();
    // The producer asks for a minute; the fault caps it at 300 ms.
    let p = producer(
        &broker,
        &[
            ("transactional.id", "tx-capped"),
            ("transaction.timeout.ms", "60000"),
        ],
    );
    p.init_transactions(TIMEOUT).unwrap();
    p.begin_transaction().unwrap();
    send(&p, "t", 0, "k", "doomed");
    p.flush(TIMEOUT).unwrap();
    assert!(broker.transactions()[0].ongoing);
    broker
        .faults()
        .set_transaction_timeout(Some(Duration::from_millis(300)));
    let deadline = Instant::now() + Duration::from_secs(10);
    while broker.transactions()[0].ongoing {
        assert!(
            Instant::now() < deadline,
            "the capped transaction was never aborted"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        broker.offsets("t", 0).unwrap(),
        (2, 2),
        "abort marker written"
    );
    assert!(
        p.commit_transaction(TIMEOUT).is_err(),
        "the producer was fenced"
    );
    let rc = read_all(
        &consumer(&broker, "read_committed", &[]),
        "t",
        1,
        None,
        Duration::from_millis(500),
    );
    assert!(rc.is_empty(), "{rc:?}");

    // Without the cap a new transaction stays open past 300 ms.
    broker.faults().set_transaction_timeout(None);
    let q = txn_producer(&broker, "tx-uncapped");
    q.begin_transaction().unwrap();
    send(&q, "t", 0, "k", "kept");
    q.flush(TIMEOUT).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    let info = broker
        .transactions()
        .into_iter()
        .find(|t| t.transactional_id == "tx-uncapped")
        .unwrap();
    assert!(
        info.ongoing,
        "the producer's own 30 s timeout applies again"
    );
    q.commit_transaction(TIMEOUT).unwrap();
}
