//! PostgreSQL (feature `postgres`).

use futures::future::BoxFuture;
use futures::FutureExt;
use sqlx::Postgres;

use crate::dialect::{insert_head, Dialect, StoredOffset};

impl Dialect for Postgres {
    const DISPLAY_NAME: &'static str = "PostgreSQL";

    fn create_offsets_table(table: &str) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {table} (\n  group_id TEXT NOT NULL,\n  topic TEXT NOT NULL,\n  kafka_partition INTEGER NOT NULL,\n  next_offset BIGINT NOT NULL,\n  PRIMARY KEY (group_id, topic, kafka_partition)\n)"
        )
    }

    fn upsert(table: &str, keys: &[&str], columns: &[&str]) -> String {
        let head = insert_head(table, keys, columns, |i| format!("${i}"));
        if columns.is_empty() {
            return format!("{head} ON CONFLICT ({}) DO NOTHING", keys.join(", "));
        }
        let set: Vec<String> = columns
            .iter()
            .map(|c| format!("{c} = EXCLUDED.{c}"))
            .collect();
        format!(
            "{head} ON CONFLICT ({}) DO UPDATE SET {}",
            keys.join(", "),
            set.join(", ")
        )
    }

    fn increment(table: &str, keys: &[&str], columns: &[&str]) -> String {
        let head = insert_head(table, keys, columns, |i| format!("${i}"));
        let set: Vec<String> = columns
            .iter()
            .map(|c| format!("{c} = {table}.{c} + EXCLUDED.{c}"))
            .collect();
        format!(
            "{head} ON CONFLICT ({}) DO UPDATE SET {}",
            keys.join(", "),
            set.join(", ")
        )
    }

    fn execute_raw<'c>(
        conn: &'c mut sqlx::PgConnection,
        sql: &'c str,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        async move { sqlx::query(sql).execute(conn).await.map(drop) }.boxed()
    }

    fn read_offsets<'c>(
        conn: &'c mut sqlx::PgConnection,
        table: &'c str,
        group: &'c str,
    ) -> BoxFuture<'c, Result<Vec<StoredOffset>, sqlx::Error>> {
        async move {
            sqlx::query_as::<_, (String, i32, i64)>(&format!(
                "SELECT topic, kafka_partition, next_offset FROM {table} WHERE group_id = $1"
            ))
            .bind(group)
            .fetch_all(conn)
            .await
        }
        .boxed()
    }

    fn advance_offset<'c>(
        conn: &'c mut sqlx::PgConnection,
        table: &'c str,
        group: &'c str,
        topic: &'c str,
        partition: i32,
        from: Option<i64>,
        to: i64,
    ) -> BoxFuture<'c, Result<bool, sqlx::Error>> {
        async move {
            let done = match from {
                Some(from) => sqlx::query(&format!(
                    "UPDATE {table} SET next_offset = $1 WHERE group_id = $2 AND topic = $3 AND kafka_partition = $4 AND next_offset = $5"
                ))
                .bind(to)
                .bind(group)
                .bind(topic)
                .bind(partition)
                .bind(from)
                .execute(conn)
                .await?,
                None => sqlx::query(&format!(
                    "INSERT INTO {table} (group_id, topic, kafka_partition, next_offset) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
                ))
                .bind(group)
                .bind(topic)
                .bind(partition)
                .bind(to)
                .execute(conn)
                .await?,
            };
            Ok(done.rows_affected() == 1)
        }
        .boxed()
    }
}
