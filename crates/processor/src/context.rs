//! The consumer context: rebalance bookkeeping, and librdkafka's statistics for the
//! consumer lag (`consumer_lag.rs`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::statistics::Statistics;
use rdkafka::ClientContext;

use crate::consumer_lag::ConsumerLag;

/// Consumer context used by the pipeline.
///
/// The pipeline always finishes (commits or aborts) its transaction before it polls
/// again, and rebalance callbacks only run inside a poll, so when partitions are
/// revoked no transaction is open. The context raises a flag on every rebalance; the
/// pipeline then drops the records it polled but has not processed yet: with the
/// (default, eager) assignment strategies every newly assigned partition resumes
/// from its committed offset, so nothing is lost or duplicated.
#[derive(Debug, Clone, Default)]
pub struct EosConsumerContext {
    rebalanced: Arc<AtomicBool>,
    /// Rebalances so far: parking compares it with the assignment it last loaded.
    generation: Arc<AtomicU64>,
    lag: Arc<ConsumerLag>,
}

impl EosConsumerContext {
    /// The lag of the assigned partitions, fed by the statistics.
    pub(crate) fn lag(&self) -> &ConsumerLag {
        &self.lag
    }

    pub(crate) fn take_rebalanced(&self) -> bool {
        self.rebalanced.swap(false, Ordering::AcqRel)
    }

    /// How many rebalances have completed.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

impl ClientContext for EosConsumerContext {
    /// Feeds the consumer lag (when its gauges are published; else nothing is parsed).
    fn stats_raw(&self, statistics: &[u8]) {
        if !self.lag.is_published() {
            return;
        }
        match serde_json::from_slice::<Statistics>(statistics) {
            Ok(stats) => self.lag.statistics(&stats),
            Err(e) => tracing::debug!(error = %e, "unreadable librdkafka statistics"),
        }
    }
}

impl ConsumerContext for EosConsumerContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                tracing::info!(partitions = tpl.count(), "partitions revoked; no transaction is open (each transaction ends before the next poll)");
            }
            Rebalance::Assign(tpl) => {
                tracing::info!(
                    partitions = tpl.count(),
                    "partitions assigned; they resume from committed offsets"
                );
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, _rebalance: &Rebalance<'_>) {
        self.rebalanced.store(true, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}
