//! The Redis store on the machine's Redis server: the store suite, and Redis going away.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::link::Link;
use common::{closed_port, suite, unique, REDIS_URL};
use kafka_eos_idempotency::{Error, IdempotencyKey, Idempotent, RedisStore};
use kafka_eos_processor::{Failure, FailureKind};

async fn store(prefix: &str) -> RedisStore {
    RedisStore::connect(REDIS_URL)
        .await
        .unwrap_or_else(|e| panic!("Redis must run at {REDIS_URL} (.ci/run starts it): {e}"))
        .prefix(format!("{prefix}:"))
        .done_ttl(common::KEEP)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_store_passes_the_store_suite() {
    suite::all(|| async {
        let prefix = unique("kafka-eos-test");
        (store(&prefix).await, "ns".to_string())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_done_mark_lives_for_the_done_ttl_and_a_claim_for_its_lease() {
    let prefix = unique("kafka-eos-test");
    let store = store(&prefix).await.done_ttl(Duration::from_secs(3600));
    let guard = Idempotent::new(store).lease(Duration::from_secs(20));
    let key = IdempotencyKey::new("ns", "ttl").unwrap();
    let mut redis = guard.store().connection();
    let redis_key = format!("{prefix}:ns:ttl");
    let ttl_while_claimed = {
        let mut redis = redis.clone();
        let redis_key = redis_key.clone();
        guard
            .once(&key, |_| async move {
                let ttl: i64 = redis::cmd("PTTL")
                    .arg(&redis_key)
                    .query_async(&mut redis)
                    .await?;
                Ok::<_, redis::RedisError>(ttl)
            })
            .await
            .unwrap()
            .ran()
            .unwrap()
    };
    assert!(
        (1..=20_000).contains(&ttl_while_claimed),
        "{ttl_while_claimed}"
    );
    let ttl_done: i64 = redis::cmd("PTTL")
        .arg(&redis_key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!((3_590_000..=3_600_000).contains(&ttl_done), "{ttl_done}");
}

#[tokio::test]
async fn an_unreachable_redis_is_named_with_its_password_hidden() {
    let url = format!("redis://:s3cret@127.0.0.1:{}", closed_port());
    let err = RedisStore::connect(&url).await.unwrap_err();
    assert!(
        matches!(err, Error::Unreachable { .. }) && err.is_unavailable(),
        "{err:?}"
    );
    let shown = err.to_string();
    assert!(shown.contains("redis://:***@127.0.0.1:"), "{shown}");
    assert!(!shown.contains("s3cret"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_going_down_is_a_retriable_error_never_already_done() {
    let link = Link::to("127.0.0.1:6379").await;
    let url = format!("redis://127.0.0.1:{}", link.port());
    let store = RedisStore::connect(&url)
        .await
        .unwrap()
        .prefix(format!("{}:", unique("kafka-eos-test")));
    let guard = Idempotent::new(store);
    let runs = Arc::new(AtomicUsize::new(0));
    let done = IdempotencyKey::new("ns", "done-before").unwrap();
    let (outcome, _) = suite::once_until_ok(&guard, &done, &runs).await;
    assert!(outcome.is_ran());

    link.cut().await;
    for key in [done.clone(), IdempotencyKey::new("ns", "new").unwrap()] {
        let r = Arc::clone(&runs);
        let err = guard
            .once(&key, move |_| async move {
                r.fetch_add(1, Ordering::SeqCst);
                Ok::<_, std::io::Error>(0)
            })
            .await
            .unwrap_err();
        assert!(err.is_unavailable() && err.is_retriable(), "{key}: {err:?}");
        let failure = err.into_processor_error();
        let kind = failure.downcast_ref::<Failure>().map(Failure::kind);
        assert_eq!(
            kind,
            Some(FailureKind::Retry(None)),
            "retried with the pipeline's backoff"
        );
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "no effect ran while the store was down"
    );
    assert!(guard.stats().store_errors >= 2, "{:?}", guard.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_connection_fails_calls_retriably_then_reconnects() {
    let guard = Idempotent::new(store(&unique("kafka-eos-test")).await);
    let mut admin = redis::Client::open(REDIS_URL)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let mut seen = Vec::new();
    for i in 0..5 {
        let id: i64 = redis::cmd("CLIENT")
            .arg("ID")
            .query_async(&mut guard.store().connection())
            .await
            .unwrap();
        let _: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(id)
            .query_async(&mut admin)
            .await
            .unwrap();
        let key = IdempotencyKey::new("ns", format!("k{i}")).unwrap();
        let (outcome, errors) = suite::once_until_ok(&guard, &key, &runs).await;
        assert!(
            outcome.is_ran(),
            "a key never done is run, not skipped: {outcome:?}"
        );
        seen.extend(errors);
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        5,
        "each effect once; errors on the way: {seen:?}"
    );
}
