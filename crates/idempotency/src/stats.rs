//! [`IdempotentStats`]: what an [`Idempotent`](crate::Idempotent) did, counted.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counts of [`Idempotent::once`](crate::Idempotent::once) calls by outcome (a snapshot).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdempotentStats {
    /// Effects run and marked done.
    pub ran: u64,
    /// Calls that found the key done and did not run the effect.
    pub already_done: u64,
    /// Calls that found another run's live claim ([`Error::Claimed`](crate::Error::Claimed)).
    pub claimed_elsewhere: u64,
    /// Effects that failed (their claims released).
    pub effect_errors: u64,
    /// Store calls that failed: claims, releases, and marks whose every attempt failed
    /// (the attempts retried in place are not counted one by one).
    pub store_errors: u64,
    /// Effects that ran but whose mark could not be written before the mark deadline: the
    /// key stays claimed until its lease ends, then may run again (the window, see the crate
    /// docs).
    pub unmarked: u64,
    /// Effects whose claim was gone when they were marked: their lease ended during the
    /// effect (it may have run twice; lengthen the lease).
    pub lease_lost: u64,
}

/// The live counters behind [`IdempotentStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) ran: AtomicU64,
    pub(crate) already_done: AtomicU64,
    pub(crate) claimed_elsewhere: AtomicU64,
    pub(crate) effect_errors: AtomicU64,
    pub(crate) store_errors: AtomicU64,
    pub(crate) unmarked: AtomicU64,
    pub(crate) lease_lost: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> IdempotentStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        IdempotentStats {
            ran: get(&self.ran),
            already_done: get(&self.already_done),
            claimed_elsewhere: get(&self.claimed_elsewhere),
            effect_errors: get(&self.effect_errors),
            store_errors: get(&self.store_errors),
            unmarked: get(&self.unmarked),
            lease_lost: get(&self.lease_lost),
        }
    }
}
