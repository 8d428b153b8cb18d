//! [`Upsert`]: the "insert, or update by key" write and the "insert, or add to" increment,
//! in the sink's SQL dialect.

use std::marker::PhantomData;

use crate::dialect::Dialect;
use crate::error::{Error, Result};

/// One prepared upsert statement: insert a row, or update the row with the same key.
///
/// Bind the key columns, then the other columns, in the order given. Built once (the SQL is
/// checked and written then), used for every record.
///
/// ```
/// # #[cfg(all(feature = "postgres", feature = "mysql"))] {
/// use kafka_eos_database::Upsert;
/// use sqlx::{MySql, Postgres};
///
/// // the order's status, by order id
/// let status = Upsert::<Postgres>::new("order_status", &["order_id"], &["status", "seq"])?;
/// assert_eq!(status.sql(), "INSERT INTO order_status (order_id, status, seq) VALUES ($1, $2, $3) \
///     ON CONFLICT (order_id) DO UPDATE SET status = EXCLUDED.status, seq = EXCLUDED.seq");
///
/// // a balance: added to, not replaced (not idempotent: safe only inside the sink's transaction)
/// let fees = Upsert::<MySql>::increment("merchant_fees", &["merchant"], &["balance_cents"])?;
/// assert_eq!(fees.sql(), "INSERT INTO merchant_fees (merchant, balance_cents) VALUES (?, ?) \
///     ON DUPLICATE KEY UPDATE balance_cents = balance_cents + VALUES(balance_cents)");
/// # }
/// # Ok::<(), kafka_eos_database::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Upsert<DB> {
    sql: String,
    _db: PhantomData<fn() -> DB>,
}

impl<DB: Dialect> Upsert<DB> {
    /// Insert `keys` and `columns`; on a row with the same `keys` (a primary key or unique
    /// index over them), set `columns` to the new values. With no `columns`: insert, or
    /// leave the existing row as it is.
    pub fn new(table: &str, keys: &[&str], columns: &[&str]) -> Result<Self> {
        check(table, keys, columns)?;
        Ok(Self::from_sql(DB::upsert(table, keys, columns)))
    }

    /// Insert `keys` and `columns`; on a row with the same `keys`, add the new values to
    /// `columns`.
    pub fn increment(table: &str, keys: &[&str], columns: &[&str]) -> Result<Self> {
        check(table, keys, columns)?;
        if columns.is_empty() {
            return Err(Error::InvalidTable {
                table: format!("{table} (an increment needs at least one column)"),
            });
        }
        Ok(Self::from_sql(DB::increment(table, keys, columns)))
    }

    fn from_sql(sql: String) -> Self {
        Upsert {
            sql,
            _db: PhantomData,
        }
    }

    /// The statement.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The statement as a query to bind its values to.
    pub fn query(&self) -> sqlx::query::Query<'_, DB, <DB as sqlx::Database>::Arguments<'_>> {
        sqlx::query(&self.sql)
    }
}

/// Every name must be written into SQL as it is; keys are required.
fn check(table: &str, keys: &[&str], columns: &[&str]) -> Result<()> {
    let column_ok = |c: &&str| kafka_eos_sql::is_valid_table_name(c) && !c.contains('.');
    if !kafka_eos_sql::is_valid_table_name(table) {
        return Err(Error::InvalidTable {
            table: table.to_owned(),
        });
    }
    if keys.is_empty() || !keys.iter().chain(columns).all(column_ok) {
        return Err(Error::InvalidTable {
            table: format!(
                "{table} (keys {keys:?}, columns {columns:?}: at least one key, each a plain identifier)"
            ),
        });
    }
    Ok(())
}
