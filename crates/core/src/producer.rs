//! The async transactional producer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_eos_config::{ConfigError, ProducerProfile};
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::KafkaResult;
use rdkafka::producer::Producer;
use rdkafka::{ClientConfig, TopicPartitionList};
use tracing::Instrument;

use crate::delivery::{Deliveries, OutputProducer};
use crate::error::{Error, Operation, Result, SendError};
use crate::metrics::{AbortCause, Metrics};
use crate::record::OwnedRecord;
use crate::retry::RetryPolicy;

/// Default timeout of one blocking transactional call.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// How long past its own timeout a librdkafka call may take before the producer is taken
/// for stuck in it ([`Error::Stalled`]).
const STALL_MARGIN: Duration = Duration::from_secs(5);

/// Where a record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// Partition written.
    pub partition: i32,
    /// Offset assigned by the broker.
    pub offset: i64,
}

#[derive(Debug)]
struct OpenTransaction {
    span: tracing::Span,
    started: Instant,
}

/// An async transactional producer over rdkafka's [`ThreadedProducer`](rdkafka::producer::ThreadedProducer),
/// its deliveries counted (see [`Deliveries`]).
///
/// The blocking librdkafka calls (`init_transactions`, `begin_transaction`,
/// `send_offsets_to_transaction`, `commit_transaction`, `abort_transaction`, `flush`)
/// run on Tokio's blocking pool (`spawn_blocking`), never on a worker thread.
/// Retriable errors are retried by calling the same operation again, following the
/// [`RetryPolicy`]; any other error is returned classified (see [`Error::kind`]).
/// A fencing error becomes [`Error::Fenced`] naming the `transactional.id`.
///
/// ```no_run
/// use kafka_eos_config::ProducerProfile;
/// use kafka_eos_core::{OwnedRecord, TransactionalProducer};
///
/// # async fn run() -> kafka_eos_core::Result<()> {
/// let profile = ProducerProfile::idempotent("localhost:9092").transactional("app-group-0");
/// let mut producer = TransactionalProducer::new(&profile)?;
/// producer.init_transactions().await?;
/// producer.begin().await?;
/// producer
///     .send(OwnedRecord::new("out", "k", "v"))
///     .await
///     .map_err(|e| e.error)?;
/// producer.commit().await?;
/// # Ok(())
/// # }
/// ```
pub struct TransactionalProducer {
    producer: Deliveries,
    config: ClientConfig,
    transactional_id: String,
    metrics: Arc<Metrics>,
    retry: RetryPolicy,
    timeout: Duration,
    initialized: bool,
    open: Option<OpenTransaction>,
    /// A call stuck in librdkafka ([`Error::Stalled`]): every further call fails at once
    /// (librdkafka would refuse it as conflicting) until [`TransactionalProducer::rebuild`].
    stalled: Option<Operation>,
    sequence: u64,
}

impl std::fmt::Debug for TransactionalProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionalProducer")
            .field("transactional_id", &self.transactional_id)
            .field("initialized", &self.initialized)
            .field("in_transaction", &self.open.is_some())
            .field("sequence", &self.sequence)
            .finish_non_exhaustive()
    }
}

impl TransactionalProducer {
    /// Creates the producer from a validated transactional profile.
    pub fn new(profile: &ProducerProfile) -> Result<Self> {
        if profile.transactional_id().is_none() {
            return Err(Error::Config(ConfigError::Missing {
                field: "transactional_id",
            }));
        }
        Self::from_client_config(profile.render()?)
    }

    /// Creates the producer from an already rendered rdkafka configuration, which must
    /// contain `transactional.id`. Prefer [`TransactionalProducer::new`], which checks
    /// the guarantees.
    pub fn from_client_config(config: ClientConfig) -> Result<Self> {
        let transactional_id = match config.get("transactional.id") {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => {
                return Err(Error::Config(ConfigError::Missing {
                    field: "transactional_id",
                }))
            }
        };
        let producer =
            Deliveries::create(&config).map_err(|e| Error::kafka(Operation::CreateClient, e))?;
        Ok(Self {
            producer,
            config,
            transactional_id,
            metrics: Arc::new(Metrics::new()),
            retry: RetryPolicy::default(),
            timeout: DEFAULT_OPERATION_TIMEOUT,
            initialized: false,
            open: None,
            stalled: None,
            sequence: 0,
        })
    }

    /// Shares these metrics (e.g. with a pipeline).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Retry policy for retriable errors.
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Timeout of one blocking call (default 30 s). A timed-out commit is retriable.
    pub fn with_operation_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The `transactional.id`.
    pub fn transactional_id(&self) -> &str {
        &self.transactional_id
    }

    /// The shared metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// `true` between a successful [`begin`](Self::begin) and the end of the transaction.
    pub fn in_transaction(&self) -> bool {
        self.open.is_some()
    }

    /// The underlying rdkafka producer.
    pub fn inner(&self) -> &OutputProducer {
        self.producer.producer()
    }

    async fn blocking<T, F>(&self, op: Operation, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&OutputProducer) -> KafkaResult<T> + Send + 'static,
    {
        self.check_not_stalled(op)?;
        let producer = self.producer.producer().clone();
        let result = tokio::task::spawn_blocking(move || f(&producer))
            .await
            .map_err(|source| Error::Blocking { op, source })?;
        result.map_err(|e| self.classified(op, e))
    }

    /// Runs a librdkafka call that may never return (see [`Error::Stalled`]) on a thread
    /// of its own, and waits for it at most the operation timeout plus [`STALL_MARGIN`].
    /// A call that has not returned by then is left behind on its thread, holding its
    /// reference to the old producer (not on Tokio's blocking pool, whose shutdown would
    /// wait for it without limit).
    async fn watched<T, F>(&self, op: Operation, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&OutputProducer) -> KafkaResult<T> + Send + 'static,
    {
        self.check_not_stalled(op)?;
        let producer = self.producer.producer().clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name(format!("kafka-eos-{op}"))
            .spawn(move || {
                let result = f(&producer);
                // the waiter may have given up: the answer is dropped with the producer
                drop(tx.send(result));
            })
            .map_err(|source| Error::Thread { op, source })?;
        let limit = self.timeout + STALL_MARGIN;
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(result)) => result.map_err(|e| self.classified(op, e)),
            // the thread ended without an answer (the call panicked)
            Ok(Err(_)) => Err(Error::Stalled { op, waited: limit }),
            Err(_) => {
                tracing::error!(parent: &self.span(), %op, waited = ?limit, transactional_id = %self.transactional_id, "librdkafka call stuck past its timeout: the producer will be replaced");
                Err(Error::Stalled { op, waited: limit })
            }
        }
    }

    fn check_not_stalled(&self, op: Operation) -> Result<()> {
        if let Some(stuck) = self.stalled {
            tracing::debug!(%op, %stuck, "the producer is stuck in an earlier call");
            return Err(Error::Stalled {
                op,
                waited: Duration::ZERO,
            });
        }
        Ok(())
    }

    fn span(&self) -> tracing::Span {
        self.open
            .as_ref()
            .map_or_else(tracing::Span::current, |o| o.span.clone())
    }

    /// Registers the `transactional.id` with the coordinator, fencing any older
    /// producer with the same id and aborting its open transaction.
    pub async fn init_transactions(&mut self) -> Result<()> {
        let timeout = self.timeout;
        self.retry
            .run(Operation::InitTransactions, &self.metrics, || {
                self.blocking(Operation::InitTransactions, move |p| {
                    p.init_transactions(timeout)
                })
            })
            .instrument(tracing::info_span!("kafka_eos.init_transactions", transactional_id = %self.transactional_id))
            .await?;
        self.initialized = true;
        Ok(())
    }

    /// Begins a transaction.
    pub async fn begin(&mut self) -> Result<()> {
        if !self.initialized {
            return Err(Error::State {
                op: Operation::BeginTransaction,
                reason: "init_transactions has not completed",
            });
        }
        if self.open.is_some() {
            return Err(Error::State {
                op: Operation::BeginTransaction,
                reason: "a transaction is already open",
            });
        }
        self.sequence += 1;
        let span = tracing::info_span!(
            "kafka_eos.transaction",
            transactional_id = %self.transactional_id,
            txn = self.sequence
        );
        self.retry
            .run(Operation::BeginTransaction, &self.metrics, || {
                self.blocking(Operation::BeginTransaction, |p| p.begin_transaction())
            })
            .instrument(span.clone())
            .await?;
        self.metrics.record_begin();
        tracing::debug!(parent: &span, "transaction begun");
        self.open = Some(OpenTransaction {
            span,
            started: Instant::now(),
        });
        Ok(())
    }

    /// Produces one record inside the open transaction and awaits its delivery.
    ///
    /// On failure the record is handed back in the [`SendError`]. A failed send makes
    /// the transaction abortable: the commit will fail and the batch must be replayed.
    pub async fn send(&self, record: OwnedRecord) -> Result<Delivered, SendError> {
        let record = self.check_open(record)?;
        match self.producer.send(record, self.timeout).await {
            Ok(delivered) => {
                self.metrics.record_out(1);
                Ok(delivered)
            }
            Err((e, record)) => Err(self.send_failed(e, record)),
        }
    }

    /// Hands one record to the producer inside the open transaction without waiting for
    /// its delivery; await every delivery with [`await_deliveries`](Self::await_deliveries)
    /// before committing. Records enqueued one after another keep their order per
    /// partition. A record librdkafka refuses at once is handed back.
    pub async fn enqueue(&self, record: OwnedRecord) -> Result<(), SendError> {
        let record = self.check_open(record)?;
        self.producer
            .enqueue(record, self.timeout)
            .await
            .map_err(|(e, record)| self.send_failed(e, record))
    }

    /// `record`, or a [`SendError`] handing it back when no transaction is open.
    #[allow(clippy::result_large_err)] // the error is the record handed back, by design
    fn check_open(&self, record: OwnedRecord) -> Result<OwnedRecord, SendError> {
        if self.open.is_none() {
            return Err(SendError {
                error: Error::State {
                    op: Operation::Send,
                    reason: "no transaction is open",
                },
                record,
            });
        }
        Ok(record)
    }

    /// Waits for the delivery of every record enqueued, and returns the first failure with
    /// its record handed back (rebuilt from the delivery report).
    pub async fn await_deliveries(&self) -> Result<(), SendError> {
        match self.producer.settle().await {
            Ok(delivered) => {
                self.metrics.record_out(delivered);
                Ok(())
            }
            Err((e, record)) => Err(self.send_failed(e, record)),
        }
    }

    /// Classifies an error of `op`. librdkafka reports many calls after a fatal error only
    /// as a generic `_FATAL` / `_STATE`; the producer's recorded fatal error says whether it
    /// was a fencing, which must stop this instance rather than rebuild it (a rebuilt
    /// producer would fence the newer instance in turn).
    fn classified(&self, op: Operation, e: rdkafka::error::KafkaError) -> Error {
        let error = Error::kafka(op, e)
            .with_transactional_id(&self.transactional_id)
            .naming_resource(|code| {
                (code == rdkafka::types::RDKafkaErrorCode::TransactionalIdAuthorizationFailed)
                    .then(|| format!("transactional.id `{}`", self.transactional_id))
            });
        match error {
            Error::Kafka { op, source } if self.fenced_fatally() => Error::Fenced {
                transactional_id: self.transactional_id.clone(),
                op,
                source,
            },
            other => other,
        }
    }

    /// Whether librdkafka recorded a fatal fencing error on this producer.
    fn fenced_fatally(&self) -> bool {
        use rdkafka::types::RDKafkaErrorCode as C;
        matches!(
            self.producer.producer().client().fatal_error(),
            Some((C::ProducerFenced | C::InvalidProducerEpoch | C::Fenced, _))
        )
    }

    fn send_failed(&self, e: rdkafka::error::KafkaError, record: OwnedRecord) -> SendError {
        self.metrics.record_send_failure();
        let error = self
            .classified(Operation::Send, e)
            .naming_resource(|_| Some(format!("topic `{}`", record.topic)));
        tracing::warn!(parent: &self.span(), topic = %record.topic, %error, kind = ?error.kind(), "send failed");
        SendError { error, record }
    }

    /// Adds the consumer's next offsets to the transaction (KIP-447: the group
    /// metadata lets the coordinator fence a zombie of an older generation).
    pub async fn send_offsets(
        &mut self,
        offsets: &TopicPartitionList,
        group: ConsumerGroupMetadata,
    ) -> Result<()> {
        if self.open.is_none() {
            return Err(Error::State {
                op: Operation::SendOffsets,
                reason: "no transaction is open",
            });
        }
        let group = Arc::new(group);
        let timeout = self.timeout;
        // TxnOffsetCommit goes to the group coordinator: the call librdkafka can get stuck in
        let result = self
            .retry
            .run(Operation::SendOffsets, &self.metrics, || {
                let offsets = offsets.clone();
                let group = Arc::clone(&group);
                self.watched(Operation::SendOffsets, move |p| {
                    p.send_offsets_to_transaction(&offsets, &group, timeout)
                })
            })
            .instrument(self.span())
            .await;
        if let Err(Error::Stalled { op, .. }) = &result {
            self.stalled = Some(*op);
        }
        result
    }

    /// Commits the open transaction. A retriable failure (e.g. the commit timed out)
    /// is retried by committing again, never by aborting.
    pub async fn commit(&mut self) -> Result<()> {
        let Some(open) = self.open.as_ref() else {
            return Err(Error::State {
                op: Operation::CommitTransaction,
                reason: "no transaction is open",
            });
        };
        let span = open.span.clone();
        let started = Instant::now();
        let timeout = self.timeout;
        let result = self
            .retry
            .run(Operation::CommitTransaction, &self.metrics, || {
                self.blocking(Operation::CommitTransaction, move |p| {
                    p.commit_transaction(timeout)
                })
            })
            .instrument(span.clone())
            .await;
        match result {
            Ok(()) => {
                let latency = started.elapsed();
                self.metrics.record_commit(latency);
                if let Some(open) = self.open.take() {
                    tracing::info!(parent: &span, ?latency, duration = ?open.started.elapsed(), "transaction committed");
                }
                Ok(())
            }
            Err(e) => {
                tracing::warn!(parent: &span, error = %e, kind = ?e.kind(), "commit failed");
                Err(e)
            }
        }
    }

    /// Aborts the open transaction (outputs are discarded; the caller rewinds the
    /// consumer to its committed offsets), counted as [`AbortCause::Other`].
    pub async fn abort(&mut self) -> Result<()> {
        self.abort_because(AbortCause::Other).await
    }

    /// [`TransactionalProducer::abort`], counted under `cause`.
    pub async fn abort_because(&mut self, cause: AbortCause) -> Result<()> {
        let span = self.span();
        let timeout = self.timeout;
        self.retry
            .run(Operation::AbortTransaction, &self.metrics, || {
                self.blocking(Operation::AbortTransaction, move |p| {
                    p.abort_transaction(timeout)
                })
            })
            .instrument(span.clone())
            .await?;
        // the purged records' reports belong to this transaction, not the next one
        if tokio::time::timeout(timeout, self.producer.settle())
            .await
            .is_err()
        {
            tracing::warn!(parent: &span, unreported = self.producer.unreported(), "delivery reports of the aborted transaction still missing");
        }
        self.metrics.record_abort(cause);
        self.open = None;
        tracing::info!(parent: &span, "transaction aborted");
        Ok(())
    }

    /// Waits until every queued record is delivered or failed.
    pub async fn flush(&self) -> Result<()> {
        let timeout = self.timeout;
        self.blocking(Operation::Flush, move |p| p.flush(timeout))
            .await
    }

    /// Replaces the librdkafka producer with a new one from the same configuration and
    /// initialises it (after a fatal error). The new producer's `init_transactions`
    /// fences the old one and aborts its open transaction.
    pub async fn rebuild(&mut self) -> Result<()> {
        if self.fenced_fatally() {
            // A newer instance owns the transactional.id: rebuilding would fence it back.
            return Err(Error::Fenced {
                transactional_id: self.transactional_id.clone(),
                op: Operation::InitTransactions,
                source: rdkafka::error::KafkaError::Global(
                    rdkafka::types::RDKafkaErrorCode::Fenced,
                ),
            });
        }
        tracing::warn!(transactional_id = %self.transactional_id, "rebuilding the transactional producer");
        self.open = None;
        self.initialized = false;
        self.stalled = None;
        let fresh = Deliveries::create(&self.config)
            .map_err(|e| Error::kafka(Operation::CreateClient, e))?;
        let old = std::mem::replace(&mut self.producer, fresh);
        // destroying a librdkafka producer blocks: never on a Tokio worker
        if let Err(source) = tokio::task::spawn_blocking(move || drop(old)).await {
            tracing::warn!(error = %source, "dropping the old producer failed");
        }
        self.metrics.record_rebuild();
        self.init_transactions().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    /// A call that outlives its timeout plus the margin is given up on, and every later
    /// call fails at once until the producer is rebuilt.
    #[test]
    fn a_call_stuck_past_its_timeout_marks_the_producer_stalled() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let profile = ProducerProfile::idempotent("127.0.0.1:1").transactional("stuck-0");
            let mut producer = TransactionalProducer::new(&profile)
                .unwrap()
                .with_operation_timeout(Duration::from_millis(10));
            let result = producer
                .watched(Operation::SendOffsets, |_| {
                    std::thread::sleep(STALL_MARGIN * 2);
                    Ok(())
                })
                .await;
            let Err(Error::Stalled { op, waited }) = result else {
                panic!("not stalled: {result:?}");
            };
            assert_eq!(op, Operation::SendOffsets);
            assert_eq!(waited, Duration::from_millis(10) + STALL_MARGIN);
            assert_eq!(Error::Stalled { op, waited }.kind(), ErrorKind::Fatal);

            // a call that returns in time is answered
            let answered = producer.watched(Operation::Flush, |_| Ok(7)).await;
            assert_eq!(answered.unwrap(), 7);

            // later calls fail without reaching librdkafka (which would refuse them as
            // conflicting with the stuck one)
            producer.stalled = Some(Operation::SendOffsets);
            let abort = producer.abort().await;
            assert!(
                matches!(
                    abort,
                    Err(Error::Stalled {
                        op: Operation::AbortTransaction,
                        ..
                    })
                ),
                "{abort:?}"
            );
        });
    }
}
