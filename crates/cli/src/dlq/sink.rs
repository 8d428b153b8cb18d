//! The replay's side of core's [`TransactionalProducer`]: the replayed records and the
//! dead-letter offsets consumed, committed in one transaction (or nothing at all). The
//! command is synchronous: a small runtime of its own drives the producer, one step at a
//! time, and core's errors become [`CliError`]s naming the dead letter or the group.

use std::time::Duration;

use kafka_eos_core::config::ProducerProfile;
use kafka_eos_core::dlq_headers::REPLAYED_FROM;
use kafka_eos_core::rdkafka::consumer::ConsumerGroupMetadata;
use kafka_eos_core::{
    Error as CoreError, Operation, OwnedRecord, RetryPolicy, SendError, TransactionalProducer,
};
use rdkafka::TopicPartitionList;
use tokio::runtime::Runtime;

use super::letter::DeadLetter;
use crate::error::CliError;

/// How often a retriable transactional call (the commit included) is made before giving up.
const ATTEMPTS: u32 = 3;

/// A transactional producer whose `transactional.id` is the replay's group: a second
/// replay of the same group fences this one (and aborts its open transaction). Dropped
/// with a transaction open, it aborts it.
pub(crate) struct Sink {
    // declared first: dropped (librdkafka destroy, blocking) before the runtime
    producer: TransactionalProducer,
    runtime: Runtime,
    dlq: String,
    transaction_timeout: Duration,
    /// A transaction is open and nothing says it may have committed: an error aborts it.
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
            .security(crate::client::security()?)
            .transactional(transactional_id)
            // a missing target topic fails the replay; it is never created by a send
            .set("allow.auto.create.topics", "false");
        let transaction_timeout = profile.transaction_timeout_value();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let producer = match TransactionalProducer::new(&profile) {
            Ok(producer) => producer
                .with_operation_timeout(timeout)
                .with_retry_policy(RetryPolicy::default().max_attempts(ATTEMPTS)),
            Err(CoreError::Config(e)) => return Err(CliError::Config(e)),
            Err(e) => return Err(classified(dlq, transactional_id, e, true)),
        };
        let mut sink = Self {
            producer,
            runtime,
            dlq: dlq.to_owned(),
            transaction_timeout,
            open: false,
        };
        if let Err(e) = sink.runtime.block_on(sink.producer.init_transactions()) {
            return Err(sink.classified(e, true));
        }
        Ok(sink)
    }

    /// `transaction.timeout.ms`: the transaction must commit before it.
    pub(crate) fn transaction_timeout(&self) -> Duration {
        self.transaction_timeout
    }

    /// Begins the transaction.
    pub(crate) fn begin(&mut self) -> Result<(), CliError> {
        if let Err(e) = self.runtime.block_on(self.producer.begin()) {
            return Err(self.classified(e, true));
        }
        self.open = true;
        Ok(())
    }

    /// Hands the record replayed from `letter` to `topic` to the producer (`partition`:
    /// `None` lets the partitioner pick from the key); its delivery is awaited by
    /// [`commit`](Self::commit). A failure aborts the transaction.
    pub(crate) fn send(
        &mut self,
        letter: &DeadLetter,
        topic: &str,
        partition: Option<i32>,
    ) -> Result<(), CliError> {
        let record = letter.replay_record(topic, partition);
        if let Err(failed) = self.runtime.block_on(self.producer.enqueue(record)) {
            let error = self.delivery(failed);
            return Err(self.aborted(error));
        }
        Ok(())
    }

    /// Waits for every delivery, adds `offsets` (the dead-letter topic's next offsets) with
    /// the consumer's group metadata, and commits (core retries a retriable commit by
    /// committing again). On a failure before the commit, or a commit that failed for
    /// certain, the transaction is aborted; a commit whose outcome is unknown is not.
    pub(crate) fn commit(
        mut self,
        offsets: &TopicPartitionList,
        group: Option<ConsumerGroupMetadata>,
    ) -> Result<(), CliError> {
        if let Err(failed) = self.runtime.block_on(self.producer.await_deliveries()) {
            let error = self.delivery(failed);
            return Err(self.aborted(error));
        }
        let Some(group) = group else {
            let error = self.classified(
                CoreError::State {
                    op: Operation::SendOffsets,
                    reason: "the consumer has no group metadata",
                },
                true,
            );
            return Err(self.aborted(error));
        };
        if let Err(e) = self
            .runtime
            .block_on(self.producer.send_offsets(offsets, group))
        {
            let error = self.classified(e, true);
            return Err(self.aborted(error));
        }
        // from here on a failure may hide a commit that went through: never an abort,
        // unless the error says the transaction cannot commit
        self.open = false;
        match self.runtime.block_on(self.producer.commit()) {
            Ok(()) => Ok(()),
            Err(e) if e.is_abortable() => {
                self.open = true;
                let error = self.classified(e, true);
                Err(self.aborted(error))
            }
            Err(e) => Err(self.classified(e, false)),
        }
    }

    /// Aborts the open transaction, if any (nothing was handed over to commit).
    pub(crate) fn abort(mut self) {
        let _ = self.try_abort();
    }

    /// Aborts the open transaction, if any. An abort that fails leaves it to the
    /// transaction timeout or the next run's `init_transactions`, which abort it too:
    /// nothing of it commits either way.
    fn try_abort(&mut self) -> Result<(), CoreError> {
        if !self.open {
            return Ok(());
        }
        self.open = false;
        let result = self.runtime.block_on(self.producer.abort());
        if let Err(e) = &result {
            tracing::warn!(error = %e, "aborting the replay transaction failed; the next run or the transaction timeout aborts it");
        }
        result
    }

    /// Aborts the transaction after `error`, and returns `error`, or the fencing the abort
    /// revealed (the failure may have been its symptom).
    fn aborted(&mut self, error: CliError) -> CliError {
        match self.try_abort() {
            Err(e) if e.is_fenced() && !matches!(error, CliError::Fenced { .. }) => {
                self.classified(e, true)
            }
            _ => error,
        }
    }

    fn delivery(&self, failed: SendError) -> CliError {
        delivery(&self.dlq, self.producer.transactional_id(), failed)
    }

    fn classified(&self, source: CoreError, nothing_replayed: bool) -> CliError {
        classified(
            &self.dlq,
            self.producer.transactional_id(),
            source,
            nothing_replayed,
        )
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.try_abort();
    }
}

/// A failed transactional call: [`CliError::Fenced`] if another replay of the group took
/// over, else [`CliError::Transaction`] (`nothing_replayed`: aborted or never begun; else
/// the commit's outcome is unknown).
fn classified(
    dlq: &str,
    transactional_id: &str,
    source: CoreError,
    nothing_replayed: bool,
) -> CliError {
    if source.is_fenced() {
        return CliError::Fenced {
            transactional_id: transactional_id.to_owned(),
            source: Box::new(source),
        };
    }
    CliError::Transaction {
        dlq: dlq.to_owned(),
        nothing_replayed,
        source: Box::new(source),
    }
}

/// A failed delivery: [`CliError::Delivery`] naming the dead letter (from the
/// [`REPLAYED_FROM`] header of the record handed back), or [`CliError::Fenced`].
fn delivery(dlq: &str, transactional_id: &str, failed: SendError) -> CliError {
    let SendError { error, record } = failed;
    match replayed_from(&record) {
        Some(at) if !error.is_fenced() => CliError::Delivery {
            at,
            topic: record.topic.to_string(),
            source: Box::new(error),
        },
        _ => classified(dlq, transactional_id, error, true),
    }
}

/// The dead letter a replayed record came from (`DLQ/partition/offset`).
fn replayed_from(record: &OwnedRecord) -> Option<String> {
    record
        .headers
        .iter()
        .find(|(name, _)| name == REPLAYED_FROM)
        .and_then(|(_, value)| value.as_deref())
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::error::KafkaError;
    use rdkafka::types::RDKafkaErrorCode;

    fn letter() -> DeadLetter {
        DeadLetter {
            dlq: "orders-dlq".into(),
            partition: 2,
            offset: 40,
            key: Some(b"k".to_vec()),
            value: Some(b"v".to_vec()),
            headers: vec![("trace".into(), Some(b"t".to_vec()))],
        }
    }

    #[test]
    fn a_failed_delivery_names_its_dead_letter_and_a_fencing_the_group() {
        let record = letter().replay_record("orders", None);
        assert_eq!(replayed_from(&record).as_deref(), Some("orders-dlq/2/40"));
        let failed = |code, record: &OwnedRecord| SendError {
            error: CoreError::kafka(Operation::Send, KafkaError::MessageProduction(code)),
            record: record.clone(),
        };

        let e = delivery(
            "orders-dlq",
            "g",
            failed(RDKafkaErrorCode::MessageSizeTooLarge, &record),
        );
        assert!(
            matches!(&e, CliError::Delivery { at, topic, .. }
                if at == "orders-dlq/2/40" && topic == "orders"),
            "{e}"
        );
        assert!(e.to_string().contains("nothing was replayed"), "{e}");

        let e = delivery(
            "orders-dlq",
            "g",
            failed(RDKafkaErrorCode::ProducerFenced, &record),
        );
        assert!(
            matches!(&e, CliError::Fenced { transactional_id, .. } if transactional_id == "g"),
            "{e}"
        );

        // no replayed-from header (never the case): still a failed, aborted replay
        let e = delivery(
            "orders-dlq",
            "g",
            failed(
                RDKafkaErrorCode::MessageSizeTooLarge,
                &OwnedRecord::to("orders"),
            ),
        );
        assert!(
            matches!(
                &e,
                CliError::Transaction {
                    nothing_replayed: true,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn a_commit_that_may_have_gone_through_is_said_to_be_unknown() {
        let timed_out = CoreError::RetriesExhausted {
            op: Operation::CommitTransaction,
            attempts: ATTEMPTS,
            source: Box::new(CoreError::kafka(
                Operation::CommitTransaction,
                KafkaError::Global(RDKafkaErrorCode::OperationTimedOut),
            )),
        };
        assert!(!timed_out.is_abortable(), "so it is not aborted");
        let e = classified("orders-dlq", "g", timed_out, false);
        assert!(e.to_string().contains("outcome is unknown"), "{e}");
    }
}
