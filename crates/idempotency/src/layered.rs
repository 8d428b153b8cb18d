//! [`Layered`]: a fast cache of "done" (Redis) in front of a database whose unique key has
//! the final word.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::Result;
use crate::key::IdempotencyKey;
use crate::store::{Claim, ClaimToken, Completion, IdempotencyStore};

/// The seeds' layered store: a cache `C` asked first whether a key is done (Redis), a
/// database `D` that decides (claims and marks with its unique key).
///
/// - [`claim`](IdempotencyStore::claim): a key the cache knows done is
///   [`Claim::Done`] without a database query (counted in
///   [`LayeredStats::db_queries_saved`]); otherwise the database claims it, and a key the
///   database finds done is copied into the cache.
/// - [`complete`](IdempotencyStore::complete) marks the database, then copies "done" into the
///   cache; [`release`](IdempotencyStore::release) is the database's alone.
/// - The cache is only a cache: it never claims, and when it fails (Redis down) every call
///   goes to the database, so the store stays correct and only slower. Its failures are
///   counted ([`LayeredStats::cache_errors`]) and logged once per outage, not returned.
///   Only the database's errors are errors.
///
/// "Done" in the cache is trusted without asking the database: a cache entry is written only
/// after the database marked the key done, and nothing ever un-does a key.
///
/// ```
/// use kafka_eos_idempotency::{Idempotent, IdempotencyKey, Layered, MemoryStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), kafka_eos_idempotency::Error> {
/// // RedisStore in front of PostgresStore in production; two memory stores here
/// let guard = Idempotent::new(Layered::new(MemoryStore::new(), MemoryStore::new()));
/// let key = IdempotencyKey::new("fees", "order-42/paid")?;
/// guard.once(&key, |_| async { Ok::<_, std::io::Error>(()) }).await?;
/// assert!(!guard.once(&key, |_| async { Ok::<_, std::io::Error>(()) }).await?.is_ran());
/// assert_eq!(guard.store().stats().db_queries_saved, 1); // the replay asked the cache only
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Layered<C, D> {
    cache: C,
    db: D,
    counters: Arc<LayeredCounters>,
    cache_down: AtomicBool,
}

/// What a [`Layered`] store's cache did (a snapshot).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LayeredStats {
    /// Database queries not made because the cache knew the key was done.
    pub db_queries_saved: u64,
    /// Cache look-ups that did not find the key done (the database was asked).
    pub cache_misses: u64,
    /// Cache calls that failed (the database was asked, or the copy skipped).
    pub cache_errors: u64,
}

#[derive(Debug, Default)]
struct LayeredCounters {
    db_queries_saved: AtomicU64,
    cache_misses: AtomicU64,
    cache_errors: AtomicU64,
}

impl<C: IdempotencyStore, D: IdempotencyStore> Layered<C, D> {
    /// `cache` in front of `db`.
    pub fn new(cache: C, db: D) -> Self {
        Layered {
            cache,
            db,
            counters: Arc::default(),
            cache_down: AtomicBool::new(false),
        }
    }

    /// The cache.
    pub fn cache(&self) -> &C {
        &self.cache
    }

    /// The database.
    pub fn db(&self) -> &D {
        &self.db
    }

    /// What the cache did so far.
    pub fn stats(&self) -> LayeredStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        LayeredStats {
            db_queries_saved: get(&self.counters.db_queries_saved),
            cache_misses: get(&self.counters.cache_misses),
            cache_errors: get(&self.counters.cache_errors),
        }
    }

    /// The cache's answer, `None` if it failed (then the database decides).
    fn cache_result<T>(&self, result: Result<T>) -> Option<T> {
        match result {
            Ok(value) => {
                if self.cache_down.swap(false, Ordering::Relaxed) {
                    tracing::info!("the idempotency cache answers again");
                }
                Some(value)
            }
            Err(e) => {
                self.counters.cache_errors.fetch_add(1, Ordering::Relaxed);
                if !self.cache_down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "the idempotency cache failed; the database decides alone until it answers");
                }
                None
            }
        }
    }

    async fn copy_done(&self, key: &IdempotencyKey) {
        let result = self.cache.mark_done(key).await;
        self.cache_result(result);
    }
}

impl<C: IdempotencyStore, D: IdempotencyStore> IdempotencyStore for Layered<C, D> {
    async fn claim(&self, key: &IdempotencyKey, lease: Duration) -> Result<Claim> {
        let cached = self.cache.is_done(key).await;
        match self.cache_result(cached) {
            Some(true) => {
                self.counters
                    .db_queries_saved
                    .fetch_add(1, Ordering::Relaxed);
                return Ok(Claim::Done);
            }
            Some(false) => {
                self.counters.cache_misses.fetch_add(1, Ordering::Relaxed);
            }
            None => {}
        }
        let claim = self.db.claim(key, lease).await?;
        if claim == Claim::Done {
            self.copy_done(key).await;
        }
        Ok(claim)
    }

    async fn complete(&self, key: &IdempotencyKey, token: &ClaimToken) -> Result<Completion> {
        let completion = self.db.complete(key, token).await?;
        self.copy_done(key).await;
        Ok(completion)
    }

    async fn release(&self, key: &IdempotencyKey, token: &ClaimToken) -> Result<()> {
        self.db.release(key, token).await
    }

    async fn is_done(&self, key: &IdempotencyKey) -> Result<bool> {
        let cached = self.cache.is_done(key).await;
        if self.cache_result(cached) == Some(true) {
            self.counters
                .db_queries_saved
                .fetch_add(1, Ordering::Relaxed);
            return Ok(true);
        }
        self.db.is_done(key).await
    }

    async fn mark_done(&self, key: &IdempotencyKey) -> Result<()> {
        self.db.mark_done(key).await?;
        self.copy_done(key).await;
        Ok(())
    }
}
