//! PostgreSQL (feature `postgres`).

use sqlx::Postgres;

use crate::dialect::{insert_head, offsets_by_sqlx, Dialect, OffsetsSql};

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

    fn offsets_sql(table: &str) -> OffsetsSql {
        OffsetsSql {
            read: format!(
                "SELECT topic, kafka_partition, next_offset FROM {table} WHERE group_id = $1"
            ),
            update: format!(
                "UPDATE {table} SET next_offset = $1 WHERE group_id = $2 AND topic = $3 AND kafka_partition = $4 AND next_offset = $5"
            ),
            insert: format!(
                "INSERT INTO {table} (group_id, topic, kafka_partition, next_offset) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
            ),
        }
    }

    offsets_by_sqlx!(sqlx::PgConnection);
}
