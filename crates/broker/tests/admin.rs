//! CreatePartitions and DescribeConfigs through librdkafka's admin client.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

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

#[test]
fn topic_configs_are_validated_stored_and_log_append_time_is_honoured() {
    use rdkafka::admin::{AlterConfig, NewTopic, TopicReplication};
    use rdkafka::message::{Message, Timestamp};

    let broker = broker();
    let a = admin(&broker);
    let opts = AdminOptions::new();
    let stamped = NewTopic::new("stamped", 1, TopicReplication::Fixed(1))
        .set("message.timestamp.type", "LogAppendTime");
    let bad = NewTopic::new("bad-config", 1, TopicReplication::Fixed(1)).set("no.such.config", "1");
    let r = block_on(a.create_topics([&stamped, &bad], &opts)).unwrap();
    assert!(r[0].is_ok(), "{r:?}");
    assert_eq!(
        r[1],
        Err(("bad-config".to_owned(), RDKafkaErrorCode::InvalidConfig))
    );
    assert_eq!(broker.partitions("bad-config"), None);

    // the broker's clock, not the producer's: a CreateTime far in the past is replaced
    let p = producer(&broker, &[]);
    let record = rdkafka::producer::BaseRecord::to("stamped")
        .key("k")
        .payload("v")
        .partition(0)
        .timestamp(1_000);
    p.send(record).map_err(|(e, _)| e).unwrap();
    rdkafka::producer::Producer::flush(&p, TIMEOUT).unwrap();
    let c = consumer(&broker, "read_committed", &[]);
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset("stamped", 0, rdkafka::Offset::Beginning)
        .unwrap();
    rdkafka::consumer::Consumer::assign(&c, &tpl).unwrap();
    let m = loop {
        if let Some(m) = c.poll(std::time::Duration::from_millis(100)) {
            break m.unwrap();
        }
    };
    match m.timestamp() {
        Timestamp::LogAppendTime(t) => assert!(t > 1_000_000_000_000, "{t}"),
        other => panic!("expected LogAppendTime, got {other:?}"),
    }

    // AlterConfigs replaces the set; DescribeConfigs reports it
    let alter = AlterConfig::new(ResourceSpecifier::Topic("stamped")).set("retention.ms", "1234");
    let r = block_on(a.alter_configs([&alter], &opts)).unwrap();
    assert!(r[0].is_ok(), "{r:?}");
    let d = block_on(a.describe_configs([&ResourceSpecifier::Topic("stamped")], &opts)).unwrap();
    let d = d[0].as_ref().unwrap();
    assert_eq!(
        d.get("retention.ms")
            .and_then(|e| e.value.clone())
            .as_deref(),
        Some("1234")
    );
    assert_eq!(
        d.get("message.timestamp.type")
            .and_then(|e| e.value.clone())
            .as_deref(),
        Some("CreateTime"),
        "AlterConfigs replaced the whole set"
    );
    // an unknown key rejects the whole request (rdkafka 0.39 drops per-resource errors of
    // AlterConfigs, so the code is checked on the wire and the effect through DescribeConfigs)
    use kafka_eos_broker::protocol::messages::alter_configs_request::{
        AlterConfigsResource, AlterableConfig,
    };
    use kafka_eos_broker::protocol::messages::AlterConfigsRequest;
    let mut raw = common::raw::RawClient::connect(broker.local_addr());
    let bad = AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
        .with_resource_type(2)
        .with_resource_name("stamped".into())
        .with_configs(vec![AlterableConfig::default()
            .with_name("no.such.config".into())
            .with_value(Some("1".into()))])]);
    let r = raw.request(1, &bad);
    assert_eq!(
        r.responses[0].error_code,
        kafka_eos_broker::protocol::ResponseError::InvalidConfig.code()
    );
    let d = block_on(a.describe_configs([&ResourceSpecifier::Topic("stamped")], &opts)).unwrap();
    let d = d[0].as_ref().unwrap();
    assert_eq!(
        d.get("retention.ms")
            .and_then(|e| e.value.clone())
            .as_deref(),
        Some("1234")
    );
}

#[test]
fn delete_records_moves_the_low_watermark() {
    use rdkafka::consumer::Consumer;
    use rdkafka::message::Message;

    let broker = broker();
    broker.create_topic("trim", 1).unwrap();
    let p = producer(&broker, &[]);
    for i in 0..10 {
        send(&p, "trim", 0, "k", &format!("v{i}"));
    }
    rdkafka::producer::Producer::flush(&p, TIMEOUT).unwrap();
    let a = admin(&broker);
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset("trim", 0, rdkafka::Offset::Offset(6))
        .unwrap();
    let r = block_on(a.delete_records(&tpl, &AdminOptions::new())).unwrap();
    assert_eq!(r.elements()[0].offset(), rdkafka::Offset::Offset(6));
    let c = consumer(&broker, "read_committed", &[]);
    let (low, high) = c.fetch_watermarks("trim", 0, TIMEOUT).unwrap();
    assert_eq!((low, high), (6, 10));
    let read = read_all(
        &c,
        "trim",
        1,
        Some(4),
        std::time::Duration::from_millis(300),
    );
    assert_eq!(
        read.iter().map(|r| r.value.as_str()).collect::<Vec<_>>(),
        ["v6", "v7", "v8", "v9"]
    );
    let _ = c
        .poll(std::time::Duration::ZERO)
        .map(|m| m.map(|m| m.offset()));
    // beyond the high watermark: refused
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset("trim", 0, rdkafka::Offset::Offset(99))
        .unwrap();
    let r = block_on(a.delete_records(&tpl, &AdminOptions::new())).unwrap();
    assert!(r.elements()[0].error().is_err());
}

#[test]
fn describe_cluster_names_this_node() {
    use kafka_eos_broker::protocol::messages::DescribeClusterRequest;
    let broker = broker();
    let mut raw = common::raw::RawClient::connect(broker.local_addr());
    let r = raw.request(0, &DescribeClusterRequest::default());
    assert_eq!(r.error_code, 0);
    assert_eq!(r.brokers.len(), 1);
    assert_eq!(r.brokers[0].port, i32::from(broker.local_addr().port()));
    assert_eq!(r.cluster_id.as_str(), "kafka-eos-embedded");
}

#[test]
fn a_batch_over_the_topics_max_message_bytes_is_rejected() {
    use rdkafka::admin::{NewTopic, TopicReplication};
    use rdkafka::producer::{FutureProducer, FutureRecord};

    let broker = broker();
    let a = admin(&broker);
    let small =
        NewTopic::new("small", 1, TopicReplication::Fixed(1)).set("max.message.bytes", "1000");
    assert!(block_on(a.create_topics([&small], &AdminOptions::new())).unwrap()[0].is_ok());
    let p: FutureProducer = base_config(&broker).set("linger.ms", "0").create().unwrap();
    let big = "x".repeat(5_000);
    let r = block_on(p.send(FutureRecord::<str, str>::to("small").payload(&big), TIMEOUT));
    match r {
        Err((rdkafka::error::KafkaError::MessageProduction(code), _)) => {
            assert_eq!(code, RDKafkaErrorCode::MessageSizeTooLarge)
        }
        other => panic!("expected MESSAGE_TOO_LARGE, got {other:?}"),
    }
    let ok = block_on(p.send(
        FutureRecord::<str, str>::to("small").payload("fits"),
        TIMEOUT,
    ));
    assert!(ok.is_ok(), "{ok:?}");
    assert_eq!(broker.offsets("small", 0).unwrap().0, 1);
}

/// As Kafka's log validator: a record without a key sent to a compacted topic rejects its
/// batch with INVALID_RECORD, naming each keyless record by its index in the batch (v8+);
/// keyed records are taken.
#[test]
fn a_keyless_record_on_a_compacted_topic_is_rejected() {
    use common::raw::{batch, produce_request, ProducerFields, RawClient, Rec};
    use kafka_eos_broker::protocol::ResponseError;
    use rdkafka::admin::{NewTopic, TopicReplication};

    let broker = broker();
    let a = admin(&broker);
    let compacted =
        NewTopic::new("compacted", 1, TopicReplication::Fixed(1)).set("cleanup.policy", "compact");
    assert!(block_on(a.create_topics([&compacted], &AdminOptions::new())).unwrap()[0].is_ok());
    let mut raw = RawClient::connect(broker.local_addr());
    let keyed = |v: &str| Rec {
        key: Some(bytes::Bytes::from(format!("k-{v}"))),
        ..Rec::value(v)
    };
    for version in [3, 7, 8, 10] {
        // one batch of four (sequences counting with the offsets keep the encoder from
        // splitting it; no producer id: not idempotent)
        let one_batch = ProducerFields {
            base_sequence: 0,
            ..ProducerFields::NONE
        };
        let records = batch(
            &[keyed("a"), Rec::value("b"), keyed("c"), Rec::value("d")],
            one_batch,
        );
        let r = raw.request(version, &produce_request("compacted", 0, records, -1));
        let p = &r.responses[0].partition_responses[0];
        assert_eq!(
            p.error_code,
            ResponseError::InvalidRecord.code(),
            "v{version}"
        );
        if version >= 8 {
            let indexes: Vec<i32> = p.record_errors.iter().map(|e| e.batch_index).collect();
            assert_eq!(indexes, [1, 3], "v{version}: {:?}", p.record_errors);
            let message = p
                .error_message
                .as_ref()
                .map(|m| m.to_string())
                .unwrap_or_default();
            assert!(message.contains("without key"), "{message}");
        }
        let records = batch(&[keyed("a"), keyed("c")], one_batch);
        let r = raw.request(version, &produce_request("compacted", 0, records, -1));
        assert_eq!(
            r.responses[0].partition_responses[0].error_code, 0,
            "v{version}"
        );
    }
    assert_eq!(
        broker.offsets("compacted", 0).unwrap().0,
        8,
        "only the keyed batches"
    );
}
