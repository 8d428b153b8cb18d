//! Retrying retriable operations with backoff.

use std::future::Future;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Operation, Result};
use crate::metrics::Metrics;

/// Exponential backoff for retriable errors.
///
/// ```
/// use kafka_eos_core::RetryPolicy;
/// use std::time::Duration;
///
/// let policy = RetryPolicy::default()
///     .max_attempts(5)
///     .initial_backoff(Duration::from_millis(50));
/// assert_eq!(policy.backoff(0), Duration::from_millis(50));
/// assert_eq!(policy.backoff(1), Duration::from_millis(100));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 10 attempts, 100 ms doubling up to 5 s.
    fn default() -> Self {
        Self {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// Total calls of an operation, the first included (at least 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Backoff before the first retry.
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }

    /// Upper bound of the backoff.
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }

    /// The configured attempt budget.
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The backoff before retry number `retry` (0-based).
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(31));
        self.initial_backoff
            .checked_mul(factor)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }

    /// Runs `f` until it succeeds, fails with a non-retriable error, or the attempt
    /// budget is spent ([`Error::RetriesExhausted`]). Only [`ErrorKind::Retriable`]
    /// errors are retried, always by calling the same operation again.
    pub async fn run<T, F, Fut>(&self, op: Operation, metrics: &Metrics, mut f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut attempt = 0u32;
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                Err(e) if e.kind() == ErrorKind::Retriable => {
                    attempt += 1;
                    if attempt >= self.max_attempts {
                        return Err(Error::RetriesExhausted {
                            op,
                            attempts: attempt,
                            source: Box::new(e),
                        });
                    }
                    let wait = self.backoff(attempt - 1);
                    tracing::warn!(%op, attempt, ?wait, error = %e, "retriable error; retrying the same operation");
                    metrics.record_retry();
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::error::{KafkaError, RDKafkaErrorCode};
    use std::sync::atomic::{AtomicU32, Ordering};

    fn retriable() -> Error {
        Error::kafka(
            Operation::CommitTransaction,
            KafkaError::Global(RDKafkaErrorCode::OperationTimedOut),
        )
    }

    #[test]
    fn backoff_caps() {
        let p = RetryPolicy::default()
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(350));
        assert_eq!(p.backoff(0), Duration::from_millis(100));
        assert_eq!(p.backoff(1), Duration::from_millis(200));
        assert_eq!(p.backoff(2), Duration::from_millis(350));
        assert_eq!(p.backoff(40), Duration::from_millis(350));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_same_operation_until_success() {
        let calls = AtomicU32::new(0);
        let m = Metrics::new();
        let out = RetryPolicy::default()
            .run(Operation::CommitTransaction, &m, || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                    Err(retriable())
                } else {
                    Ok(42)
                }
            })
            .await
            .unwrap();
        assert_eq!(out, 42);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(m.snapshot().retries, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_budget() {
        let calls = AtomicU32::new(0);
        let m = Metrics::new();
        let err = RetryPolicy::default()
            .max_attempts(3)
            .run(Operation::CommitTransaction, &m, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(retriable())
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert!(matches!(err, Error::RetriesExhausted { attempts: 3, .. }));
        assert_eq!(err.kind(), ErrorKind::Fatal);
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_abortable() {
        let calls = AtomicU32::new(0);
        let m = Metrics::new();
        let err = RetryPolicy::default()
            .run(Operation::Send, &m, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::kafka(
                    Operation::Send,
                    KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut),
                ))
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(err.kind(), ErrorKind::Abortable);
    }
}
