//! Shared by the pipeline benches (`pipeline_modes`, `keyed`): input records, the three ways
//! to copy a topic (the pipeline exactly-once and at-least-once, a hand-written rdkafka
//! transactional loop), waiting for committed offsets, environment knobs.
// Each bench uses a subset.
#![allow(dead_code)]

pub mod trim;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_eos_processor::config::{Mode, PipelineConfig};
use kafka_eos_processor::core::rdkafka::consumer::{BaseConsumer, Consumer};
use kafka_eos_processor::core::rdkafka::error::KafkaError;
use kafka_eos_processor::core::rdkafka::message::{Message, ToBytes};
use kafka_eos_processor::core::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use kafka_eos_processor::core::rdkafka::types::RDKafkaErrorCode;
use kafka_eos_processor::core::rdkafka::{ClientConfig, Offset, TopicPartitionList};
use kafka_eos_processor::{
    BoxError, CancellationToken, Codec, Input, Metrics, Output, Pipeline, PipelineBuilder,
    Processor, RawBytes,
};
use kafka_eos_testkit::{Cluster, Record};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// Errors of a bench (the workspace lints forbid unwrap/expect/panic outside tests).
pub type BenchError = Box<dyn std::error::Error + Send + Sync>;
pub type BenchResult<T = ()> = Result<T, BenchError>;

/// How long a run may take to consume its input.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// Timeout of one blocking Kafka call.
pub const KAFKA_TIMEOUT: Duration = Duration::from_secs(30);
/// Input value size.
pub const VALUE_BYTES: usize = 100;

pub fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

pub fn env_f64(name: &str) -> Option<f64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// A comma-separated list of numbers from the environment (a subset of a table).
pub fn env_list(name: &str) -> Option<Vec<u64>> {
    let v = std::env::var(name).ok()?;
    let list: Vec<u64> = v.split(',').filter_map(|x| x.trim().parse().ok()).collect();
    (!list.is_empty()).then_some(list)
}

/// A comma-separated list of lower-case words from the environment.
pub fn env_words(name: &str) -> Option<Vec<String>> {
    let v = std::env::var(name).ok()?;
    Some(
        v.split(',')
            .map(|k| k.trim().to_ascii_lowercase())
            .collect(),
    )
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        l if l % 2 == 1 => v[l / 2],
        l => (v[l / 2 - 1] + v[l / 2]) / 2.0,
    }
}

/// `BENCH_LOG`: a tracing filter (e.g. `kafka_eos_core=debug`) to log to stderr.
pub fn init_log() {
    if let Ok(filter) = std::env::var("BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
}

/// The runtime the pipelines run on: two workers, like the machine.
pub fn runtime() -> BenchResult<Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Records `range` (indexes) over `keys` keys (`key-<i % keys>`), each value unique (index)
/// and `VALUE_BYTES` long.
pub fn input_records(range: std::ops::Range<usize>, keys: usize) -> Vec<Record> {
    range
        .map(|i| {
            let key = format!("key-{:05}", i % keys.max(1));
            let mut value = format!("value-{i:010}-").into_bytes();
            value.resize(VALUE_BYTES, b'x');
            Record::new(key, value)
        })
        .collect()
}

/// The high watermarks of `topic`'s partitions (the offsets a group that consumed all of
/// it has committed).
pub fn end_offsets(
    cluster: &Cluster,
    topic: &str,
    partitions: i32,
) -> BenchResult<TopicPartitionList> {
    let broker = cluster
        .embedded_broker()
        .ok_or("the benches run on the embedded broker")?;
    let mut end = TopicPartitionList::new();
    for p in 0..partitions {
        let (hw, _) = broker.offsets(topic, p)?;
        end.add_partition_offset(topic, p, Offset::Offset(hw))?;
    }
    Ok(end)
}

/// Copies each input record to `topic`, same key and value.
pub struct CopyProcessor {
    pub topic: std::sync::Arc<str>,
}

impl Processor for CopyProcessor {
    type Input = Option<Vec<u8>>;

    async fn process(&self, input: Input<Option<Vec<u8>>>) -> Result<Vec<Output>, BoxError> {
        Ok(vec![Output {
            topic: std::sync::Arc::clone(&self.topic),
            key: input.key.map(Vec::from),
            value: input.value,
            ..Output::default()
        }])
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// Exactly-once; the copy declares it needs no headers (`input_headers(false)`), so the
    /// pipeline copies what the loop copies: key and value.
    Eos,
    /// Exactly-once with the default `input_headers(true)`.
    EosHeaders,
    /// At-least-once, no headers (as `Eos`).
    Alo,
    Loop,
}

impl Kind {
    /// The name `BENCH_KINDS` uses.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Eos => "eos",
            Kind::EosHeaders => "eos-headers",
            Kind::Alo => "alo",
            Kind::Loop => "loop",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Eos => "pipeline exactly-once",
            Kind::EosHeaders => "pipeline exactly-once, headers read",
            Kind::Alo => "pipeline at-least-once",
            Kind::Loop => "hand-written txn loop",
        }
    }
}

/// One copy of `input` to `output` by a fresh group.
pub struct CopySpec<'a> {
    pub bootstrap: &'a str,
    pub input: &'a str,
    pub output: &'a str,
    pub group: &'a str,
    /// The commit interval (the batch is whatever arrives within it, up to
    /// `commit_max_records`).
    pub interval: Duration,
    /// The producer's `max.in.flight.requests.per.connection`.
    pub producer_in_flight: u32,
    /// The pipeline's `commit_every_records`; the loop's batch stops there too.
    pub commit_max_records: usize,
    /// `key=value` consumer overrides for the pipeline.
    pub consumer_overrides: Vec<(String, String)>,
    /// The pipeline serves its metrics here (`None`: the endpoint off).
    pub metrics_addr: Option<std::net::SocketAddr>,
}

impl CopySpec<'_> {
    /// A pipeline builder for this copy (its processor is up to the caller).
    pub fn builder(&self, mode: Mode) -> PipelineBuilder {
        let mut builder = PipelineBuilder::new()
            .bootstrap_servers(self.bootstrap)
            .group_id(self.group)
            .input_topic(self.input)
            .app_name("bench")
            .mode(mode)
            .commit_every(self.interval)
            .commit_every_records(self.commit_max_records);
        for (k, v) in &self.consumer_overrides {
            builder = builder.consumer_override(k, v);
        }
        if let Some(addr) = self.metrics_addr {
            builder = builder.metrics_addr(addr);
        }
        if self.producer_in_flight != 1 {
            builder = builder.producer_override(
                "max.in.flight.requests.per.connection",
                self.producer_in_flight.to_string(),
            );
        }
        builder
    }
}

/// A copy in progress: a pipeline on the runtime, or the hand-written loop on a blocking
/// thread.
pub enum Running {
    Pipeline {
        metrics: Arc<Metrics>,
        token: CancellationToken,
        handle: JoinHandle<Result<(), kafka_eos_processor::Error>>,
    },
    Loop {
        committed: Arc<AtomicU64>,
        commits: Arc<AtomicU64>,
        stop: Arc<AtomicBool>,
        handle: JoinHandle<Result<(), KafkaError>>,
    },
}

impl Running {
    /// Starts `kind` copying `spec.input` to `spec.output` with [`CopyProcessor`].
    pub fn copy(rt: &Runtime, kind: Kind, spec: &CopySpec<'_>) -> BenchResult<Self> {
        let mode = match kind {
            Kind::Eos | Kind::EosHeaders => Mode::ExactlyOnce,
            Kind::Alo => Mode::AtLeastOnce,
            Kind::Loop => return Self::hand_written(rt, spec),
        };
        let processor = CopyProcessor {
            topic: spec.output.into(),
        };
        Ok(Self::pipeline(
            rt,
            spec.builder(mode)
                .input_headers(kind == Kind::EosHeaders)
                .build(processor, RawBytes)?,
        ))
    }

    /// Spawns `pipeline` on `rt`.
    pub fn pipeline<P, C>(rt: &Runtime, pipeline: Pipeline<P, C>) -> Self
    where
        P: Processor,
        C: Codec<Item = P::Input> + Send + 'static,
        Pipeline<P, C>: Send,
    {
        Running::Pipeline {
            metrics: pipeline.metrics(),
            token: pipeline.shutdown_token(),
            handle: rt.spawn(pipeline.run()),
        }
    }

    /// Starts [`hand_written_loop`] with the pipeline's client settings.
    fn hand_written(rt: &Runtime, spec: &CopySpec<'_>) -> BenchResult<Self> {
        let cfg = PipelineConfig::builder()
            .bootstrap_servers(spec.bootstrap)
            .group_id(spec.group)
            .input_topic(spec.input)
            .transactional_id(format!("bench-{}-0", spec.group))
            .commit_interval(spec.interval)
            .max_in_flight(spec.producer_in_flight)
            .build()?;
        let consumer_cfg = cfg.consumer_config()?;
        let producer_cfg = cfg.producer_config()?;
        let committed = Arc::new(AtomicU64::new(0));
        let commits = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let (input, output) = (spec.input.to_owned(), spec.output.to_owned());
            let batch = Batch {
                interval: spec.interval,
                max_records: spec.commit_max_records.max(1),
            };
            let (committed, commits, stop) = (
                Arc::clone(&committed),
                Arc::clone(&commits),
                Arc::clone(&stop),
            );
            rt.spawn_blocking(move || {
                hand_written_loop(
                    &consumer_cfg,
                    &producer_cfg,
                    &input,
                    &output,
                    batch,
                    &Progress {
                        committed: &committed,
                        commits: &commits,
                        stop: &stop,
                    },
                )
            })
        };
        Ok(Running::Loop {
            committed,
            commits,
            stop,
            handle,
        })
    }

    /// Input records committed so far.
    pub fn records_in(&self) -> u64 {
        match self {
            Running::Pipeline { metrics, .. } => metrics.snapshot().records_in,
            Running::Loop { committed, .. } => committed.load(Ordering::Relaxed),
        }
    }

    /// Transactions (or offset commits) so far.
    pub fn commits(&self) -> u64 {
        match self {
            Running::Pipeline { metrics, .. } => metrics.snapshot().commits,
            Running::Loop { commits, .. } => commits.load(Ordering::Relaxed),
        }
    }

    /// The pipeline's metrics (`None` for the loop).
    pub fn metrics(&self) -> Option<&Metrics> {
        match self {
            Running::Pipeline { metrics, .. } => Some(metrics),
            Running::Loop { .. } => None,
        }
    }

    /// Stopped on its own (an error, since nothing stops it but [`Running::stop`]).
    pub fn is_finished(&self) -> bool {
        match self {
            Running::Pipeline { handle, .. } => handle.is_finished(),
            Running::Loop { handle, .. } => handle.is_finished(),
        }
    }

    /// Stops it gracefully (the pipeline commits its current batch) and returns its error.
    pub fn stop(self, rt: &Runtime) -> BenchResult<()> {
        match self {
            Running::Pipeline { token, handle, .. } => {
                token.cancel();
                rt.block_on(handle)??;
            }
            Running::Loop { stop, handle, .. } => {
                stop.store(true, Ordering::Relaxed);
                rt.block_on(handle)??;
            }
        }
        Ok(())
    }

    /// Polls every millisecond until `done` holds for this copy; returns when it first held,
    /// or an error after `timeout` or if the copy stopped on its own.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&Self) -> bool,
    ) -> BenchResult<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            if done(self) {
                return Ok(Instant::now());
            }
            if self.is_finished() {
                return Err(format!("stopped before {what}").into());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "not {what} within {timeout:?} ({} records in, {} commits)",
                    self.records_in(),
                    self.commits()
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Waits until `run` committed `n` input records and `group`'s committed offsets (read by a
/// `read_uncommitted` client, so pending transactional offsets do not count) equal `end`.
pub fn wait_committed(
    bootstrap: &str,
    group: &str,
    end: &TopicPartitionList,
    n: u64,
    run: &Running,
) -> BenchResult<()> {
    let checker: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("isolation.level", "read_uncommitted")
        .set("enable.auto.commit", "false")
        .create()?;
    let all_committed = |run: &Running| {
        if run.records_in() < n {
            return false;
        }
        match checker.committed_offsets(end.clone(), KAFKA_TIMEOUT) {
            Ok(committed) => end.elements().iter().all(|e| {
                committed
                    .find_partition(e.topic(), e.partition())
                    .is_some_and(|c| c.offset() == e.offset())
            }),
            Err(e) => {
                eprintln!("committed offsets: {e}");
                false
            }
        }
    };
    run.wait_for("all input committed", RUN_TIMEOUT, all_committed)?;
    Ok(())
}

/// The hand-written loop's counters: input records committed, commits, and its stop flag.
struct Progress<'a> {
    committed: &'a AtomicU64,
    commits: &'a AtomicU64,
    stop: &'a AtomicBool,
}

/// How the loop's batch ends: after `interval`, or at `max_records`.
#[derive(Clone, Copy)]
struct Batch {
    interval: Duration,
    max_records: usize,
}

/// The straightforward loop: poll for one interval (or up to the record cap), then one
/// transaction for the batch:
/// begin, send each record, wait for the deliveries,
/// `send_offsets_to_transaction(position, group metadata)`, commit. Same client settings
/// as the pipeline (rendered by the same config crate).
fn hand_written_loop(
    consumer_cfg: &ClientConfig,
    producer_cfg: &ClientConfig,
    input: &str,
    output: &str,
    limits: Batch,
    progress: &Progress<'_>,
) -> Result<(), KafkaError> {
    let consumer: BaseConsumer = consumer_cfg.create()?;
    consumer.subscribe(&[input])?;
    let producer: BaseProducer = producer_cfg.create()?;
    producer.init_transactions(KAFKA_TIMEOUT)?;
    let mut batch = Vec::new();
    while !progress.stop.load(Ordering::Relaxed) {
        let deadline = Instant::now() + limits.interval;
        while batch.len() < limits.max_records {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match consumer.poll(left) {
                Some(Ok(m)) => batch.push(m),
                Some(Err(e)) => eprintln!("consumer error: {e}"),
                None => {}
            }
        }
        if batch.is_empty() {
            continue;
        }
        let records = batch.len() as u64;
        producer.begin_transaction()?;
        for m in batch.drain(..) {
            let mut record = BaseRecord::<[u8], [u8]>::to(output);
            if let Some(k) = m.key() {
                record = record.key(k);
            }
            if let Some(v) = m.payload() {
                record = record.payload(v);
            }
            send(&producer, record)?;
        }
        // Wait for the delivery reports before committing, as the pipeline does. Left to
        // `commit_transaction`, rdkafka 0.39's `BaseProducer::flush` polls in 100 ms slices
        // (`poll` runs to its deadline), which puts a 100 ms floor under every commit.
        while producer.in_flight_count() > 0 {
            producer.poll(Duration::from_millis(1));
        }
        let position = consumer.position()?;
        let group = consumer
            .group_metadata()
            .ok_or(KafkaError::MessageConsumptionFatal(
                RDKafkaErrorCode::InvalidGroupId,
            ))?;
        producer.send_offsets_to_transaction(&position, &group, KAFKA_TIMEOUT)?;
        producer.commit_transaction(KAFKA_TIMEOUT)?;
        progress.committed.fetch_add(records, Ordering::Relaxed);
        progress.commits.fetch_add(1, Ordering::Relaxed);
    }
    consumer.unsubscribe();
    Ok(())
}

/// Hands `record` to `producer`, serving delivery reports while its queue is full.
pub fn send<K, P>(
    producer: &BaseProducer,
    mut record: BaseRecord<'_, K, P>,
) -> Result<(), KafkaError>
where
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
{
    loop {
        match producer.send(record) {
            Ok(()) => break,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                producer.poll(Duration::from_millis(1));
                record = back;
            }
            Err((e, _)) => return Err(e),
        }
    }
    producer.poll(Duration::ZERO);
    Ok(())
}
