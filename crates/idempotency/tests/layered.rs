//! Redis in front of PostgreSQL: the store suite, database queries saved while Redis knows,
//! and Redis down (the database alone).
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::link::Link;
use common::{suite, unique, POSTGRES_URL, REDIS_URL};
use kafka_eos_idempotency::{
    IdempotencyKey, IdempotencyStore, Idempotent, Layered, Outcome, PostgresStore, RedisStore,
};

async fn postgres(table: &str) -> PostgresStore {
    let store = PostgresStore::connect(POSTGRES_URL, table).await.unwrap();
    store.create_table().await.unwrap();
    store
}

async fn redis(url: &str) -> RedisStore {
    RedisStore::connect(url)
        .await
        .unwrap()
        .prefix(format!("{}:", unique("kafka-eos-test")))
        .done_ttl(common::KEEP)
}

type Store = Layered<RedisStore, PostgresStore>;

async fn layered() -> Store {
    Layered::new(redis(REDIS_URL).await, postgres(&unique("idem")).await)
}

async fn run_all(
    guard: &Idempotent<Store>,
    keys: &[IdempotencyKey],
    runs: &Arc<AtomicUsize>,
) -> Vec<Outcome<usize>> {
    let mut outcomes = Vec::new();
    for key in keys {
        outcomes.push(suite::once_until_ok(guard, key, runs).await.0);
    }
    outcomes
}

fn keys(n: usize) -> Vec<IdempotencyKey> {
    (0..n)
        .map(|i| IdempotencyKey::new("ns", format!("k{i}")).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layered_store_passes_the_store_suite() {
    suite::all(|| async { (layered().await, "ns".to_string()) }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_answers_for_done_keys_and_saves_the_database_queries() {
    let guard = Idempotent::new(layered().await);
    let (keys, runs) = (keys(20), Arc::new(AtomicUsize::new(0)));
    assert!(run_all(&guard, &keys, &runs)
        .await
        .iter()
        .all(Outcome::is_ran));
    let first = guard.store().stats();
    assert_eq!(
        (first.db_queries_saved, first.cache_misses),
        (0, 20),
        "{first:?}"
    );

    // Proof that the database is not asked: empty its table. A store that asked it would
    // find the keys free and run the effects again.
    let db = guard.store().db();
    sqlx::query(&format!("DELETE FROM {}", db.table()))
        .execute(db.pool())
        .await
        .unwrap();
    let replay = run_all(&guard, &keys, &runs).await;
    assert!(
        replay.iter().all(|o| *o == Outcome::AlreadyDone),
        "{replay:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 20);
    assert_eq!(guard.store().stats().db_queries_saved, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_only_the_database_knows_is_done_and_copied_into_redis() {
    let guard = Idempotent::new(layered().await);
    let (keys, runs) = (keys(5), Arc::new(AtomicUsize::new(0)));
    // done in the database only (Redis lost its memory, say)
    for key in &keys {
        guard.store().db().mark_done(key).await.unwrap();
    }
    let replay = run_all(&guard, &keys, &runs).await;
    assert!(
        replay.iter().all(|o| *o == Outcome::AlreadyDone),
        "{replay:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert_eq!(guard.store().stats().cache_misses, 5);
    run_all(&guard, &keys, &runs).await;
    assert_eq!(
        guard.store().stats().db_queries_saved,
        5,
        "copied into Redis"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_the_database_decides_alone() {
    let link = Link::to("127.0.0.1:6379").await;
    let cache = redis(&format!("redis://127.0.0.1:{}", link.port())).await;
    let guard = Arc::new(Idempotent::new(Layered::new(
        cache,
        postgres(&unique("idem")).await,
    )));
    let (keys, runs) = (keys(5), Arc::new(AtomicUsize::new(0)));
    run_all(&guard, &keys[..2], &runs).await; // two keys done while Redis was up
    link.cut().await;

    let outcomes = run_all(&guard, &keys, &runs).await;
    assert_eq!(outcomes[..2], [Outcome::AlreadyDone, Outcome::AlreadyDone]);
    assert!(outcomes[2..].iter().all(Outcome::is_ran), "{outcomes:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 5);
    assert!(
        guard.store().stats().cache_errors > 0,
        "{:?}",
        guard.store().stats()
    );

    // and racing callers still run a new key once
    let key = IdempotencyKey::new("ns", "race").unwrap();
    let racers: Vec<_> = (0..suite::RACERS)
        .map(|_| {
            let (guard, key, runs) = (Arc::clone(&guard), key.clone(), Arc::clone(&runs));
            tokio::spawn(async move { suite::once_until_ok(&guard, &key, &runs).await.0 })
        })
        .collect();
    let mut ran = 0;
    for racer in racers {
        ran += usize::from(racer.await.unwrap().is_ran());
    }
    assert_eq!(ran, 1);
    assert_eq!(runs.load(Ordering::SeqCst), 6, "the raced key ran once");
}
