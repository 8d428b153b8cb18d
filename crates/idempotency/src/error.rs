//! The one error type of this crate, classified by method, and what each class asks of a
//! pipeline ([`Error::into_processor_error`]).

use std::fmt;
use std::time::Duration;

use kafka_eos_processor::{BoxError, Failure};

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which store an error comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreKind {
    /// [`MemoryStore`](crate::MemoryStore).
    Memory,
    /// The Redis store (feature `redis`).
    Redis,
    /// The PostgreSQL store (feature `postgres`).
    Postgres,
    /// The MariaDB / MySQL store (feature `mysql`).
    MySql,
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreKind::Memory => "in-memory",
            StoreKind::Redis => "Redis",
            StoreKind::Postgres => "PostgreSQL",
            StoreKind::MySql => "MariaDB/MySQL",
        })
    }
}

/// Every error of the stores and of [`Idempotent::once`](crate::Idempotent::once).
///
/// A store that cannot answer is never taken for "already done": every store error is an
/// error, classified like a Kafka error. [`Error::is_unavailable`] (server down, timed out,
/// connection lost, a transient conflict such as a deadlock) and [`Error::is_claimed`]
/// (another run holds the key's live claim) are worth retrying with backoff, which is what
/// a pipeline does with them ([`Error::into_processor_error`]).
///
/// ```
/// use kafka_eos_idempotency::{Error, StoreKind};
///
/// let down = Error::Unavailable { store: StoreKind::Redis, source: "connection refused".into() };
/// assert!(down.is_unavailable() && down.is_retriable());
/// assert!(!Error::MissingTable { table: "t".into(), create: "CREATE ...".into() }.is_retriable());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key or its namespace is not one a store can keep (see
    /// [`IdempotencyKey::new`](crate::IdempotencyKey::new)).
    #[error("invalid idempotency key `{key}`: {reason}")]
    InvalidKey {
        /// The key as given (`namespace:key`).
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The table name is not a plain SQL identifier (`name` or `schema.name`: letters,
    /// digits and `_`, at most 63 of them each, not starting with a digit).
    #[error(
        "invalid table name `{table}`: use letters, digits and `_` (optionally `schema.table`)"
    )]
    InvalidTable {
        /// The name given.
        table: String,
    },
    /// The store could not be reached when it was set up (the URL's password is hidden).
    #[error("cannot connect to the {store} idempotency store at `{url}`: {source}")]
    Unreachable {
        /// Which store.
        store: StoreKind,
        /// The URL, with its password replaced by `***`.
        url: String,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// The store did not answer: server down, a timeout, a lost connection, or a transient
    /// conflict the server asks to retry (a deadlock, a lock wait timeout, a serialization
    /// failure, a server loading or busy).
    #[error("the {store} idempotency store is unavailable: {source}")]
    Unavailable {
        /// Which store.
        store: StoreKind,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// The store answered with an error that retrying does not fix (a refused query, no
    /// permission, a key holding another type).
    #[error("the {store} idempotency store refused a request: {source}")]
    Rejected {
        /// Which store.
        store: StoreKind,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// The store's table does not exist; `create` is the SQL that creates it (the stores'
    /// `create_table()` runs it).
    #[error("the idempotency table `{table}` does not exist; create it with: {create}")]
    MissingTable {
        /// The table.
        table: String,
        /// `CREATE TABLE IF NOT EXISTS ...` for it.
        create: String,
    },
    /// Another run holds a live claim on the key (it is running the effect now, or died
    /// running it and its lease has not expired yet): retry after `retry_in`. Never "done".
    #[error("idempotency key `{key}` is claimed by another run; its lease ends in {retry_in:?}")]
    Claimed {
        /// The key.
        key: String,
        /// When the claim's lease ends, at the latest.
        retry_in: Duration,
    },
    /// The side effect itself failed; its claim was released, so a retry runs it again.
    #[error("the side effect for idempotency key `{key}` failed: {source}")]
    Effect {
        /// The key.
        key: String,
        /// The effect's own error, as it returned it.
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// `true` if the store could not be reached or did not answer (now or at set-up).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Unavailable { .. } | Error::Unreachable { .. })
    }

    /// `true` if another run holds a live claim on the key.
    pub fn is_claimed(&self) -> bool {
        matches!(self, Error::Claimed { .. })
    }

    /// `true` if the key or namespace was refused.
    pub fn is_invalid_key(&self) -> bool {
        matches!(self, Error::InvalidKey { .. })
    }

    /// `true` if the SQL store's table does not exist.
    pub fn is_missing_table(&self) -> bool {
        matches!(self, Error::MissingTable { .. })
    }

    /// `true` if the side effect failed (not the store).
    pub fn is_effect(&self) -> bool {
        matches!(self, Error::Effect { .. })
    }

    /// `true` if the same call may succeed later: the store was unavailable or the key
    /// claimed. The effect's own errors are the effect's to classify
    /// ([`Error::into_processor_error`] hands them back as they were).
    pub fn is_retriable(&self) -> bool {
        self.is_unavailable() || self.is_claimed()
    }

    /// What a [`Processor`](kafka_eos_processor::Processor) returns for this error:
    /// - unavailable: [`Failure::retry`] (the pipeline retries with its backoff);
    /// - claimed: [`Failure::retry_after`] the claim's lease;
    /// - the effect's error: that error as it was (a [`Failure`] it chose is kept);
    /// - an invalid key (made from the record's data): [`Failure::dead_letter`];
    /// - a rejected request, a missing table, an invalid table name: [`Failure::stop`]
    ///   (retrying does not fix them, and dead-lettering every record would skip their
    ///   effects).
    ///
    /// ```
    /// use kafka_eos_idempotency::{Error, StoreKind};
    /// use kafka_eos_processor::{BoxError, Failure, FailureKind};
    ///
    /// let e: BoxError = Error::Unavailable { store: StoreKind::Postgres, source: "timeout".into() }
    ///     .into_processor_error();
    /// assert_eq!(e.downcast_ref::<Failure>().map(Failure::kind), Some(FailureKind::Retry(None)));
    /// ```
    pub fn into_processor_error(self) -> BoxError {
        match self {
            Error::Effect { source, .. } => source,
            Error::Claimed { retry_in, .. } => Failure::retry_after(self, retry_in).into(),
            Error::Unavailable { .. } | Error::Unreachable { .. } => Failure::retry(self).into(),
            Error::InvalidKey { .. } => Failure::dead_letter(self).into(),
            Error::InvalidTable { .. } | Error::Rejected { .. } | Error::MissingTable { .. } => {
                Failure::stop(self).into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_eos_processor::FailureKind;

    fn kind(e: Error) -> Option<FailureKind> {
        e.into_processor_error()
            .downcast_ref::<Failure>()
            .map(Failure::kind)
    }

    #[test]
    fn each_class_asks_the_pipeline_for_what_fixes_it() {
        let store = StoreKind::Memory;
        let retry_in = Duration::from_secs(3);
        assert_eq!(
            kind(Error::Claimed {
                key: "k".into(),
                retry_in
            }),
            Some(FailureKind::Retry(Some(retry_in)))
        );
        assert_eq!(
            kind(Error::Unavailable {
                store,
                source: "x".into()
            }),
            Some(FailureKind::Retry(None))
        );
        assert_eq!(
            kind(Error::Rejected {
                store,
                source: "x".into()
            }),
            Some(FailureKind::Stop)
        );
        assert_eq!(
            kind(Error::InvalidKey {
                key: "k".into(),
                reason: "r"
            }),
            Some(FailureKind::DeadLetter)
        );
        // the effect's own choice is kept
        let effect = Error::Effect {
            key: "k".into(),
            source: Failure::dead_letter("bad card").into(),
        };
        assert!(!effect.is_retriable());
        assert_eq!(kind(effect), Some(FailureKind::DeadLetter));
    }
}
