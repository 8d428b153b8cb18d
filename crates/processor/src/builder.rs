//! [`PipelineBuilder`]: settings in, a validated [`Pipeline`] out (nothing connects yet).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kafka_eos_config::{Mode, PipelineConfig, PipelineConfigBuilder};
use kafka_eos_core::{Metrics, RetryPolicy, TransactionalId};
use tokio_util::sync::CancellationToken;

use crate::attempts::Attempts;
use crate::backoff::Backoff;
use crate::batch::Replays;
use crate::codec::Codec;
use crate::dead_letter::ErrorPolicy;
use crate::error::{Error, Result};
use crate::parking::{KeyPolicy, Parking};
use crate::pipeline::Pipeline;
use crate::processor::Processor;
use crate::scheduler::{InFlight, Limits, RateLimiter};
use crate::startup::DEFAULT_STARTUP_TIMEOUT;

/// Parked records of one key read back and tried in one batch, at most.
const PARKED_PER_KEY_AND_BATCH: usize = 1000;

/// By-value builder of a [`Pipeline`].
///
/// ```no_run
/// use kafka_eos_processor::{BoxError, ErrorPolicy, Input, JsonCodec, Output, PipelineBuilder, Processor};
/// use std::time::Duration;
///
/// struct Upper;
/// impl Processor for Upper {
///     type Input = String;
///     async fn process(&self, i: Input<String>) -> Result<Vec<Output>, BoxError> {
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
    backoff: Backoff,
    limits: Limits,
    shutdown: CancellationToken,
    stop_on_signals: bool,
    retry: RetryPolicy,
    operation_timeout: Duration,
    startup_timeout: Duration,
    metrics: Arc<Metrics>,
    parking: Option<(String, KeyPolicy)>,
    metrics_addr: Option<SocketAddr>,
    hot_key_alert: f64,
    input_headers: bool,
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
            limits: Limits::default(),
            backoff: Backoff::default(),
            metrics: Arc::new(Metrics::new()),
            parking: None,
            metrics_addr: None,
            hot_key_alert: crate::hot_keys::DEFAULT_HOT_KEY_ALERT,
            input_headers: true,
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
    ///
    /// The interval bounds how long a batch is collected, not how long its transaction
    /// takes. With a backlog (a catch-up, a replay), a batch is whatever can be polled
    /// within the interval, up to [`commit_every_records`](Self::commit_every_records),
    /// and polling runs far faster than processing: with a large record cap, a 100 ms
    /// interval can collect a million records and their transaction then takes seconds.
    /// The record cap is what bounds a transaction during a catch-up.
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

    /// How connections are secured: TLS, SASL ([`kafka_eos_config::Security`]; default
    /// plaintext). A refused password or an untrusted certificate stops
    /// [`crate::Pipeline::run`] at start-up with [`crate::Error::Authentication`] or
    /// [`crate::Error::Tls`].
    pub fn security(mut self, security: kafka_eos_config::Security) -> Self {
        self.inner = self.inner.security(security);
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

    /// At most `n` records processed at once (default 1: one record at a time). Records
    /// of different keys run concurrently up to this bound; records of one key (or,
    /// without a key, of one partition) always run one after the other, in input order,
    /// and their outputs reach each output partition in that order. All run on the
    /// pipeline's task: concurrency helps a processor that waits (a call to another
    /// service), not a CPU-bound one. 0 is rejected by [`PipelineBuilder::build`].
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.limits.max_in_flight = n;
        self
    }

    /// At most `n` records of one partition processed at once (default: only the global
    /// [`PipelineBuilder::max_in_flight`] bound; 0 is rejected).
    pub fn max_in_flight_per_partition(mut self, n: usize) -> Self {
        self.limits.per_partition = Some(n);
        self
    }

    /// Start at most `records_per_sec` records per second, to protect the service the
    /// processor calls (default: unlimited; must be positive).
    pub fn rate_limit(mut self, records_per_sec: f64) -> Self {
        self.limits.rate = Some(records_per_sec);
        self
    }

    /// How many times a failing record is processed before the policy applies
    /// (default 3; 0 is rejected by [`PipelineBuilder::build`]).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// The wait before a failed record's next attempt: `initial`, doubled after each failed
    /// attempt, at most `max`, without jitter (default: 100 ms to 10 s, ± 20 %); for a
    /// multiplier or jitter of your own, see [`retry_schedule`](Self::retry_schedule). A
    /// processor's [`Failure::retry_after`](crate::Failure::retry_after) hint takes its
    /// place. With a [`parking_topic`](Self::parking_topic) the failing record's key waits,
    /// parked; without one, the whole batch waits and is replayed.
    pub fn retry_backoff(self, initial: Duration, max: Duration) -> Self {
        self.retry_schedule(Backoff::new(initial, max))
    }

    /// The full retry schedule: initial wait, multiplier, maximum and jitter (see
    /// [`Backoff`]; an invalid one is rejected by [`PipelineBuilder::build`]).
    pub fn retry_schedule(mut self, schedule: Backoff) -> Self {
        self.backoff = schedule;
        self
    }

    /// Park retries in `topic` instead of replaying the batch: a record the processor fails
    /// on (below [`max_attempts`](Self::max_attempts)) is written to `topic` inside the
    /// transaction, and so is every later record of its key, while the other keys flow and
    /// commit; once its backoff has passed, the key's parked records are read back and
    /// processed in order, ahead of new input. Nothing parked is lost or processed twice
    /// across crashes, rebalances and fencing (the design is `docs/parking.md`).
    ///
    /// `topic` must exist with at least as many partitions as each input topic (checked at
    /// start: [`Error::Copartitioning`]); exactly-once mode only. After a record is
    /// dead-lettered, its key follows `policy`: [`KeyPolicy::Release`] lets its later
    /// records proceed, [`KeyPolicy::Hold`] parks them until an operator releases the key
    /// (`kafka-eos parked release`).
    pub fn parking_topic(mut self, topic: impl Into<String>, policy: KeyPolicy) -> Self {
        self.parking = Some((topic.into(), policy));
        self
    }

    /// Whether the processor's [`Input::headers`](crate::Input::headers) carry the record's
    /// headers (default true). With `false` they are always empty, and the pipeline does not
    /// ask librdkafka for them unless a dead letter or a park may write the record (those
    /// keep the headers as read): librdkafka parses a record's headers when first asked,
    /// allocating even for a record that has none, which costs a pipeline that copies small
    /// records about 5% of its CPU. For a processor that never looks at headers (as
    /// Confluent's .NET client's `ConsumeResultFields` lets a consumer skip them).
    pub fn input_headers(mut self, enabled: bool) -> Self {
        self.input_headers = enabled;
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

    /// Serves the pipeline's metrics for Prometheus at `http://<addr>/metrics` while it
    /// runs (the names: README, "Metrics"). [`Pipeline::run`] binds the address before it
    /// connects to Kafka and fails with [`Error::MetricsEndpoint`] if it cannot; port 0 is
    /// refused here (nobody could find the port to scrape). Without it the metrics still go
    /// to the [`metrics`](https://docs.rs/metrics) recorder your application installed.
    pub fn metrics_addr(mut self, addr: SocketAddr) -> Self {
        self.metrics_addr = Some(addr);
        self
    }

    /// Logs a warning naming a key when it holds at least this share (0 to 1; default 0.5)
    /// of a partition's recent records: its records run one at a time, so the partition
    /// goes no faster than that key ([`Pipeline::hot_keys`](crate::Pipeline::hot_keys) and
    /// the gauge `kafka_eos_hot_key_share` show the shares at any time). `1.0` logs only a
    /// partition with a single key.
    pub fn hot_key_alert(mut self, share: f64) -> Self {
        self.hot_key_alert = share;
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
        let invalid = |field: &str, value: String, reason: &str| {
            Err(Error::Config(kafka_eos_config::ConfigError::Invalid {
                field: field.into(),
                value,
                reason: reason.into(),
            }))
        };
        if self.limits.max_in_flight == 0 {
            return invalid("max_in_flight", "0".into(), "must be at least 1");
        }
        if self.limits.per_partition == Some(0) {
            return invalid(
                "max_in_flight_per_partition",
                "0".into(),
                "must be at least 1",
            );
        }
        if let Some(rate) = self.limits.rate.filter(|r| !r.is_finite() || *r <= 0.0) {
            return invalid(
                "rate_limit",
                rate.to_string(),
                "must be a positive number of records per second",
            );
        }
        if let Some((field, value, reason)) = self.backoff.invalid() {
            return invalid(field, value, reason);
        }
        if let Some(addr) = self.metrics_addr.filter(|a| a.port() == 0) {
            return invalid(
                "metrics_addr",
                addr.to_string(),
                "needs a port: port 0 would pick one nobody can find to scrape",
            );
        }
        if !(self.hot_key_alert > 0.0 && self.hot_key_alert <= 1.0) {
            return invalid(
                "hot_key_alert",
                self.hot_key_alert.to_string(),
                "must be a share above 0, at most 1",
            );
        }
        if self.max_attempts == 0 {
            return Err(Error::Config(kafka_eos_config::ConfigError::Invalid {
                field: "max_attempts".into(),
                value: "0".into(),
                reason: "must be at least 1: every record is processed at least once".into(),
            }));
        }
        if let Some((topic, _)) = &self.parking {
            if !self.mode.is_exactly_once() {
                return invalid(
                    "parking_topic",
                    topic.clone(),
                    "parking needs exactly-once mode: parked records are written in the batch's transaction",
                );
            }
        }
        let mut inner = self.inner;
        if self.mode.is_exactly_once() && !self.has_transactional_id {
            let id = TransactionalId::new(&self.app, &self.group, self.instance)?;
            inner = inner.transactional_id(id.into_string());
        }
        let config = inner.build()?;
        if let Some((topic, _)) = &self.parking {
            if topic.is_empty() || config.input_topics().iter().any(|t| t == topic) {
                return invalid(
                    "parking_topic",
                    topic.clone(),
                    "must be a topic of its own, not empty and not an input topic",
                );
            }
        }
        let mut pipeline = Pipeline {
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
            metrics_addr: self.metrics_addr,
            hot_keys: Arc::new(crate::hot_keys::HotKeyMonitor::new(self.hot_key_alert)),
            intake: crate::batch::Intake::default(),
            input_headers: self.input_headers,
            limits: self.limits,
            backoff: self.backoff,
            rate: self.limits.rate.map(RateLimiter::new),
            in_flight: InFlight::default(),
            attempts: Attempts::default(),
            replays: Replays::default(),
            parking: self
                .parking
                .map(|(topic, policy)| Parking::new(topic, policy, PARKED_PER_KEY_AND_BATCH)),
        };
        // a dead letter or a park writes the record with its headers as read
        pipeline.intake.headers = pipeline.input_headers || pipeline.writes_records_as_read();
        Ok(pipeline)
    }
}
