//! [`MySqlStore`]: claims and marks as rows of a MariaDB (or MySQL) table with a primary key.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};

use crate::error::{Error, Result, StoreKind};
use crate::key::IdempotencyKey;
use crate::sql_error::SqlContext;
use crate::store::{Claim, ClaimToken, Completion, IdempotencyStore};
use crate::table::TableName;
use kafka_eos_sql::redact_url as redact;

/// The pool's size when [`MySqlStore::connect`] makes it.
pub const POOL_SIZE: u32 = 8;

/// How long a call waits for a free connection of the pool (or a new one) before it
/// counts as [`Error::Unavailable`].
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How many times a claim reads a row that vanished (released) between its two statements
/// before it reports the key claimed (to retry).
const CLAIM_ROUNDS: usize = 3;

/// An [`IdempotencyStore`] in a MariaDB or MySQL table (feature `mysql`): the primary key is
/// the final word on who claims a key.
///
/// - claim: `INSERT ... ON DUPLICATE KEY UPDATE` that replaces the token (and lease) only
///   where the existing claim's lease ended, then a `SELECT` of the row: the key is ours if
///   the row holds our token. Not `INSERT IGNORE`: it turns every error of the row (a value
///   too long, cut) into a warning, and a cut key could collide with another.
/// - complete: `UPDATE ... SET state = 'done'` where the token is ours; if it is not (lease
///   lost), an upsert marks it done all the same. release: `DELETE` where the token is ours.
/// - The key column is `VARBINARY(512)`: compared byte for byte (a `VARCHAR` with the
///   default collation would take `Order-1` and `order-1 ` for the same key). Times are the
///   server's (`UTC_TIMESTAMP(6)`).
/// - Done rows are kept until you delete them.
///
/// Deadlocks between racing claims of one key (InnoDB's gap locks) and lock wait timeouts
/// are [`Error::Unavailable`]: retried, never taken for done. The pool does not ping a
/// connection before each use: a connection the server dropped fails one call with
/// [`Error::Unavailable`], and the pool opens a new one.
///
/// ```no_run
/// use kafka_eos_idempotency::{Idempotent, MySqlStore};
///
/// # async fn demo() -> Result<(), kafka_eos_idempotency::Error> {
/// let store = MySqlStore::connect("mysql://app:secret@127.0.0.1:3306/app", "fee_effects").await?;
/// store.create_table().await?; // CREATE TABLE IF NOT EXISTS fee_effects (...)
/// let guard = Idempotent::new(store);
/// # let _ = guard; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MySqlStore {
    pool: MySqlPool,
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

impl MySqlStore {
    /// Connects to `url` (`mysql://user:password@host:port/database`) with a pool of
    /// [`POOL_SIZE`] connections, keeping keys in `table`. Fails with
    /// [`Error::Unreachable`] (naming the URL, its password hidden) if no connection can be
    /// opened, with [`Error::InvalidTable`] for a table name that is not a plain identifier.
    /// Does not create the table.
    pub async fn connect(url: &str, table: &str) -> Result<Self> {
        let table = TableName::new(table)?;
        let unreachable = |source: sqlx::Error| Error::Unreachable {
            store: StoreKind::MySql,
            url: redact(url),
            source: Box::new(source),
        };
        let options = MySqlConnectOptions::from_str(url).map_err(unreachable)?;
        let pool = MySqlPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(unreachable)?;
        Ok(Self::with_table(pool, table))
    }

    /// A store on your own pool, keeping keys in `table`.
    pub fn from_pool(pool: MySqlPool, table: &str) -> Result<Self> {
        Ok(Self::with_table(pool, TableName::new(table)?))
    }

    /// `CREATE TABLE IF NOT EXISTS table (...)`, for your migrations.
    ///
    /// ```
    /// let sql = kafka_eos_idempotency::MySqlStore::create_table_sql("fee_effects")?;
    /// assert!(sql.contains("idempotency_key VARBINARY(512) NOT NULL PRIMARY KEY"));
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
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// The table.
    pub fn table(&self) -> &str {
        self.sql.context.table.as_str()
    }

    fn with_table(pool: MySqlPool, table: TableName) -> Self {
        let t = table.as_str();
        // Assignments of ON DUPLICATE KEY UPDATE run left to right and see the earlier ones:
        // `expires_at`, which the condition reads, is assigned last.
        let expired = "state = 'claimed' AND expires_at <= UTC_TIMESTAMP(6)";
        let sql = Statements {
            claim: format!(
                "INSERT INTO {t} (idempotency_key, state, token, expires_at, updated_at) \
                 VALUES (?, 'claimed', ?, UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND, UTC_TIMESTAMP(6)) \
                 ON DUPLICATE KEY UPDATE \
                 token = IF({expired}, VALUES(token), token), \
                 updated_at = IF({expired}, VALUES(updated_at), updated_at), \
                 expires_at = IF({expired}, VALUES(expires_at), expires_at)"
            ),
            state: format!(
                "SELECT state, token, GREATEST(0, TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), expires_at)) \
                 FROM {t} WHERE idempotency_key = ?"
            ),
            complete: format!(
                "UPDATE {t} SET state = 'done', expires_at = NULL, updated_at = UTC_TIMESTAMP(6) \
                 WHERE idempotency_key = ? AND token = ? AND state = 'claimed'"
            ),
            upsert_done: format!(
                "INSERT INTO {t} (idempotency_key, state, token, expires_at, updated_at) \
                 VALUES (?, 'done', NULL, NULL, UTC_TIMESTAMP(6)) \
                 ON DUPLICATE KEY UPDATE state = 'done', expires_at = NULL, updated_at = VALUES(updated_at)"
            ),
            release: format!(
                "DELETE FROM {t} WHERE idempotency_key = ? AND token = ? AND state = 'claimed'"
            ),
            is_done: format!("SELECT state FROM {t} WHERE idempotency_key = ?"),
            context: SqlContext {
                store: StoreKind::MySql,
                create: create_sql(&table),
                table,
            },
        };
        MySqlStore {
            pool,
            sql: Arc::new(sql),
        }
    }
}

fn create_sql(table: &TableName) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (\
         idempotency_key VARBINARY(512) NOT NULL PRIMARY KEY, \
         state VARCHAR(7) NOT NULL, \
         token CHAR(36) NULL, \
         expires_at DATETIME(6) NULL, \
         updated_at DATETIME(6) NOT NULL) ENGINE=InnoDB"
    )
}

/// A lease in whole microseconds, as the statements take it.
fn micros(lease: Duration) -> i64 {
    i64::try_from(lease.as_micros()).unwrap_or(i64::MAX)
}

impl IdempotencyStore for MySqlStore {
    async fn claim(&self, key: &IdempotencyKey, lease: Duration) -> Result<Claim> {
        let sql = &self.sql;
        for _ in 0..CLAIM_ROUNDS {
            let token = ClaimToken::random();
            sql.context
                .run(
                    sqlx::query(&sql.claim)
                        .bind(key.as_str())
                        .bind(token.as_str())
                        .bind(micros(lease))
                        .execute(&self.pool),
                )
                .await?;
            let row: Option<(String, Option<String>, Option<i64>)> = sql
                .context
                .run(
                    sqlx::query_as(&sql.state)
                        .bind(key.as_str())
                        .fetch_optional(&self.pool),
                )
                .await?;
            match row {
                Some((state, _, _)) if state == "done" => return Ok(Claim::Done),
                Some((_, held, _)) if held.as_deref() == Some(token.as_str()) => {
                    return Ok(Claim::Acquired(token));
                }
                Some((_, _, left)) => {
                    let left = u64::try_from(left.unwrap_or(0)).unwrap_or(0);
                    return Ok(Claim::Held {
                        expires_in: Duration::from_micros(left),
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
        let state: Option<String> = sql
            .context
            .run(
                sqlx::query_scalar(&sql.is_done)
                    .bind(key.as_str())
                    .fetch_optional(&self.pool),
            )
            .await?;
        Ok(state.as_deref() == Some("done"))
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
