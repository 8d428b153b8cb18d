//! Where outputs go: the transactional producer (exactly once) or a plain idempotent
//! producer whose deliveries are awaited before the consumer commits (at least once).

use std::sync::Arc;
use std::time::Duration;

use kafka_eos_core::{
    AbortCause, Deliveries, Error as CoreError, Metrics, Operation, OwnedRecord, SendError,
    TransactionalProducer,
};

/// The producer side of a pipeline.
pub(crate) enum Sink {
    Txn(TransactionalProducer),
    Plain {
        producer: Deliveries,
        metrics: Arc<Metrics>,
        timeout: Duration,
    },
}

impl Sink {
    pub(crate) async fn begin(&mut self) -> Result<(), CoreError> {
        match self {
            Sink::Txn(p) => p.begin().await,
            Sink::Plain { .. } => Ok(()),
        }
    }

    /// Hands a record to the producer now; its delivery is awaited by [`Sink::await_all`].
    pub(crate) async fn enqueue(&self, record: OwnedRecord) -> Result<(), SendError> {
        match self {
            Sink::Txn(p) => p.enqueue(record).await,
            Sink::Plain {
                producer,
                metrics,
                timeout,
            } => producer
                .enqueue(record, *timeout)
                .await
                .map_err(|(e, record)| plain_send_error(metrics, e, record)),
        }
    }

    /// Awaits the delivery of every record enqueued; the first failure is returned.
    pub(crate) async fn await_all(&self) -> Result<(), SendError> {
        match self {
            Sink::Txn(p) => p.await_deliveries().await,
            Sink::Plain {
                producer, metrics, ..
            } => match producer.settle().await {
                Ok(delivered) => {
                    metrics.record_out(delivered);
                    Ok(())
                }
                Err((e, record)) => Err(plain_send_error(metrics, e, record)),
            },
        }
    }

    /// Aborts the transaction (exactly once), or lets the records already handed over
    /// arrive and forgets their outcome (at least once: the batch is replayed anyway).
    pub(crate) async fn abort(&mut self, cause: AbortCause) -> Result<(), CoreError> {
        match self {
            Sink::Txn(p) if p.in_transaction() => p.abort_because(cause).await,
            Sink::Txn(_) => Ok(()),
            Sink::Plain { producer, .. } => {
                let _ = producer.settle().await;
                Ok(())
            }
        }
    }
}

/// A failed send of the at-least-once producer, with its record handed back.
fn plain_send_error(
    metrics: &Metrics,
    e: kafka_eos_core::rdkafka::error::KafkaError,
    record: OwnedRecord,
) -> SendError {
    metrics.record_send_failure();
    SendError {
        error: CoreError::kafka(Operation::Send, e)
            .naming_resource(|_| Some(format!("topic `{}`", record.topic))),
        record,
    }
}
