//! A static member's session expires at its deadline as far as requests can tell: with
//! the background tick kept from the group timers (`Faults::pause_group_timers`), a
//! DescribeGroups or DeleteGroups sent after the session timeout still finds the closed
//! static member gone, as Kafka (whose heartbeat timers fire at the deadline) answers.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

mod common;

use std::time::{Duration, Instant};

use common::{base_config, TIMEOUT};
use futures::executor::block_on;
use kafka_eos_broker::{BackgroundBroker, BrokerConfig};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};

const SESSION: Duration = Duration::from_millis(1_000);

/// A static consumer of `topic` in `group`, polled until it has its assignment and has
/// committed.
fn static_member(broker: &BackgroundBroker, group: &str, topic: &str) -> BaseConsumer {
    let mut c = base_config(broker);
    c.set("group.id", group)
        .set("group.instance.id", format!("{group}-instance"))
        .set("session.timeout.ms", SESSION.as_millis().to_string())
        .set("heartbeat.interval.ms", "100")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    let consumer: BaseConsumer = c.create().unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while consumer.assignment().unwrap().count() == 0 {
        assert!(Instant::now() < deadline, "no assignment");
        let _ = consumer.poll(Duration::from_millis(50));
    }
    let mut offsets = rdkafka::TopicPartitionList::new();
    offsets
        .add_partition_offset(topic, 0, rdkafka::Offset::Offset(0))
        .unwrap();
    consumer.commit(&offsets, CommitMode::Sync).unwrap();
    consumer
}

#[test]
fn a_closed_static_members_group_is_empty_right_after_its_session_timeout() {
    let broker = BackgroundBroker::start(BrokerConfig::default()).unwrap();
    broker.create_topic("static", 1).unwrap();
    broker.faults().pause_group_timers();
    let described = static_member(&broker, "described", "static");
    let deleted = static_member(&broker, "deleted", "static");
    assert_eq!(broker.group_state("described"), Some("Stable"));
    // static members leave no LeaveGroup behind: only their session ends them
    drop(described);
    drop(deleted);
    let closed = Instant::now();
    std::thread::sleep(SESSION + Duration::from_millis(200));
    assert!(closed.elapsed() > SESSION);

    let admin: AdminClient<DefaultClientContext> = base_config(&broker).create().unwrap();
    // DescribeGroups (librdkafka's group list describes the group it names)
    let groups = admin
        .inner()
        .fetch_group_list(Some("described"), TIMEOUT)
        .unwrap();
    let group = &groups.groups()[0];
    assert_eq!(group.state(), "Empty");
    assert!(group.members().is_empty());
    // DeleteGroups: not NON_EMPTY_GROUP
    let r = block_on(admin.delete_groups(&["deleted"], &AdminOptions::new())).unwrap();
    assert_eq!(r, vec![Ok("deleted".to_owned())]);
    assert_eq!(broker.group_state("deleted"), None);
}
