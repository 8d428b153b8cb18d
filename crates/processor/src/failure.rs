//! What a processor says about a record it could not process. Return a plain error (it is
//! retried, with the configured backoff, up to `max_attempts`), or wrap it in a [`Failure`]
//! to choose: retry later (with a delay hint), dead-letter now (bad data: no retries), or
//! stop the pipeline (fatal).

use std::time::Duration;

use crate::error::BoxError;

/// The processor's choice for a record it could not process; return it as the error
/// (`Err(Failure::dead_letter(e).into())`).
///
/// ```
/// use kafka_eos_processor::{BoxError, Failure, Input, Output, Processor};
/// use std::time::Duration;
///
/// struct Charge;
///
/// impl Processor for Charge {
///     type Input = serde_json::Value;
///     async fn process(&self, input: Input<serde_json::Value>) -> Result<Vec<Output>, BoxError> {
///         let Some(amount) = input.value["amount"].as_u64() else {
///             // bad data: retrying cannot help
///             return Err(Failure::dead_letter("no amount").into());
///         };
///         if amount == 0 {
///             // a downstream 503, say: try again in a second
///             return Err(Failure::retry_after("payment service busy", Duration::from_secs(1)).into());
///         }
///         Ok(vec![Output::new("charges", "k", amount.to_string())])
///     }
/// }
/// ```
#[derive(Debug)]
pub struct Failure {
    kind: FailureKind,
    source: BoxError,
}

/// The three choices of a [`Failure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// Transient: retry, after this delay if given (else the configured backoff), while
    /// attempts remain; then the error policy applies.
    Retry(Option<Duration>),
    /// Permanent (bad data): dead-letter the record now, without further attempts (with
    /// [`ErrorPolicy::Stop`](crate::ErrorPolicy::Stop), the pipeline stops naming it).
    DeadLetter,
    /// Fatal: stop the pipeline now, naming the record; its transaction is aborted.
    Stop,
}

impl Failure {
    /// Retry with the configured backoff (what a plain error means).
    pub fn retry(source: impl Into<BoxError>) -> Self {
        Self::new(FailureKind::Retry(None), source)
    }

    /// Retry after `delay` (a hint from the failure, e.g. a `Retry-After` header).
    pub fn retry_after(source: impl Into<BoxError>, delay: Duration) -> Self {
        Self::new(FailureKind::Retry(Some(delay)), source)
    }

    /// Dead-letter now: the record cannot succeed (bad data).
    pub fn dead_letter(source: impl Into<BoxError>) -> Self {
        Self::new(FailureKind::DeadLetter, source)
    }

    /// Stop the pipeline.
    pub fn stop(source: impl Into<BoxError>) -> Self {
        Self::new(FailureKind::Stop, source)
    }

    fn new(kind: FailureKind, source: impl Into<BoxError>) -> Self {
        Failure {
            kind,
            source: source.into(),
        }
    }

    /// The choice.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    /// What a processor's error asks for: a [`Failure`]'s kind, or a plain retry.
    pub(crate) fn kind_of(error: &BoxError) -> FailureKind {
        error
            .downcast_ref::<Failure>()
            .map_or(FailureKind::Retry(None), Failure::kind)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.source.fmt(f)
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_error_is_a_retry_and_a_failure_says_what_it_is() {
        let plain: BoxError = "boom".into();
        assert_eq!(Failure::kind_of(&plain), FailureKind::Retry(None));
        let cases: [(BoxError, FailureKind); 4] = [
            (Failure::retry("x").into(), FailureKind::Retry(None)),
            (
                Failure::retry_after("x", Duration::from_secs(2)).into(),
                FailureKind::Retry(Some(Duration::from_secs(2))),
            ),
            (Failure::dead_letter("x").into(), FailureKind::DeadLetter),
            (Failure::stop("x").into(), FailureKind::Stop),
        ];
        for (error, kind) in cases {
            assert_eq!(Failure::kind_of(&error), kind);
            assert_eq!(error.to_string(), "x");
        }
    }
}
