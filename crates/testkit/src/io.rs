//! Writing input records and reading output with a `read_committed` consumer.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use crate::error::{Error, Result};

/// A keyed record, as written or as read back (with its partition and offset when read).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    /// The key.
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
    /// The partition it was read from (`-1` for records to write).
    pub partition: i32,
    /// The offset it was read at (`-1` for records to write).
    pub offset: i64,
    /// Headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Record {
    /// A record to write.
    pub fn new(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
            partition: -1,
            offset: -1,
            headers: Vec::new(),
        }
    }

    /// The value of header `name` as text, if present.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    /// A record read from a consumer.
    pub fn from_message<M: Message>(m: &M) -> Self {
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            key: m.key().unwrap_or_default().to_vec(),
            value: m.payload().unwrap_or_default().to_vec(),
            partition: m.partition(),
            offset: m.offset(),
            headers,
        }
    }
}

/// A consumer with `isolation.level=read_committed` (its own group, nothing committed)
/// assigned to every partition of `topics` from the beginning.
pub fn committed_reader(bootstrap: &str, topics: &[&str]) -> Result<BaseConsumer> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set(
            "group.id",
            format!("kafka-eos-reader-{}", uuid::Uuid::new_v4().simple()),
        )
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100")
        .create()?;
    let metadata = consumer.fetch_metadata(None, Duration::from_secs(30))?;
    let mut tpl = TopicPartitionList::new();
    for t in metadata
        .topics()
        .iter()
        .filter(|t| topics.contains(&t.name()))
    {
        for p in t.partitions() {
            tpl.add_partition_offset(t.name(), p.id(), Offset::Beginning)?;
        }
    }
    consumer.assign(&tpl)?;
    Ok(consumer)
}

/// Writes `records` to `topic` with an idempotent producer (partitioned by key), and waits
/// until all are acknowledged.
pub fn write_records(bootstrap: &str, topic: &str, records: &[Record]) -> Result<()> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("partitioner", "murmur2_random")
        .create()?;
    for r in records {
        let mut record = BaseRecord::to(topic).key(&r.key).payload(&r.value);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    producer.poll(Duration::from_millis(10));
                    record = back;
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(60))?;
    Ok(())
}

/// Reads `topic` from the beginning with `isolation.level=read_committed` until `expected`
/// records arrived and then nothing more for `linger` (to catch duplicates), or fails after
/// 120 s without them.
pub fn read_committed(
    bootstrap: &str,
    topic: &str,
    expected: usize,
    linger: Duration,
) -> Result<Vec<Record>> {
    read_committed_from(bootstrap, &[topic], expected, linger)
}

/// As [`read_committed`], over several topics.
pub fn read_committed_from(
    bootstrap: &str,
    topics: &[&str],
    expected: usize,
    linger: Duration,
) -> Result<Vec<Record>> {
    let consumer = committed_reader(bootstrap, topics)?;
    let mut out = Vec::with_capacity(expected);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = Instant::now();
    loop {
        if out.len() >= expected && last.elapsed() >= linger {
            return Ok(out);
        }
        if Instant::now() > deadline {
            return Err(Error::ReadTimeout {
                topic: topics.join(","),
                got: out.len(),
                expected,
            });
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                last = Instant::now();
                out.push(Record::from_message(&m));
            }
            Some(Err(e)) => return Err(e.into()),
            None => {}
        }
    }
}
