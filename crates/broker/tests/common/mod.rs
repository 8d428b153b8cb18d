//! Helpers shared by the broker's integration tests: a broker on its own runtime and
//! blocking rdkafka clients pointed at it.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic
#![allow(dead_code)]

pub mod raw;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kafka_eos_broker::{BackgroundBroker, BrokerConfig};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

pub const TIMEOUT: Duration = Duration::from_secs(30);

pub fn broker() -> BackgroundBroker {
    let _ = tracing_subscriber_init();
    BackgroundBroker::start(BrokerConfig::default()).expect("broker starts")
}

fn tracing_subscriber_init() -> Result<(), ()> {
    Ok(())
}

pub fn base_config(broker: &BackgroundBroker) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", broker.bootstrap_servers())
        .set("broker.address.family", "v4")
        .set("topic.metadata.refresh.interval.ms", "1000");
    c
}

pub fn producer(broker: &BackgroundBroker, extra: &[(&str, &str)]) -> BaseProducer {
    let mut c = base_config(broker);
    c.set("enable.idempotence", "true").set("linger.ms", "5");
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c.create().expect("producer")
}

pub fn txn_producer(broker: &BackgroundBroker, txn_id: &str) -> BaseProducer {
    let p = producer(
        broker,
        &[
            ("transactional.id", txn_id),
            ("transaction.timeout.ms", "30000"),
        ],
    );
    p.init_transactions(TIMEOUT).expect("init_transactions");
    p
}

pub fn send(p: &BaseProducer, topic: &str, partition: i32, key: &str, value: &str) {
    let mut record = BaseRecord::to(topic)
        .key(key)
        .payload(value)
        .partition(partition);
    loop {
        match p.send(record) {
            Ok(()) => return,
            Err((e, r)) => {
                if matches!(
                    e,
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull
                    )
                ) {
                    p.poll(Duration::from_millis(10));
                    record = r;
                } else {
                    panic!("send failed: {e}");
                }
            }
        }
    }
}

pub fn consumer(
    broker: &BackgroundBroker,
    isolation: &str,
    extra: &[(&str, &str)],
) -> BaseConsumer {
    let mut c = base_config(broker);
    c.set("group.id", format!("reader-{}", uuid::Uuid::new_v4()))
        .set("isolation.level", isolation)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100");
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c.create().expect("consumer")
}

/// A record as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub value: String,
    pub headers: Vec<(String, String)>,
    pub timestamp: Option<i64>,
}

/// Reads `topic`'s partitions from the start until `expected` records arrived or, when
/// `expected` is None, until nothing new came for `idle`.
pub fn read_all(
    c: &BaseConsumer,
    topic: &str,
    partitions: i32,
    expected: Option<usize>,
    idle: Duration,
) -> Vec<Read> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    let mut last = Instant::now();
    while Instant::now() < deadline {
        if let Some(n) = expected {
            if out.len() >= n {
                // linger briefly to catch duplicates
                if last.elapsed() > idle {
                    break;
                }
            }
        } else if last.elapsed() > idle {
            break;
        }
        match c.poll(Duration::from_millis(50)) {
            Some(Ok(m)) => {
                last = Instant::now();
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| {
                                (
                                    h.key.to_owned(),
                                    String::from_utf8_lossy(h.value.unwrap_or_default())
                                        .into_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Read {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                    value: String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                    headers,
                    timestamp: m.timestamp().to_millis(),
                });
            }
            Some(Err(e)) => panic!("consume error: {e}"),
            None => {}
        }
    }
    out
}

/// Committed offsets of `group` for `topic`'s partitions (-1001 = none).
pub fn committed(
    broker: &BackgroundBroker,
    group: &str,
    topic: &str,
    partitions: i32,
) -> HashMap<i32, i64> {
    let mut c = base_config(broker);
    c.set("group.id", group).set("enable.auto.commit", "false");
    let consumer: BaseConsumer = c.create().unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let res = consumer
        .committed_offsets(tpl, TIMEOUT)
        .expect("committed offsets");
    res.elements()
        .iter()
        .map(|e| (e.partition(), e.offset().to_raw().unwrap_or(-1)))
        .collect()
}
