//! [`DatabaseSink`]: consume -> process into a database transaction -> commit the rows and
//! the consumer's next offsets together.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kafka_eos_processor::config::PipelineConfig;
use kafka_eos_processor::{Backoff, BoxError, CancellationToken, Codec, Input};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use sqlx::Pool;
use tracing::Instrument;

use crate::builder::DatabaseSinkBuilder;
use crate::dialect::{DeadLetterRow, Dialect};
use crate::error::{Error, Result};
use crate::offsets::{create_table, Failed, OffsetsTable, Partition};
use crate::processor::DatabaseProcessor;
use crate::source::{self, consumer_error, Raw, SinkContext};
use crate::stats::Stats;

/// Kafka into a database, exactly once: each batch's rows and the consumer's next offsets
/// commit in one database transaction; the consumer starts every assigned partition from
/// the offsets stored there.
///
/// Loop: poll a batch (up to `commit_max_records` records or `commit_interval`, as in the
/// Kafka pipeline) -> `BEGIN` -> the processor writes each record's rows through the
/// transaction, one record after the other in input order -> each partition's row in the
/// offsets table moves from the offset the batch started at to the one after its last record
/// (a compare-and-set) -> `COMMIT`. After the commit the same offsets are committed to the
/// group in Kafka too, for lag tools only: the database's are the ones the sink reads.
///
/// - **A crash at any point** leaves the database as if a prefix of each partition had been
///   processed once: the rows and the offsets commit together or not at all.
/// - **Another instance** that took a partition over (a rebalance, or this one stalled
///   past the session timeout) moves its offsets row; this instance's transaction on the old
///   position then fails its compare-and-set and commits nothing ([`StatsSnapshot::fenced`](crate::StatsSnapshot::fenced)).
///   So does a commit whose outcome was unknown (the connection lost during `COMMIT`) when
///   it is run again.
/// - **The database down** mid-run: the batch is rolled back and run again with backoff,
///   for as long as it takes (or until shutdown).
/// - **A processor error**: rolled back and run again, up to `max_attempts`, then the sink
///   stops with [`Error::Processor`], or with a
///   [`dead_letter_table`](crate::DatabaseSinkBuilder::dead_letter_table) writes the record
///   there in the batch's transaction and goes on (an undecodable record too, at once).
pub struct DatabaseSink<DB: Dialect, P, C> {
    pub(crate) config: PipelineConfig,
    pub(crate) pool: Pool<DB>,
    pub(crate) processor: P,
    pub(crate) codec: C,
    pub(crate) offsets: OffsetsTable,
    pub(crate) create_offsets_table: bool,
    pub(crate) dead_letter_table: Option<String>,
    pub(crate) max_attempts: u32,
    pub(crate) backoff: Backoff,
    pub(crate) shutdown: CancellationToken,
    pub(crate) stop_on_signals: bool,
    pub(crate) stats: Arc<Stats>,
}

impl<DB: Dialect, P, C> std::fmt::Debug for DatabaseSink<DB, P, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSink")
            .field("database", &DB::DISPLAY_NAME)
            .field("config", &self.config)
            .field("offsets", &self.offsets)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// How one run of a batch ended, when it did not commit.
enum Attempt {
    /// The processor failed on the batch's record `index`.
    Processor { index: usize, source: BoxError },
    /// The batch's record `index` cannot be decoded.
    Undecodable { index: usize, source: Error },
    /// The database failed in a way another run can get past.
    Transient {
        statement: &'static str,
        source: BoxError,
    },
    /// Stop.
    Fatal(Error),
}

impl From<Failed> for Attempt {
    fn from(f: Failed) -> Self {
        match f {
            Failed::Transient { statement, source } => Attempt::Transient {
                statement,
                source: Box::new(source),
            },
            Failed::Fatal(e) => Attempt::Fatal(e),
        }
    }
}

/// Where each partition of a batch starts (its stored position) and ends (after its last
/// record).
type Span = BTreeMap<Partition, (Option<i64>, i64)>;

impl<DB, P, C> DatabaseSink<DB, P, C>
where
    DB: Dialect,
    P: DatabaseProcessor<DB>,
    C: Codec<Item = P::Input>,
{
    /// A sink of `config`'s group and input topics into the database at `url`
    /// (`postgres://...` or `mysql://...`), writing with `processor`, decoding with `codec`.
    /// Only the consumer's settings of `config` are used.
    pub fn builder(
        config: kafka_eos_processor::config::PipelineConfigBuilder,
        url: &str,
        processor: P,
        codec: C,
    ) -> DatabaseSinkBuilder<DB, P, C> {
        DatabaseSinkBuilder::new(config, url, processor, codec)
    }

    /// The connection pool (two connections; one is in use while a batch runs).
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// What the sink has done so far.
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.stats)
    }

    /// A token that stops the sink when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs until the shutdown token is cancelled (`Ok`) or an error another attempt
    /// cannot fix (see [`Error`]).
    pub async fn run(mut self) -> Result<()> {
        let token = self.shutdown.clone();
        let on_signals = self.stop_on_signals;
        kafka_eos_processor::stopping_on_signals(token, on_signals, self.run_until_stopped()).await
    }

    async fn run_until_stopped(&mut self) -> Result<()> {
        self.offsets
            .ensure(&self.pool, self.create_offsets_table)
            .await?;
        if let (Some(table), true) = (&self.dead_letter_table, self.create_offsets_table) {
            let create = DB::dead_letter_sql(table).create;
            create_table(&self.pool, "create dead-letter table", &create).await?;
        }
        let context = SinkContext::new(self.load_positions());
        let consumer: Arc<BaseConsumer<SinkContext>> = Arc::new(
            self.config
                .consumer_config()?
                .create_with_context(context)
                .map_err(consumer_error("create"))?,
        );
        let topics: Vec<&str> = self
            .config
            .input_topics()
            .iter()
            .map(String::as_str)
            .collect();
        let result = match consumer.subscribe(&topics) {
            Ok(()) => self.run_loop(&consumer).await,
            Err(e) => Err(consumer_error("subscribe")(e)),
        };
        // leaving the group and closing the consumer block: not on a Tokio worker
        let closed = tokio::task::spawn_blocking(move || {
            consumer.unsubscribe();
            drop(consumer);
        })
        .await;
        if let Err(e) = closed {
            tracing::warn!(error = %e, "closing the consumer failed");
        }
        result
    }

    /// What the rebalance callback runs: the group's stored positions, read on this
    /// runtime from the polling thread, retried while the database is down.
    fn load_positions(&self) -> source::LoadPositions {
        let handle = tokio::runtime::Handle::current();
        let pool = self.pool.clone();
        let offsets = self.offsets.clone();
        let shutdown = self.shutdown.clone();
        let backoff = self.backoff;
        Box::new(move || {
            let mut failed = 0;
            loop {
                match handle.block_on(offsets.load(&pool)) {
                    Ok(stored) => return Ok(stored),
                    Err(Failed::Transient { statement, source }) if !shutdown.is_cancelled() => {
                        failed += 1;
                        tracing::warn!(error = %source, statement, attempt = failed, "the offsets table cannot be read; retrying");
                        std::thread::sleep(backoff.after(failed, 0));
                    }
                    Err(f) => return Err(f.into_error::<DB>()),
                }
            }
        })
    }

    async fn run_loop(&mut self, consumer: &Arc<BaseConsumer<SinkContext>>) -> Result<()> {
        loop {
            if self.shutdown.is_cancelled() {
                return Ok(());
            }
            let polled = {
                let c = Arc::clone(consumer);
                let (max, interval) = (
                    self.config.commit_max_records(),
                    self.config.commit_interval(),
                );
                let token = self.shutdown.clone();
                tokio::task::spawn_blocking(move || source::collect(&c, max, interval, &token))
                    .await??
            };
            let batch = consumer.context().current(polled);
            if batch.is_empty() {
                continue;
            }
            self.commit_batch(consumer, &batch).await?;
        }
    }

    /// Runs `batch` until it commits, is fenced, or fails for good. When the processor fails
    /// on a record, the records before it commit first (in their own transaction), so a
    /// failure costs a retry of that record, not of the whole batch.
    async fn commit_batch(
        &mut self,
        consumer: &Arc<BaseConsumer<SinkContext>>,
        batch: &[Raw],
    ) -> Result<()> {
        // failed attempts per record (a record that keeps failing stops the sink or is
        // dead-lettered; records failing once each do not add up), and of the database
        let mut record_failures: HashMap<RecordId, u32> = HashMap::new();
        let mut database_failures = 0;
        // records given up on, by (partition, offset): written to the dead-letter table
        let mut dead: HashMap<RecordId, (String, u32)> = HashMap::new();
        let mut rest = batch;
        // the records of `rest` this transaction takes (all, or those before a failing one)
        let mut end = rest.len();
        while !rest.is_empty() {
            let part = &rest[..end];
            let span = span(&consumer.context().positions(), part);
            let started = std::time::Instant::now();
            let attempt = self
                .attempt(part, &span, &dead)
                .instrument(tracing::debug_span!(
                    "database_batch",
                    records = part.len(),
                    partitions = span.len()
                ))
                .await;
            match attempt {
                Ok(true) => {
                    self.committed(consumer, &span, part.len(), started.elapsed());
                    let buried = part.iter().filter(|r| dead.contains_key(&id(r))).count();
                    if buried > 0 {
                        self.stats.dead_lettered(buried as u64);
                    }
                    rest = &rest[end..];
                    end = rest.len();
                    continue;
                }
                Ok(false) => {
                    self.stats.fenced();
                    tracing::warn!(partitions = ?span.keys().collect::<Vec<_>>(), "another instance moved this batch's offsets: nothing committed; moving to the stored positions");
                    return self.reposition(consumer, &span).await;
                }
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Undecodable { index, source }) => {
                    if self.dead_letter_table.is_none() {
                        return Err(source);
                    }
                    tracing::warn!(error = %source, "undecodable record: dead-lettered in the batch's transaction");
                    let r = &part[index];
                    dead.insert(id(r), (source.to_string(), 1));
                }
                Err(Attempt::Processor { index, source }) if index > 0 => {
                    // commit what came before the failing record first, without a wait
                    tracing::debug!(error = %source, before = index, "the processor failed: the records before it commit first");
                    end = index;
                }
                Err(Attempt::Processor { index, source }) => {
                    let record = &part[index];
                    let failures = record_failures.entry(id(record)).or_insert(0);
                    *failures += 1;
                    let processor_failures = *failures;
                    if processor_failures >= self.max_attempts && self.dead_letter_table.is_some() {
                        tracing::warn!(topic = %record.topic, partition = record.partition, offset = record.offset,
                            attempts = processor_failures, error = %source, "the processor keeps failing: the record is dead-lettered in the batch's transaction");
                        dead.insert(id(record), (source.to_string(), processor_failures));
                    } else if processor_failures >= self.max_attempts {
                        return Err(Error::Processor {
                            topic: record.topic.to_string(),
                            partition: record.partition,
                            offset: record.offset,
                            attempts: processor_failures,
                            source,
                        });
                    } else {
                        tracing::warn!(topic = %record.topic, partition = record.partition, offset = record.offset,
                            attempt = processor_failures, error = %source, "the processor failed: the batch is rolled back and runs again");
                        self.wait(self.backoff.after(processor_failures, record.offset as u64))
                            .await;
                    }
                }
                Err(Attempt::Transient { statement, source }) => {
                    database_failures += 1;
                    tracing::warn!(database = DB::DISPLAY_NAME, statement, attempt = database_failures, error = %source,
                        "the database failed: the batch is rolled back and runs again");
                    self.wait(self.backoff.after(database_failures, 0)).await;
                }
            }
            self.stats.rolled_back();
            if self.shutdown.is_cancelled() {
                // nothing of the rest committed: whoever owns its partitions next runs it
                return Ok(());
            }
        }
        Ok(())
    }

    /// One run of the batch in one transaction: `true` once committed, `false` when a
    /// partition's stored position is not where the batch started (fenced).
    async fn attempt(
        &mut self,
        batch: &[Raw],
        span: &Span,
        dead: &HashMap<RecordId, (String, u32)>,
    ) -> Result<bool, Attempt> {
        let mut tx = Failed::timed::<DB, _>("begin", self.pool.begin()).await?;
        for (index, raw) in batch.iter().enumerate() {
            if let Some((error, attempts)) = dead.get(&id(raw)) {
                self.dead_letter(&mut tx, raw, error, *attempts).await?;
                continue;
            }
            let input = match decode(&self.codec, raw) {
                Ok(input) => input,
                Err(source) => return Err(Attempt::Undecodable { index, source }),
            };
            if let Err(source) = self.processor.process(input, &mut tx).await {
                // a transient database error of the processor's own statements is the
                // database's failure, not the record's
                if let Some(e) = source.downcast_ref::<sqlx::Error>() {
                    if kafka_eos_sql::is_transient(e) {
                        return Err(Attempt::Transient {
                            statement: "the processor's statement",
                            source,
                        });
                    }
                }
                return Err(Attempt::Processor { index, source });
            }
        }
        for ((topic, partition), (from, to)) in span {
            let moved = self
                .offsets
                .advance::<DB>(&mut tx, topic, *partition, *from, *to)
                .await?;
            if !moved {
                return Ok(false); // dropping `tx` rolls it back
            }
        }
        Failed::timed::<DB, _>("commit", tx.commit()).await?;
        Ok(true)
    }

    /// Writes `raw` to the dead-letter table, in `tx`.
    async fn dead_letter(
        &self,
        tx: &mut DB::Connection,
        raw: &Raw,
        error: &str,
        attempts: u32,
    ) -> Result<(), Attempt> {
        let Some(table) = &self.dead_letter_table else {
            return Ok(());
        };
        let row = DeadLetterRow {
            group_id: self.offsets.group.clone(),
            topic: raw.topic.to_string(),
            partition: raw.partition,
            offset: raw.offset,
            key: raw.key.as_deref().map(<[u8]>::to_vec),
            value: raw.value.clone(),
            error: error.to_owned(),
            attempts: i32::try_from(attempts).unwrap_or(i32::MAX),
            failed_at_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        };
        Failed::timed::<DB, _>(
            "insert dead letter",
            DB::insert_dead_letter(tx, table, &row),
        )
        .await
        .map_err(Attempt::from)
    }

    /// After a commit: the positions move on, and the group's Kafka offsets follow (for lag
    /// tools; asynchronous, best effort).
    fn committed(
        &self,
        consumer: &BaseConsumer<SinkContext>,
        span: &Span,
        records: usize,
        took: Duration,
    ) {
        self.stats.committed(records as u64, took);
        let mut positions = consumer.context().positions();
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), (_, to)) in span {
            if let Some(at) = positions.get_mut(&(topic.clone(), *partition)) {
                *at = Some(*to);
            }
            if let Err(e) = tpl.add_partition_offset(topic, *partition, Offset::Offset(*to)) {
                tracing::debug!(error = %e, "cannot list the offset for Kafka");
            }
        }
        drop(positions);
        if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
            tracing::debug!(error = %e, "the group's Kafka offsets were not updated (informational only)");
        }
    }

    /// After a fence: the batch's partitions move to their stored positions (read again,
    /// retried while the database is down).
    async fn reposition(
        &mut self,
        consumer: &Arc<BaseConsumer<SinkContext>>,
        span: &Span,
    ) -> Result<()> {
        let mut failed = 0;
        let stored = loop {
            match self.offsets.load(&self.pool).await {
                Ok(stored) => break stored,
                Err(Failed::Transient { statement, source }) if !self.shutdown.is_cancelled() => {
                    failed += 1;
                    tracing::warn!(error = %source, statement, "the offsets table cannot be read; retrying");
                    self.wait(self.backoff.after(failed, 0)).await;
                }
                Err(f) => return Err(f.into_error::<DB>()),
            }
        };
        for partition in span.keys() {
            let Some(&to) = stored.get(partition) else {
                continue;
            };
            {
                let mut positions = consumer.context().positions();
                match positions.get_mut(partition) {
                    Some(at) => *at = Some(to),
                    None => continue, // revoked meanwhile
                }
            }
            let c = Arc::clone(consumer);
            let (topic, number) = partition.clone();
            tokio::task::spawn_blocking(move || {
                c.seek(&topic, number, Offset::Offset(to), Duration::from_secs(10))
            })
            .await?
            .map_err(consumer_error("seek to the stored offset"))?;
            tracing::info!(topic = %partition.0, partition = partition.1, offset = to, "moved to the stored offset");
        }
        Ok(())
    }

    /// Sleeps `delay`, or less if the sink is stopping.
    async fn wait(&self, delay: Duration) {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = self.shutdown.cancelled() => {}
        }
    }
}

/// A record of the input: topic, partition, offset.
type RecordId = (Arc<str>, i32, i64);

fn id(r: &Raw) -> RecordId {
    (Arc::clone(&r.topic), r.partition, r.offset)
}

/// Each partition of `batch`: its stored position and the offset after its last record.
fn span(positions: &std::collections::HashMap<Partition, Option<i64>>, batch: &[Raw]) -> Span {
    let mut span = Span::new();
    for r in batch {
        let p = (r.topic.to_string(), r.partition);
        let from = positions.get(&p).copied().flatten();
        let e = span.entry(p).or_insert((from, r.offset + 1));
        e.1 = e.1.max(r.offset + 1);
    }
    span
}

/// The record with its value decoded by `codec`.
fn decode<C: Codec>(codec: &C, raw: &Raw) -> Result<Input<C::Item>> {
    let value = match &raw.value {
        Some(bytes) => codec.decode(bytes),
        None => codec.decode_null(),
    }
    .map_err(|source| Error::Decode {
        topic: raw.topic.to_string(),
        partition: raw.partition,
        offset: raw.offset,
        source,
    })?;
    Ok(Input {
        topic: Arc::clone(&raw.topic),
        partition: raw.partition,
        offset: raw.offset,
        key: raw.key.clone(),
        headers: raw.headers.clone(),
        timestamp: raw.timestamp,
        value,
    })
}
