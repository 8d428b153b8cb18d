//! The in-memory store passes the suite every store passes, and can play an outage.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

mod common;

use kafka_eos_idempotency::{IdempotencyKey, Idempotent, MemoryStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_store_passes_the_store_suite() {
    common::suite::all(|| async { (MemoryStore::new(), common::unique("mem")) }).await;
}

#[tokio::test]
async fn an_unavailable_store_is_an_error_and_never_already_done() {
    let guard = Idempotent::new(MemoryStore::new());
    let key = IdempotencyKey::new("mem", "k").unwrap();
    guard.store().set_unavailable(true);
    let err = guard
        .once(&key, |_| async { Ok::<_, std::io::Error>(()) })
        .await
        .unwrap_err();
    assert!(err.is_unavailable() && err.is_retriable(), "{err:?}");
    assert_eq!(guard.stats().store_errors, 1);
    guard.store().set_unavailable(false);
    let outcome = guard
        .once(&key, |_| async { Ok::<_, std::io::Error>(()) })
        .await;
    assert!(outcome.unwrap().is_ran());
}
