//! [`Pipeline`]: the consume -> process -> produce loop, from start-up to shutdown. One
//! batch's transaction is in `transaction.rs`, batching in `batch.rs`, scheduling by key in
//! `scheduler.rs`, recovery in `recovery.rs`, the settings in `builder.rs`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kafka_eos_config::{Mode, PipelineConfig};
use kafka_eos_core::{
    AbortCause, Deliveries, Error as CoreError, Metrics, Operation, RetryPolicy,
    TransactionalProducer,
};
use rdkafka::consumer::{Consumer, StreamConsumer};
use tokio_util::sync::CancellationToken;

use crate::attempts::Attempts;
use crate::backoff::Backoff;
use crate::batch::{self, Collected, Intake, Replays};
use crate::codec::Codec;
use crate::consumer_lag::with_statistics;
use crate::context::EosConsumerContext;
use crate::dead_letter::ErrorPolicy;
use crate::error::{Error, Result};
use crate::hot_keys::HotKeyMonitor;
use crate::metrics_endpoint::MetricsEndpoint;
use crate::parking::{Parking, Reader};
use crate::prefetch::Prefetch;
use crate::processor::Processor;
use crate::recovery::Step;
use crate::scheduler::{InFlight, Limits, RateLimiter};
use crate::signals::stopping_on_signals;
use crate::sink::Sink;
use crate::startup::await_cluster;

/// A running read-process-write pipeline; build it with
/// [`PipelineBuilder`](crate::PipelineBuilder).
///
/// Loop: poll a batch (up to `commit_max_records` records or `commit_interval`) ->
/// begin -> decode and process the records by key (records of different keys
/// concurrently, up to `max_in_flight`; records of one key in input order) -> produce each
/// record's outputs as they are made (delivery awaited) ->
/// `send_offsets_to_transaction(next offsets, group metadata)` -> commit. In
/// [`Mode::ExactlyOnce`] without a parking topic the next batch is polled on another task
/// meanwhile (until the commit interval has passed and this batch has ended); a rebalance
/// it serves aborts the batch in its transaction, which is polled again.
/// On an abortable error the transaction is aborted and the consumer rewound to the
/// committed offsets (the start of the batch) to process again; on a fatal error the
/// producer is rebuilt and the batch replayed; when fenced the pipeline stops with
/// [`kafka_eos_core::Error::Fenced`]. In [`Mode::AtLeastOnce`] the offsets are
/// committed by the consumer after the outputs are acknowledged.
pub struct Pipeline<P: Processor, C: Codec<Item = P::Input>> {
    pub(crate) config: PipelineConfig,
    pub(crate) processor: P,
    pub(crate) codec: C,
    pub(crate) policy: ErrorPolicy,
    pub(crate) max_attempts: u32,
    pub(crate) backoff: Backoff,
    pub(crate) limits: Limits,
    pub(crate) rate: Option<RateLimiter>,
    pub(crate) in_flight: InFlight,
    pub(crate) shutdown: CancellationToken,
    pub(crate) stop_on_signals: bool,
    pub(crate) retry: RetryPolicy,
    pub(crate) operation_timeout: Duration,
    pub(crate) startup_timeout: Duration,
    pub(crate) metrics: Arc<Metrics>,
    /// Where the metrics are served (`None`: the application's recorder only).
    pub(crate) metrics_addr: Option<SocketAddr>,
    /// The hottest keys of each partition polled.
    pub(crate) hot_keys: Arc<HotKeyMonitor>,
    /// How polled records are copied (into chunks reused batch after batch).
    pub(crate) intake: Intake,
    /// Whether the processor's input carries the record's headers.
    pub(crate) input_headers: bool,
    /// Failed attempts per record of the batch being replayed.
    pub(crate) attempts: Attempts,
    pub(crate) replays: Replays,
    /// Parked keys, when retries park (`PipelineBuilder::parking_topic`).
    pub(crate) parking: Option<Parking>,
}

impl<P: Processor, C: Codec<Item = P::Input>> std::fmt::Debug for Pipeline<P, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("config", &self.config)
            .field("policy", &self.policy)
            .field("max_attempts", &self.max_attempts)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Maps a librdkafka error of `op` to the pipeline's error.
pub(crate) fn core_error(op: Operation) -> impl FnOnce(rdkafka::error::KafkaError) -> Error {
    move |e| Error::Core(CoreError::kafka(op, e))
}

/// Drops a librdkafka client on a blocking thread: closing a consumer (it leaves the group)
/// or destroying a producer blocks, which a Tokio worker must not do.
pub(crate) async fn close_off_worker<T: Send + 'static>(client: T) {
    if let Err(e) = tokio::task::spawn_blocking(move || drop(client)).await {
        tracing::warn!(error = %e, "closing a Kafka client failed");
    }
}

/// How long a closing consumer serves its group's events, at most, before it is closed.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(5);

/// A closing consumer that has had no message for this long has served its events.
const QUIET: Duration = Duration::from_millis(100);

/// Closes the pipeline's consumer off the Tokio workers, once it has left its group: it
/// unsubscribes and serves the rebalance events that follow (and any still queued) before
/// the close. A close that finds a stale rebalance event queued could block for ever in
/// librdkafka, as a CI run did (see [`kafka_eos_core::rebalance`]); with nothing queued and no
/// subscription, the close has no event to serve. Only the last holder of `consumer` (the
/// pipeline or its prefetch) closes it.
pub(crate) async fn close_consumer(consumer: Arc<StreamConsumer<EosConsumerContext>>) {
    let Some(consumer) = Arc::into_inner(consumer) else {
        return; // another holder closes it
    };
    let runtime = tokio::runtime::Handle::current();
    let closed = tokio::task::spawn_blocking(move || {
        consumer.unsubscribe();
        runtime.block_on(async {
            // polling serves the events; a message (none is expected once unassigned) only
            // extends the wait
            let mut events = consumer.stream();
            let served =
                async { while tokio::time::timeout(QUIET, events.next()).await.is_ok() {} };
            let _ = tokio::time::timeout(LEAVE_TIMEOUT, served).await;
        });
        drop(consumer);
    })
    .await;
    if let Err(e) = closed {
        tracing::warn!(error = %e, "closing the consumer failed");
    }
}

impl<P: Processor, C: Codec<Item = P::Input>> Pipeline<P, C> {
    /// The validated settings.
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// The pipeline's metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// The hottest keys of each partition this pipeline polls (shared: read it while the
    /// pipeline runs).
    pub fn hot_keys(&self) -> Arc<HotKeyMonitor> {
        Arc::clone(&self.hot_keys)
    }

    /// A token that stops the pipeline gracefully when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs until the shutdown token is cancelled (then returns `Ok`) or an
    /// unrecoverable error (fenced, a record under [`ErrorPolicy::Stop`], a retry
    /// budget spent while rebuilding, no broker reachable within the start-up timeout).
    pub async fn run(mut self) -> Result<()> {
        let token = self.shutdown.clone();
        stopping_on_signals(token, self.stop_on_signals, self.run_until_stopped()).await
    }

    async fn run_until_stopped(&mut self) -> Result<()> {
        let context = EosConsumerContext::default();
        let group = self.config.group_id();
        let _endpoint =
            MetricsEndpoint::start(self.metrics_addr, &self.metrics, context.lag(), group).await?;
        _endpoint.publish_hot_keys(&self.hot_keys, group);
        let consumer: Arc<StreamConsumer<EosConsumerContext>> = Arc::new(
            with_statistics(self.config.consumer_config()?)
                .create_with_context(context.clone())
                .map_err(core_error(Operation::CreateClient))?,
        );
        let reachable = await_cluster(
            &consumer,
            &self.config,
            || context.security_failure(),
            self.startup_timeout,
            &self.shutdown,
        )
        .await;
        if !matches!(reachable, Ok(true)) {
            close_consumer(consumer).await;
            return reachable.map(drop);
        }
        let topics: Vec<&str> = self
            .config
            .input_topics()
            .iter()
            .map(String::as_str)
            .collect();
        if let Err(e) = consumer.subscribe(&topics) {
            close_consumer(consumer).await;
            return Err(core_error(Operation::Consumer)(e));
        }
        let reader = match self.parking_reader().await {
            Ok(reader) => reader,
            Err(e) => {
                close_consumer(consumer).await;
                return Err(e);
            }
        };
        let mut sink = match self.sink().await {
            Ok(sink) => sink,
            Err(e) => {
                close_off_worker(reader).await;
                close_consumer(consumer).await;
                return Err(e);
            }
        };

        let result = self
            .run_loop(&consumer, &context, reader.as_ref(), &mut sink)
            .await;
        if let Err(e) = sink.abort(AbortCause::Shutdown).await {
            tracing::warn!(error = %e, "abort on shutdown failed");
        }
        let flush = match &sink {
            Sink::Txn(p) => p.flush().await,
            Sink::Plain { .. } => Ok(()),
        };
        if let Err(e) = flush {
            tracing::warn!(error = %e, "flush on shutdown failed");
        }
        close_off_worker(sink).await;
        close_off_worker(reader).await;
        close_consumer(consumer).await;
        result
    }

    /// The parking topic's reader, once its partitions are checked against the input
    /// topics' (`None` without parking).
    async fn parking_reader(&self) -> Result<Option<Reader>> {
        let Some(parking) = &self.parking else {
            return Ok(None);
        };
        let reader = Reader::new(
            &self.config.consumer_config()?,
            &parking.topic,
            self.operation_timeout,
        )?;
        let checked = async {
            let parking_partitions = reader.partitions(&parking.topic).await?;
            for input in self.config.input_topics() {
                let input_partitions = reader.partitions(input).await?;
                if parking_partitions < input_partitions {
                    return Err(Error::Copartitioning {
                        parking_topic: parking.topic.clone(),
                        parking_partitions,
                        input_topic: input.clone(),
                        input_partitions,
                    });
                }
            }
            Ok(())
        };
        match checked.await {
            Ok(()) => Ok(Some(reader)),
            Err(e) => {
                close_off_worker(reader).await;
                Err(e)
            }
        }
    }

    /// The producer: transactional (its `init_transactions` fences older instances), or
    /// plain for at-least-once.
    async fn sink(&self) -> Result<Sink> {
        Ok(match self.config.mode() {
            Mode::ExactlyOnce => {
                let mut p = TransactionalProducer::new(&self.config.producer_profile())?
                    .with_metrics(Arc::clone(&self.metrics))
                    .with_retry_policy(self.retry)
                    .with_operation_timeout(self.operation_timeout);
                if let Err(e) = p.init_transactions().await {
                    close_off_worker(p).await;
                    return Err(e.into());
                }
                Sink::Txn(p)
            }
            Mode::AtLeastOnce => Sink::Plain {
                producer: Deliveries::create(&self.config.producer_config()?)
                    .map_err(core_error(Operation::CreateClient))?,
                metrics: Arc::clone(&self.metrics),
                timeout: self.operation_timeout,
            },
        })
    }

    /// Whether a record may be written out as it was read, headers included: a dead letter
    /// ([`ErrorPolicy::DeadLetter`]) or a park (a parking topic).
    pub(crate) fn writes_records_as_read(&self) -> bool {
        self.parking.is_some() || matches!(self.policy, ErrorPolicy::DeadLetter(_))
    }

    /// Whether the next batch is collected while this one is processed
    /// ([`Prefetch`]): exactly once without parking (parked keys are loaded per
    /// assignment between batches, and the at-least-once commit has no KIP-447 fencing).
    fn prefetches(&self) -> bool {
        self.config.mode() == Mode::ExactlyOnce && self.parking.is_none()
    }

    async fn run_loop(
        &mut self,
        consumer: &Arc<StreamConsumer<EosConsumerContext>>,
        context: &EosConsumerContext,
        reader: Option<&Reader>,
        sink: &mut Sink,
    ) -> Result<()> {
        let mut prefetch = None;
        let result = self
            .run_batches(consumer, context, reader, sink, &mut prefetch)
            .await;
        // the collecting task holds the consumer: it ends before the consumer is closed
        if let Some(p) = prefetch.take() {
            if let Err(e) = p.cancel().await {
                tracing::debug!(error = %e, "the batch collected last is dropped");
            }
        }
        result
    }

    async fn run_batches(
        &mut self,
        consumer: &Arc<StreamConsumer<EosConsumerContext>>,
        context: &EosConsumerContext,
        reader: Option<&Reader>,
        sink: &mut Sink,
        prefetch: &mut Option<Prefetch>,
    ) -> Result<()> {
        let (max, interval) = (
            self.config.commit_max_records(),
            self.config.commit_interval(),
        );
        // the buffer of the batch before last, reused (no growing a fresh one per batch)
        let mut spare = Vec::new();
        loop {
            let collected = match prefetch.take() {
                // a batch polled already is processed even after a shutdown request
                Some(p) => p.finish().await?,
                None if self.shutdown.is_cancelled() => return Ok(()),
                None => {
                    let buffer = std::mem::take(&mut spare);
                    batch::collect(
                        consumer,
                        context,
                        max,
                        interval,
                        None,
                        &self.shutdown,
                        buffer,
                        &self.intake,
                    )
                    .await?
                }
            };
            let Collected {
                records: mut batch,
                membership,
            } = collected;
            context.lag().set_idle(batch.is_empty());
            // without input, a batch still runs for a new assignment's parked keys and for
            // keys that are due
            let parking_waits = self
                .parking
                .as_ref()
                .is_some_and(|p| p.wants_batch(context.generation(), crate::attempts::now_ms()));
            if batch.is_empty() && !parking_waits {
                spare = batch;
                continue;
            }
            if self.prefetches() && !self.shutdown.is_cancelled() {
                *prefetch = Some(Prefetch::start(
                    consumer,
                    context,
                    max,
                    interval,
                    &self.shutdown,
                    std::mem::take(&mut spare),
                    &self.intake,
                ));
            }
            self.hot_keys.observe(&batch);
            let replayed = self.replays.count(&batch);
            self.metrics
                .record_polled(batch.len() as u64, replayed as u64);
            self.metrics.set_in_flight(batch.len() as u64);
            let outcome = self
                .process_batch(&mut batch, membership, consumer, context, reader, sink)
                .await;
            self.metrics.set_in_flight(0);
            match outcome {
                Ok(()) => {
                    self.attempts.clear();
                    context.lag().committed(&batch);
                }
                Err(Step::Rewind) => {
                    // what was polled behind the batch is polled again too
                    if let Some(p) = prefetch.take() {
                        let behind = p.cancel().await?.records;
                        // taken from the consumer (counted so), though never processed
                        let replayed = self.replays.count(&behind);
                        self.metrics
                            .record_polled(behind.len() as u64, replayed as u64);
                        batch.extend(behind);
                    }
                    // the batch may have committed after all (a commit whose outcome was
                    // unknown): the parked keys are read again from the parking topic
                    if let Some(p) = self.parking.as_mut() {
                        p.reload();
                    }
                    self.replays.rewound(&batch);
                    batch::rewind(consumer, &batch).await;
                }
                Err(Step::Fail(e)) => {
                    if e.is_fenced() {
                        self.metrics.record_fenced();
                    }
                    return Err(e);
                }
            }
            spare = batch;
        }
    }
}
