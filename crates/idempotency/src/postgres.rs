//! [`PostgresStore`]: claims and marks as rows of a PostgreSQL table with a primary key.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::error::{Error, Result, StoreKind};
use crate::key::IdempotencyKey;
use crate::sql_error::SqlContext;
use crate::store::{Claim, ClaimToken, Completion, IdempotencyStore};
use crate::table::TableName;
use kafka_eos_sql::redact_url as redact;

/// The pool's size when [`PostgresStore::connect`] makes it.
pub const POOL_SIZE: u32 = 8;

/// How long a call waits for a free connection of the pool (or a new one) before it
/// counts as [`Error::Unavailable`].
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How many times a claim reads a row that vanished (released) between its two statements
/// before it reports the key claimed (to retry).
const CLAIM_ROUNDS: usize = 3;

/// An [`IdempotencyStore`] in a PostgreSQL table (feature `postgres`): the primary key is
/// the final word on who claims a key.
///
/// - claim: `INSERT ... ON CONFLICT (idempotency_key) DO UPDATE ... WHERE` the existing
///   claim's lease ended, `RETURNING` the token: one statement takes a free or expired key
///   (two racing inserts of one key: the unique index lets one through); when it returns
///   nothing, a `SELECT` tells done from held (and for how long).
/// - complete: `UPDATE ... SET state = 'done'` where the token is ours; if it is not (lease
///   lost), an upsert marks it done all the same. release: `DELETE` where the token is ours.
/// - Times are the server's (`now()`), so instances with skewed clocks agree on leases.
/// - Done rows are kept until you delete them (`DELETE FROM t WHERE state = 'done' AND
///   updated_at < now() - interval '30 days'` once the input topics' retention has passed).
///
/// The table is created by [`PostgresStore::create_table`] or by your migrations with
/// [`PostgresStore::create_table_sql`]; a store whose table is missing answers
/// [`Error::MissingTable`] with that SQL.
///
/// The pool does not ping a connection before each use (that would double the round trips):
/// a connection the server dropped fails one call with [`Error::Unavailable`] (retried),
/// and the pool opens a new one.
///
/// ```no_run
/// use kafka_eos_idempotency::{Idempotent, PostgresStore};
///
/// # async fn demo() -> Result<(), kafka_eos_idempotency::Error> {
/// let store = PostgresStore::connect("postgres://app:secret@127.0.0.1:5432/app", "fee_effects").await?;
/// store.create_table().await?; // CREATE TABLE IF NOT EXISTS fee_effects (...)
/// let guard = Idempotent::new(store);
/// # let _ = guard; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    sql: Arc<Statements>,
}

#[derive(Debug)]
struct Statements {
    context: SqlContext,
    claim: String,
    state: String,
    complete: String,
    upsert_done: String,
    release: String,
    is_done: String,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`) with a pool of
    /// [`POOL_SIZE`] connections, keeping keys in `table` (`name` or `schema.name`). Fails
    /// with [`Error::Unreachable`] (naming the URL, its password hidden) if no connection
    /// can be opened, with [`Error::InvalidTable`] for a table name that is not a plain
    /// identifier. Does not create the table.
    pub async fn connect(url: &str, table: &str) -> Result<Self> {
        let table = TableName::new(table)?;
        let unreachable = |source: sqlx::Error| Error::Unreachable {
            store: StoreKind::Postgres,
            url: redact(url),
            source: Box::new(source),
        };
        let options = PgConnectOptions::from_str(url)
            .map_err(unreachable)?
            .application_name("kafka-eos-idempotency");
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(unreachable)?;
        Ok(Self::with_table(pool, table))
    }

    /// A store on your own pool (its size, timeouts and TLS are yours), keeping keys in
    /// `table`.
    pub fn from_pool(pool: PgPool, table: &str) -> Result<Self> {
        Ok(Self::with_table(pool, TableName::new(table)?))
    }

    /// `CREATE TABLE IF NOT EXISTS table (...)`, for your migrations.
    ///
    /// ```
    /// let sql = kafka_eos_idempotency::PostgresStore::create_table_sql("fee_effects")?;
    /// assert!(sql.starts_with("CREATE TABLE IF NOT EXISTS fee_effects ("));
    /// # Ok::<(), kafka_eos_idempotency::Error>(())
    /// ```
    pub fn create_table_sql(table: &str) -> Result<String> {
        Ok(create_sql(&TableName::new(table)?))
    }

    /// Creates the table if it does not exist.
    pub async fn create_table(&self) -> Result<()> {
        let sql = &self.sql.context;
        sql.run(sqlx::query(&sql.create).execute(&self.pool))
            .await?;
        Ok(())
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The table.
    pub fn table(&self) -> &str {
        self.sql.context.table.as_str()
    }

    fn with_table(pool: PgPool, table: TableName) -> Self {
        let t = table.as_str();
        let sql = Statements {
            claim: format!(
                "INSERT INTO {t} AS cur (idempotency_key, state, token, expires_at, updated_at) \
                 VALUES ($1, 'claimed', $2, now() + $3::float8 * interval '1 millisecond', now()) \
                 ON CONFLICT (idempotency_key) DO UPDATE \
                 SET token = EXCLUDED.token, expires_at = EXCLUDED.expires_at, updated_at = EXCLUDED.updated_at \
                 WHERE cur.state = 'claimed' AND cur.expires_at <= now() \
                 RETURNING cur.token"
            ),
            state: format!(
                "SELECT state, GREATEST(0, CEIL(EXTRACT(EPOCH FROM (expires_at - now())) * 1000))::int8 \
                 FROM {t} WHERE idempotency_key = $1"
            ),
            complete: format!(
                "UPDATE {t} SET state = 'done', expires_at = NULL, updated_at = now() \
                 WHERE idempotency_key = $1 AND token = $2 AND state = 'claimed'"
            ),
            upsert_done: format!(
                "INSERT INTO {t} AS cur (idempotency_key, state, token, expires_at, updated_at) \
                 VALUES ($1, 'done', NULL, NULL, now()) \
                 ON CONFLICT (idempotency_key) DO UPDATE \
                 SET state = 'done', expires_at = NULL, updated_at = now() WHERE cur.state <> 'done'"
            ),
            release: format!(
                "DELETE FROM {t} WHERE idempotency_key = $1 AND token = $2 AND state = 'claimed'"
            ),
            is_done: format!("SELECT state = 'done' FROM {t} WHERE idempotency_key = $1"),
            context: SqlContext {
                store: StoreKind::Postgres,
                create: create_sql(&table),
                table,
            },
        };
        PostgresStore {
            pool,
            sql: Arc::new(sql),
        }
    }
}

fn create_sql(table: &TableName) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (\
         idempotency_key TEXT PRIMARY KEY, \
         state TEXT NOT NULL CHECK (state IN ('claimed', 'done')), \
         token TEXT, \
         expires_at TIMESTAMPTZ, \
         updated_at TIMESTAMPTZ NOT NULL)"
    )
}

/// A lease in whole milliseconds, as the statements take it.
fn millis(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}

impl IdempotencyStore for PostgresStore {
    async fn claim(&self, key: &IdempotencyKey, lease: Duration) -> Result<Claim> {
        let sql = &self.sql;
        for _ in 0..CLAIM_ROUNDS {
            let token = ClaimToken::random();
            let taken: Option<String> = sql
                .context
                .run(
                    sqlx::query_scalar(&sql.claim)
                        .bind(key.as_str())
                        .bind(token.as_str())
                        .bind(millis(lease))
                        .fetch_optional(&self.pool),
                )
                .await?;
            if taken.is_some() {
                return Ok(Claim::Acquired(token));
            }
            let state: Option<(String, Option<i64>)> = sql
                .context
                .run(
                    sqlx::query_as(&sql.state)
                        .bind(key.as_str())
                        .fetch_optional(&self.pool),
                )
                .await?;
            match state {
                Some((state, _)) if state == "done" => return Ok(Claim::Done),
                Some((_, left)) => {
                    let left = u64::try_from(left.unwrap_or(0)).unwrap_or(0);
                    return Ok(Claim::Held {
                        expires_in: Duration::from_millis(left),
                    });
                }
                None => continue, // released between the two statements: claim again
            }
        }
        Ok(Claim::Held {
            expires_in: Duration::ZERO,
        })
    }

    async fn complete(&self, key: &IdempotencyKey, token: &ClaimToken) -> Result<Completion> {
        let sql = &self.sql;
        let updated = sql
            .context
            .run(
                sqlx::query(&sql.complete)
                    .bind(key.as_str())
                    .bind(token.as_str())
                    .execute(&self.pool),
            )
            .await?;
        if updated.rows_affected() == 1 {
            return Ok(Completion::Marked);
        }
        self.mark_done(key).await?;
        Ok(Completion::LeaseLost)
    }

    async fn release(&self, key: &IdempotencyKey, token: &ClaimToken) -> Result<()> {
        let sql = &self.sql;
        sql.context
            .run(
                sqlx::query(&sql.release)
                    .bind(key.as_str())
                    .bind(token.as_str())
                    .execute(&self.pool),
            )
            .await?;
        Ok(())
    }

    async fn is_done(&self, key: &IdempotencyKey) -> Result<bool> {
        let sql = &self.sql;
        let done: Option<bool> = sql
            .context
            .run(
                sqlx::query_scalar(&sql.is_done)
                    .bind(key.as_str())
                    .fetch_optional(&self.pool),
            )
            .await?;
        Ok(done.unwrap_or(false))
    }

    async fn mark_done(&self, key: &IdempotencyKey) -> Result<()> {
        let sql = &self.sql;
        sql.context
            .run(
                sqlx::query(&sql.upsert_done)
                    .bind(key.as_str())
                    .execute(&self.pool),
            )
            .await?;
        Ok(())
    }
}
