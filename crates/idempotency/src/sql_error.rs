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

    /// An error of this store, classified (see `kafka_eos_sql`).
    pub(crate) fn classify(&self, e: sqlx::Error) -> Error {
        let store = self.store;
        if kafka_eos_sql::is_missing_table(&e) {
            return Error::MissingTable {
                table: self.table.to_string(),
                create: self.create.clone(),
            };
        }
        if kafka_eos_sql::is_transient(&e) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_pool_is_unavailable_and_a_missing_row_is_not() {
        let sql = SqlContext {
            store: StoreKind::Postgres,
            table: TableName::new("t").unwrap(),
            create: "CREATE TABLE t".into(),
        };
        assert!(sql.classify(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(!sql.classify(sqlx::Error::RowNotFound).is_retriable());
    }
}
