//! The consume -> process -> produce runtime.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kafka_eos_config::{Mode, PipelineConfig, PipelineConfigBuilder};
use kafka_eos_core::{
    Error as CoreError, ErrorKind, Metrics, Operation, OwnedRecord, PendingDelivery, RetryPolicy,
    SendError, TransactionalId, TransactionalProducer,
};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::producer::FutureProducer;
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use crate::codec::Codec;
use crate::context::EosConsumerContext;
use crate::error::{BoxError, Error, Result};
use crate::processor::{Input, Processor};
use crate::startup::{await_cluster, DEFAULT_STARTUP_TIMEOUT};

/// Header names written on dead-lettered records.
pub mod dlq_headers {
    /// The error message.
    pub const ERROR: &str = "kafka-eos.error";
    /// `decode` or `process`.
    pub const STAGE: &str = "kafka-eos.error.stage";
    /// Source topic.
    pub const TOPIC: &str = "kafka-eos.source.topic";
    /// Source partition (decimal).
    pub const PARTITION: &str = "kafka-eos.source.partition";
    /// Source offset (decimal).
    pub const OFFSET: &str = "kafka-eos.source.offset";
}

/// What happens to a record that cannot be decoded, or that the processor still fails
/// on after `max_attempts`. A record is never silently dropped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ErrorPolicy {
    /// Abort the open transaction and stop the pipeline with an error naming the record
    /// (topic, partition, offset).
    #[default]
    Stop,
    /// Write the raw record (key, value, original headers) to this topic inside the same
    /// transaction, with the error in [`dlq_headers`], and go on.
    DeadLetter(String),
}

enum Step {
    Rewind,
    Fail(Error),
}

impl From<CoreError> for Step {
    fn from(e: CoreError) -> Self {
        Step::Fail(Error::from(e))
    }
}

enum Sink {
    Txn(TransactionalProducer),
    Plain {
        producer: FutureProducer,
        metrics: Arc<Metrics>,
        timeout: Duration,
    },
}

impl Sink {
    async fn begin(&mut self) -> Result<(), CoreError> {
        match self {
            Sink::Txn(p) => p.begin().await,
            Sink::Plain { .. } => Ok(()),
        }
    }

    /// Hands a record to the producer now; its delivery is awaited by [`Sink::await_all`].
    async fn enqueue(&self, record: OwnedRecord) -> Result<PendingDelivery, SendError> {
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
    async fn await_all(&self, pending: Vec<PendingDelivery>) -> Result<(), SendError> {
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

    async fn abort(&mut self) -> Result<(), CoreError> {
        match self {
            Sink::Txn(p) if p.in_transaction() => p.abort().await,
            _ => Ok(()),
        }
    }
}

/// A running read-process-write pipeline; build it with [`PipelineBuilder`].
///
/// Loop: poll a batch (up to `commit_max_records` records or `commit_interval`) ->
/// begin -> decode and process each record -> produce the outputs (delivery awaited)
/// -> `send_offsets_to_transaction(next offsets, group metadata)` -> commit.
/// On an abortable error the transaction is aborted and the consumer rewound to the
/// committed offsets (the start of the batch) to process again; on a fatal error the
/// producer is rebuilt and the batch replayed; when fenced the pipeline stops with
/// [`kafka_eos_core::Error::Fenced`]. In [`Mode::AtLeastOnce`] the offsets are
/// committed by the consumer after the outputs are acknowledged.
pub struct Pipeline<P: Processor, C: Codec<Item = P::Input>> {
    config: PipelineConfig,
    processor: P,
    codec: C,
    policy: ErrorPolicy,
    max_attempts: u32,
    shutdown: CancellationToken,
    stop_on_signals: bool,
    retry: RetryPolicy,
    operation_timeout: Duration,
    startup_timeout: Duration,
    metrics: Arc<Metrics>,
    attempts: HashMap<(String, i32, i64), u32>,
    /// Per partition, the offset below which polled records are replays (set on rewind).
    replay_until: HashMap<(String, i32), i64>,
}

impl<P: Processor, C: Codec<Item = P::Input>> std::fmt::Debug for Pipeline<P, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("config", &self.config)
            .field("policy", &self.policy)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// By-value builder of a [`Pipeline`].
///
/// ```no_run
/// use kafka_eos_processor::{BoxError, ErrorPolicy, Input, JsonCodec, Output, PipelineBuilder, Processor};
/// use std::time::Duration;
///
/// struct Upper;
/// impl Processor for Upper {
///     type Input = String;
///     async fn process(&mut self, i: Input<String>) -> Result<Vec<Output>, BoxError> {
///         Ok(vec![Output::new("upper", i.key.unwrap_or_default(), i.value.to_uppercase())])
///     }
/// }
///
/// # async fn run() -> Result<(), kafka_eos_processor::Error> {
/// let shutdown = tokio_util::sync::CancellationToken::new();
/// let pipeline = PipelineBuilder::new()
///     .bootstrap_servers(std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_default())
///     .group_id("upper")
///     .input_topic("words")
///     .app_name("upper-svc")
///     .instance_index(0)
///     .commit_every_records(500)
///     .commit_every(Duration::from_millis(100))
///     .on_error(ErrorPolicy::DeadLetter("words-dlq".into()))
///     .shutdown(shutdown.clone())
///     .build(Upper, JsonCodec::<String>::new())?;
/// pipeline.run().await
/// # }
/// ```
#[derive(Debug)]
#[must_use = "call .build(processor, codec)"]
pub struct PipelineBuilder {
    inner: PipelineConfigBuilder,
    group: String,
    mode: Mode,
    has_transactional_id: bool,
    app: String,
    instance: u32,
    policy: ErrorPolicy,
    max_attempts: u32,
    shutdown: CancellationToken,
    stop_on_signals: bool,
    retry: RetryPolicy,
    operation_timeout: Duration,
    startup_timeout: Duration,
    metrics: Arc<Metrics>,
}

impl Default for PipelineBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl PipelineBuilder {
    /// A builder with the defaults: exactly-once, commit every 1000 records or 100 ms,
    /// [`ErrorPolicy::Stop`], 3 attempts.
    pub fn new() -> Self {
        PipelineBuilder {
            inner: PipelineConfig::builder(),
            group: String::new(),
            mode: Mode::ExactlyOnce,
            has_transactional_id: false,
            app: "kafka-eos".into(),
            instance: 0,
            policy: ErrorPolicy::Stop,
            max_attempts: 3,
            shutdown: CancellationToken::new(),
            stop_on_signals: false,
            retry: RetryPolicy::default(),
            operation_timeout: kafka_eos_core::DEFAULT_OPERATION_TIMEOUT,
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            metrics: Arc::new(Metrics::new()),
        }
    }

    /// Bootstrap servers (required; never defaulted).
    pub fn bootstrap_servers(mut self, servers: impl Into<String>) -> Self {
        self.inner = self.inner.bootstrap_servers(servers);
        self
    }

    /// Consumer group (required).
    pub fn group_id(mut self, group: impl Into<String>) -> Self {
        let group = group.into();
        self.group.clone_from(&group);
        self.inner = self.inner.group_id(group);
        self
    }

    /// Adds an input topic.
    pub fn input_topic(mut self, topic: impl Into<String>) -> Self {
        self.inner = self.inner.input_topic(topic);
        self
    }

    /// Replaces the input topics.
    pub fn input_topics<T: Into<String>>(mut self, topics: impl IntoIterator<Item = T>) -> Self {
        self.inner = self.inner.input_topics(topics);
        self
    }

    /// Explicit `transactional.id`; by default `<app>-<group>-<instance>` (see
    /// [`TransactionalId`]).
    pub fn transactional_id(mut self, id: impl Into<String>) -> Self {
        self.inner = self.inner.transactional_id(id);
        self.has_transactional_id = true;
        self
    }

    /// Application name used in the derived transactional id (default `kafka-eos`).
    pub fn app_name(mut self, app: impl Into<String>) -> Self {
        self.app = app.into();
        self
    }

    /// Index of this instance among the pipeline's instances (stable across restarts).
    pub fn instance_index(mut self, index: u32) -> Self {
        self.instance = index;
        self
    }

    /// Commit after at most this many records.
    pub fn commit_every_records(mut self, n: usize) -> Self {
        self.inner = self.inner.commit_max_records(n);
        self
    }

    /// Commit at least this often.
    pub fn commit_every(mut self, interval: Duration) -> Self {
        self.inner = self.inner.commit_interval(interval);
        self
    }

    /// Exactly-once (default) or at-least-once.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self.inner = self.inner.mode(mode);
        self
    }

    /// Free-form producer property (checked against the guarantees).
    pub fn producer_override(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.inner = self.inner.producer_override(key, value);
        self
    }

    /// Free-form consumer property (checked against the guarantees).
    pub fn consumer_override(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.inner = self.inner.consumer_override(key, value);
        self
    }

    /// Starts from a loaded [`PipelineConfig`] (file or environment).
    pub fn config(mut self, config: PipelineConfig) -> Self {
        self.group = config.group_id().to_owned();
        self.mode = config.mode();
        self.has_transactional_id = config.transactional_id().is_some();
        self.inner = config.into_builder();
        self
    }

    /// Policy for undecodable records and records that keep failing (default Stop).
    pub fn on_error(mut self, policy: ErrorPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How many times a failing record is processed before the policy applies
    /// (default 3; 0 is rejected by [`PipelineBuilder::build`]).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// How long [`Pipeline::run`] waits for a broker of `bootstrap.servers` to answer
    /// before it fails with [`Error::Unreachable`] (default 30 s). While none answers it
    /// logs a warning naming the servers and librdkafka's error.
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Graceful shutdown: when cancelled the pipeline finishes the current batch
    /// (commits it), closes the consumer and flushes the producer.
    pub fn shutdown(mut self, token: CancellationToken) -> Self {
        self.shutdown = token;
        self
    }

    /// Also shut down gracefully on SIGINT (Ctrl-C) and, on Unix, SIGTERM (as sent by
    /// `kill`, systemd or Kubernetes): the signal cancels the shutdown token.
    pub fn stop_on_signals(mut self, enabled: bool) -> Self {
        self.stop_on_signals = enabled;
        self
    }

    /// Backoff for retriable Kafka errors.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Timeout of one blocking Kafka call (default 30 s).
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// Share these metrics.
    pub fn metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Validates the settings (ours, and every librdkafka property by librdkafka's own
    /// parser) and returns the pipeline. Nothing connects yet: a bad setting fails here
    /// with [`Error::Config`], naming it.
    pub fn build<P, C>(self, processor: P, codec: C) -> Result<Pipeline<P, C>>
    where
        P: Processor,
        C: Codec<Item = P::Input>,
    {
        if self.max_attempts == 0 {
            return Err(Error::Config(kafka_eos_config::ConfigError::Invalid {
                field: "max_attempts".into(),
                value: "0".into(),
                reason: "must be at least 1: every record is processed at least once".into(),
            }));
        }
        let mut inner = self.inner;
        if self.mode.is_exactly_once() && !self.has_transactional_id {
            let id = TransactionalId::new(&self.app, &self.group, self.instance)?;
            inner = inner.transactional_id(id.into_string());
        }
        let config = inner.build()?;
        Ok(Pipeline {
            config,
            processor,
            codec,
            policy: self.policy,
            max_attempts: self.max_attempts,
            shutdown: self.shutdown,
            stop_on_signals: self.stop_on_signals,
            retry: self.retry,
            operation_timeout: self.operation_timeout,
            startup_timeout: self.startup_timeout,
            metrics: self.metrics,
            attempts: HashMap::new(),
            replay_until: HashMap::new(),
        })
    }
}

/// Cancels `token` on SIGINT or (Unix) SIGTERM.
async fn cancel_on_signal(token: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("signal received: finishing the current batch and stopping");
    token.cancel();
}

/// Drops the last handle of the consumer on a blocking thread: closing a librdkafka
/// consumer blocks (it leaves the group), which a Tokio worker must not do.
async fn close_off_worker<T: Send + Sync + 'static>(consumer: Arc<T>) {
    if let Err(e) = tokio::task::spawn_blocking(move || drop(consumer)).await {
        tracing::warn!(error = %e, "closing the consumer failed");
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

fn core(op: Operation) -> impl FnOnce(rdkafka::error::KafkaError) -> Error {
    move |e| Error::Core(CoreError::kafka(op, e))
}

fn headers_of(msg: &OwnedMessage) -> Vec<(String, Vec<u8>)> {
    msg.headers()
        .map(|h| {
            h.iter()
                .map(|h| {
                    (
                        h.key.to_owned(),
                        h.value.map(<[u8]>::to_vec).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn dead_letter(msg: &OwnedMessage, topic: &str, stage: &str, error: &BoxError) -> OwnedRecord {
    let mut r = OwnedRecord::new(topic);
    r.key = msg.key().map(<[u8]>::to_vec);
    r.value = msg.payload().map(<[u8]>::to_vec);
    r.headers = headers_of(msg);
    r.headers
        .push((dlq_headers::ERROR.into(), error.to_string().into_bytes()));
    r.headers
        .push((dlq_headers::STAGE.into(), stage.as_bytes().to_vec()));
    r.headers
        .push((dlq_headers::TOPIC.into(), msg.topic().as_bytes().to_vec()));
    r.headers.push((
        dlq_headers::PARTITION.into(),
        msg.partition().to_string().into_bytes(),
    ));
    r.headers.push((
        dlq_headers::OFFSET.into(),
        msg.offset().to_string().into_bytes(),
    ));
    r
}

/// First and next offsets of each partition in a batch.
fn batch_offsets(batch: &[OwnedMessage]) -> BTreeMap<(String, i32), (i64, i64)> {
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

impl<P: Processor, C: Codec<Item = P::Input>> Pipeline<P, C> {
    /// The validated settings.
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// The pipeline's metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// A token that stops the pipeline gracefully when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs until the shutdown token is cancelled (then returns `Ok`) or an
    /// unrecoverable error (fenced, a record under [`ErrorPolicy::Stop`], a retry
    /// budget spent while rebuilding).
    pub async fn run(mut self) -> Result<()> {
        let signals = self
            .stop_on_signals
            .then(|| tokio::spawn(cancel_on_signal(self.shutdown.clone())));
        let result = self.run_until_stopped().await;
        if let Some(task) = signals {
            task.abort();
        }
        result
    }

    async fn run_until_stopped(&mut self) -> Result<()> {
        let context = EosConsumerContext::default();
        let consumer: Arc<StreamConsumer<EosConsumerContext>> = Arc::new(
            self.config
                .consumer_config()?
                .create_with_context(context.clone())
                .map_err(core(Operation::CreateClient))?,
        );
        let topics: Vec<&str> = self
            .config
            .input_topics()
            .iter()
            .map(String::as_str)
            .collect();
        let reachable = await_cluster(
            &consumer,
            self.config.bootstrap_servers(),
            self.startup_timeout,
            &self.shutdown,
        )
        .await;
        if !matches!(reachable, Ok(true)) {
            close_off_worker(consumer).await;
            return reachable.map(drop);
        }
        consumer
            .subscribe(&topics)
            .map_err(core(Operation::Consumer))?;

        let mut sink = match self.config.mode() {
            Mode::ExactlyOnce => {
                let mut p = TransactionalProducer::new(&self.config.producer_profile())?
                    .with_metrics(Arc::clone(&self.metrics))
                    .with_retry_policy(self.retry)
                    .with_operation_timeout(self.operation_timeout);
                p.init_transactions().await?;
                Sink::Txn(p)
            }
            Mode::AtLeastOnce => Sink::Plain {
                producer: self
                    .config
                    .producer_config()?
                    .create()
                    .map_err(core(Operation::CreateClient))?,
                metrics: Arc::clone(&self.metrics),
                timeout: self.operation_timeout,
            },
        };

        let result = self.run_loop(&consumer, &context, &mut sink).await;
        if let Err(e) = sink.abort().await {
            tracing::warn!(error = %e, "abort on shutdown failed");
        }
        let flush = match &sink {
            Sink::Txn(p) => p.flush().await,
            Sink::Plain { .. } => Ok(()),
        };
        if let Err(e) = flush {
            tracing::warn!(error = %e, "flush on shutdown failed");
        }
        consumer.unsubscribe();
        close_off_worker(consumer).await;
        result
    }

    async fn run_loop(
        &mut self,
        consumer: &Arc<StreamConsumer<EosConsumerContext>>,
        context: &EosConsumerContext,
        sink: &mut Sink,
    ) -> Result<()> {
        loop {
            if self.shutdown.is_cancelled() {
                return Ok(());
            }
            let batch = self.collect_batch(consumer, context).await?;
            if batch.is_empty() {
                continue;
            }
            let replayed = if self.replay_until.is_empty() {
                0
            } else {
                batch
                    .iter()
                    .filter(|m| {
                        self.replay_until
                            .get(&(m.topic().to_owned(), m.partition()))
                            .is_some_and(|until| m.offset() < *until)
                    })
                    .count()
            };
            self.metrics
                .record_polled(batch.len() as u64, replayed as u64);
            match self.process_batch(&batch, consumer, sink).await {
                Ok(()) => self.attempts.clear(),
                Err(Step::Rewind) => {
                    for (tp, (_, next)) in batch_offsets(&batch) {
                        let until = self.replay_until.entry(tp).or_insert(next);
                        *until = (*until).max(next);
                    }
                    Self::rewind(consumer, &batch).await;
                }
                Err(Step::Fail(e)) => return Err(e),
            }
        }
    }

    async fn collect_batch(
        &self,
        consumer: &StreamConsumer<EosConsumerContext>,
        context: &EosConsumerContext,
    ) -> Result<Vec<OwnedMessage>> {
        let max = self.config.commit_max_records();
        // One timer for the whole batch (a timer per record costs more than the record),
        // checked before the consumer so a full local queue cannot stretch the batch.
        let deadline = tokio::time::sleep(self.config.commit_interval());
        tokio::pin!(deadline);
        let mut batch = Vec::new();
        while batch.len() < max {
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => break,
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
                            return Err(core(Operation::Consumer)(e));
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

    /// Seeks every partition of the batch back to the batch start (= the committed
    /// offset, since each batch commits atomically).
    async fn rewind(consumer: &Arc<StreamConsumer<EosConsumerContext>>, batch: &[OwnedMessage]) {
        for ((topic, partition), (first, _)) in batch_offsets(batch) {
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

    /// Reacts to a Kafka error inside a batch.
    async fn recover(&self, sink: &mut Sink, error: CoreError) -> Step {
        tracing::warn!(error = %error, kind = ?error.kind(), "batch failed");
        match error.kind() {
            ErrorKind::Fenced => Step::Fail(Error::from(error)),
            // Abort first: if the fatal error was a fencing, the abort says so, and a
            // rebuilt producer would fence the newer instance that owns the id now.
            ErrorKind::Fatal => match sink.abort().await {
                Err(e) if e.is_fenced() => Step::Fail(Error::from(e)),
                _ => self.rebuild(sink, error).await,
            },
            _ => match sink.abort().await {
                Ok(()) => Step::Rewind,
                Err(e) if e.is_fenced() => Step::Fail(Error::from(e)),
                Err(e) => self.rebuild(sink, e).await,
            },
        }
    }

    async fn rebuild(&self, sink: &mut Sink, cause: CoreError) -> Step {
        match sink {
            Sink::Txn(p) => match p.rebuild().await {
                Ok(()) => Step::Rewind,
                Err(e) => {
                    tracing::error!(cause = %cause, error = %e, "producer rebuild failed");
                    Step::Fail(Error::from(e))
                }
            },
            Sink::Plain { .. } => Step::Fail(Error::from(cause)),
        }
    }

    async fn process_batch(
        &mut self,
        batch: &[OwnedMessage],
        consumer: &Arc<StreamConsumer<EosConsumerContext>>,
        sink: &mut Sink,
    ) -> Result<(), Step> {
        if let Err(e) = sink.begin().await {
            return Err(self.recover(sink, e).await);
        }
        // Outputs are handed to the producer as they are made (so they travel while the
        // rest of the batch is processed, in the order they were made); every delivery is
        // awaited before the commit.
        let mut pending: Vec<PendingDelivery> = Vec::new();
        let mut first_failure: Option<SendError> = None;
        let mut dead_letters = 0u64;
        let started = std::time::Instant::now();
        for msg in batch {
            let (topic, partition, offset) = (msg.topic(), msg.partition(), msg.offset());
            let value = match self.codec.decode(msg.payload().unwrap_or(&[])) {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(topic, partition, offset, error = %e, "undecodable record");
                    match &self.policy {
                        ErrorPolicy::DeadLetter(dlq) => {
                            let record = dead_letter(msg, dlq, "decode", &e);
                            match sink.enqueue(record).await {
                                Ok(p) => pending.push(p),
                                Err(e) => {
                                    first_failure = Some(e);
                                    break;
                                }
                            }
                            dead_letters += 1;
                            continue;
                        }
                        ErrorPolicy::Stop => {
                            drop(pending); // the abort purges what is still in flight
                            let _ = sink.abort().await;
                            return Err(Step::Fail(Error::Decode {
                                topic: topic.to_owned(),
                                partition,
                                offset,
                                source: e,
                            }));
                        }
                    }
                }
            };
            let input = Input {
                topic: topic.to_owned(),
                partition,
                offset,
                key: msg.key().map(<[u8]>::to_vec),
                headers: headers_of(msg),
                timestamp: msg.timestamp().to_millis(),
                value,
            };
            self.metrics.record_process_call();
            match self.processor.process(input).await {
                Ok(outs) => {
                    for out in outs {
                        match sink.enqueue(OwnedRecord::from(out)).await {
                            Ok(p) => pending.push(p),
                            Err(e) => {
                                first_failure.get_or_insert(e);
                                break;
                            }
                        }
                    }
                    if first_failure.is_some() {
                        break;
                    }
                }
                Err(e) => {
                    let n = self
                        .attempts
                        .entry((topic.to_owned(), partition, offset))
                        .or_insert(0);
                    *n += 1;
                    let attempts = *n;
                    tracing::warn!(topic, partition, offset, attempts, error = %e, "processor failed");
                    if attempts < self.max_attempts {
                        drop(pending); // the abort purges what is still in flight
                        if let Err(ae) = sink.abort().await {
                            return Err(self.recover(sink, ae).await);
                        }
                        return Err(Step::Rewind);
                    }
                    match &self.policy {
                        ErrorPolicy::DeadLetter(dlq) => {
                            let record = dead_letter(msg, dlq, "process", &e);
                            match sink.enqueue(record).await {
                                Ok(p) => pending.push(p),
                                Err(e) => {
                                    first_failure = Some(e);
                                    break;
                                }
                            }
                            dead_letters += 1;
                        }
                        ErrorPolicy::Stop => {
                            drop(pending); // the abort purges what is still in flight
                            let _ = sink.abort().await;
                            return Err(Step::Fail(Error::Process {
                                topic: topic.to_owned(),
                                partition,
                                offset,
                                attempts,
                                source: e,
                            }));
                        }
                    }
                }
            }
        }
        // every delivery awaited inside the transaction
        let processed = started.elapsed();
        let outputs = pending.len();
        let delivered = sink.await_all(pending).await;
        tracing::debug!(
            records = batch.len(),
            outputs,
            process_ms = processed.as_secs_f64() * 1e3,
            deliveries_ms = (started.elapsed() - processed).as_secs_f64() * 1e3,
            "batch processed"
        );
        if let Some(SendError { error, .. }) = first_failure.or(delivered.err()) {
            return Err(self.recover(sink, error).await);
        }

        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), (_, next)) in batch_offsets(batch) {
            if let Err(e) = tpl.add_partition_offset(&topic, partition, Offset::Offset(next)) {
                return Err(Step::Fail(core(Operation::SendOffsets)(e)));
            }
        }
        let outcome = match sink {
            Sink::Txn(p) => {
                let Some(group) = consumer.group_metadata() else {
                    return Err(Step::Fail(Error::from(CoreError::State {
                        op: Operation::SendOffsets,
                        reason: "the consumer has no group metadata",
                    })));
                };
                match p.send_offsets(&tpl, group).await {
                    Ok(()) => p.commit().await,
                    Err(e) => Err(e),
                }
            }
            Sink::Plain { metrics, .. } => {
                let c = Arc::clone(consumer);
                let metrics = Arc::clone(metrics);
                match tokio::task::spawn_blocking(move || c.commit(&tpl, CommitMode::Sync)).await {
                    Ok(Ok(())) => {
                        metrics.record_commit(Duration::ZERO);
                        Ok(())
                    }
                    Ok(Err(e)) => Err(CoreError::kafka(Operation::Consumer, e)),
                    Err(source) => Err(CoreError::Blocking {
                        op: Operation::Consumer,
                        source,
                    }),
                }
            }
        };
        match outcome {
            Ok(()) => {
                self.metrics.record_in(batch.len() as u64, dead_letters);
                Ok(())
            }
            Err(e) => Err(self.recover(sink, e).await),
        }
    }
}
