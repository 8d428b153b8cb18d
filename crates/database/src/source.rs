//! The sink's consumer: a group member whose assigned partitions start from the positions in
//! the offsets table (set in the rebalance callback, before fetching starts), polled on a
//! blocking thread.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_eos_processor::{CancellationToken, Input};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::types::{RDKafkaErrorCode, RDKafkaRespErr};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::error::{Error, Result};
use crate::offsets::Partition;

/// A record as polled, its value not decoded yet.
pub(crate) type Raw = Input<Option<Vec<u8>>>;

/// Reads the stored positions of the group, blocking (it runs inside the rebalance
/// callback, on the thread that polls): retried while the database is down, an error only
/// when retrying cannot help or the sink is stopping.
pub(crate) type LoadPositions =
    Box<dyn Fn() -> Result<HashMap<Partition, i64>> + Send + Sync + 'static>;

/// The consumer's context: positions of the assigned partitions, set on assignment.
pub(crate) struct SinkContext {
    load: LoadPositions,
    /// Per assigned partition, the next offset to process (`None`: no row yet; the
    /// partition starts where the group's Kafka offset or `auto.offset.reset` says).
    positions: Mutex<HashMap<Partition, Option<i64>>>,
    rebalanced: AtomicBool,
    failure: Mutex<Option<Error>>,
}

impl std::fmt::Debug for SinkContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkContext").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SinkContext {
    pub(crate) fn new(load: LoadPositions) -> Self {
        SinkContext {
            load,
            positions: Mutex::new(HashMap::new()),
            rebalanced: AtomicBool::new(false),
            failure: Mutex::new(None),
        }
    }

    /// The positions of the assigned partitions.
    pub(crate) fn positions(&self) -> MutexGuard<'_, HashMap<Partition, Option<i64>>> {
        lock(&self.positions)
    }

    /// An error raised in the rebalance callback, once.
    pub(crate) fn take_failure(&self) -> Option<Error> {
        lock(&self.failure).take()
    }

    fn take_rebalanced(&self) -> bool {
        self.rebalanced.swap(false, Ordering::AcqRel)
    }

    /// Keeps the records of assigned partitions at or past their position.
    pub(crate) fn current(&self, batch: Vec<Raw>) -> Vec<Raw> {
        let positions = self.positions();
        batch
            .into_iter()
            .filter(|r| {
                match positions.get(&(r.topic.to_string(), r.partition)) {
                    None => false, // revoked
                    Some(None) => true,
                    Some(Some(at)) => r.offset >= *at,
                }
            })
            .collect()
    }

    fn assign(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) {
        let assigned: Vec<Partition> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition()))
            .collect();
        match (self.load)() {
            Ok(stored) => {
                let mut positions = self.positions();
                for p in assigned {
                    let at = stored.get(&p).copied();
                    if let Some(at) = at {
                        if let Err(e) = tpl.set_partition_offset(&p.0, p.1, Offset::Offset(at)) {
                            tracing::warn!(topic = %p.0, partition = p.1, error = %e, "cannot set the start offset");
                        }
                    }
                    tracing::info!(topic = %p.0, partition = p.1, from = ?at, "partition assigned; it starts from the database's offset (none: the group's Kafka offset)");
                    positions.insert(p, at);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the offsets table on assignment");
                *lock(&self.failure) = Some(e);
            }
        }
        let assigned = match consumer.rebalance_protocol() {
            RebalanceProtocol::Cooperative => consumer.incremental_assign(tpl),
            _ => consumer.assign(tpl),
        };
        if let Err(e) = assigned {
            *lock(&self.failure) = Some(consumer_error("assign")(e));
        }
    }

    fn revoke(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        {
            let mut positions = self.positions();
            if cooperative {
                for e in tpl.elements() {
                    positions.remove(&(e.topic().to_owned(), e.partition()));
                }
            } else {
                positions.clear();
            }
        }
        tracing::info!(
            partitions = tpl.count(),
            "partitions revoked; no database transaction is open (each ends before the next poll)"
        );
        let unassigned = if cooperative {
            consumer.incremental_unassign(tpl)
        } else {
            consumer.unassign()
        };
        if let Err(e) = unassigned {
            tracing::warn!(error = %e, "unassign failed");
        }
    }
}

impl ClientContext for SinkContext {}

impl ConsumerContext for SinkContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        // an assign or unassign after the group terminated would never return (see
        // kafka_eos_core::rebalance)
        if consumer.closed() {
            return;
        }
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.assign(consumer, tpl),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => self.revoke(consumer, tpl),
            other => tracing::warn!(error = ?other, "rebalance error"),
        }
        self.rebalanced.store(true, Ordering::Release);
    }
}

/// Maps a librdkafka error of `operation`.
pub(crate) fn consumer_error(operation: &'static str) -> impl FnOnce(KafkaError) -> Error {
    move |source| Error::Consumer { operation, source }
}

/// Polls up to `max` records until `interval` passes or `shutdown` is cancelled (blocking:
/// run it on a blocking thread). Records polled before a rebalance are dropped: the new
/// assignment starts from the database's positions.
pub(crate) fn collect(
    consumer: &BaseConsumer<SinkContext>,
    max: usize,
    interval: Duration,
    shutdown: &CancellationToken,
) -> Result<Vec<Raw>> {
    let context = consumer.context();
    let until = Instant::now() + interval;
    let mut batch = Vec::new();
    let mut topics: Vec<Arc<str>> = Vec::new();
    while batch.len() < max && !shutdown.is_cancelled() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let polled = consumer.poll(left.min(Duration::from_millis(100)));
        if context.take_rebalanced() {
            batch.clear();
        }
        if let Some(e) = context.take_failure() {
            return Err(e);
        }
        match polled {
            None => {}
            Some(Ok(msg)) => batch.push(copy(&msg, &mut topics)),
            Some(Err(e @ KafkaError::MessageConsumptionFatal(_))) => {
                return Err(consumer_error("poll")(e))
            }
            // the cluster refused the credentials: asking again will not change the answer
            Some(Err(e @ KafkaError::MessageConsumption(RDKafkaErrorCode::Authentication))) => {
                return Err(consumer_error("SASL authentication")(e))
            }
            Some(Err(e)) => tracing::warn!(error = %e, "consumer error; polling again"),
        }
    }
    Ok(batch)
}

/// Copies `msg` out of the consumer (nulls kept: a tombstone's value and a null header
/// value are `None`), its topic shared through `topics`.
fn copy<M: Message>(msg: &M, topics: &mut Vec<Arc<str>>) -> Raw {
    let topic = match topics.iter().find(|t| &***t == msg.topic()) {
        Some(t) => Arc::clone(t),
        None => {
            let t: Arc<str> = Arc::from(msg.topic());
            topics.push(Arc::clone(&t));
            t
        }
    };
    Input {
        topic,
        partition: msg.partition(),
        offset: msg.offset(),
        key: msg.key().map(Bytes::copy_from_slice),
        headers: msg
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_owned(), h.value.map(Bytes::copy_from_slice)))
                    .collect()
            })
            .unwrap_or_default(),
        timestamp: msg.timestamp().to_millis(),
        value: msg.payload().map(<[u8]>::to_vec),
    }
}
