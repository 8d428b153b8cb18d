//! Writing input records and reading output with a `read_committed` consumer.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use crate::error::{Error, Result};

/// A keyed record, as written or as read back (with its partition, offset and timestamp
/// when read).
///
/// ```
/// use kafka_eos_testkit::Record;
///
/// let r = Record::new("order-1", "paid").with_header("trace", "t-1").with_null_header("unset");
/// assert_eq!(r.value.as_deref(), Some(&b"paid"[..]));
/// assert_eq!(r.header("trace").as_deref(), Some("t-1"));
/// assert_eq!(r.header("unset"), None); // null: see `r.headers`
/// assert_eq!(r.headers[1], ("unset".to_string(), None));
///
/// let delete = Record::tombstone("order-1");
/// assert_eq!(delete.value, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    /// The key.
    pub key: Vec<u8>,
    /// The value; `None` is a tombstone (a null value).
    pub value: Option<Vec<u8>>,
    /// The partition it was read from (`-1` for records to write).
    pub partition: i32,
    /// The offset it was read at (`-1` for records to write).
    pub offset: i64,
    /// Headers, in order; `None` is a null header value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// The timestamp (ms since the epoch) it was read with; for a record to write, `None`
    /// lets the producer stamp it with the send time.
    pub timestamp: Option<i64>,
}

impl Record {
    /// A record to write.
    pub fn new(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        Self {
            value: Some(value.into()),
            ..Self::tombstone(key)
        }
    }

    /// A tombstone to write: `key` with a null value.
    pub fn tombstone(key: impl Into<Vec<u8>>) -> Self {
        Self {
            key: key.into(),
            value: None,
            partition: -1,
            offset: -1,
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// Appends a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), Some(value.into())));
        self
    }

    /// Appends a header with a null value.
    pub fn with_null_header(mut self, name: impl Into<String>) -> Self {
        self.headers.push((name.into(), None));
        self
    }

    /// The value of header `name` as text, if present and not null.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// The value as text (a tombstone is empty).
    pub fn value_text(&self) -> String {
        String::from_utf8_lossy(self.value.as_deref().unwrap_or_default()).into_owned()
    }

    /// A record read from a consumer.
    pub fn from_message<M: Message>(m: &M) -> Self {
        let headers = kafka_eos_processor::core::owned_headers(m);
        Self {
            key: m.key().unwrap_or_default().to_vec(),
            value: m.payload().map(<[u8]>::to_vec),
            partition: m.partition(),
            offset: m.offset(),
            headers,
            timestamp: m.timestamp().to_millis(),
        }
    }

    /// This record as an rdkafka record to `topic`, with its headers and timestamp.
    fn to_base_record<'a>(&'a self, topic: &'a str) -> BaseRecord<'a, [u8], [u8]> {
        let mut record = BaseRecord::to(topic).key(self.key.as_slice());
        if let Some(value) = &self.value {
            record = record.payload(value.as_slice());
        }
        if let Some(ts) = self.timestamp {
            record = record.timestamp(ts);
        }
        if !self.headers.is_empty() {
            let headers = self.headers.iter().fold(
                OwnedHeaders::new_with_capacity(self.headers.len()),
                |h, (key, value)| {
                    h.insert(Header {
                        key,
                        value: value.as_deref(),
                    })
                },
            );
            record = record.headers(headers);
        }
        record
    }
}

/// A consumer with `isolation.level=read_committed` (its own group, nothing committed)
/// assigned to every partition of `topics` from the beginning.
pub fn committed_reader(bootstrap: &str, topics: &[&str]) -> Result<BaseConsumer> {
    committed_reader_with(&client_config(bootstrap), topics)
}

/// The base settings of the testkit's clients: `bootstrap.servers` only.
pub fn client_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    config
}

/// [`committed_reader`] with `base` settings (bootstrap servers, and for a secured cluster
/// its `security.protocol`, SASL and TLS properties).
pub fn committed_reader_with(base: &ClientConfig, topics: &[&str]) -> Result<BaseConsumer> {
    let consumer: BaseConsumer = base
        .clone()
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

/// Writes `records` to `topic` with an idempotent producer (partitioned by key; with their
/// headers, and timestamps where set), and waits until all are acknowledged.
///
/// Blocks the calling thread until then: in async code (a `#[tokio::test]`, where a pipeline
/// runs on the same runtime) use [`write_records_async`].
pub fn write_records(bootstrap: &str, topic: &str, records: &[Record]) -> Result<()> {
    write_records_with(&client_config(bootstrap), topic, records)
}

/// [`write_records`] with `base` settings (see [`committed_reader_with`]).
pub fn write_records_with(base: &ClientConfig, topic: &str, records: &[Record]) -> Result<()> {
    let producer: BaseProducer = base
        .clone()
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set(
            "partitioner",
            kafka_eos_processor::config::DEFAULT_PARTITIONER,
        )
        .create()?;
    for r in records {
        let mut record = r.to_base_record(topic);
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

/// [`write_records`] without blocking the runtime: the librdkafka calls run on Tokio's
/// blocking pool. Works on any runtime flavour, the current-thread one included.
pub async fn write_records_async(bootstrap: &str, topic: &str, records: &[Record]) -> Result<()> {
    let (bootstrap, topic, records) = (bootstrap.to_owned(), topic.to_owned(), records.to_vec());
    unblock(move || write_records(&bootstrap, &topic, &records)).await
}

/// How long [`read_committed`] and [`read_committed_from`] wait for the expected records.
const READ_DEADLINE: Duration = Duration::from_secs(120);

/// Reads `topic` from the beginning with `isolation.level=read_committed` until `expected`
/// records arrived and then nothing more for `linger` (to catch duplicates), or fails with
/// [`Error::ReadTimeout`] after 120 s without them.
///
/// Blocks the calling thread meanwhile: in async code use [`read_committed_async`]. (Called
/// from a current-thread runtime, e.g. a plain `#[tokio::test]`, a blocking read starves a
/// pipeline spawned on that runtime: it writes nothing and the read times out with `got: 0`.)
pub fn read_committed(
    bootstrap: &str,
    topic: &str,
    expected: usize,
    linger: Duration,
) -> Result<Vec<Record>> {
    read_committed_from(bootstrap, &[topic], expected, linger)
}

/// As [`read_committed`], over several topics. Blocks the calling thread: in async code
/// use [`read_committed_from_async`].
pub fn read_committed_from(
    bootstrap: &str,
    topics: &[&str],
    expected: usize,
    linger: Duration,
) -> Result<Vec<Record>> {
    read_committed_with(&client_config(bootstrap), topics, expected, linger)
}

/// [`read_committed_from`] with `base` settings (see [`committed_reader_with`]).
pub fn read_committed_with(
    base: &ClientConfig,
    topics: &[&str],
    expected: usize,
    linger: Duration,
) -> Result<Vec<Record>> {
    let mut read = CommittedRead {
        consumer: committed_reader_with(base, topics)?,
        records: Vec::new(),
        last: Instant::now(),
    };
    let deadline = Instant::now() + READ_DEADLINE;
    loop {
        if read.has(expected, linger) {
            return Ok(read.records);
        }
        if Instant::now() > deadline {
            return Err(Error::ReadTimeout {
                topic: topics.join(","),
                got: read.records.len(),
                expected,
            });
        }
        read.poll_for(POLL)?;
    }
}

/// [`read_committed`] without blocking the runtime: the reader runs on Tokio's blocking
/// pool. Works on any runtime flavour, the current-thread one included.
pub async fn read_committed_async(
    bootstrap: &str,
    topic: &str,
    expected: usize,
    linger: Duration,
) -> Result<Vec<Record>> {
    read_committed_from_async(bootstrap, &[topic], expected, linger).await
}

/// [`read_committed_from`] without blocking the runtime (see [`read_committed_async`]).
pub async fn read_committed_from_async(
    bootstrap: &str,
    topics: &[&str],
    expected: usize,
    linger: Duration,
) -> Result<Vec<Record>> {
    let bootstrap = bootstrap.to_owned();
    let topics: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
    unblock(move || {
        let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
        read_committed_from(&bootstrap, &topics, expected, linger)
    })
    .await
}

/// One poll of a reader: short, so a reader running on the blocking pool hands back soon.
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// At most this many records per [`CommittedRead::poll_for`].
const MAX_PER_POLL: usize = 1000;

/// A [`committed_reader`] and the records it has read so far.
pub(crate) struct CommittedRead {
    consumer: BaseConsumer,
    /// Records read, in the order they arrived.
    pub(crate) records: Vec<Record>,
    /// When the last record arrived (or the reader started).
    last: Instant,
}

impl CommittedRead {
    /// Assigns a `read_committed` reader to every partition of `topics`, from the beginning.
    pub(crate) fn start(bootstrap: &str, topics: &[&str]) -> Result<Self> {
        Ok(Self {
            consumer: committed_reader(bootstrap, topics)?,
            records: Vec::new(),
            last: Instant::now(),
        })
    }

    /// At least `expected` records, and none for `linger`.
    pub(crate) fn has(&self, expected: usize, linger: Duration) -> bool {
        self.records.len() >= expected && self.last.elapsed() >= linger
    }

    /// Waits up to `wait` for records, keeping those that arrive (once one does, whatever
    /// else is already fetched is taken too, without waiting). Blocks the calling thread.
    pub(crate) fn poll_for(&mut self, wait: Duration) -> Result<()> {
        let mut wait = wait;
        for _ in 0..MAX_PER_POLL {
            match self.consumer.poll(wait) {
                Some(Ok(m)) => {
                    self.last = Instant::now();
                    self.records.push(Record::from_message(&m));
                }
                // a node of the cluster down, or a leader moving: the client reconnects
                // and goes on, as a consumer does
                Some(Err(e)) if is_transient(&e) => {
                    tracing::warn!(error = %e, "reader: transient error");
                    break;
                }
                Some(Err(e)) => return Err(e.into()),
                None => break,
            }
            wait = Duration::ZERO;
        }
        Ok(())
    }
}

/// Runs blocking testkit work `f` on Tokio's blocking pool and awaits it, so the calling
/// task's runtime thread stays free (a current-thread runtime keeps running its other tasks).
pub(crate) async fn unblock<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f).await?
}

/// Errors a consumer reports while a broker is unreachable or a partition's leader moves:
/// librdkafka retries them itself.
fn is_transient(e: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(
            C::BrokerTransportFailure
                | C::AllBrokersDown
                | C::OperationTimedOut
                | C::NotLeaderForPartition
                | C::LeaderNotAvailable
        )
    )
}
