//! Produce and fetch with librdkafka: records stored as sent, broker-assigned offsets,
//! compression passed through, many partitions, long polling, ListOffsets, topic
//! auto-creation and the admin API.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::raw::RawClient;
use common::*;
use kafka_eos_broker::protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_eos_broker::protocol::messages::{MetadataRequest, TopicName};
use kafka_eos_broker::protocol::records::{Compression, RecordBatchDecoder};
use kafka_eos_broker::protocol::ResponseError;
use kafka_eos_broker::{BackgroundBroker, BrokerConfig};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, Timestamp, TopicPartitionList};

const T0: i64 = 1_600_000_000_000;

/// A record read back, with the timestamp type.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Got {
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    timestamp: Timestamp,
}

fn read_n(c: &BaseConsumer, topic: &str, partitions: i32, n: usize) -> Vec<Got> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let mut out = Vec::new();
    while out.len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} records arrived",
            out.len()
        );
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => out.push(Got {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
                headers: m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                            .collect()
                    })
                    .unwrap_or_default(),
                timestamp: m.timestamp(),
            }),
            Some(Err(e)) => panic!("consume error: {e}"),
            None => {}
        }
    }
    // nothing beyond what was sent
    for _ in 0..3 {
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            panic!("unexpected extra record {:?}", m.map(|m| m.offset()));
        }
    }
    out
}

fn send_record(
    p: &BaseProducer<impl ProducerContext<DeliveryOpaque = ()>>,
    mut record: BaseRecord<'_, [u8], [u8], ()>,
) {
    loop {
        match p.send(record) {
            Ok(()) => return,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                p.poll(Duration::from_millis(10));
                record = r;
            }
            Err((e, _)) => panic!("send failed: {e}"),
        }
    }
}

#[test]
fn records_are_stored_as_sent_with_broker_assigned_offsets() {
    let broker = broker();
    broker.create_topic("asis", 1).unwrap();
    let p = producer(&broker, &[]);
    let n = 20i64;
    for i in 0..n {
        let key = format!("key-{i}");
        let value = format!("value-{i}");
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "trace",
                value: Some(format!("t-{i}").as_bytes()),
            })
            .insert(Header {
                key: "empty",
                value: None::<&[u8]>,
            });
        let mut record = BaseRecord::to("asis")
            .payload(value.as_bytes())
            .partition(0)
            .timestamp(T0 + i * 1_000)
            .headers(headers);
        if i != 7 {
            record = record.key(key.as_bytes());
        }
        send_record(&p, record);
    }
    // a tombstone: key, no value
    send_record(
        &p,
        BaseRecord::to("asis")
            .key(&b"gone"[..])
            .partition(0)
            .timestamp(T0 + 99),
    );
    p.flush(TIMEOUT).unwrap();

    let got = read_n(
        &consumer(&broker, "read_uncommitted", &[]),
        "asis",
        1,
        n as usize + 1,
    );
    for (i, g) in got.iter().take(n as usize).enumerate() {
        let i = i as i64;
        assert_eq!(g.offset, i, "offsets are contiguous from 0");
        assert_eq!(g.partition, 0);
        let expected_key = (i != 7).then(|| format!("key-{i}").into_bytes());
        assert_eq!(g.key, expected_key);
        assert_eq!(g.value.as_deref(), Some(format!("value-{i}").as_bytes()));
        assert_eq!(
            g.headers,
            [
                ("trace".to_owned(), Some(format!("t-{i}").into_bytes())),
                ("empty".to_owned(), None)
            ]
        );
        assert_eq!(
            g.timestamp,
            Timestamp::CreateTime(T0 + i * 1_000),
            "CreateTime set by the producer"
        );
    }
    let tomb = &got[n as usize];
    assert_eq!(
        (tomb.offset, tomb.key.as_deref(), tomb.value.as_deref()),
        (n, Some(&b"gone"[..]), None)
    );
    assert_eq!(tomb.timestamp, Timestamp::CreateTime(T0 + 99));
    assert_eq!(broker.offsets("asis", 0).unwrap(), (n + 1, n + 1));
}

#[test]
fn compressed_batches_are_stored_as_sent_and_read_back() {
    let broker = broker();
    for codec in ["gzip", "snappy", "lz4"] {
        let topic = format!("comp-{codec}");
        broker.create_topic(&topic, 1).unwrap();
        let p = producer(
            &broker,
            &[
                ("compression.type", codec),
                ("linger.ms", "50"),
                ("batch.num.messages", "1000"),
            ],
        );
        let values: Vec<String> = (0..300)
            .map(|i| format!("{codec}-{i:04}-{}", "x".repeat(50)))
            .collect();
        for v in &values {
            send_record(
                &p,
                BaseRecord::to(&topic)
                    .key(&b"k"[..])
                    .payload(v.as_bytes())
                    .partition(0),
            );
        }
        p.flush(TIMEOUT).unwrap();

        // The broker kept the producer's compressed batches.
        let mut raw = RawClient::connect(broker.local_addr());
        let fetched = raw.fetch(&topic, 0, 0, 0, 1);
        assert_eq!(fetched.error_code, 0);
        let mut records = fetched.records.clone().unwrap();
        let infos = RecordBatchDecoder::decode_batch_info(&mut records).unwrap();
        let expected = match codec {
            "gzip" => Compression::Gzip,
            "snappy" => Compression::Snappy,
            _ => Compression::Lz4,
        };
        assert!(!infos.is_empty());
        assert!(
            infos.iter().all(|i| i.compression == expected),
            "{codec}: stored batches {:?}",
            infos.iter().map(|i| i.compression).collect::<Vec<_>>()
        );
        assert!(infos.len() < values.len(), "{codec}: records were batched");

        let got = read_n(
            &consumer(&broker, "read_uncommitted", &[]),
            &topic,
            1,
            values.len(),
        );
        let got_values: Vec<String> = got
            .iter()
            .map(|g| String::from_utf8(g.value.clone().unwrap()).unwrap())
            .collect();
        assert_eq!(got_values, values, "{codec}: decompressed by the consumer");
        assert_eq!(
            got.iter().map(|g| g.offset).collect::<Vec<_>>(),
            (0..300).collect::<Vec<i64>>()
        );
    }
}

#[test]
fn zstd_is_not_compiled_into_our_librdkafka() {
    let broker = broker();
    let mut c = base_config(&broker);
    c.set("compression.type", "zstd");
    let created: Result<BaseProducer, _> = c.create();
    assert!(
        created.is_err(),
        "zstd is available: add it to the compression test"
    );
}

#[test]
fn many_partitions_each_get_their_own_offsets() {
    let broker = broker();
    let partitions = 16;
    let per_partition = 40;
    broker.create_topic("wide", partitions).unwrap();
    let p = producer(&broker, &[]);
    for i in 0..per_partition {
        for part in 0..partitions {
            let v = format!("{part}-{i}");
            send_record(
                &p,
                BaseRecord::to("wide").payload(v.as_bytes()).partition(part),
            );
        }
    }
    p.flush(TIMEOUT).unwrap();
    let got = read_n(
        &consumer(&broker, "read_uncommitted", &[]),
        "wide",
        partitions,
        (partitions * per_partition) as usize,
    );
    for part in 0..partitions {
        let mine: Vec<(i64, String)> = got
            .iter()
            .filter(|g| g.partition == part)
            .map(|g| {
                (
                    g.offset,
                    String::from_utf8(g.value.clone().unwrap()).unwrap(),
                )
            })
            .collect();
        let expected: Vec<(i64, String)> = (0..per_partition)
            .map(|i| (i64::from(i), format!("{part}-{i}")))
            .collect();
        assert_eq!(mine, expected, "partition {part}");
        assert_eq!(
            broker.offsets("wide", part).unwrap().0,
            i64::from(per_partition)
        );
    }
}

#[test]
fn a_long_polling_consumer_gets_data_produced_later() {
    let broker = broker();
    broker.create_topic("later", 1).unwrap();
    let c = consumer(
        &broker,
        "read_uncommitted",
        &[("fetch.wait.max.ms", "2000")],
    );
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("later", 0, Offset::Beginning)
        .unwrap();
    c.assign(&tpl).unwrap();
    // The consumer starts fetching an empty partition.
    for _ in 0..5 {
        assert!(c.poll(Duration::from_millis(100)).is_none());
    }
    let p = producer(&broker, &[]);
    send_record(
        &p,
        BaseRecord::to("later")
            .payload(&b"arrived"[..])
            .partition(0),
    );
    p.flush(TIMEOUT).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        assert!(Instant::now() < deadline, "the record never arrived");
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            let m = m.unwrap();
            assert_eq!((m.offset(), m.payload()), (0, Some(&b"arrived"[..])));
            break;
        }
    }
}

#[test]
fn list_offsets_by_timestamp_and_watermarks() {
    let broker = broker();
    broker.create_topic("times", 2).unwrap();
    let p = producer(&broker, &[]);
    // partition 0: timestamps T0, T0+1000, ..., T0+9000 (several batches)
    for i in 0..10 {
        send_record(
            &p,
            BaseRecord::to("times")
                .payload(&b"v"[..])
                .partition(0)
                .timestamp(T0 + i * 1_000),
        );
        if i % 3 == 0 {
            p.flush(TIMEOUT).unwrap();
        }
    }
    p.flush(TIMEOUT).unwrap();
    let c = consumer(&broker, "read_uncommitted", &[]);
    assert_eq!(c.fetch_watermarks("times", 0, TIMEOUT).unwrap(), (0, 10));
    assert_eq!(c.fetch_watermarks("times", 1, TIMEOUT).unwrap(), (0, 0));

    let lookup = |ts: i64, partition: i32| {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("times", partition, Offset::Offset(ts))
            .unwrap();
        let res = c.offsets_for_times(tpl, TIMEOUT).unwrap();
        let e = res.find_partition("times", partition).unwrap();
        assert!(e.error().is_ok(), "{:?}", e.error());
        e.offset()
    };
    assert_eq!(lookup(T0, 0), Offset::Offset(0));
    assert_eq!(
        lookup(T0 - 5_000, 0),
        Offset::Offset(0),
        "before the first record: the first"
    );
    assert_eq!(
        lookup(T0 + 3_500, 0),
        Offset::Offset(4),
        "first record at or after the time"
    );
    assert_eq!(lookup(T0 + 4_000, 0), Offset::Offset(4));
    assert_eq!(lookup(T0 + 9_000, 0), Offset::Offset(9));
    assert_eq!(
        lookup(T0 + 9_001, 0),
        Offset::End,
        "after the last record: none (-1)"
    );
    assert_eq!(lookup(T0, 1), Offset::End, "an empty partition has none");
}

/// Collects the error codes of failed deliveries.
#[derive(Debug, Default, Clone)]
struct Failures(Arc<Mutex<Vec<RDKafkaErrorCode>>>);

impl ClientContext for Failures {}

impl ProducerContext for Failures {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((KafkaError::MessageProduction(code), _)) = result {
            self.0.lock().unwrap().push(*code);
        } else if let Err((e, _)) = result {
            panic!("unexpected delivery error {e:?}");
        }
    }
}

#[test]
fn without_auto_creation_producing_to_an_unknown_topic_fails() {
    let broker =
        BackgroundBroker::start(BrokerConfig::default().auto_create_topics(false)).unwrap();
    let failures = Failures::default();
    let mut config = base_config(&broker);
    config
        .set("topic.metadata.propagation.max.ms", "200")
        .set("message.timeout.ms", "10000");
    let p: BaseProducer<Failures> = config.create_with_context(failures.clone()).unwrap();
    send_record(&p, BaseRecord::to("nowhere").payload(&b"v"[..]));
    p.flush(TIMEOUT).unwrap();
    let errors = failures.0.lock().unwrap().clone();
    assert_eq!(errors.len(), 1, "the record failed");
    assert!(
        matches!(
            errors[0],
            RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic
        ),
        "{:?}",
        errors[0]
    );
    assert_eq!(broker.partitions("nowhere"), None, "not created");

    // Metadata asking for auto-creation does not create either.
    let mut raw = RawClient::connect(broker.local_addr());
    let md = raw.request(
        12,
        &MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(TopicName("nowhere".into())))
            ]))
            .with_allow_auto_topic_creation(true),
    );
    assert_eq!(
        md.topics[0].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    assert_eq!(broker.partitions("nowhere"), None);
}

#[test]
fn with_auto_creation_metadata_creates_topics_unless_the_client_says_no() {
    let broker = BackgroundBroker::start(BrokerConfig::default().default_partitions(3)).unwrap();
    let mut raw = RawClient::connect(broker.local_addr());
    let ask = |raw: &mut RawClient, name: &'static str, allow: bool| {
        raw.request(
            12,
            &MetadataRequest::default()
                .with_topics(Some(vec![
                    MetadataRequestTopic::default().with_name(Some(TopicName(name.into())))
                ]))
                .with_allow_auto_topic_creation(allow),
        )
    };
    let md = ask(&mut raw, "not-asked", false);
    assert_eq!(
        md.topics[0].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    assert_eq!(broker.partitions("not-asked"), None);
    let md = ask(&mut raw, "asked", true);
    assert_eq!(md.topics[0].error_code, 0);
    assert_eq!(md.topics[0].partitions.len(), 3);
    assert_eq!(broker.partitions("asked"), Some(3));

    // librdkafka producing to an unknown topic creates it with the default partition count.
    let p = producer(&broker, &[]);
    send_record(
        &p,
        BaseRecord::to("made-by-producer")
            .payload(&b"v"[..])
            .partition(2),
    );
    p.flush(TIMEOUT).unwrap();
    assert_eq!(broker.partitions("made-by-producer"), Some(3));
    assert_eq!(broker.offsets("made-by-producer", 2).unwrap().0, 1);
}

fn admin(broker: &BackgroundBroker) -> AdminClient<DefaultClientContext> {
    base_config(broker).create().unwrap()
}

fn create(
    admin: &AdminClient<DefaultClientContext>,
    topic: &NewTopic<'_>,
) -> Result<String, (String, RDKafkaErrorCode)> {
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let mut results = futures::executor::block_on(admin.create_topics([topic], &opts)).unwrap();
    assert_eq!(results.len(), 1);
    results.remove(0)
}

#[test]
fn admin_create_and_delete_topics() {
    let broker =
        BackgroundBroker::start(BrokerConfig::default().auto_create_topics(false)).unwrap();
    let admin = admin(&broker);

    assert_eq!(
        create(
            &admin,
            &NewTopic::new("made", 5, TopicReplication::Fixed(1))
        ),
        Ok("made".to_owned())
    );
    assert_eq!(broker.partitions("made"), Some(5));
    assert_eq!(
        create(
            &admin,
            &NewTopic::new("made", 2, TopicReplication::Fixed(1))
        ),
        Err(("made".to_owned(), RDKafkaErrorCode::TopicAlreadyExists))
    );
    assert_eq!(broker.partitions("made"), Some(5), "unchanged");
    assert_eq!(
        create(
            &admin,
            &NewTopic::new("bad name!", 1, TopicReplication::Fixed(1))
        ),
        Err(("bad name!".to_owned(), RDKafkaErrorCode::InvalidTopic))
    );
    assert_eq!(
        create(
            &admin,
            &NewTopic::new("triple", 1, TopicReplication::Fixed(3))
        ),
        Err((
            "triple".to_owned(),
            RDKafkaErrorCode::InvalidReplicationFactor
        ))
    );
    assert_eq!(broker.partitions("triple"), None);
    // -1: the broker's defaults
    assert_eq!(
        create(
            &admin,
            &NewTopic::new("defaults", -1, TopicReplication::Fixed(-1))
        ),
        Ok("defaults".to_owned())
    );
    assert_eq!(broker.partitions("defaults"), Some(1));

    // The created topic is usable.
    let p = producer(&broker, &[]);
    send_record(&p, BaseRecord::to("made").payload(&b"v"[..]).partition(4));
    p.flush(TIMEOUT).unwrap();
    assert_eq!(broker.offsets("made", 4).unwrap().0, 1);

    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let deleted = futures::executor::block_on(admin.delete_topics(&["made"], &opts)).unwrap();
    assert_eq!(deleted, [Ok("made".to_owned())]);
    assert_eq!(broker.partitions("made"), None);
    let again = futures::executor::block_on(admin.delete_topics(&["made"], &opts)).unwrap();
    assert_eq!(
        again,
        [Err((
            "made".to_owned(),
            RDKafkaErrorCode::UnknownTopicOrPartition
        ))]
    );
}
