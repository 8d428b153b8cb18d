//! The replay's transactional producer: the replayed records and the dead-letter offsets
//! consumed, committed in one transaction (or nothing at all).

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use kafka_eos_core::config::ProducerProfile;
use kafka_eos_core::rdkafka::consumer::ConsumerGroupMetadata;
use kafka_eos_core::{Error as CoreError, ErrorKind, Operation};
use rdkafka::client::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig,
};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Message, TopicPartitionList};

use super::letter::DeadLetter;
use crate::error::CliError;

/// How often a retriable `commit_transaction` is called before giving up.
const COMMIT_ATTEMPTS: u32 = 3;

/// The first delivery that failed: (dead letter `DLQ/partition/offset`, topic, error).
type Failed = Option<(String, String, KafkaError)>;

/// Keeps the first failed delivery, so the error names the dead letter.
#[derive(Debug, Default)]
struct SinkContext {
    failed: Mutex<Failed>,
}

impl ClientContext for SinkContext {}

impl ProducerContext for SinkContext {
    type DeliveryOpaque = Box<String>;

    fn delivery(&self, result: &DeliveryResult<'_>, at: Box<String>) {
        if let Err((e, m)) = result {
            let mut failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
            if failed.is_none() {
                *failed = Some((*at, m.topic().to_owned(), e.clone()));
            }
        }
    }
}

/// A transactional producer whose `transactional.id` is the replay's group: a second
/// replay of the same group fences this one (and aborts its open transaction).
pub(crate) struct Sink {
    producer: BaseProducer<SinkContext>,
    transactional_id: String,
    dlq: String,
    timeout: Duration,
    transaction_timeout: Duration,
    open: bool,
}

impl Sink {
    /// Creates the producer (the pipeline's producer profile) and calls
    /// `init_transactions`, which finishes or aborts a previous run's open transaction.
    pub(crate) fn start(
        bootstrap: &str,
        transactional_id: &str,
        dlq: &str,
        timeout: Duration,
    ) -> Result<Self, CliError> {
        let profile = ProducerProfile::idempotent(bootstrap)
            .transactional(transactional_id)
            // a missing target topic fails the replay; it is never created by a send
            .set("allow.auto.create.topics", "false");
        let transaction_timeout = profile.transaction_timeout_value();
        let producer: BaseProducer<SinkContext> = profile
            .render()?
            .create_with_context(SinkContext::default())?;
        let sink = Self {
            producer,
            transactional_id: transactional_id.to_owned(),
            dlq: dlq.to_owned(),
            timeout,
            transaction_timeout,
            open: false,
        };
        sink.producer
            .init_transactions(timeout)
            .map_err(|e| sink.error(Operation::InitTransactions, e, true))?;
        Ok(sink)
    }

    /// `transaction.timeout.ms`: the transaction must commit before it.
    pub(crate) fn transaction_timeout(&self) -> Duration {
        self.transaction_timeout
    }

    /// Begins the transaction.
    pub(crate) fn begin(&mut self) -> Result<(), CliError> {
        self.producer
            .begin_transaction()
            .map_err(|e| self.error(Operation::BeginTransaction, e, true))?;
        self.open = true;
        Ok(())
    }

    /// Enqueues the record replayed from `letter` to `topic` (`partition`: `None` lets the
    /// partitioner pick from the key). A failure aborts the transaction.
    pub(crate) fn send(
        &mut self,
        letter: &DeadLetter,
        topic: &str,
        partition: Option<i32>,
    ) -> Result<(), CliError> {
        let at = letter.position();
        let mut record: BaseRecord<'_, [u8], [u8], Box<String>> =
            BaseRecord::with_opaque_to(topic, Box::new(at.clone()))
                .headers(letter.replay_headers());
        if let Some(key) = &letter.key {
            record = record.key(key.as_slice());
        }
        if let Some(value) = &letter.value {
            record = record.payload(value.as_slice());
        }
        if let Some(p) = partition {
            record = record.partition(p);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    self.producer.poll(Duration::from_millis(100));
                    record = back;
                }
                Err((source, _)) => {
                    self.abort();
                    return Err(CliError::Delivery {
                        at,
                        topic: topic.to_owned(),
                        source: Box::new(source),
                    });
                }
            }
        }
        self.producer.poll(Duration::ZERO);
        Ok(())
    }

    /// Waits for every delivery, adds `offsets` (the dead-letter topic's next offsets) with
    /// the consumer's group metadata, and commits. On a failure before the commit the
    /// transaction is aborted.
    pub(crate) fn commit(
        mut self,
        offsets: &TopicPartitionList,
        group: Option<ConsumerGroupMetadata>,
    ) -> Result<(), CliError> {
        if let Err(e) = self.producer.flush(self.timeout) {
            self.abort();
            return Err(self.error(Operation::Flush, e, true));
        }
        let failed = self
            .producer
            .context()
            .failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((at, topic, source)) = failed {
            self.abort();
            return Err(CliError::Delivery {
                at,
                topic,
                source: Box::new(source),
            });
        }
        let Some(group) = group else {
            self.abort();
            return Err(CliError::Transaction {
                dlq: self.dlq.clone(),
                nothing_replayed: true,
                source: Box::new(CoreError::State {
                    op: Operation::SendOffsets,
                    reason: "the consumer has no group metadata",
                }),
            });
        };
        if let Err(e) = self
            .producer
            .send_offsets_to_transaction(offsets, &group, self.timeout)
        {
            self.abort();
            return Err(self.error(Operation::SendOffsets, e, true));
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let Err(e) = self.producer.commit_transaction(self.timeout) else {
                self.open = false;
                return Ok(());
            };
            match kafka_eos_core::classify(Operation::CommitTransaction, &e) {
                ErrorKind::Retriable if attempt < COMMIT_ATTEMPTS => continue,
                ErrorKind::Abortable => {
                    self.abort();
                    return Err(self.error(Operation::CommitTransaction, e, true));
                }
                // a timed-out commit may have gone through: never switched to an abort
                _ => {
                    self.open = false;
                    return Err(self.error(Operation::CommitTransaction, e, false));
                }
            }
        }
    }

    /// Aborts the open transaction, if any. An abort that fails leaves it to the
    /// transaction timeout or the next run's `init_transactions`, which abort it too:
    /// nothing of it commits either way.
    pub(crate) fn abort(&mut self) {
        if !self.open {
            return;
        }
        self.open = false;
        // librdkafka's abort waits for the outstanding delivery reports, which rust-rdkafka
        // delivers as events only a poll serves: drop what is still queued and serve them.
        self.producer.purge(PurgeConfig::default().queue());
        if let Err(e) = self.producer.flush(self.timeout) {
            tracing::warn!(error = %e, "waiting for the replay's in-flight records before the abort failed");
        }
        if let Err(e) = self.producer.abort_transaction(self.timeout) {
            tracing::warn!(error = %e, "aborting the replay transaction failed; the next run or the transaction timeout aborts it");
        }
    }

    /// Classifies a failed transactional call.
    fn error(&self, op: Operation, source: KafkaError, nothing_replayed: bool) -> CliError {
        let source = Box::new(CoreError::kafka(op, source));
        if source.is_fenced() {
            return CliError::Fenced {
                transactional_id: self.transactional_id.clone(),
                source,
            };
        }
        CliError::Transaction {
            dlq: self.dlq.clone(),
            nothing_replayed,
            source,
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.abort();
    }
}
