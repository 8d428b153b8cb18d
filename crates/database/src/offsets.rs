//! The offsets table: where each partition of the group resumes, written in the batch's
//! transaction, read when partitions are assigned.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::Pool;

use crate::dialect::Dialect;
use crate::error::{Error, Result};

/// A partition: topic and number.
pub(crate) type Partition = (String, i32);

/// How long one of the sink's own statements may take before it counts as transient.
pub(crate) const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default name of the offsets table.
pub const DEFAULT_OFFSETS_TABLE: &str = "kafka_eos_offsets";

/// A statement of the sink that failed: worth another attempt, or not.
#[derive(Debug)]
pub(crate) enum Failed {
    /// The database is down, the connection was lost, a deadlock, a timeout.
    Transient {
        statement: &'static str,
        source: sqlx::Error,
    },
    /// Another attempt would fail the same way.
    Fatal(Error),
}

impl Failed {
    /// `e` from `statement` on `DB`, classified.
    pub(crate) fn of<DB: Dialect>(statement: &'static str, e: sqlx::Error) -> Self {
        if kafka_eos_sql::is_transient(&e) {
            Failed::Transient {
                statement,
                source: e,
            }
        } else {
            Failed::Fatal(Error::Database {
                database: DB::DISPLAY_NAME,
                statement,
                source: e,
            })
        }
    }

    /// The error to stop with (a transient one too: where it cannot be retried).
    pub(crate) fn into_error<DB: Dialect>(self) -> Error {
        match self {
            Failed::Transient { statement, source } => Error::Database {
                database: DB::DISPLAY_NAME,
                statement,
                source,
            },
            Failed::Fatal(e) => e,
        }
    }

    /// Runs `statement` under [`STATEMENT_TIMEOUT`] (a timeout is transient).
    pub(crate) async fn timed<DB: Dialect, T>(
        statement: &'static str,
        run: impl std::future::Future<Output = std::result::Result<T, sqlx::Error>>,
    ) -> std::result::Result<T, Failed> {
        match tokio::time::timeout(STATEMENT_TIMEOUT, run).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(Failed::of::<DB>(statement, e)),
            Err(_) => Err(Failed::Transient {
                statement,
                source: sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {STATEMENT_TIMEOUT:?}"),
                )),
            }),
        }
    }
}

/// Runs `sql`, a `CREATE TABLE IF NOT EXISTS` (`statement` names it in errors), under
/// [`STATEMENT_TIMEOUT`]: at start-up, where an error stops the sink.
pub(crate) async fn create_table<DB: Dialect>(
    pool: &Pool<DB>,
    statement: &'static str,
    sql: &str,
) -> Result<()> {
    Failed::timed::<DB, _>(statement, async {
        let mut conn = pool.acquire().await?;
        DB::execute_raw(&mut conn, sql).await
    })
    .await
    .map_err(Failed::into_error::<DB>)
}

/// The offsets table of one consumer group.
#[derive(Debug, Clone)]
pub(crate) struct OffsetsTable {
    pub(crate) table: String,
    pub(crate) group: String,
}

impl OffsetsTable {
    pub(crate) fn new(table: &str, group: &str) -> Result<Self> {
        if !kafka_eos_sql::is_valid_table_name(table) {
            return Err(Error::InvalidTable {
                table: table.to_owned(),
            });
        }
        Ok(OffsetsTable {
            table: table.to_owned(),
            group: group.to_owned(),
        })
    }

    /// Creates the table if it is missing (`create`), or checks that it is there and
    /// reports the SQL that creates it if not.
    pub(crate) async fn ensure<DB: Dialect>(&self, pool: &Pool<DB>, create: bool) -> Result<()> {
        let sql = DB::create_offsets_table(&self.table);
        if create {
            return create_table(pool, "create offsets table", &sql).await;
        }
        match self.load(pool).await {
            Ok(_) => Ok(()),
            Err(Failed::Fatal(Error::Database { source, .. }))
                if kafka_eos_sql::is_missing_table(&source) =>
            {
                Err(Error::MissingOffsetsTable {
                    table: self.table.clone(),
                    create: format!("{sql};"),
                })
            }
            Err(failed) => Err(failed.into_error::<DB>()),
        }
    }

    /// Every stored position of the group.
    pub(crate) async fn load<DB: Dialect>(
        &self,
        pool: &Pool<DB>,
    ) -> std::result::Result<HashMap<Partition, i64>, Failed> {
        let rows = Failed::timed::<DB, _>("read offsets", async {
            let mut conn = pool.acquire().await?;
            DB::read_offsets(&mut conn, &self.table, &self.group).await
        })
        .await?;
        Ok(rows
            .into_iter()
            .map(|(topic, partition, next)| ((topic, partition), next))
            .collect())
    }

    /// Moves `partition` of `topic` from `from` to `to` inside `tx`: `false` if another
    /// instance moved it first.
    pub(crate) async fn advance<DB: Dialect>(
        &self,
        tx: &mut DB::Connection,
        topic: &str,
        partition: i32,
        from: Option<i64>,
        to: i64,
    ) -> std::result::Result<bool, Failed> {
        Failed::timed::<DB, _>(
            "advance offsets",
            DB::advance_offset(tx, &self.table, &self.group, topic, partition, from, to),
        )
        .await
    }
}
