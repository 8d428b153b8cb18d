//! [`MemoryStore`]: the store for tests, in this process's memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Error, Result, StoreKind};
use crate::key::IdempotencyKey;
use crate::store::{Claim, ClaimToken, Completion, IdempotencyStore};

/// A key's state in a [`MemoryStore`].
#[derive(Debug, Clone)]
enum Entry {
    Claimed { token: ClaimToken, until: Instant },
    Done,
}

/// An [`IdempotencyStore`] in memory: for tests of processors that use
/// [`Idempotent`](crate::Idempotent), and for effects whose "at most once" need not outlive
/// the process. Nothing is shared between processes and nothing survives a restart.
///
/// [`MemoryStore::set_unavailable`] makes every call fail with [`Error::Unavailable`], to
/// test what a processor does while its real store is down.
///
/// ```
/// use kafka_eos_idempotency::{Idempotent, IdempotencyKey, MemoryStore, Outcome};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), kafka_eos_idempotency::Error> {
/// let store = MemoryStore::new();
/// store.set_unavailable(true);
/// let guard = Idempotent::new(store);
/// let key = IdempotencyKey::new("test", "k")?;
/// let err = guard.once(&key, |_| async { Ok::<_, std::io::Error>(()) }).await.unwrap_err();
/// assert!(err.is_unavailable()); // an error, never "already done"
/// guard.store().set_unavailable(false);
/// assert_eq!(guard.once(&key, |_| async { Ok::<_, std::io::Error>(7) }).await?, Outcome::Ran(7));
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    keys: Mutex<HashMap<String, Entry>>,
    unavailable: AtomicBool,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every call fail with [`Error::Unavailable`] (`true`) or answer again (`false`).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// How many keys are done.
    pub fn done_count(&self) -> usize {
        let keys = self.lock();
        keys.values().filter(|e| matches!(e, Entry::Done)).count()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // a panic while holding the lock leaves the map consistent (every update is one insert)
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check(&self) -> Result<()> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(Error::Unavailable {
                store: StoreKind::Memory,
                source: "the in-memory store was set unavailable".into(),
            });
        }
        Ok(())
    }
}

impl IdempotencyStore for MemoryStore {
    async fn claim(&self, key: &IdempotencyKey, lease: Duration) -> Result<Claim> {
        self.check()?;
        let now = Instant::now();
        let mut keys = self.lock();
        match keys.get(key.as_str()) {
            Some(Entry::Done) => return Ok(Claim::Done),
            Some(Entry::Claimed { until, .. }) if *until > now => {
                return Ok(Claim::Held {
                    expires_in: *until - now,
                })
            }
            _ => {}
        }
        let token = ClaimToken::random();
        let entry = Entry::Claimed {
            token: token.clone(),
            until: now + lease,
        };
        keys.insert(key.as_str().to_owned(), entry);
        Ok(Claim::Acquired(token))
    }

    async fn complete(&self, key: &IdempotencyKey, token: &ClaimToken) -> Result<Completion> {
        self.check()?;
        let previous = self.lock().insert(key.as_str().to_owned(), Entry::Done);
        Ok(match previous {
            Some(Entry::Claimed { token: held, .. }) if held == *token => Completion::Marked,
            _ => Completion::LeaseLost,
        })
    }

    async fn release(&self, key: &IdempotencyKey, token: &ClaimToken) -> Result<()> {
        self.check()?;
        let mut keys = self.lock();
        if matches!(keys.get(key.as_str()), Some(Entry::Claimed { token: held, .. }) if held == token)
        {
            keys.remove(key.as_str());
        }
        Ok(())
    }

    async fn is_done(&self, key: &IdempotencyKey) -> Result<bool> {
        self.check()?;
        Ok(matches!(self.lock().get(key.as_str()), Some(Entry::Done)))
    }

    async fn mark_done(&self, key: &IdempotencyKey) -> Result<()> {
        self.check()?;
        self.lock().insert(key.as_str().to_owned(), Entry::Done);
        Ok(())
    }
}
