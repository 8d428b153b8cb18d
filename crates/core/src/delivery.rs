//! Counted deliveries: a record is handed to librdkafka at once (so outputs travel while
//! the rest of a batch is processed, in the order they were made) and the producer's
//! delivery reports are counted, not awaited one by one. [`Deliveries::settle`] waits until
//! every record handed over has been reported and returns the first failure, with its
//! record rebuilt from the report.
//!
//! No future, channel or allocation per record: a successful send drops the record (librdkafka
//! has copied it), and a delivery report costs two atomic additions. Only
//! [`Deliveries::send`], which waits for one record's own report, registers a waiter.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, ClientContext};
use tokio::sync::{oneshot, Notify};

use crate::producer::Delivered;
use crate::record::OwnedRecord;

/// The librdkafka producer under [`Deliveries`]: its own thread serves the delivery
/// reports.
pub type OutputProducer = ThreadedProducer<DeliveryContext>;

/// A failed delivery: the error and the record, rebuilt from the delivery report.
type Failed = (KafkaError, OwnedRecord);

/// The record handed to `send` without a waiter.
const UNTRACKED: usize = 0;

#[derive(Debug, Default)]
struct Counts {
    /// Records handed to librdkafka (incremented before the hand-over).
    sent: AtomicU64,
    /// Delivery reports received, successes and failures.
    reported: AtomicU64,
    /// Successful deliveries since the last [`Deliveries::settle`].
    delivered: AtomicU64,
    /// The first failed delivery since the last [`Deliveries::settle`].
    failure: Mutex<Option<Failed>>,
    /// Woken when every record handed over has been reported.
    settled: Notify,
    /// Waiters of [`Deliveries::send`], by ticket.
    waiters: Mutex<HashMap<usize, oneshot::Sender<KafkaResult<Delivered>>>>,
    next_ticket: AtomicUsize,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Counts {
    fn wake_if_settled(&self) {
        if self.reported.load(Ordering::SeqCst) >= self.sent.load(Ordering::SeqCst) {
            self.settled.notify_one();
        }
    }
}

/// The producer context that counts delivery reports (see [`Deliveries`]).
#[derive(Debug)]
pub struct DeliveryContext {
    counts: Arc<Counts>,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    /// 0 (untracked: counted only), or the ticket of a [`Deliveries::send`] waiting for
    /// this record.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, ticket: usize) {
        let counts = &self.counts;
        if result.is_ok() {
            counts.delivered.fetch_add(1, Ordering::Relaxed);
        }
        if ticket != UNTRACKED {
            let outcome = match result {
                Ok(m) => Ok(Delivered {
                    partition: m.partition(),
                    offset: m.offset(),
                }),
                Err((e, _)) => Err(e.clone()),
            };
            if let Some(waiter) = locked(&counts.waiters).remove(&ticket) {
                // the waiter may have given up (its future dropped): nothing to tell
                let _ = waiter.send(outcome);
            }
        } else if let Err((e, m)) = result {
            locked(&counts.failure)
                .get_or_insert_with(|| (e.clone(), OwnedRecord::from_message(m)));
        }
        counts.reported.fetch_add(1, Ordering::SeqCst);
        counts.wake_if_settled();
    }
}

/// A producer whose delivery reports are counted, not awaited one by one: a record is handed
/// to librdkafka at once and [`settle`](Self::settle) waits until every record handed over
/// has been reported, returning the first failure with its record rebuilt from the report.
/// No future, channel or allocation per record; only [`send`](Self::send), which waits for
/// one record's own report, registers a waiter. Cloning shares the producer and its counts.
#[derive(Clone)]
pub struct Deliveries {
    producer: OutputProducer,
    counts: Arc<Counts>,
}

impl std::fmt::Debug for Deliveries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliveries")
            .field("sent", &self.counts.sent.load(Ordering::Relaxed))
            .field("reported", &self.counts.reported.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Deliveries {
    /// Creates the producer from a rendered rdkafka configuration.
    pub fn create(config: &ClientConfig) -> KafkaResult<Self> {
        let counts = Arc::new(Counts {
            next_ticket: AtomicUsize::new(UNTRACKED + 1),
            ..Counts::default()
        });
        let producer = config.create_with_context(DeliveryContext {
            counts: Arc::clone(&counts),
        })?;
        Ok(Self { producer, counts })
    }

    /// The librdkafka producer.
    pub fn producer(&self) -> &OutputProducer {
        &self.producer
    }

    /// Hands `record` to the producer without waiting for its delivery; its report is
    /// counted by [`settle`](Self::settle). Records enqueued one after another keep their
    /// order per partition. When librdkafka's local queue is full, waits (asynchronously)
    /// for room, up to `timeout`.
    pub async fn enqueue(&self, record: OwnedRecord, timeout: Duration) -> Result<(), Failed> {
        self.hand_over(record, UNTRACKED, timeout).await
    }

    /// Hands `record` to the producer and waits for its own delivery report; a failure hands
    /// the record back as it was given.
    pub async fn send(&self, record: OwnedRecord, timeout: Duration) -> Result<Delivered, Failed> {
        let ticket = self
            .counts
            .next_ticket
            .fetch_add(1, Ordering::Relaxed)
            .max(1);
        let (tx, rx) = oneshot::channel();
        locked(&self.counts.waiters).insert(ticket, tx);
        let kept = record.clone();
        if let Err(failed) = self.hand_over(record, ticket, timeout).await {
            locked(&self.counts.waiters).remove(&ticket);
            return Err(failed);
        }
        match rx.await {
            Ok(Ok(delivered)) => Ok(delivered),
            Ok(Err(e)) => Err((e, kept)),
            // the producer was destroyed before reporting
            Err(_) => Err((KafkaError::Canceled, kept)),
        }
    }

    async fn hand_over(
        &self,
        record: OwnedRecord,
        ticket: usize,
        timeout: Duration,
    ) -> Result<(), Failed> {
        let counts = &self.counts;
        counts.sent.fetch_add(1, Ordering::SeqCst);
        let mut full_since = None; // the clock is read only when the queue is full
        let error = loop {
            match self.producer.send(record.as_base_record(ticket)) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _))
                    if full_since.get_or_insert_with(Instant::now).elapsed() < timeout =>
                {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err((e, _)) => break e,
            }
        };
        counts.sent.fetch_sub(1, Ordering::SeqCst);
        counts.wake_if_settled();
        Err((error, record))
    }

    /// Waits until every record handed over so far has been reported, then returns how
    /// many were delivered since the last call, or the first failure (with its record).
    /// Either way the next call starts counting afresh.
    pub async fn settle(&self) -> Result<u64, Failed> {
        let counts = &self.counts;
        while counts.reported.load(Ordering::SeqCst) < counts.sent.load(Ordering::SeqCst) {
            counts.settled.notified().await;
        }
        let delivered = counts.delivered.swap(0, Ordering::Relaxed);
        match locked(&counts.failure).take() {
            Some(failed) => Err(failed),
            None => Ok(delivered),
        }
    }

    /// Records handed over whose delivery has not been reported yet.
    pub fn unreported(&self) -> u64 {
        let counts = &self.counts;
        counts
            .sent
            .load(Ordering::SeqCst)
            .saturating_sub(counts.reported.load(Ordering::SeqCst))
    }
}
