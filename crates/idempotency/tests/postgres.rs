//! The PostgreSQL store on the machine's server: the store suite, the missing table, and the
//! server going away.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

mod common;

use std::str::FromStr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use common::link::Link;
use common::{closed_port, suite, unique, POSTGRES_URL};
use kafka_eos_idempotency::{Error, IdempotencyKey, Idempotent, PostgresStore};
use kafka_eos_processor::{Failure, FailureKind};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// A store on a table of its own, created.
async fn store() -> PostgresStore {
    let store = PostgresStore::connect(POSTGRES_URL, &unique("idem"))
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL must run at {POSTGRES_URL} (.ci/run starts it): {e}")
        });
    store.create_table().await.unwrap();
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_store_passes_the_store_suite() {
    common::sweep_postgres(store().await.pool()).await;
    suite::all(|| async { (store().await, "ns".to_string()) }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_is_reported_with_the_sql_that_creates_it() {
    let table = unique("idem_missing");
    let store = PostgresStore::connect(POSTGRES_URL, &table).await.unwrap();
    let guard = Idempotent::new(store);
    let key = IdempotencyKey::new("ns", "k").unwrap();
    let err = guard
        .once(&key, |_| async { Ok::<_, std::io::Error>(()) })
        .await
        .unwrap_err();
    match &err {
        Error::MissingTable { table: t, create } => {
            assert_eq!(t, &table);
            assert_eq!(create, &PostgresStore::create_table_sql(&table).unwrap());
        }
        other => panic!("expected MissingTable, got {other:?}"),
    }
    assert!(!err.is_retriable());
    assert!(
        err.to_string().contains("CREATE TABLE IF NOT EXISTS"),
        "{err}"
    );
    let kind = err
        .into_processor_error()
        .downcast_ref::<Failure>()
        .map(Failure::kind);
    assert_eq!(kind, Some(FailureKind::Stop));
    guard.store().create_table().await.unwrap();
    let outcome = guard
        .once(&key, |_| async { Ok::<_, std::io::Error>(()) })
        .await;
    assert!(outcome.unwrap().is_ran());
}

#[tokio::test]
async fn bad_names_and_unreachable_servers_are_clear_errors() {
    let err = PostgresStore::connect(POSTGRES_URL, "t; DROP TABLE x")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidTable { .. }), "{err:?}");
    let url = format!("postgres://app:s3cret@127.0.0.1:{}/test", closed_port());
    let err = PostgresStore::connect(&url, "t").await.unwrap_err();
    assert!(
        matches!(err, Error::Unreachable { .. }) && err.is_unavailable(),
        "{err:?}"
    );
    let shown = err.to_string();
    assert!(shown.contains("postgres://app:***@127.0.0.1:"), "{shown}");
    assert!(!shown.contains("s3cret"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_gone_is_a_retriable_error_never_already_done() {
    let table = unique("idem");
    store_with_table(&table).await; // creates it
    let link = Link::to("127.0.0.1:5432").await;
    let url = format!("postgres://postgres@127.0.0.1:{}/test", link.port());
    let guard = Idempotent::new(PostgresStore::connect(&url, &table).await.unwrap());
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

async fn store_with_table(table: &str) -> PostgresStore {
    let store = PostgresStore::connect(POSTGRES_URL, table).await.unwrap();
    store.create_table().await.unwrap();
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_backend_fails_a_call_retriably_then_the_pool_reconnects() {
    let app = unique("idem_kill");
    let options = PgConnectOptions::from_str(POSTGRES_URL)
        .unwrap()
        .application_name(&app);
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .unwrap();
    let store = PostgresStore::from_pool(pool, &unique("idem")).unwrap();
    store.create_table().await.unwrap();
    let guard = Idempotent::new(store);
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(POSTGRES_URL)
        .await
        .unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let mut errors = Vec::new();
    for i in 0..5 {
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
        )
        .bind(&app)
        .fetch_all(&admin)
        .await
        .unwrap();
        assert!(!killed.is_empty(), "the store's connections are found");
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
