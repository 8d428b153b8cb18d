//! Enqueue-now, await-later produce: a record is handed to librdkafka at once (so outputs
//! travel while the rest of a batch is processed, in the order they were made) and its
//! delivery is awaited before the transaction commits.

use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::producer::{DeliveryFuture, FutureProducer};
use rdkafka::types::RDKafkaErrorCode;

use crate::producer::Delivered;
use crate::record::OwnedRecord;

/// A record handed to the producer whose delivery report has not been awaited yet.
///
/// It keeps the record, so a failed delivery hands it back (to retry or dead-letter).
#[must_use = "a pending delivery must be awaited before the transaction commits"]
pub struct PendingDelivery {
    future: DeliveryFuture,
    record: OwnedRecord,
}

impl std::fmt::Debug for PendingDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingDelivery")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

impl PendingDelivery {
    /// Waits for the delivery report.
    pub async fn wait(self) -> Result<Delivered, (KafkaError, OwnedRecord)> {
        match self.future.await {
            Ok(Ok(d)) => Ok(Delivered {
                partition: d.partition,
                offset: d.offset,
            }),
            Ok(Err((e, _))) => Err((e, self.record)),
            // the producer was dropped before reporting
            Err(_canceled) => Err((KafkaError::Canceled, self.record)),
        }
    }

    /// The record.
    pub fn record(&self) -> &OwnedRecord {
        &self.record
    }
}

/// Hands `record` to `producer` without waiting for its delivery. Records enqueued one
/// after another keep their order per partition. When librdkafka's local queue is full,
/// waits (asynchronously) for room, up to `timeout`.
pub async fn enqueue(
    producer: &FutureProducer,
    record: OwnedRecord,
    timeout: Duration,
) -> Result<PendingDelivery, (KafkaError, OwnedRecord)> {
    let started = Instant::now();
    loop {
        let sent = producer
            .send_result(record.as_future_record())
            .map_err(|(e, _)| e);
        match sent {
            Ok(future) => return Ok(PendingDelivery { future, record }),
            Err(KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull))
                if started.elapsed() < timeout =>
            {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Err(e) => return Err((e, record)),
        }
    }
}
