//! One batch of input records: collected from the consumer (up to `commit_max_records` or
//! the commit interval), its offsets, and the rewind that replays it after an abort.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::Offset;
use tokio_util::sync::CancellationToken;

use crate::context::EosConsumerContext;
use crate::error::Result;

/// Polls up to `max` records, until `interval` passes or `shutdown` is cancelled. Records
/// polled before a rebalance are dropped: the new assignment resumes from committed offsets.
pub(crate) async fn collect(
    consumer: &StreamConsumer<EosConsumerContext>,
    context: &EosConsumerContext,
    max: usize,
    interval: Duration,
    shutdown: &CancellationToken,
) -> Result<Vec<OwnedMessage>> {
    // One timer for the whole batch (a timer per record costs more than the record),
    // checked before the consumer so a full local queue cannot stretch the batch.
    let deadline = tokio::time::sleep(interval);
    tokio::pin!(deadline);
    let mut batch = Vec::new();
    while batch.len() < max {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            () = &mut deadline => break,
            polled = consumer.recv() => match polled {
                Ok(msg) => {
                    let msg = msg.detach();
                    if context.take_rebalanced() {
                        // Earlier records belong to the old assignment; the new one
                        // resumes from committed offsets.
                        batch.clear();
                    }
                    batch.push(msg);
                }
                Err(e) => {
                    if matches!(e, rdkafka::error::KafkaError::MessageConsumptionFatal(_)) {
                        return Err(crate::pipeline::core_error(kafka_eos_core::Operation::Consumer)(e));
                    }
                    tracing::warn!(error = %e, "consumer error; polling again");
                }
            },
        }
    }
    if context.take_rebalanced() {
        batch.clear();
    }
    Ok(batch)
}

/// First and next offsets of each partition in a batch.
pub(crate) fn offsets(batch: &[OwnedMessage]) -> BTreeMap<(String, i32), (i64, i64)> {
    let mut m: BTreeMap<(String, i32), (i64, i64)> = BTreeMap::new();
    for msg in batch {
        let e = m
            .entry((msg.topic().to_owned(), msg.partition()))
            .or_insert((msg.offset(), msg.offset() + 1));
        e.0 = e.0.min(msg.offset());
        e.1 = e.1.max(msg.offset() + 1);
    }
    m
}

/// Seeks every partition of the batch back to the batch start (= the committed offset,
/// since each batch commits atomically).
pub(crate) async fn rewind(
    consumer: &Arc<StreamConsumer<EosConsumerContext>>,
    batch: &[OwnedMessage],
) {
    for ((topic, partition), (first, _)) in offsets(batch) {
        let c = Arc::clone(consumer);
        let t = topic.clone();
        let res = tokio::task::spawn_blocking(move || {
            c.seek(
                &t,
                partition,
                Offset::Offset(first),
                Duration::from_secs(10),
            )
        })
        .await;
        match res {
            Ok(Ok(())) => tracing::info!(%topic, partition, offset = first, "rewound"),
            Ok(Err(e)) => {
                tracing::warn!(%topic, partition, error = %e, "rewind failed (partition probably revoked; its new owner resumes from the committed offset)");
            }
            Err(e) => tracing::warn!(%topic, partition, error = %e, "rewind task failed"),
        }
    }
}

/// Which polled records are replays: per partition, the offset below which records were
/// polled before (set when a batch is rewound).
#[derive(Debug, Default)]
pub(crate) struct Replays {
    until: HashMap<(String, i32), i64>,
}

impl Replays {
    /// Remembers that `batch` will be polled again.
    pub(crate) fn rewound(&mut self, batch: &[OwnedMessage]) {
        for (tp, (_, next)) in offsets(batch) {
            let until = self.until.entry(tp).or_insert(next);
            *until = (*until).max(next);
        }
    }

    /// How many records of `batch` were polled before.
    pub(crate) fn count(&self, batch: &[OwnedMessage]) -> usize {
        if self.until.is_empty() {
            return 0;
        }
        batch
            .iter()
            .filter(|m| {
                self.until
                    .get(&(m.topic().to_owned(), m.partition()))
                    .is_some_and(|until| m.offset() < *until)
            })
            .count()
    }
}
