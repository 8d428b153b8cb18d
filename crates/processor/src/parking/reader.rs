//! Reads of the parking topic: a consumer of its own (no group, `read_committed`, manual
//! assignment) that reads one partition from an offset to its end, on a blocking thread.

use std::collections::{HashMap, HashSet};
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
    /// Its parking partition (the partition of its source).
    pub partition: i32,
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

    /// Reads each partition of `from` from its offset (`None`: its first record) to its
    /// end, all at once, handing every parking record to `visitor` (records that are not
    /// parking records are skipped); returns the visitor and, per partition, an offset at
    /// or below its end.
    pub(crate) async fn scan<V: Visit>(
        &self,
        from: Vec<(i32, Option<i64>)>,
        visitor: V,
    ) -> Result<(V, HashMap<i32, i64>), Error> {
        if from.is_empty() {
            return Ok((visitor, HashMap::new()));
        }
        let this = self.clone();
        match tokio::task::spawn_blocking(move || {
            let mut visitor = visitor;
            let ends = this.scan_blocking(&from, &mut visitor);
            ends.map(|ends| (visitor, ends))
        })
        .await
        {
            Ok(r) => r,
            Err(_) => Err(self.error(None, KafkaError::Canceled)),
        }
    }

    fn scan_blocking(
        &self,
        from: &[(i32, Option<i64>)],
        visitor: &mut dyn Visit,
    ) -> Result<HashMap<i32, i64>, Error> {
        let mut tpl = TopicPartitionList::new();
        for &(partition, start) in from {
            let start = start.map_or(Offset::Beginning, Offset::Offset);
            tpl.add_partition_offset(&self.topic, partition, start)
                .map_err(|e| self.error(Some(partition), e))?;
        }
        self.consumer
            .assign(&tpl)
            .map_err(|e| self.error(None, e))?;
        let result = self.read_to_end(from, visitor);
        if let Err(e) = self.consumer.unassign() {
            tracing::warn!(error = %e, "cannot unassign the parking reader");
        }
        result
    }

    fn read_to_end(
        &self,
        from: &[(i32, Option<i64>)],
        visitor: &mut dyn Visit,
    ) -> Result<HashMap<i32, i64>, Error> {
        let deadline = Instant::now() + self.timeout;
        let mut ends: HashMap<i32, i64> = from
            .iter()
            .map(|&(p, start)| (p, start.unwrap_or(0)))
            .collect();
        let mut open: HashSet<i32> = ends.keys().copied().collect();
        while !open.is_empty() {
            if Instant::now() >= deadline {
                let partition = open.iter().next().copied();
                return Err(self.error(partition, KafkaError::NoMessageReceived));
            }
            match self.consumer.poll(Duration::from_millis(100)) {
                None => {}
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    open.remove(&p);
                }
                Some(Err(e)) => return Err(self.error(None, e)),
                Some(Ok(m)) => {
                    let partition = m.partition();
                    let Some(end) = ends.get_mut(&partition) else {
                        continue;
                    };
                    *end = (*end).max(m.offset() + 1);
                    let headers = m.headers();
                    let parsed = ParkingRecord::parse(
                        headers
                            .iter()
                            .flat_map(|h| h.iter())
                            .map(|h| (h.key, h.value)),
                    );
                    match parsed {
                        Ok(Some(record)) => visitor.visit(Scanned {
                            partition,
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
        Ok(ends)
    }

    fn error(&self, partition: Option<i32>, source: KafkaError) -> Error {
        Error::Parking {
            topic: self.topic.to_string(),
            partition,
            source,
        }
    }
}
