//! The demo's side effect outside Kafka (`--side-effects redis|postgres|mariadb|layered`):
//! each order event appends a row to an effects log (a PostgreSQL table: not in the Kafka
//! transaction), guarded by `kafka-eos-idempotency` with the chosen store and the record's
//! `topic/partition/offset` as the key. The log then tells how often each effect ran: once,
//! or once more for an effect whose worker was killed between the effect and its done mark
//! (the window the idempotency docs name).

use std::fmt;
use std::time::Duration;

use kafka_eos_idempotency::{
    Error as IdempotencyError, IdempotencyKey, IdempotencyStore, Idempotent, Layered, MySqlStore,
    PostgresStore, RedisStore,
};
use kafka_eos_processor::{BoxError, Input, Output, Processor};
use sqlx::PgPool;

use crate::error::DemoError;
use crate::orders::{OrderEvent, OrderProcessor};

/// The effects log's database (this machine's, and CI's).
pub const LOG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The MariaDB store's database.
pub const MARIADB_URL: &str = "mysql://root@127.0.0.1:3306/test";
/// The Redis store's server.
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";
/// How long a claim lives: a killed worker's claim lets the replay run after this.
pub const LEASE: Duration = Duration::from_secs(5);

/// Which idempotency store guards the effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Guard {
    /// `RedisStore` (SET NX PX).
    Redis,
    /// `PostgresStore` (a table with a unique key).
    Postgres,
    /// `MySqlStore` on MariaDB.
    Mariadb,
    /// `Layered`: Redis in front of PostgreSQL.
    Layered,
}

impl Guard {
    /// The flag's value.
    pub fn name(self) -> &'static str {
        match self {
            Guard::Redis => "redis",
            Guard::Postgres => "postgres",
            Guard::Mariadb => "mariadb",
            Guard::Layered => "layered",
        }
    }

    /// Whether the store's connections are PostgreSQL's (outages can be injected there by
    /// terminating them).
    pub fn uses_postgres(self) -> bool {
        matches!(self, Guard::Postgres | Guard::Layered)
    }
}

/// The effects log: one row per run of an effect.
#[derive(Debug, Clone)]
pub struct EffectLog {
    pool: PgPool,
    table: String,
}

impl EffectLog {
    /// The log `<prefix>_effects` on [`LOG_URL`].
    pub async fn connect(prefix: &str) -> Result<Self, DemoError> {
        Ok(EffectLog {
            pool: PgPool::connect(LOG_URL).await?,
            table: format!("{prefix}_effects"),
        })
    }

    /// Drops and creates the log, and the PostgreSQL and MariaDB stores' tables.
    pub async fn recreate(&self, prefix: &str) -> Result<(), DemoError> {
        for sql in [
            format!("DROP TABLE IF EXISTS {}", self.table),
            format!("DROP TABLE IF EXISTS {prefix}_idem"),
            format!("CREATE TABLE {} (effect_key TEXT NOT NULL)", self.table),
        ] {
            sqlx::query(&sql).execute(&self.pool).await?;
        }
        let mariadb = sqlx::MySqlPool::connect(MARIADB_URL).await?;
        sqlx::query(&format!("DROP TABLE IF EXISTS {prefix}_idem"))
            .execute(&mariadb)
            .await?;
        Ok(())
    }

    /// The effect: one row.
    async fn append(&self, key: IdempotencyKey) -> Result<(), sqlx::Error> {
        sqlx::query(&format!(
            "INSERT INTO {} (effect_key) VALUES ($1)",
            self.table
        ))
        .bind(key.as_str())
        .execute(&self.pool)
        .await
        .map(drop)
    }

    /// Effects that ran: distinct keys, and runs.
    pub async fn counts(&self) -> Result<(i64, i64), sqlx::Error> {
        sqlx::query_as(&format!(
            "SELECT COUNT(DISTINCT effect_key), COUNT(*) FROM {}",
            self.table
        ))
        .fetch_one(&self.pool)
        .await
    }

    /// Terminates the connections of the stores of `prefix` (an outage: they reconnect).
    pub async fn cut_store_connections(&self, prefix: &str) -> Result<usize, sqlx::Error> {
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
        )
        .bind(prefix)
        .fetch_all(&self.pool)
        .await?;
        Ok(killed.len())
    }
}

/// The workers' processor with the effect: the effect, guarded, then [`OrderProcessor`].
#[derive(Debug)]
pub struct Guarded<S> {
    inner: OrderProcessor,
    guard: Idempotent<S>,
    log: EffectLog,
}

impl<S: IdempotencyStore> Processor for Guarded<S> {
    type Input = OrderEvent;

    async fn process(&self, input: Input<OrderEvent>) -> Result<Vec<Output>, BoxError> {
        let key = IdempotencyKey::of_input("kafka-eos-demo", &input)
            .map_err(IdempotencyError::into_processor_error)?;
        // ran now or earlier: either way the effect has run
        let _ran = self
            .guard
            .once(&key, |key| self.log.append(key))
            .await
            .map_err(IdempotencyError::into_processor_error)?;
        self.inner.process(input).await
    }
}

/// Builds the processor of `guard` (stores' tables and keys named after `prefix`) around
/// `inner`, and hands it to `run`.
pub async fn with_guard<R>(
    guard: Guard,
    prefix: &str,
    inner: OrderProcessor,
    run: R,
) -> Result<(), DemoError>
where
    R: GuardedRun,
{
    let log = EffectLog::connect(prefix).await?;
    let table = format!("{prefix}_idem");
    let postgres = || async {
        // its own application_name: the demo finds its connections by it (outages)
        let options = LOG_URL
            .parse::<sqlx::postgres::PgConnectOptions>()?
            .application_name(prefix);
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        let store = PostgresStore::from_pool(pool, &table)?;
        store.create_table().await?;
        Ok::<_, DemoError>(store)
    };
    let redis = || async {
        Ok::<_, DemoError>(
            RedisStore::connect(REDIS_URL)
                .await?
                .prefix(format!("{prefix}:"))
                .done_ttl(Duration::from_secs(3600)),
        )
    };
    match guard {
        Guard::Redis => run.run(guarded(inner, redis().await?, log)).await,
        Guard::Postgres => run.run(guarded(inner, postgres().await?, log)).await,
        Guard::Mariadb => {
            let store = MySqlStore::connect(MARIADB_URL, &table).await?;
            store.create_table().await?;
            run.run(guarded(inner, store, log)).await
        }
        Guard::Layered => {
            let store = Layered::new(redis().await?, postgres().await?);
            run.run(guarded(inner, store, log)).await
        }
    }
}

fn guarded<S: IdempotencyStore>(inner: OrderProcessor, store: S, log: EffectLog) -> Guarded<S> {
    Guarded {
        inner,
        guard: Idempotent::new(store).lease(LEASE),
        log,
    }
}

/// What [`with_guard`] hands the processor to (a generic closure, spelled out).
pub trait GuardedRun {
    /// Runs the pipeline with `processor`.
    fn run<S: IdempotencyStore>(
        self,
        processor: Guarded<S>,
    ) -> impl std::future::Future<Output = Result<(), DemoError>> + Send;
}

/// How often the effects ran, against the events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EffectsOutcome {
    /// The store.
    pub guard: Option<Guard>,
    /// Events (each must have run its effect).
    pub events: i64,
    /// Distinct effects that ran.
    pub ran: i64,
    /// Runs beyond the first (each a kill between an effect and its mark).
    pub extra_runs: i64,
    /// The most extra runs the crash windows allow: kills x records in flight per worker.
    pub allowed_extra: i64,
    /// Store outages injected (connections terminated).
    pub outages: u32,
}

impl EffectsOutcome {
    /// Every event's effect ran, and no more often than the crash windows allow.
    pub fn holds(&self) -> bool {
        self.ran == self.events && self.extra_runs <= self.allowed_extra
    }
}

impl fmt::Display for EffectsOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} effects of {} events ran ({} missing), {} ran again (at most {} allowed: kills x in flight), {} store outages, guard {}: {}",
            self.ran,
            self.events,
            self.events - self.ran,
            self.extra_runs,
            self.allowed_extra,
            self.outages,
            self.guard.map_or("none", Guard::name),
            if self.holds() { "AT MOST ONCE PER CRASH WINDOW" } else { "NOT AS GUARANTEED" }
        )
    }
}
