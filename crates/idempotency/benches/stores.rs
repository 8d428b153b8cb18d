//! What `Idempotent::once` adds per record, for each store on its real server (127.0.0.1):
//! a first run (claim, effect, mark) and a replay (the key found done), in µs per call, one
//! caller at a time after a warm-up; and the database queries the layered store's Redis
//! saved on the replays. Printed as a table.
//!
//! ```text
//! cargo bench -p kafka-eos-idempotency --bench stores
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark binary

use std::time::Instant;

use kafka_eos_idempotency::{
    IdempotencyKey, IdempotencyStore, Idempotent, Layered, MemoryStore, MySqlStore, PostgresStore,
    RedisStore,
};

const KEYS: usize = 3_000;
const WARM_UP: usize = 200;

/// µs per call of a first run and of a replay, over `KEYS` keys of a fresh namespace.
async fn measure<S: IdempotencyStore>(guard: &Idempotent<S>) -> (f64, f64) {
    let namespace = format!("bench{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let keys: Vec<IdempotencyKey> = (0..KEYS + WARM_UP)
        .map(|i| IdempotencyKey::new(&namespace, format!("k{i}")).unwrap())
        .collect();
    let effect = |_key: IdempotencyKey| async { Ok::<_, std::io::Error>(()) };
    for key in &keys[..WARM_UP] {
        assert!(guard.once(key, effect).await.unwrap().is_ran());
    }
    let started = Instant::now();
    for key in &keys[WARM_UP..] {
        assert!(guard.once(key, effect).await.unwrap().is_ran());
    }
    let first = started.elapsed().as_secs_f64() * 1e6 / KEYS as f64;
    let started = Instant::now();
    for key in &keys[WARM_UP..] {
        assert!(!guard.once(key, effect).await.unwrap().is_ran());
    }
    let replay = started.elapsed().as_secs_f64() * 1e6 / KEYS as f64;
    (first, replay)
}

fn row(store: &str, (first, replay): (f64, f64), note: &str) {
    println!("| {store} | {first:.0} | {replay:.0} | {note} |");
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let table = format!(
        "bench_idem_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    println!("| store | first run, µs per call | replay, µs per call | |");
    println!("|---|---|---|---|");
    row(
        "memory",
        measure(&Idempotent::new(MemoryStore::new())).await,
        "",
    );
    let redis = || async { RedisStore::connect("redis://127.0.0.1:6379").await.unwrap() };
    row("Redis", measure(&Idempotent::new(redis().await)).await, "");
    let pg = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/test", &table)
        .await
        .unwrap();
    pg.create_table().await.unwrap();
    row(
        "PostgreSQL",
        measure(&Idempotent::new(pg.clone())).await,
        "",
    );
    let maria = MySqlStore::connect("mysql://root@127.0.0.1:3306/test", &table)
        .await
        .unwrap();
    maria.create_table().await.unwrap();
    row(
        "MariaDB",
        measure(&Idempotent::new(maria.clone())).await,
        "",
    );
    let layered = Idempotent::new(Layered::new(redis().await, pg.clone()));
    let m = measure(&layered).await;
    let stats = layered.store().stats();
    row(
        "Redis in front of PostgreSQL",
        m,
        &format!(
            "{} of {} replays answered by Redis (database queries saved)",
            stats.db_queries_saved, KEYS
        ),
    );
    sqlx::query(&format!("DROP TABLE {table}"))
        .execute(pg.pool())
        .await
        .unwrap();
    sqlx::query(&format!("DROP TABLE {table}"))
        .execute(maria.pool())
        .await
        .unwrap();
}
