//! [`Dialect`]: what differs between PostgreSQL and MariaDB for the sink: the offsets table's
//! statements and the upsert/increment SQL of [`Upsert`](crate::Upsert).

use futures::future::BoxFuture;

/// One partition's stored position: topic, partition, next offset to process.
pub type StoredOffset = (String, i32, i64);

/// A database the sink writes to: [`sqlx::Postgres`] (feature `postgres`) or
/// [`sqlx::MySql`] for MariaDB and MySQL (feature `mysql`).
///
/// The offsets table has one row per (group, topic, partition) with the next offset to
/// process. It is advanced inside the batch's transaction with a compare-and-set
/// (`... WHERE next_offset = <the offset this batch started from>`), so a transaction built on
/// a position another instance has since moved commits nothing: it is the sink's fence.
pub trait Dialect: sqlx::Database + Sized {
    /// The database's name in messages (`PostgreSQL`, `MariaDB/MySQL`).
    const DISPLAY_NAME: &'static str;

    /// The SQL that creates the offsets table `table` (idempotent: `IF NOT EXISTS`).
    fn create_offsets_table(table: &str) -> String;

    /// `INSERT` of `keys` then `columns` (bound in that order), updating `columns` when a row
    /// with the same `keys` exists.
    fn upsert(table: &str, keys: &[&str], columns: &[&str]) -> String;

    /// `INSERT` of `keys` then `columns` (bound in that order), adding the bound `columns` to
    /// the stored ones when a row with the same `keys` exists.
    fn increment(table: &str, keys: &[&str], columns: &[&str]) -> String;

    /// The offsets table's statements on `table`.
    #[doc(hidden)]
    fn offsets_sql(table: &str) -> OffsetsSql;

    /// The dead-letter table's statements on `table` (`create`: `CREATE TABLE IF NOT
    /// EXISTS`; see [`DatabaseSinkBuilder::dead_letter_table`](crate::DatabaseSinkBuilder::dead_letter_table)).
    fn dead_letter_sql(table: &str) -> DeadLetterSql;

    /// Inserts one dead letter into `table`.
    #[doc(hidden)]
    fn insert_dead_letter<'c>(
        conn: &'c mut Self::Connection,
        table: &'c str,
        row: &'c DeadLetterRow,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>>;

    /// Runs `sql` (one statement without parameters).
    #[doc(hidden)]
    fn execute_raw<'c>(
        conn: &'c mut Self::Connection,
        sql: &'c str,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>>;

    /// Every stored position of `group`.
    #[doc(hidden)]
    fn read_offsets<'c>(
        conn: &'c mut Self::Connection,
        table: &'c str,
        group: &'c str,
    ) -> BoxFuture<'c, Result<Vec<StoredOffset>, sqlx::Error>>;

    /// Moves one partition's position from `from` (`None`: no row yet) to `to`; `false` when
    /// the stored position is not `from` any more (another instance moved it).
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    fn advance_offset<'c>(
        conn: &'c mut Self::Connection,
        table: &'c str,
        group: &'c str,
        topic: &'c str,
        partition: i32,
        from: Option<i64>,
        to: i64,
    ) -> BoxFuture<'c, Result<bool, sqlx::Error>>;
}

/// `(k1, k2, c1)` and `($1, $2, $3)`-style placeholders made by `placeholder(i)`.
pub(crate) fn insert_head(
    table: &str,
    keys: &[&str],
    columns: &[&str],
    placeholder: impl Fn(usize) -> String,
) -> String {
    let all: Vec<&str> = keys.iter().chain(columns).copied().collect();
    let values: Vec<String> = (1..=all.len()).map(placeholder).collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        all.join(", "),
        values.join(", ")
    )
}

/// The offsets table's statements, in a dialect: `read` binds the group; `update` the new
/// offset, group, topic, partition and old offset; `insert` the group, topic, partition and
/// offset (doing nothing on a row that exists).
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct OffsetsSql {
    pub read: String,
    pub update: String,
    pub insert: String,
}

/// The dead-letter table's statements, in a dialect.
#[derive(Debug, Clone)]
pub struct DeadLetterSql {
    /// Creates the table if it is missing.
    pub create: String,
    /// Inserts one row (group, topic, partition, offset, key, value, error, attempts, time).
    pub insert: String,
}

/// One record the sink gave up on, as a row of the dead-letter table.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct DeadLetterRow {
    pub group_id: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub error: String,
    pub attempts: i32,
    pub failed_at_ms: i64,
}

/// The driver-typed methods of [`Dialect`], the same for every sqlx driver but for the
/// connection type: run the dialect's [`OffsetsSql`].
macro_rules! offsets_by_sqlx {
    ($conn:ty) => {
        fn execute_raw<'c>(
            conn: &'c mut $conn,
            sql: &'c str,
        ) -> futures::future::BoxFuture<'c, Result<(), sqlx::Error>> {
            use futures::FutureExt;
            async move { sqlx::query(sql).execute(conn).await.map(drop) }.boxed()
        }

        fn insert_dead_letter<'c>(
            conn: &'c mut $conn,
            table: &'c str,
            row: &'c $crate::dialect::DeadLetterRow,
        ) -> futures::future::BoxFuture<'c, Result<(), sqlx::Error>> {
            use futures::FutureExt;
            async move {
                sqlx::query(&Self::dead_letter_sql(table).insert)
                    .bind(&row.group_id)
                    .bind(&row.topic)
                    .bind(row.partition)
                    .bind(row.offset)
                    .bind(row.key.as_deref())
                    .bind(row.value.as_deref())
                    .bind(&row.error)
                    .bind(row.attempts)
                    .bind(row.failed_at_ms)
                    .execute(conn)
                    .await
                    .map(drop)
            }
            .boxed()
        }

        fn read_offsets<'c>(
            conn: &'c mut $conn,
            table: &'c str,
            group: &'c str,
        ) -> futures::future::BoxFuture<'c, Result<Vec<$crate::dialect::StoredOffset>, sqlx::Error>>
        {
            use futures::FutureExt;
            async move {
                sqlx::query_as::<_, (String, i32, i64)>(&Self::offsets_sql(table).read)
                    .bind(group)
                    .fetch_all(conn)
                    .await
            }
            .boxed()
        }

        fn advance_offset<'c>(
            conn: &'c mut $conn,
            table: &'c str,
            group: &'c str,
            topic: &'c str,
            partition: i32,
            from: Option<i64>,
            to: i64,
        ) -> futures::future::BoxFuture<'c, Result<bool, sqlx::Error>> {
            use futures::FutureExt;
            async move {
                let sql = Self::offsets_sql(table);
                let done = match from {
                    Some(from) => {
                        sqlx::query(&sql.update)
                            .bind(to)
                            .bind(group)
                            .bind(topic)
                            .bind(partition)
                            .bind(from)
                            .execute(conn)
                            .await?
                    }
                    None => {
                        sqlx::query(&sql.insert)
                            .bind(group)
                            .bind(topic)
                            .bind(partition)
                            .bind(to)
                            .execute(conn)
                            .await?
                    }
                };
                Ok(done.rows_affected() == 1)
            }
            .boxed()
        }
    };
}
pub(crate) use offsets_by_sqlx;
