//! The assertions every store passes, each on keys of its own.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kafka_eos_idempotency::{
    Claim, Completion, Error, IdempotencyKey, IdempotencyStore, Idempotent, Outcome,
};

/// How many tasks race for one key.
pub const RACERS: usize = 50;

/// An effect that counts its runs and takes a while (so racers overlap it).
async fn counted(runs: Arc<AtomicUsize>) -> Result<usize, std::io::Error> {
    let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(n)
}

/// Calls `once` until it succeeds, asserting every error on the way is retriable (a
/// claimed key, a store that did not answer); returns the outcome and the errors seen.
pub async fn once_until_ok<S: IdempotencyStore>(
    guard: &Idempotent<S>,
    key: &IdempotencyKey,
    runs: &Arc<AtomicUsize>,
) -> (Outcome<usize>, Vec<String>) {
    let mut errors = Vec::new();
    for _ in 0..400 {
        let runs = Arc::clone(runs);
        match guard.once(key, move |_| counted(runs)).await {
            Ok(outcome) => return (outcome, errors),
            Err(e) => {
                assert!(e.is_retriable(), "a store error must be retriable: {e:?}");
                errors.push(e.to_string());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    panic!("no success after 400 attempts: {errors:?}");
}

/// 50 tasks race on one key: the effect runs once, one task sees `Ran`, 49 `AlreadyDone`.
pub async fn once_per_key_under_race<S: IdempotencyStore>(store: S, namespace: &str) {
    let guard = Arc::new(Idempotent::new(store));
    let key = IdempotencyKey::new(namespace, "race").unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..RACERS)
        .map(|_| {
            let (guard, key, runs) = (Arc::clone(&guard), key.clone(), Arc::clone(&runs));
            tokio::spawn(async move { once_until_ok(&guard, &key, &runs).await.0 })
        })
        .collect();
    let mut ran = 0;
    for task in tasks {
        if task.await.unwrap().is_ran() {
            ran += 1;
        }
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the effect ran once");
    assert_eq!(ran, 1, "one caller saw it run");
    let stats = guard.stats();
    assert_eq!(
        (stats.ran, stats.already_done),
        (1, RACERS as u64 - 1),
        "{stats:?}"
    );
    assert!(guard.store().is_done(&key).await.unwrap());
}

/// A done key is `AlreadyDone`, the effect not run; another key of the namespace and the
/// same key in another namespace are not done.
pub async fn already_done_after_done<S: IdempotencyStore>(store: S, namespace: &str) {
    let guard = Idempotent::new(store);
    let key = IdempotencyKey::new(namespace, "order-1/paid").unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let (first, _) = once_until_ok(&guard, &key, &runs).await;
    assert_eq!(first, Outcome::Ran(1));
    let (again, _) = once_until_ok(&guard, &key, &runs).await;
    assert_eq!(again, Outcome::AlreadyDone);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let other = IdempotencyKey::new(namespace, "order-1/shipped").unwrap();
    assert!(!guard.store().is_done(&other).await.unwrap());
    let elsewhere = IdempotencyKey::new(&format!("{namespace}x"), "order-1/paid").unwrap();
    assert!(!guard.store().is_done(&elsewhere).await.unwrap());
}

/// A run that claimed the key and died before marking it (the documented window): while its
/// lease lasts, others get a retriable `Claimed` (never done); once it ends, the key is
/// re-taken and the effect runs again.
pub async fn expired_claim_is_retaken<S: IdempotencyStore>(store: S, namespace: &str) {
    let lease = Duration::from_millis(600);
    let guard = Idempotent::new(store).lease(lease);
    let key = IdempotencyKey::new(namespace, "crashed").unwrap();
    // the crashed run: claimed, ran its effect (say), never marked done
    let Claim::Acquired(_) = guard.store().claim(&key, lease).await.unwrap() else {
        panic!("a new key is free");
    };
    let runs = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&runs);
    let err = guard.once(&key, move |_| counted(r)).await.unwrap_err();
    match &err {
        Error::Claimed { retry_in, .. } => assert!(*retry_in <= lease, "{retry_in:?}"),
        other => panic!("expected Claimed, got {other:?}"),
    }
    assert!(err.is_retriable() && !err.is_unavailable());
    assert_eq!(
        runs.load(Ordering::SeqCst),
        0,
        "a live claim is not run over"
    );
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    let r = Arc::clone(&runs);
    let outcome = guard.once(&key, move |_| counted(r)).await.unwrap();
    assert_eq!(
        outcome,
        Outcome::Ran(1),
        "the expired claim is re-taken and the effect runs"
    );
    assert!(guard.store().is_done(&key).await.unwrap());
}

/// A failed effect releases its claim: the retry runs it at once.
pub async fn failed_effect_releases_its_claim<S: IdempotencyStore>(store: S, namespace: &str) {
    let guard = Idempotent::new(store);
    let key = IdempotencyKey::new(namespace, "flaky").unwrap();
    let err = guard
        .once(&key, |_| async {
            Err::<(), _>(std::io::Error::other("503"))
        })
        .await
        .unwrap_err();
    assert!(err.is_effect() && !err.is_retriable(), "{err:?}");
    assert_eq!(
        err.into_processor_error().to_string(),
        "503",
        "the effect's error as it was"
    );
    let outcome = guard
        .once(&key, |_| async { Ok::<_, std::io::Error>(2) })
        .await;
    assert_eq!(outcome.unwrap(), Outcome::Ran(2));
}

/// Tokens: a release by a run whose claim is gone does nothing; a mark by a run whose lease
/// was lost marks the key done and says so.
pub async fn tokens_guard_claims<S: IdempotencyStore>(store: S, namespace: &str) {
    let key = IdempotencyKey::new(namespace, "lease").unwrap();
    let short = Duration::from_millis(200);
    let Claim::Acquired(slow) = store.claim(&key, short).await.unwrap() else {
        panic!("a new key is free");
    };
    tokio::time::sleep(short + Duration::from_millis(100)).await;
    let Claim::Acquired(next) = store.claim(&key, Duration::from_secs(30)).await.unwrap() else {
        panic!("an expired claim is re-taken");
    };
    store.release(&key, &slow).await.unwrap(); // not the slow run's claim any more
    assert!(matches!(
        store.claim(&key, Duration::from_secs(30)).await.unwrap(),
        Claim::Held { .. }
    ));
    assert_eq!(
        store.complete(&key, &slow).await.unwrap(),
        Completion::LeaseLost
    );
    assert_eq!(store.claim(&key, short).await.unwrap(), Claim::Done);
    // the owner's own mark after that: its claim is gone too, the key stays done
    assert_eq!(
        store.complete(&key, &next).await.unwrap(),
        Completion::LeaseLost
    );
    assert!(store.is_done(&key).await.unwrap());
    // mark_done marks a key nobody claimed
    let fresh = IdempotencyKey::new(namespace, "backfilled").unwrap();
    store.mark_done(&fresh).await.unwrap();
    assert_eq!(store.claim(&fresh, short).await.unwrap(), Claim::Done);
}

/// Every assertion above, on stores made by `make` (one per assertion, in parallel).
pub async fn all<S, F, Fut>(make: F)
where
    S: IdempotencyStore,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = (S, String)>,
{
    let (a, b, c, d, e) = (
        make().await,
        make().await,
        make().await,
        make().await,
        make().await,
    );
    tokio::join!(
        once_per_key_under_race(a.0, &a.1),
        already_done_after_done(b.0, &b.1),
        expired_claim_is_retaken(c.0, &c.1),
        failed_effect_releases_its_claim(d.0, &d.1),
        tokens_guard_claims(e.0, &e.1),
    );
}
