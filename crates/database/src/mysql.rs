//! MariaDB and MySQL (feature `mysql`).

use sqlx::MySql;

use crate::dialect::{insert_head, offsets_by_sqlx, DeadLetterSql, Dialect, OffsetsSql};

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

    // InnoDB's UPDATE reads the latest committed row (and locks it) whatever the isolation
    // level: a position another transaction moved fails the compare
    fn offsets_sql(table: &str) -> OffsetsSql {
        OffsetsSql {
            read: format!(
                "SELECT topic, kafka_partition, next_offset FROM {table} WHERE group_id = ?"
            ),
            update: format!(
                "UPDATE {table} SET next_offset = ? WHERE group_id = ? AND topic = ? AND kafka_partition = ? AND next_offset = ?"
            ),
            insert: format!(
                "INSERT IGNORE INTO {table} (group_id, topic, kafka_partition, next_offset) VALUES (?, ?, ?, ?)"
            ),
        }
    }

    fn dead_letter_sql(table: &str) -> DeadLetterSql {
        DeadLetterSql {
            create: format!(
                "CREATE TABLE IF NOT EXISTS {table} (\n  group_id VARCHAR(255) NOT NULL,\n  topic VARCHAR(255) NOT NULL,\n  kafka_partition INT NOT NULL,\n  kafka_offset BIGINT NOT NULL,\n  record_key LONGBLOB,\n  record_value LONGBLOB,\n  error TEXT NOT NULL,\n  attempts INT NOT NULL,\n  failed_at_ms BIGINT NOT NULL,\n  PRIMARY KEY (group_id, topic, kafka_partition, kafka_offset)\n) ENGINE = InnoDB"
            ),
            insert: format!(
                "INSERT INTO {table} (group_id, topic, kafka_partition, kafka_offset, record_key, record_value, error, attempts, failed_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
        }
    }

    offsets_by_sqlx!(sqlx::MySqlConnection);
}
