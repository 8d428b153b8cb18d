//! The broker as a cluster of several nodes: replicas and leaders spread, requests routed
//! by leader and coordinator with Kafka's errors, and librdkafka clients following a
//! node's failure (leadership and coordinators moving, new leader epochs) without losing
//! or duplicating a record.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use common::raw::{batch, ProducerFields, RawClient, Rec};
use common::*;
use kafka_eos_broker::protocol::messages::{
    FindCoordinatorRequest, GroupId, HeartbeatRequest, MetadataRequest,
};
use kafka_eos_broker::protocol::ResponseError;
use kafka_eos_broker::{BackgroundBroker, BrokerConfig};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::Producer;
use rdkafka::types::RDKafkaErrorCode;

fn cluster(nodes: usize, failover: Duration) -> BackgroundBroker {
    BackgroundBroker::start(
        BrokerConfig::default()
            .nodes(nodes)
            .failover_delay(failover),
    )
    .expect("cluster starts")
}

fn addr_of(broker: &BackgroundBroker, node: i32) -> std::net::SocketAddr {
    broker
        .nodes()
        .into_iter()
        .find(|(id, _)| *id == node)
        .map(|(_, a)| a)
        .unwrap()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn replicas_and_leaders_spread_over_three_nodes() {
    let broker = cluster(3, Duration::from_secs(9));
    assert_eq!(broker.bootstrap_servers().split(',').count(), 3);
    let admin: AdminClient<DefaultClientContext> = base_config(&broker).create().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let created = rt
        .block_on(admin.create_topics(
            &[
                NewTopic::new("r3", 6, TopicReplication::Fixed(3)),
                NewTopic::new("r4", 1, TopicReplication::Fixed(4)),
            ],
            &AdminOptions::new(),
        ))
        .unwrap();
    assert!(created[0].is_ok(), "{:?}", created[0]);
    assert!(
        matches!(
            &created[1],
            Err((_, RDKafkaErrorCode::InvalidReplicationFactor))
        ),
        "{:?}",
        created[1]
    );

    let c = consumer(&broker, "read_committed", &[]);
    let md = c.fetch_metadata(Some("r3"), TIMEOUT).unwrap();
    assert_eq!(md.brokers().len(), 3);
    let topic = &md.topics()[0];
    let leaders: HashSet<i32> = topic.partitions().iter().map(|p| p.leader()).collect();
    assert_eq!(leaders.len(), 3, "leaders spread over every node");
    for p in topic.partitions() {
        assert_eq!(p.replicas().len(), 3);
        assert_eq!(p.isr().len(), 3);
        assert_eq!(p.replicas()[0], p.leader(), "the preferred replica leads");
        assert_eq!(broker.leader("r3", p.id()), Some(p.leader()));
    }
}

#[test]
fn requests_to_the_wrong_node_get_kafkas_errors() {
    let broker = cluster(3, Duration::from_secs(9));
    broker.create_replicated_topic("w", 1, 3).unwrap();
    let leader = broker.leader("w", 0).unwrap();
    let follower = (1..=3).find(|n| *n != leader).unwrap();

    let mut at_follower = RawClient::connect(addr_of(&broker, follower));
    let r = at_follower.produce("w", 0, batch(&[Rec::value("x")], ProducerFields::NONE));
    assert_eq!(r.error_code, ResponseError::NotLeaderOrFollower.code());
    let f = at_follower.fetch("w", 0, 0, 500, 1);
    assert_eq!(f.error_code, ResponseError::NotLeaderOrFollower.code());
    let mut at_leader = RawClient::connect(addr_of(&broker, leader));
    assert_eq!(
        at_leader
            .produce("w", 0, batch(&[Rec::value("x")], ProducerFields::NONE))
            .error_code,
        0
    );
    assert_eq!(
        broker.offsets("w", 0).unwrap().0,
        1,
        "only the leader appended"
    );

    // the group's coordinator, as FindCoordinator names it, and another node
    let coordinator = broker.group_coordinator("g");
    let found = at_follower.request(
        3,
        &FindCoordinatorRequest::default().with_key("g".to_owned().into()),
    );
    assert_eq!((found.error_code, found.node_id.0), (0, coordinator));
    let other = (1..=3).find(|n| *n != coordinator).unwrap();
    let mut at_other = RawClient::connect(addr_of(&broker, other));
    let hb = at_other.request(
        4,
        &HeartbeatRequest::default()
            .with_group_id(GroupId("g".to_owned().into()))
            .with_generation_id(1)
            .with_member_id("m".to_owned().into()),
    );
    assert_eq!(hb.error_code, ResponseError::NotCoordinator.code());
    let mut at_coordinator = RawClient::connect(addr_of(&broker, coordinator));
    let hb = at_coordinator.request(
        4,
        &HeartbeatRequest::default()
            .with_group_id(GroupId("g".to_owned().into()))
            .with_generation_id(1)
            .with_member_id("m".to_owned().into()),
    );
    assert_eq!(hb.error_code, ResponseError::UnknownMemberId.code());
}

#[test]
fn a_stopped_node_refuses_then_fails_over_with_a_new_leader_epoch() {
    let broker = cluster(3, Duration::from_millis(300));
    broker.create_replicated_topic("f", 1, 3).unwrap();
    let leader = broker.leader("f", 0).unwrap();
    let addr = addr_of(&broker, leader);
    broker.faults().stop_node(leader).unwrap();
    wait_for("a stopped node to refuse connections", || {
        std::net::TcpStream::connect(addr).is_err()
    });
    // listed and leading until the failover delay passes
    let survivor = (1..=3).find(|n| *n != leader).unwrap();
    let mut c = RawClient::connect(addr_of(&broker, survivor));
    let md = c.request(9, &MetadataRequest::default().with_topics(None));
    assert_eq!(md.brokers.len(), 3);
    wait_for("failover", || broker.leader("f", 0) != Some(leader));
    let md = c.request(9, &MetadataRequest::default().with_topics(None));
    assert_eq!(md.brokers.len(), 2, "a fenced node leaves the metadata");
    let p = &md.topics[0].partitions[0];
    assert_eq!(p.leader_epoch, 1);
    assert_eq!(p.isr_nodes.len(), 2);
    assert_eq!(
        p.offline_replicas.iter().map(|b| b.0).collect::<Vec<_>>(),
        vec![leader]
    );

    broker.faults().start_node(leader).unwrap();
    wait_for("the node to listen again", || {
        std::net::TcpStream::connect(addr).is_ok()
    });
    let (_, isr) = broker.replicas("f", 0).unwrap();
    assert_eq!(isr.len(), 3, "back in sync");
    assert_ne!(
        broker.leader("f", 0),
        Some(leader),
        "leadership does not move back by itself"
    );
    // the partition, and the coordinators the node had led
    assert!(broker.faults().elect_preferred_leaders() > 1);
    assert_eq!(broker.leader("f", 0), Some(leader));
}

/// Reads `topic` (read_committed, from the start) until `n` records came and nothing more
/// for a while, or the timeout. Errors a client reports while a node is down (connection
/// refused, a leader moving) are passed over: what counts is what is read.
fn read_values(
    broker: &BackgroundBroker,
    topic: &str,
    partitions: i32,
    n: usize,
) -> Vec<(i32, String)> {
    let c = consumer(broker, "read_committed", &[]);
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, rdkafka::Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    let mut last = Instant::now();
    while Instant::now() < deadline
        && (out.len() < n || last.elapsed() < Duration::from_millis(500))
    {
        match c.poll(Duration::from_millis(50)) {
            Some(Ok(m)) => {
                last = Instant::now();
                let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                out.push((m.partition(), value));
            }
            Some(Err(e)) => eprintln!("reader: {e}"),
            None => {}
        }
    }
    out
}

#[test]
fn an_idempotent_producer_follows_a_leader_failover_without_duplicates() {
    let broker = cluster(3, Duration::from_millis(500));
    broker.create_replicated_topic("idem", 3, 3).unwrap();
    let p = producer(&broker, &[("acks", "all"), ("message.timeout.ms", "60000")]);
    let victim = broker.leader("idem", 0).unwrap();
    let total = 3_000;
    for i in 0..total {
        if i == total / 3 {
            p.flush(TIMEOUT).unwrap();
            broker.faults().stop_node(victim).unwrap();
        }
        send(&p, "idem", i % 3, &format!("k{i}"), &format!("{i}"));
        p.poll(Duration::ZERO);
    }
    p.flush(TIMEOUT).unwrap();
    assert_ne!(broker.leader("idem", 0), Some(victim));
    let read = read_values(&broker, "idem", 3, total as usize);
    assert_eq!(read.len(), total as usize, "every record once");
    let mut per_partition: HashMap<i32, Vec<i64>> = HashMap::new();
    for (partition, v) in &read {
        per_partition
            .entry(*partition)
            .or_default()
            .push(v.parse().unwrap());
    }
    for values in per_partition.values() {
        assert!(
            values.windows(2).all(|w| w[0] < w[1]),
            "in order, no duplicates"
        );
    }
}

#[test]
fn a_transaction_commits_across_a_transaction_coordinator_failover() {
    let broker = cluster(3, Duration::from_millis(500));
    broker.create_replicated_topic("tx", 2, 3).unwrap();
    let tid = "failover-txn";
    let p = txn_producer(&broker, tid);
    let coordinator = broker.transaction_coordinator(tid);
    p.begin_transaction().unwrap();
    for i in 0..100 {
        send(&p, "tx", i % 2, "k", &format!("a{i}"));
    }
    p.flush(TIMEOUT).unwrap();
    broker.faults().stop_node(coordinator).unwrap();
    // commit while the coordinator is down: librdkafka retries until it has moved
    p.commit_transaction(TIMEOUT).unwrap();
    assert_ne!(broker.transaction_coordinator(tid), coordinator);
    p.begin_transaction().unwrap();
    for i in 0..100 {
        send(&p, "tx", i % 2, "k", &format!("b{i}"));
    }
    p.commit_transaction(TIMEOUT).unwrap();
    let read = read_values(&broker, "tx", 2, 200);
    assert_eq!(read.len(), 200);
    assert_eq!(broker.transaction_counts().committed, 2);
}

#[test]
fn a_consumer_group_survives_its_coordinators_failover() {
    let broker = cluster(3, Duration::from_millis(500));
    broker.create_replicated_topic("g", 2, 3).unwrap();
    let p = producer(&broker, &[]);
    for i in 0..200 {
        send(&p, "g", i % 2, "k", &format!("{i}"));
    }
    p.flush(TIMEOUT).unwrap();
    let group = "failover-group";
    let c: BaseConsumer = {
        let mut cfg = base_config(&broker);
        cfg.set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "6000");
        cfg.create().unwrap()
    };
    c.subscribe(&["g"]).unwrap();
    let mut seen = 0;
    let deadline = Instant::now() + TIMEOUT;
    while seen < 100 && Instant::now() < deadline {
        if let Some(Ok(_)) = c.poll(Duration::from_millis(50)) {
            seen += 1;
        }
    }
    c.commit_consumer_state(CommitMode::Sync).unwrap();
    let coordinator = broker.group_coordinator(group);
    broker.faults().stop_node(coordinator).unwrap();
    while seen < 200 && Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(50)) {
            assert!(m.offset() >= 0);
            seen += 1;
        }
    }
    assert_eq!(seen, 200, "the consumer read on through the failover");
    // committing needs the new coordinator
    let commit_deadline = Instant::now() + TIMEOUT;
    loop {
        match c.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => break,
            Err(e) => {
                assert!(
                    Instant::now() < commit_deadline,
                    "commit never succeeded: {e}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    assert_ne!(broker.group_coordinator(group), coordinator);
    let committed = committed(&broker, group, "g", 2);
    assert_eq!(committed.values().sum::<i64>(), 200);
}
