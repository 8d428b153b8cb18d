//! The consumer context: rebalance bookkeeping, and librdkafka's statistics for the
//! consumer lag (`consumer_lag.rs`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;

use crate::consumer_lag::ConsumerLag;

/// Consumer context used by the pipeline.
///
/// Rebalance callbacks only run inside a poll. In exactly-once mode the next batch is
/// polled while one is in its transaction (`prefetch.rs`), so a revocation may meet an
/// open transaction: the generation counted here tells the pipeline to abort it before
/// its commit, and one that lands during the commit meets KIP-447's checks. The context
/// also raises a flag on every rebalance; the pipeline then drops the records it polled
/// but has not processed yet: with the (default, eager) assignment strategies every newly
/// assigned partition resumes from its committed offset, so nothing is lost or
/// duplicated.
#[derive(Debug, Clone, Default)]
pub struct EosConsumerContext {
    rebalanced: Arc<AtomicBool>,
    /// Rebalances so far: parking compares it with the assignment it last loaded.
    generation: Arc<AtomicU64>,
    lag: Arc<ConsumerLag>,
    /// The last authentication or TLS failure librdkafka reported: start-up gives up on
    /// it at once instead of retrying until its timeout.
    security_failure: Arc<Mutex<Option<SecurityFailure>>>,
}

/// An authentication (SASL) or TLS failure reported by librdkafka's error callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SecurityFailure {
    /// SASL authentication failed (wrong user or password, mechanism not enabled).
    Authentication(String),
    /// The TLS handshake failed (a certificate not trusted, a host name mismatch, ...).
    Tls(String),
}

impl EosConsumerContext {
    /// The lag of the assigned partitions, fed by the statistics.
    pub(crate) fn lag(&self) -> &ConsumerLag {
        &self.lag
    }

    /// Whether a rebalance completed since the last call (read for every polled record:
    /// a plain load unless it did).
    pub(crate) fn take_rebalanced(&self) -> bool {
        self.rebalanced.load(Ordering::Acquire) && self.rebalanced.swap(false, Ordering::AcqRel)
    }

    /// The last authentication or TLS failure, if librdkafka reported one.
    pub(crate) fn security_failure(&self) -> Option<SecurityFailure> {
        self.security_failure
            .lock()
            .ok()
            .and_then(|slot| slot.clone())
    }

    /// How many rebalances have completed.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

impl EosConsumerContext {
    fn keep(&self, failure: SecurityFailure) {
        if let Ok(mut slot) = self.security_failure.lock() {
            *slot = Some(failure);
        }
    }
}

impl SecurityFailure {
    /// The failure a librdkafka log line reports, if it reports one: a consumer's error
    /// events are served only by polling it, but its connection failures are logged at
    /// once (`SASL authentication error: ...`, `SSL handshake failed: ...`).
    fn from_log(line: &str) -> Option<Self> {
        if line.contains("SASL authentication error") || line.contains("Authentication failed") {
            Some(Self::Authentication(line.to_owned()))
        } else if line.contains("SSL handshake failed") {
            Some(Self::Tls(line.to_owned()))
        } else {
            None
        }
    }
}

impl ClientContext for EosConsumerContext {
    /// Forwards librdkafka's log to `tracing`, keeping the last authentication or TLS
    /// failure it reports.
    fn log(&self, level: RDKafkaLogLevel, fac: &str, line: &str) {
        if let Some(failure) = SecurityFailure::from_log(line) {
            self.keep(failure);
        }
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => tracing::error!(fac, "librdkafka: {line}"),
            RDKafkaLogLevel::Warning => tracing::warn!(fac, "librdkafka: {line}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(fac, "librdkafka: {line}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(fac, "librdkafka: {line}"),
        }
    }

    /// Logs librdkafka's global errors and keeps the last authentication or TLS failure.
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::error!(error = %error, reason, "librdkafka");
        match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::Authentication) => {
                self.keep(SecurityFailure::Authentication(reason.to_owned()))
            }
            Some(RDKafkaErrorCode::SSL) => self.keep(SecurityFailure::Tls(reason.to_owned())),
            _ => {}
        }
    }

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
    /// As rdkafka's default, but never on a closed consumer (see
    /// [`kafka_eos_core::rebalance`]).
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: rdkafka::types::RDKafkaRespErr,
        tpl: &mut rdkafka::TopicPartitionList,
    ) {
        kafka_eos_core::rebalance::serve(self, consumer, err, tpl);
    }

    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                tracing::info!(
                    partitions = tpl.count(),
                    "partitions revoked; a batch in its transaction is aborted before its commit"
                );
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
