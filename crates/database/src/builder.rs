//! [`DatabaseSinkBuilder`]: the sink's settings, checked when it connects.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use kafka_eos_processor::config::{Mode, PipelineConfigBuilder};
use kafka_eos_processor::{Backoff, CancellationToken, Codec};
use sqlx::pool::PoolOptions;

use crate::dialect::Dialect;
use crate::error::{Error, Result};
use crate::offsets::{OffsetsTable, DEFAULT_OFFSETS_TABLE};
use crate::processor::DatabaseProcessor;
use crate::sink::DatabaseSink;
use crate::stats::Stats;

/// Settings of a [`DatabaseSink`]; [`build`](Self::build) connects to the database.
#[derive(Debug)]
pub struct DatabaseSinkBuilder<DB, P, C> {
    config: PipelineConfigBuilder,
    url: String,
    processor: P,
    codec: C,
    offsets_table: String,
    create_offsets_table: bool,
    dead_letter_table: Option<String>,
    max_attempts: u32,
    backoff: Backoff,
    connect_timeout: Duration,
    shutdown: CancellationToken,
    stop_on_signals: bool,
    _db: PhantomData<fn() -> DB>,
}

impl<DB, P, C> DatabaseSinkBuilder<DB, P, C>
where
    DB: Dialect,
    P: DatabaseProcessor<DB>,
    C: Codec<Item = P::Input>,
{
    pub(crate) fn new(config: PipelineConfigBuilder, url: &str, processor: P, codec: C) -> Self {
        DatabaseSinkBuilder {
            config,
            url: url.to_owned(),
            processor,
            codec,
            offsets_table: DEFAULT_OFFSETS_TABLE.to_owned(),
            create_offsets_table: true,
            dead_letter_table: None,
            max_attempts: 5,
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(5)),
            connect_timeout: Duration::from_secs(10),
            shutdown: CancellationToken::new(),
            stop_on_signals: false,
            _db: PhantomData,
        }
    }

    /// The offsets table (default `kafka_eos_offsets`; `schema.table` allowed).
    pub fn offsets_table(mut self, table: impl Into<String>) -> Self {
        self.offsets_table = table.into();
        self
    }

    /// Whether the sink creates the offsets table when it is missing (default `true`:
    /// `CREATE TABLE IF NOT EXISTS`, see [`Dialect::create_offsets_table`]). With `false` a
    /// missing table stops the start with [`Error::MissingOffsetsTable`], which carries the
    /// SQL to run.
    pub fn create_offsets_table(mut self, create: bool) -> Self {
        self.create_offsets_table = create;
        self
    }

    /// Writes the records the sink gives up on (undecodable, or failing `max_attempts`
    /// times) into this table, in the transaction of their batch, instead of stopping: the
    /// topic, partition, offset, key and value, the error, the attempts and the time.
    /// Created when missing (with the offsets table, see
    /// [`create_offsets_table`](Self::create_offsets_table); [`Dialect::dead_letter_sql`]
    /// has the SQL).
    pub fn dead_letter_table(mut self, table: impl Into<String>) -> Self {
        self.dead_letter_table = Some(table.into());
        self
    }

    /// How many times a batch is run when the processor keeps failing on one of its
    /// records, before the sink stops or dead-letters the record (default 5; at least 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// The wait between two runs of a batch that was rolled back (default 100 ms doubling to
    /// 5 s), for processor failures and for a database that is down alike.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// How long the first connection may take (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// A token that stops the sink when cancelled (after the batch in hand commits or rolls
    /// back).
    pub fn shutdown(mut self, token: CancellationToken) -> Self {
        self.shutdown = token;
        self
    }

    /// Stop on SIGINT / SIGTERM (default off).
    pub fn stop_on_signals(mut self, enabled: bool) -> Self {
        self.stop_on_signals = enabled;
        self
    }

    /// Checks the settings and connects to the database: a database that cannot be reached
    /// is [`Error::Connect`], naming the URL with its password hidden.
    pub async fn build(self) -> Result<DatabaseSink<DB, P, C>> {
        // the sink commits nothing to Kafka in a transaction: no producer, no transactional id
        let config = self.config.mode(Mode::AtLeastOnce).build()?;
        let offsets = OffsetsTable::new(&self.offsets_table, config.group_id())?;
        if let Some(table) = self
            .dead_letter_table
            .as_ref()
            .filter(|t| !kafka_eos_sql::is_valid_table_name(t))
        {
            return Err(Error::InvalidTable {
                table: table.clone(),
            });
        }
        let pool = PoolOptions::<DB>::new()
            .max_connections(2)
            .acquire_timeout(self.connect_timeout)
            .connect(&self.url)
            .await
            .map_err(|source| Error::Connect {
                database: DB::DISPLAY_NAME,
                url: kafka_eos_sql::redact_url(&self.url),
                source,
            })?;
        let stats = Arc::new(Stats::new(config.group_id()));
        Ok(DatabaseSink {
            config,
            pool,
            processor: self.processor,
            codec: self.codec,
            offsets,
            create_offsets_table: self.create_offsets_table,
            dead_letter_table: self.dead_letter_table,
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            shutdown: self.shutdown,
            stop_on_signals: self.stop_on_signals,
            stats,
        })
    }
}
