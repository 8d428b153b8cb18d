//! What an SQL store's `sqlx` error means: unavailable (retry), a missing table, or a
//! rejected request; and the time limit on each statement.

use std::future::Future;
use std::time::Duration;

use crate::error::{Error, Result, StoreKind};
use crate::table::TableName;

/// How long one statement may take, connection included, before it counts as
/// [`Error::Unavailable`] (a server that accepts connections but does not answer).
pub(crate) const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the SQL stores share: which store, the table and the SQL that creates it.
#[derive(Debug, Clone)]
pub(crate) struct SqlContext {
    pub(crate) store: StoreKind,
    pub(crate) table: TableName,
    pub(crate) create: String,
}

impl SqlContext {
    /// Runs one statement under [`STATEMENT_TIMEOUT`] and classifies its error.
    pub(crate) async fn run<T>(
        &self,
        statement: impl Future<Output = std::result::Result<T, sqlx::Error>>,
    ) -> Result<T> {
        match tokio::time::timeout(STATEMENT_TIMEOUT, statement).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.classify(e)),
            Err(elapsed) => Err(Error::Unavailable {
                store: self.store,
                source: Box::new(elapsed),
            }),
        }
    }

    /// An error of this store, classified.
    pub(crate) fn classify(&self, e: sqlx::Error) -> Error {
        let store = self.store;
        let unavailable = match &e {
            sqlx::Error::Database(db) => {
                if matches!(db.code().as_deref(), Some("42P01" | "42S02")) {
                    return Error::MissingTable {
                        table: self.table.to_string(),
                        create: self.create.clone(),
                    };
                }
                transient_sqlstate(db.code().as_deref()) || transient_mysql(db.as_ref())
            }
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            _ => false,
        };
        if unavailable {
            Error::Unavailable {
                store,
                source: Box::new(e),
            }
        } else {
            Error::Rejected {
                store,
                source: Box::new(e),
            }
        }
    }
}

/// SQLSTATEs a retry can get past: connection exceptions (class 08), serialization failures
/// and deadlocks (40001, 40P01), insufficient resources (class 53), a server shutting down or
/// starting (57P01-57P03), a cancelled statement or a lock not available (57014, 55P03), an
/// interrupted statement (MariaDB's 70100: `KILL`).
fn transient_sqlstate(code: Option<&str>) -> bool {
    let Some(code) = code else { return false };
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(
            code,
            "40001" | "40P01" | "57P01" | "57P02" | "57P03" | "57014" | "55P03" | "70100"
        )
}

/// MariaDB / MySQL errors a retry can get past under the generic SQLSTATE HY000: a lock wait
/// timeout (1205), a server shutting down (1053), too many connections (1040), a killed
/// connection (1927).
#[cfg(feature = "mysql")]
fn transient_mysql(db: &dyn sqlx::error::DatabaseError) -> bool {
    db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .is_some_and(|e| matches!(e.number(), 1040 | 1053 | 1205 | 1927))
}

#[cfg(not(feature = "mysql"))]
fn transient_mysql(_db: &dyn sqlx::error::DatabaseError) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_losses_and_conflicts_are_transient_and_syntax_is_not() {
        for code in ["08006", "57P01", "40001", "40P01", "53300", "70100"] {
            assert!(transient_sqlstate(Some(code)), "{code}");
        }
        for code in ["42601", "42501", "23505", "HY000"] {
            assert!(!transient_sqlstate(Some(code)), "{code}");
        }
        let sql = SqlContext {
            store: StoreKind::Postgres,
            table: TableName::new("t").unwrap(),
            create: "CREATE TABLE t".into(),
        };
        assert!(sql.classify(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(!sql.classify(sqlx::Error::RowNotFound).is_retriable());
    }
}
