//! Admin requests on a cluster of three nodes through librdkafka's admin client:
//! CreatePartitions with replica assignments, and dynamic broker configs.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

mod common;

use common::{base_config, TIMEOUT};
use futures::executor::block_on;
use kafka_eos_broker::{BackgroundBroker, BrokerConfig};
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigSource, NewPartitions, ResourceSpecifier,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

fn cluster() -> BackgroundBroker {
    BackgroundBroker::start(BrokerConfig::default().nodes(3)).unwrap()
}

fn admin(broker: &BackgroundBroker) -> AdminClient<DefaultClientContext> {
    base_config(broker).create().unwrap()
}

/// Each partition's replicas and leader as Metadata reports them to a client.
fn metadata_replicas(a: &AdminClient<DefaultClientContext>, topic: &str) -> Vec<(Vec<i32>, i32)> {
    let m = a.inner().fetch_metadata(Some(topic), TIMEOUT).unwrap();
    let mut partitions: Vec<(i32, Vec<i32>, i32)> = m.topics()[0]
        .partitions()
        .iter()
        .map(|p| (p.id(), p.replicas().to_vec(), p.leader()))
        .collect();
    partitions.sort();
    partitions.into_iter().map(|(_, r, l)| (r, l)).collect()
}

#[test]
fn create_partitions_uses_the_requested_assignments() {
    let broker = cluster();
    broker.create_replicated_topic("assigned", 1, 3).unwrap();
    let a = admin(&broker);
    let opts = AdminOptions::new();
    let assignment: &[&[i32]] = &[&[3, 2, 1], &[1, 2, 3]];
    let r = block_on(a.create_partitions(
        [&NewPartitions::new("assigned", 3).assign(assignment)],
        &opts,
    ))
    .unwrap();
    assert!(r[0].is_ok(), "{r:?}");
    let replicas = metadata_replicas(&a, "assigned");
    assert_eq!(replicas.len(), 3);
    assert_eq!(replicas[1], (vec![3, 2, 1], 3));
    assert_eq!(replicas[2], (vec![1, 2, 3], 1));

    // refused: a broker twice, an unknown broker, the wrong replication factor
    for bad in [&[&[1, 1, 2][..]][..], &[&[1, 2, 9]], &[&[1, 2]]] {
        let r =
            block_on(a.create_partitions([&NewPartitions::new("assigned", 4).assign(bad)], &opts))
                .unwrap();
        assert_eq!(
            r[0],
            Err((
                "assigned".to_owned(),
                RDKafkaErrorCode::InvalidReplicaAssignment
            )),
            "{bad:?}"
        );
    }
    // validate_only checks without adding
    let good: &[&[i32]] = &[&[2, 3, 1]];
    let r = block_on(a.create_partitions(
        [&NewPartitions::new("assigned", 4).assign(good)],
        &AdminOptions::new().validate_only(true),
    ))
    .unwrap();
    assert!(r[0].is_ok(), "{r:?}");
    assert_eq!(broker.partitions("assigned"), Some(3));
}

#[test]
fn broker_configs_are_altered_and_described_as_dynamic() {
    let broker = cluster();
    let a = admin(&broker);
    let opts = AdminOptions::new();
    let key = "sasl.kerberos.min.time.before.relogin";
    let alter = AlterConfig::new(ResourceSpecifier::Broker(2)).set(key, "58000");
    let r = block_on(a.alter_configs([&alter], &opts)).unwrap();
    assert!(r[0].is_ok(), "{r:?}");
    // (librdkafka sends one request per broker resource)
    let r = block_on(a.describe_configs([&ResourceSpecifier::Broker(2)], &opts)).unwrap();
    let two = r[0].as_ref().unwrap();
    let entry = two.get(key).expect("the dynamic config is described");
    assert_eq!(entry.value.as_deref(), Some("58000"));
    assert_eq!(entry.source, ConfigSource::DynamicBroker);
    assert!(!entry.is_read_only);
    // static configs are still there; another broker has not got it
    assert_eq!(
        two.get("num.partitions").map(|e| &e.source),
        Some(&ConfigSource::StaticBroker)
    );
    let r = block_on(a.describe_configs([&ResourceSpecifier::Broker(1)], &opts)).unwrap();
    assert!(r[0].as_ref().unwrap().get(key).is_none());
    assert!(r[0].as_ref().unwrap().get("num.partitions").is_some());
}
