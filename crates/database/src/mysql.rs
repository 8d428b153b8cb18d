//! MariaDB and MySQL (feature `mysql`).

use futures::future::BoxFuture;
use futures::FutureExt;
use sqlx::MySql;

use crate::dialect::{insert_head, Dialect, StoredOffset};

impl Dialect for MySql {
    const DISPLAY_NAME: &'static str = "MariaDB/MySQL";

    fn create_offsets_table(table: &str) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {table} (\n  group_id VARCHAR(255) NOT NULL,\n  topic VARCHAR(255) NOT NULL,\n  kafka_partition INT NOT NULL,\n  next_offset BIGINT NOT NULL,\n  PRIMARY KEY (group_id, topic, kafka_partition)\n) ENGINE = InnoDB"
        )
    }

    fn upsert(table: &str, keys: &[&str], columns: &[&str]) -> String {
        let head = insert_head(table, keys, columns, |_| "?".to_owned());
        if columns.is_empty() {
            return head.replacen("INSERT INTO", "INSERT IGNORE INTO", 1);
        }
        let set: Vec<String> = columns
            .iter()
            .map(|c| format!("{c} = VALUES({c})"))
            .collect();
        format!("{head} ON DUPLICATE KEY UPDATE {}", set.join(", "))
    }

    fn increment(table: &str, keys: &[&str], columns: &[&str]) -> String {
        let head = insert_head(table, keys, columns, |_| "?".to_owned());
        let set: Vec<String> = columns
            .iter()
            .map(|c| format!("{c} = {c} + VALUES({c})"))
            .collect();
        format!("{head} ON DUPLICATE KEY UPDATE {}", set.join(", "))
    }

    fn execute_raw<'c>(
        conn: &'c mut sqlx::MySqlConnection,
        sql: &'c str,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        async move { sqlx::query(sql).execute(conn).await.map(drop) }.boxed()
    }

    fn read_offsets<'c>(
        conn: &'c mut sqlx::MySqlConnection,
        table: &'c str,
        group: &'c str,
    ) -> BoxFuture<'c, Result<Vec<StoredOffset>, sqlx::Error>> {
        async move {
            sqlx::query_as::<_, (String, i32, i64)>(&format!(
                "SELECT topic, kafka_partition, next_offset FROM {table} WHERE group_id = ?"
            ))
            .bind(group)
            .fetch_all(conn)
            .await
        }
        .boxed()
    }

    fn advance_offset<'c>(
        conn: &'c mut sqlx::MySqlConnection,
        table: &'c str,
        group: &'c str,
        topic: &'c str,
        partition: i32,
        from: Option<i64>,
        to: i64,
    ) -> BoxFuture<'c, Result<bool, sqlx::Error>> {
        async move {
            // InnoDB's UPDATE reads the latest committed row (and locks it) whatever the
            // isolation level: a position another transaction moved fails the compare
            let done = match from {
                Some(from) => sqlx::query(&format!(
                    "UPDATE {table} SET next_offset = ? WHERE group_id = ? AND topic = ? AND kafka_partition = ? AND next_offset = ?"
                ))
                .bind(to)
                .bind(group)
                .bind(topic)
                .bind(partition)
                .bind(from)
                .execute(conn)
                .await?,
                None => sqlx::query(&format!(
                    "INSERT IGNORE INTO {table} (group_id, topic, kafka_partition, next_offset) VALUES (?, ?, ?, ?)"
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
