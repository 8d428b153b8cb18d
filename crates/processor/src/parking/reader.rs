//! Reads of the parking topic: a consumer of its own (no group, `read_committed`, manual
//! assignment) that reads one partition from an offset to its end, on a blocking thread.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_eos_core::parked::{Key, ParkingRecord};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use crate::error::Error;

/// One parking record, as a scan hands it to its visitor.
pub(crate) struct Scanned<'a> {
    /// Its offset in the parking partition.
    pub parking_offset: i64,
    pub key: Key,
    pub record: ParkingRecord,
    pub message: &'a BorrowedMessage<'a>,
}

/// What a scan does with each parking record it reads.
pub(crate) trait Visit: Send + 'static {
    fn visit(&mut self, record: Scanned<'_>);
}

/// The parking topic's reader.
#[derive(Clone)]
pub(crate) struct Reader {
    consumer: Arc<BaseConsumer>,
    topic: Arc<str>,
    timeout: Duration,
}

impl Reader {
    /// A reader of `topic` with the pipeline's consumer settings (`base`), reading
    /// committed records only.
    pub(crate) fn new(base: &ClientConfig, topic: &str, timeout: Duration) -> Result<Self, Error> {
        let mut config = base.clone();
        config
            .set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "10");
        let consumer: BaseConsumer = config.create().map_err(|source| Error::Parking {
            topic: topic.to_owned(),
            partition: None,
            source,
        })?;
        Ok(Reader {
            consumer: Arc::new(consumer),
            topic: Arc::from(topic),
            timeout,
        })
    }

    /// The parking topic's partition count (0 if it does not exist).
    pub(crate) async fn partitions(&self, topic: &str) -> Result<usize, Error> {
        let c = Arc::clone(&self.consumer);
        let t = topic.to_owned();
        let timeout = self.timeout;
        let found = tokio::task::spawn_blocking(move || {
            c.fetch_metadata(Some(&t), timeout)
                .map(|m| m.topics().first().map_or(0, |t| t.partitions().len()))
        })
        .await;
        match found {
            Ok(r) => r.map_err(|source| self.error(None, source)),
            Err(_) => Err(self.error(None, KafkaError::Canceled)),
        }
    }

    /// Reads `partition` from `from` (`None`: its first record) to its end, handing every
    /// parking record to `visit` (records that are not parking records are skipped);
    /// returns the visitor and an offset at or below the partition's end.
    pub(crate) async fn scan<V: Visit>(
        &self,
        partition: i32,
        from: Option<i64>,
        visitor: V,
    ) -> Result<(V, i64), Error> {
        let this = self.clone();
        match tokio::task::spawn_blocking(move || {
            let mut visitor = visitor;
            let end = this.scan_blocking(partition, from, &mut visitor);
            end.map(|end| (visitor, end))
        })
        .await
        {
            Ok(r) => r,
            Err(_) => Err(self.error(Some(partition), KafkaError::Canceled)),
        }
    }

    fn scan_blocking(
        &self,
        partition: i32,
        from: Option<i64>,
        visitor: &mut dyn Visit,
    ) -> Result<i64, Error> {
        let mut tpl = TopicPartitionList::new();
        let start = from.map_or(Offset::Beginning, Offset::Offset);
        tpl.add_partition_offset(&self.topic, partition, start)
            .map_err(|e| self.error(Some(partition), e))?;
        self.consumer
            .assign(&tpl)
            .map_err(|e| self.error(Some(partition), e))?;
        let result = self.read_to_end(partition, from.unwrap_or(0), visitor);
        if let Err(e) = self.consumer.unassign() {
            tracing::warn!(error = %e, "cannot unassign the parking reader");
        }
        result
    }

    fn read_to_end(
        &self,
        partition: i32,
        from: i64,
        visitor: &mut dyn Visit,
    ) -> Result<i64, Error> {
        let deadline = Instant::now() + self.timeout;
        let mut end = from;
        loop {
            if Instant::now() >= deadline {
                return Err(self.error(Some(partition), KafkaError::NoMessageReceived));
            }
            match self.consumer.poll(Duration::from_millis(100)) {
                None => {}
                Some(Err(KafkaError::PartitionEOF(p))) if p == partition => return Ok(end),
                Some(Err(KafkaError::PartitionEOF(_))) => {}
                Some(Err(e)) => return Err(self.error(Some(partition), e)),
                Some(Ok(m)) => {
                    if m.partition() != partition {
                        continue;
                    }
                    end = end.max(m.offset() + 1);
                    let headers = m.headers();
                    let parsed = ParkingRecord::parse(
                        headers
                            .iter()
                            .flat_map(|h| h.iter())
                            .map(|h| (h.key, h.value)),
                    );
                    match parsed {
                        Ok(Some(record)) => visitor.visit(Scanned {
                            parking_offset: m.offset(),
                            key: m.key().map(Bytes::copy_from_slice),
                            record,
                            message: &m,
                        }),
                        Ok(None) => {}
                        Err(e) => tracing::warn!(
                            topic = %self.topic, partition, offset = m.offset(), error = %e,
                            "skipping a record of the parking topic that kafka-eos did not write"
                        ),
                    }
                }
            }
        }
    }

    fn error(&self, partition: Option<i32>, source: KafkaError) -> Error {
        Error::Parking {
            topic: self.topic.to_string(),
            partition,
            source,
        }
    }
}
