//! [`Idempotent`]: runs a side effect at most once per key (but for the documented window),
//! on any [`IdempotencyStore`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kafka_eos_processor::BoxError;
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::key::IdempotencyKey;
use crate::outcome::Outcome;
use crate::stats::{Counters, IdempotentStats};
use crate::store::{Claim, ClaimToken, Completion, IdempotencyStore};

/// How long a claim lasts by default: longer than most effects (an HTTP call, a row
/// written), short enough that a crashed run's key is re-taken within a retry or two.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// The first pause between two attempts at marking a key done; it doubles up to
/// [`MARK_RETRY_MAX`].
const MARK_RETRY_FIRST: Duration = Duration::from_millis(50);
const MARK_RETRY_MAX: Duration = Duration::from_secs(1);

/// Runs side effects at most once per [`IdempotencyKey`], on a store `S`.
///
/// [`once`](Idempotent::once) claims the key with a lease, runs the effect, then marks the
/// key done; a key found done is not run again ([`Outcome::AlreadyDone`]), a key another
/// run holds is an error to retry ([`Error::Claimed`]), and so is a store that does not
/// answer ([`Error::Unavailable`]): a store error is never taken for "done" and never skips
/// the effect. The window where the effect can run twice is described in the crate docs.
///
/// Share one `Idempotent` between the records in flight (it is `Sync`; the stores are
/// connection pools).
///
/// ```
/// use kafka_eos_idempotency::{Idempotent, IdempotencyKey, MemoryStore};
/// use kafka_eos_processor::{BoxError, Input, Output, Processor};
///
/// /// Sends one receipt per order event, however often a batch is replayed.
/// struct Receipts { guard: Idempotent<MemoryStore> }
///
/// impl Processor for Receipts {
///     type Input = String;
///     async fn process(&self, input: Input<String>) -> Result<Vec<Output>, BoxError> {
///         let key = IdempotencyKey::of_input("receipts", &input) // topic/partition/offset
///             .map_err(|e| e.into_processor_error())?;
///         let outcome = self
///             .guard
///             .once(&key, |key| send_receipt(key, input.value.clone()))
///             .await
///             .map_err(|e| e.into_processor_error())?; // store down: retried with backoff
///         let sent = if outcome.is_ran() { "sent" } else { "sent before" };
///         Ok(vec![Output::new("receipts", key.key(), sent)])
///     }
/// }
///
/// /// The effect gets the key, to pass on (an `Idempotency-Key` header, say).
/// async fn send_receipt(key: IdempotencyKey, order: String) -> Result<(), std::io::Error> {
///     let _ = (key, order);
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let receipts = Receipts { guard: Idempotent::new(MemoryStore::new()) };
/// let input = Input { topic: "orders".into(), partition: 0, offset: 9, key: None,
///     headers: vec![], timestamp: None, value: "order-1".to_string() };
/// let first = receipts.process(input.clone()).await.unwrap();
/// let replayed = receipts.process(input).await.unwrap(); // a replayed batch
/// assert_eq!(first[0].value.as_deref(), Some(&b"sent"[..]));
/// assert_eq!(replayed[0].value.as_deref(), Some(&b"sent before"[..]));
/// assert_eq!((receipts.guard.stats().ran, receipts.guard.stats().already_done), (1, 1));
/// # }
/// ```
#[derive(Debug)]
pub struct Idempotent<S> {
    store: S,
    lease: Duration,
    mark_for: Option<Duration>,
    counters: Arc<Counters>,
}

impl<S: IdempotencyStore> Idempotent<S> {
    /// Runs effects on `store`, with leases of [`DEFAULT_LEASE`].
    pub fn new(store: S) -> Self {
        Idempotent {
            store,
            lease: DEFAULT_LEASE,
            mark_for: None,
            counters: Arc::default(),
        }
    }

    /// How long a claim lasts: longer than the effect's longest run. A run that dies during
    /// its effect (or before marking it) holds the key this long; then another run re-takes
    /// it and runs the effect again.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How long marking a key done is retried (with backoff) after its effect ran, while the
    /// store does not answer; the lease by default. Past it, the effect's value is returned
    /// all the same (it ran), counted in [`IdempotentStats::unmarked`] and logged.
    pub fn mark_for(mut self, duration: Duration) -> Self {
        self.mark_for = Some(duration);
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// What the calls so far did.
    pub fn stats(&self) -> IdempotentStats {
        self.counters.snapshot()
    }

    /// Runs `effect` unless `key` is done, and marks `key` done after it succeeds.
    ///
    /// - [`Outcome::Ran`] with the effect's value: it ran now, and the key is marked done;
    /// - [`Outcome::AlreadyDone`]: the key was done, the effect did not run;
    /// - [`Error::Claimed`]: another run holds the key's live claim; retry after its lease;
    /// - [`Error::Unavailable`] (or another store error): the store did not answer the claim;
    ///   the effect did not run; retry;
    /// - [`Error::Effect`]: the effect failed; its claim was released, so a retry runs it.
    ///
    /// The effect gets the key: pass it on to the service it calls, so that service can
    /// dedupe the window (see the crate docs). In a processor, map the error with
    /// [`Error::into_processor_error`].
    pub async fn once<T, E, F, Fut>(&self, key: &IdempotencyKey, effect: F) -> Result<Outcome<T>>
    where
        F: FnOnce(IdempotencyKey) -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
        E: Into<BoxError>,
    {
        let token = match self.store.claim(key, self.lease).await {
            Ok(Claim::Acquired(token)) => token,
            Ok(Claim::Done) => {
                Counters::add(&self.counters.already_done);
                return Ok(Outcome::AlreadyDone);
            }
            Ok(Claim::Held { expires_in }) => {
                Counters::add(&self.counters.claimed_elsewhere);
                return Err(Error::Claimed {
                    key: key.to_string(),
                    retry_in: expires_in,
                });
            }
            Err(e) => {
                Counters::add(&self.counters.store_errors);
                return Err(e);
            }
        };
        match effect(key.clone()).await {
            Ok(value) => {
                self.mark(key, &token).await;
                Counters::add(&self.counters.ran);
                Ok(Outcome::Ran(value))
            }
            Err(e) => {
                Counters::add(&self.counters.effect_errors);
                if let Err(release) = self.store.release(key, &token).await {
                    // the claim stays until its lease ends; a retry meanwhile gets `Claimed`
                    Counters::add(&self.counters.store_errors);
                    tracing::warn!(%key, error = %release, "could not release the claim of a failed effect");
                }
                Err(Error::Effect {
                    key: key.to_string(),
                    source: e.into(),
                })
            }
        }
    }

    /// Marks `key` done, retrying with backoff while the store does not answer, until the
    /// mark deadline.
    async fn mark(&self, key: &IdempotencyKey, token: &ClaimToken) {
        let deadline = Instant::now() + self.mark_for.unwrap_or(self.lease);
        let mut pause = MARK_RETRY_FIRST;
        loop {
            match self.store.complete(key, token).await {
                Ok(Completion::Marked) => return,
                Ok(Completion::LeaseLost) => {
                    Counters::add(&self.counters.lease_lost);
                    tracing::warn!(%key, lease = ?self.lease, "the effect outlived its lease: another run may have run it too (lengthen the lease)");
                    return;
                }
                Err(e) if Instant::now() + pause < deadline => {
                    tracing::debug!(%key, error = %e, "marking the key done failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MARK_RETRY_MAX);
                }
                Err(e) => {
                    Counters::add(&self.counters.store_errors);
                    Counters::add(&self.counters.unmarked);
                    tracing::warn!(%key, error = %e, "the effect ran but the key could not be marked done: it may run again once its lease ends");
                    return;
                }
            }
        }
    }
}
