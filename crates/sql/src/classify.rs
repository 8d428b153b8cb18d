//! What a `sqlx` error means for the one who sent the statement: retry it, or not.

/// Whether a retry can get past `e`: the connection or the pool failed (I/O, TLS, protocol,
/// pool timed out or closed), or the server answered with a transient SQLSTATE or MariaDB
/// error (see the private `transient_sqlstate` and `transient_mysql`).
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            transient_sqlstate(db.code().as_deref()) || transient_mysql(db.as_ref())
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

/// Whether `e` says the statement's table does not exist (PostgreSQL's 42P01, MariaDB's
/// 42S02).
pub fn is_missing_table(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("42P01" | "42S02")))
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
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
        assert!(!is_missing_table(&sqlx::Error::RowNotFound));
    }
}
