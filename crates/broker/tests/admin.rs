//! CreatePartitions and DescribeConfigs through librdkafka's admin client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use futures::executor::block_on;
use rdkafka::admin::{
    AdminClient, AdminOptions, NewPartitions, OwnedResourceSpecifier, ResourceSpecifier,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

fn admin(broker: &kafka_eos_broker::BackgroundBroker) -> AdminClient<DefaultClientContext> {
    base_config(broker).create().unwrap()
}

#[test]
fn partitions_can_be_added_never_removed() {
    let broker = broker();
    broker.create_topic("grow", 2).unwrap();
    let a = admin(&broker);
    let opts = AdminOptions::new();
    let r = block_on(a.create_partitions([&NewPartitions::new("grow", 5)], &opts)).unwrap();
    assert!(r[0].is_ok(), "{r:?}");
    assert_eq!(broker.partitions("grow"), Some(5));
    let r = block_on(a.create_partitions([&NewPartitions::new("grow", 3)], &opts)).unwrap();
    assert_eq!(
        r[0],
        Err(("grow".to_owned(), RDKafkaErrorCode::InvalidPartitions))
    );
    let r = block_on(a.create_partitions([&NewPartitions::new("nope", 3)], &opts)).unwrap();
    assert_eq!(
        r[0],
        Err(("nope".to_owned(), RDKafkaErrorCode::UnknownTopicOrPartition))
    );
    assert_eq!(broker.partitions("grow"), Some(5));
    // the new partitions take writes
    let p = producer(&broker, &[]);
    send(&p, "grow", 4, "k", "in-new-partition");
    rdkafka::producer::Producer::flush(&p, TIMEOUT).unwrap();
    assert_eq!(broker.offsets("grow", 4).unwrap().0, 1);
}

#[test]
fn topic_and_broker_configs_are_described() {
    let broker = broker();
    broker.create_topic("cfg", 1).unwrap();
    let a = admin(&broker);
    let opts = AdminOptions::new();
    let r = block_on(a.describe_configs(
        [
            &ResourceSpecifier::Topic("cfg"),
            &ResourceSpecifier::Broker(1),
        ],
        &opts,
    ))
    .unwrap();
    let topic = r[0].as_ref().unwrap();
    assert_eq!(topic.specifier, OwnedResourceSpecifier::Topic("cfg".into()));
    assert_eq!(
        topic
            .get("cleanup.policy")
            .and_then(|e| e.value.clone())
            .as_deref(),
        Some("delete")
    );
    let broker_cfg = r[1].as_ref().unwrap();
    assert_eq!(
        broker_cfg
            .get("transaction.state.log.replication.factor")
            .and_then(|e| e.value.clone())
            .as_deref(),
        Some("1")
    );
    let r = block_on(a.describe_configs([&ResourceSpecifier::Topic("missing")], &opts)).unwrap();
    // UNKNOWN_TOPIC_OR_PARTITION: depending on the client version this surfaces as an
    // error or as a resource without entries; either way nothing is described.
    assert!(
        r[0].as_ref().map_or(true, |c| c.entries.is_empty()),
        "{:?}",
        r[0]
    );
}
