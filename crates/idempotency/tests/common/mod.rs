#![cfg(test)] // test code: clippy.toml lets it unwrap and panic
//! What the store suites share: the servers' URLs, unique names, a TCP link that can be
//! cut, and the assertions every store must pass.
#![allow(dead_code)] // each suite uses some of these

pub mod link;
pub mod suite;

/// The servers of this machine and of CI (`.ci/run` starts them).
pub const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// How long the suites' tables and Redis keys are kept: a later run drops older tables
/// (`sweep_postgres`, `sweep_mysql`), and Redis drops the keys (the stores' done TTL in tests).
pub const KEEP: std::time::Duration = std::time::Duration::from_secs(3600);

/// A name no other test (of this run or another) uses: `prefix_t<unix seconds>_<8 hex digits>`
/// (the time lets the sweeps find old ones).
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_t{}_{}", now_secs(), &id[..8])
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Of `tables`, those [`unique`] named more than [`KEEP`] ago.
pub fn stale(tables: Vec<String>) -> Vec<String> {
    let oldest = now_secs() - KEEP.as_secs();
    tables
        .into_iter()
        .filter(|name| {
            name.split('_')
                .filter_map(|part| part.strip_prefix('t')?.parse::<u64>().ok())
                .any(|made| made < oldest)
        })
        .collect()
}

/// Drops the tables earlier runs of the suites left in PostgreSQL's test database.
pub async fn sweep_postgres(pool: &sqlx::PgPool) {
    let list = "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()";
    let tables = sqlx::query_scalar(list).fetch_all(pool).await.unwrap();
    for table in stale(tables) {
        let _ = sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
            .execute(pool)
            .await;
    }
}

/// Drops the tables earlier runs of the suites left in MariaDB's test database.
pub async fn sweep_mysql(pool: &sqlx::MySqlPool) {
    let list = "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
                WHERE table_schema = DATABASE()";
    let tables = sqlx::query_scalar(list).fetch_all(pool).await.unwrap();
    for table in stale(tables) {
        let _ = sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
            .execute(pool)
            .await;
    }
}

/// A port on 127.0.0.1 nothing listens on (bound, then closed).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
