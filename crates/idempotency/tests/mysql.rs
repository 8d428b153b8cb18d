//! The MariaDB store on the machine's server: the store suite, the missing table, and the
//! server going away.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

mod common;

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use common::link::Link;
use common::{closed_port, suite, unique, MYSQL_URL};
use kafka_eos_idempotency::{Error, IdempotencyKey, Idempotent, MySqlStore};
use kafka_eos_processor::{Failure, FailureKind};
use sqlx::mysql::MySqlPoolOptions;

async fn store_with_table(table: &str) -> MySqlStore {
    let store = MySqlStore::connect(MYSQL_URL, table)
        .await
        .unwrap_or_else(|e| panic!("MariaDB must run at {MYSQL_URL} (.ci/run starts it): {e}"));
    store.create_table().await.unwrap();
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mariadb_store_passes_the_store_suite() {
    common::sweep_mysql(store_with_table(&unique("idem")).await.pool()).await;
    suite::all(|| async { (store_with_table(&unique("idem")).await, "ns".to_string()) }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_compared_byte_for_byte() {
    let guard = Idempotent::new(store_with_table(&unique("idem")).await);
    for key in ["Order-1", "order-1", "order-1 "] {
        let key = IdempotencyKey::new("ns", key).unwrap();
        let outcome = guard
            .once(&key, |_| async { Ok::<_, std::io::Error>(()) })
            .await;
        assert!(outcome.unwrap().is_ran(), "{key:?} is a key of its own");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_is_reported_with_the_sql_that_creates_it() {
    let table = unique("idem_missing");
    let guard = Idempotent::new(MySqlStore::connect(MYSQL_URL, &table).await.unwrap());
    let key = IdempotencyKey::new("ns", "k").unwrap();
    let err = guard
        .once(&key, |_| async { Ok::<_, std::io::Error>(()) })
        .await
        .unwrap_err();
    assert!(err.is_missing_table() && !err.is_retriable(), "{err:?}");
    assert!(
        err.to_string()
            .contains(&MySqlStore::create_table_sql(&table).unwrap()),
        "{err}"
    );
    guard.store().create_table().await.unwrap();
    let outcome = guard
        .once(&key, |_| async { Ok::<_, std::io::Error>(()) })
        .await;
    assert!(outcome.unwrap().is_ran());
}

#[tokio::test]
async fn an_unreachable_server_is_named_with_its_password_hidden() {
    let url = format!("mysql://root:s3cret@127.0.0.1:{}/test", closed_port());
    let err = MySqlStore::connect(&url, "t").await.unwrap_err();
    assert!(
        matches!(err, Error::Unreachable { .. }) && err.is_unavailable(),
        "{err:?}"
    );
    let shown = err.to_string();
    assert!(
        shown.contains("mysql://root:***@127.0.0.1:") && !shown.contains("s3cret"),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_gone_is_a_retriable_error_never_already_done() {
    let table = unique("idem");
    store_with_table(&table).await;
    let link = Link::to("127.0.0.1:3306").await;
    let url = format!("mysql://root@127.0.0.1:{}/test", link.port());
    let guard = Idempotent::new(MySqlStore::connect(&url, &table).await.unwrap());
    let runs = Arc::new(AtomicUsize::new(0));
    let done = IdempotencyKey::new("ns", "done-before").unwrap();
    assert!(suite::once_until_ok(&guard, &done, &runs).await.0.is_ran());
    link.cut().await;
    for key in [done, IdempotencyKey::new("ns", "new").unwrap()] {
        let err = guard
            .once(&key, |_| async { Ok::<_, std::io::Error>(0) })
            .await
            .unwrap_err();
        assert!(err.is_unavailable() && err.is_retriable(), "{key}: {err:?}");
        let kind = err
            .into_processor_error()
            .downcast_ref::<Failure>()
            .map(Failure::kind);
        assert_eq!(kind, Some(FailureKind::Retry(None)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_connection_fails_a_call_retriably_then_the_pool_reconnects() {
    let pool = MySqlPoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        .connect(MYSQL_URL)
        .await
        .unwrap();
    let store = MySqlStore::from_pool(pool, &unique("idem")).unwrap();
    store.create_table().await.unwrap();
    let guard = Idempotent::new(store);
    let admin = MySqlPoolOptions::new()
        .max_connections(1)
        .connect(MYSQL_URL)
        .await
        .unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let mut errors = Vec::new();
    for i in 0..5 {
        let id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
            .fetch_one(guard.store().pool())
            .await
            .unwrap();
        sqlx::query(&format!("KILL {id}"))
            .execute(&admin)
            .await
            .unwrap();
        let key = IdempotencyKey::new("ns", format!("k{i}")).unwrap();
        let (outcome, seen) = suite::once_until_ok(&guard, &key, &runs).await;
        assert!(outcome.is_ran(), "{outcome:?}");
        errors.extend(seen);
    }
    assert_eq!(
        runs.load(std::sync::atomic::Ordering::SeqCst),
        5,
        "{errors:?}"
    );
    assert!(
        !errors.is_empty(),
        "a killed connection fails a call (retried), not silently"
    );
}
