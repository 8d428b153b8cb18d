//! [`IdempotencyStore`]: the small trait every store implements, and what its calls answer.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Result;
use crate::key::IdempotencyKey;

/// A claim's proof of ownership: a random token written with the claim, so that only the
/// run that took a claim releases it, and a run whose lease ran out learns it when it marks
/// the key done ([`Completion::LeaseLost`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClaimToken(String);

impl ClaimToken {
    /// A new random token (a UUID v4).
    pub fn random() -> Self {
        ClaimToken(uuid::Uuid::new_v4().to_string())
    }

    /// The token as the stores keep it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What [`IdempotencyStore::claim`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is ours until the lease ends: run the effect, then
    /// [`complete`](IdempotencyStore::complete) (or [`release`](IdempotencyStore::release)
    /// it if the effect failed). Taken fresh, or re-taken from a claim whose lease ended
    /// (its run died between its effect and its mark: the documented window).
    Acquired(ClaimToken),
    /// The key is done: the effect ran and was marked.
    Done,
    /// Another run holds a live claim; it ends within `expires_in`.
    Held {
        /// Time left on the other run's lease.
        expires_in: Duration,
    },
}

/// What [`IdempotencyStore::complete`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// Our claim was still ours: the key is done.
    Marked,
    /// Our claim was gone (its lease ended and another run re-took it, or it was released):
    /// the key is marked done all the same, since the effect ran, but the effect may have run
    /// twice. A lease shorter than the effect's longest run leads here: lengthen it.
    LeaseLost,
}

/// Where "claimed" and "done" are kept: a claim with a lease, then a mark.
///
/// The protocol (each store does each step in one atomic operation of its server):
/// 1. [`claim`](Self::claim) the key for a lease: [`Claim::Acquired`] if it was free or its
///    claim had expired, [`Claim::Done`] if it is done, [`Claim::Held`] if another run's
///    claim is live;
/// 2. run the effect;
/// 3. [`complete`](Self::complete): mark the key done (no lease: kept for good, or for the
///    store's done TTL), or [`release`](Self::release) the claim if the effect failed.
///
/// A store error is an error (never "done", never "free"): see [`Error`](crate::Error).
/// [`Idempotent`](crate::Idempotent) drives the protocol; implement this trait for another
/// store. Stores shared between tasks implement it behind an [`Arc`] too.
///
/// ```
/// use std::time::Duration;
/// use kafka_eos_idempotency::{Claim, Completion, IdempotencyKey, IdempotencyStore, MemoryStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), kafka_eos_idempotency::Error> {
/// let store = MemoryStore::new();
/// let key = IdempotencyKey::new("fees", "order-42/paid")?;
/// let Claim::Acquired(token) = store.claim(&key, Duration::from_secs(30)).await? else {
///     unreachable!("a new key is free")
/// };
/// assert!(matches!(store.claim(&key, Duration::from_secs(30)).await?, Claim::Held { .. }));
/// // ... the effect runs here ...
/// assert_eq!(store.complete(&key, &token).await?, Completion::Marked);
/// assert_eq!(store.claim(&key, Duration::from_secs(30)).await?, Claim::Done);
/// # Ok(()) }
/// ```
pub trait IdempotencyStore: Send + Sync + 'static {
    /// Claims `key` for `lease`, unless it is done or another run's claim is live.
    fn claim(
        &self,
        key: &IdempotencyKey,
        lease: Duration,
    ) -> impl Future<Output = Result<Claim>> + Send;

    /// Marks `key` done after its effect ran under the claim `token`.
    fn complete(
        &self,
        key: &IdempotencyKey,
        token: &ClaimToken,
    ) -> impl Future<Output = Result<Completion>> + Send;

    /// Gives up the claim `token` on `key` (the effect failed): the next claim takes the key
    /// at once. Does nothing if the claim is no longer ours.
    fn release(
        &self,
        key: &IdempotencyKey,
        token: &ClaimToken,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Whether `key` is done (a read: no claim is taken).
    fn is_done(&self, key: &IdempotencyKey) -> impl Future<Output = Result<bool>> + Send;

    /// Marks `key` done whoever holds it (a cache copying the database's answer, a backfill).
    fn mark_done(&self, key: &IdempotencyKey) -> impl Future<Output = Result<()>> + Send;
}

impl<S: IdempotencyStore> IdempotencyStore for Arc<S> {
    fn claim(
        &self,
        key: &IdempotencyKey,
        lease: Duration,
    ) -> impl Future<Output = Result<Claim>> + Send {
        (**self).claim(key, lease)
    }

    fn complete(
        &self,
        key: &IdempotencyKey,
        token: &ClaimToken,
    ) -> impl Future<Output = Result<Completion>> + Send {
        (**self).complete(key, token)
    }

    fn release(
        &self,
        key: &IdempotencyKey,
        token: &ClaimToken,
    ) -> impl Future<Output = Result<()>> + Send {
        (**self).release(key, token)
    }

    fn is_done(&self, key: &IdempotencyKey) -> impl Future<Output = Result<bool>> + Send {
        (**self).is_done(key)
    }

    fn mark_done(&self, key: &IdempotencyKey) -> impl Future<Output = Result<()>> + Send {
        (**self).mark_done(key)
    }
}
