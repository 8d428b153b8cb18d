//! PostgreSQL (feature `postgres`).

use sqlx::Postgres;

use crate::dialect::{insert_head, offsets_by_sqlx, DeadLetterSql, Dialect, OffsetsSql};

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

    fn dead_letter_sql(table: &str) -> DeadLetterSql {
        DeadLetterSql {
            create: format!(
                "CREATE TABLE IF NOT EXISTS {table} (\n  group_id TEXT NOT NULL,\n  topic TEXT NOT NULL,\n  kafka_partition INTEGER NOT NULL,\n  kafka_offset BIGINT NOT NULL,\n  record_key BYTEA,\n  record_value BYTEA,\n  error TEXT NOT NULL,\n  attempts INTEGER NOT NULL,\n  failed_at_ms BIGINT NOT NULL,\n  PRIMARY KEY (group_id, topic, kafka_partition, kafka_offset)\n)"
            ),
            insert: format!(
                "INSERT INTO {table} (group_id, topic, kafka_partition, kafka_offset, record_key, record_value, error, attempts, failed_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ),
        }
    }

    offsets_by_sqlx!(sqlx::PgConnection);
}
