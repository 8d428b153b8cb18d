//! Where outputs go: the transactional producer (exactly once) or a plain idempotent
//! producer whose deliveries are awaited before the consumer commits (at least once).

use std::sync::Arc;
use std::time::Duration;

use kafka_eos_core::{
    Error as CoreError, Metrics, Operation, OwnedRecord, PendingDelivery, SendError,
    TransactionalProducer,
};
use rdkafka::producer::FutureProducer;

/// The producer side of a pipeline.
pub(crate) enum Sink {
    Txn(TransactionalProducer),
    Plain {
        producer: FutureProducer,
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
    pub(crate) async fn enqueue(&self, record: OwnedRecord) -> Result<PendingDelivery, SendError> {
        match self {
            Sink::Txn(p) => p.enqueue(record).await,
            Sink::Plain {
                producer,
                metrics,
                timeout,
            } => kafka_eos_core::enqueue(producer, record, *timeout)
                .await
                .map_err(|(e, record)| plain_send_error(metrics, e, record)),
        }
    }

    /// Awaits every pending delivery; the first failure is returned.
    pub(crate) async fn await_all(&self, pending: Vec<PendingDelivery>) -> Result<(), SendError> {
        match self {
            Sink::Txn(p) => p.await_deliveries(pending, |_| ()).await,
            Sink::Plain { metrics, .. } => {
                let mut first_failure = None;
                let mut delivered = 0;
                for p in pending {
                    match p.wait().await {
                        Ok(_) => delivered += 1,
                        Err((e, record)) => {
                            let err = plain_send_error(metrics, e, record);
                            first_failure.get_or_insert(err);
                        }
                    }
                }
                metrics.record_out(delivered);
                first_failure.map_or(Ok(()), Err)
            }
        }
    }

    pub(crate) async fn abort(&mut self) -> Result<(), CoreError> {
        match self {
            Sink::Txn(p) if p.in_transaction() => p.abort().await,
            _ => Ok(()),
        }
    }
}

/// A failed send of the at-least-once producer, with its record handed back.
fn plain_send_error(
    metrics: &Metrics,
    e: rdkafka::error::KafkaError,
    record: OwnedRecord,
) -> SendError {
    metrics.record_send_failure();
    SendError {
        error: CoreError::kafka(Operation::Send, e),
        record,
    }
}
