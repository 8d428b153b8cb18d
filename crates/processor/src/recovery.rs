//! What a failed batch leads to: rewind and replay it, rebuild the producer, or stop the
//! pipeline. Kafka errors are classified once (core); this maps the class to the step,
//! through a small seam ([`Transactions`]) so the mapping is unit-tested without a broker.

use std::future::Future;

use kafka_eos_core::{AbortCause, Error as CoreError, ErrorKind};

use crate::error::Error;
use crate::sink::Sink;

/// The outcome of a batch that did not commit.
pub(crate) enum Step {
    /// The transaction is aborted: seek back and process the batch again.
    Rewind,
    /// Stop the pipeline with this error.
    Fail(Error),
}

impl From<CoreError> for Step {
    fn from(e: CoreError) -> Self {
        Step::Fail(Error::from(e))
    }
}

/// The transaction controls recovery needs: the seam between the recovery rules and Kafka.
pub(crate) trait Transactions {
    /// Aborts the open transaction, if any (after an error: [`AbortCause::Error`]).
    fn abort(&mut self) -> impl Future<Output = Result<(), CoreError>> + Send;
    /// Replaces the producer (`None`: this side cannot, as the at-least-once producer).
    fn rebuild(&mut self) -> impl Future<Output = Option<Result<(), CoreError>>> + Send;
}

impl Transactions for Sink {
    async fn abort(&mut self) -> Result<(), CoreError> {
        Sink::abort(self, AbortCause::Error).await
    }

    async fn rebuild(&mut self) -> Option<Result<(), CoreError>> {
        match self {
            Sink::Txn(p) => Some(p.rebuild().await),
            Sink::Plain { .. } => None,
        }
    }
}

/// Reacts to a Kafka error inside a batch: abortable errors abort and rewind, fatal ones
/// rebuild the producer (after an abort, so a fencing is noticed first), fencing stops.
pub(crate) async fn recover<T: Transactions + Send>(txn: &mut T, error: CoreError) -> Step {
    tracing::warn!(error = %error, kind = ?error.kind(), "batch failed");
    if error.is_not_authorized() {
        // no abort, retry or rebuilt producer grants a missing ACL: stop
        if let Err(e) = txn.abort().await {
            tracing::debug!(error = %e, "abort after an authorization failure");
        }
        return Step::Fail(Error::from(error));
    }
    match error.kind() {
        ErrorKind::Fenced => Step::Fail(Error::from(error)),
        // Abort first: if the fatal error was a fencing, the abort says so, and a
        // rebuilt producer would fence the newer instance that owns the id now.
        ErrorKind::Fatal => match txn.abort().await {
            Err(e) if e.is_fenced() => Step::Fail(Error::from(e)),
            _ => rebuild(txn, error).await,
        },
        _ => match txn.abort().await {
            Ok(()) => Step::Rewind,
            Err(e) if e.is_fenced() => Step::Fail(Error::from(e)),
            Err(e) => rebuild(txn, e).await,
        },
    }
}

async fn rebuild<T: Transactions + Send>(txn: &mut T, cause: CoreError) -> Step {
    match txn.rebuild().await {
        Some(Ok(())) => Step::Rewind,
        Some(Err(e)) => {
            tracing::error!(cause = %cause, error = %e, "producer rebuild failed");
            Step::Fail(Error::from(e))
        }
        None => Step::Fail(Error::from(cause)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_eos_core::Operation;
    use rdkafka::error::{KafkaError, RDKafkaErrorCode};

    /// Scripted answers, and what recovery called.
    #[derive(Default)]
    struct Fake {
        abort: Option<RDKafkaErrorCode>,
        rebuild: Option<Option<RDKafkaErrorCode>>,
        calls: Vec<&'static str>,
    }

    fn error(op: Operation, code: RDKafkaErrorCode) -> CoreError {
        CoreError::kafka(op, KafkaError::Global(code))
    }

    impl Transactions for Fake {
        async fn abort(&mut self) -> Result<(), CoreError> {
            self.calls.push("abort");
            self.abort
                .map_or(Ok(()), |c| Err(error(Operation::AbortTransaction, c)))
        }

        async fn rebuild(&mut self) -> Option<Result<(), CoreError>> {
            self.calls.push("rebuild");
            self.rebuild
                .map(|r| r.map_or(Ok(()), |c| Err(error(Operation::InitTransactions, c))))
        }
    }

    fn step(fake: &mut Fake, e: CoreError) -> Step {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(recover(fake, e))
    }

    fn fenced() -> RDKafkaErrorCode {
        RDKafkaErrorCode::Fenced
    }

    #[test]
    fn fencing_stops_without_touching_the_producer() {
        let mut fake = Fake::default();
        let s = step(&mut fake, error(Operation::CommitTransaction, fenced()));
        assert!(matches!(s, Step::Fail(e) if e.is_fenced()));
        assert!(fake.calls.is_empty(), "{:?}", fake.calls);
    }

    #[test]
    fn an_abortable_error_aborts_and_rewinds() {
        let mut fake = Fake::default();
        let e = error(Operation::Send, RDKafkaErrorCode::MessageTimedOut);
        assert_eq!(e.kind(), ErrorKind::Abortable);
        assert!(matches!(step(&mut fake, e), Step::Rewind));
        assert_eq!(fake.calls, ["abort"]);
    }

    #[test]
    fn a_failed_abort_rebuilds_and_a_fenced_abort_stops() {
        let e = || error(Operation::Send, RDKafkaErrorCode::MessageTimedOut);
        let mut fake = Fake {
            abort: Some(RDKafkaErrorCode::InvalidTransactionalState),
            rebuild: Some(None),
            ..Fake::default()
        };
        assert!(matches!(step(&mut fake, e()), Step::Rewind));
        assert_eq!(fake.calls, ["abort", "rebuild"]);

        let mut fake = Fake {
            abort: Some(fenced()),
            rebuild: Some(None),
            ..Fake::default()
        };
        assert!(matches!(step(&mut fake, e()), Step::Fail(e) if e.is_fenced()));
        assert_eq!(fake.calls, ["abort"], "a fenced instance must not rebuild");
    }

    #[test]
    fn a_missing_acl_stops_after_the_abort_without_a_rebuild() {
        let denied = error(Operation::Send, RDKafkaErrorCode::TopicAuthorizationFailed)
            .naming_resource(|_| Some("topic `out`".to_owned()));
        assert!(denied.is_not_authorized());
        let mut fake = Fake {
            rebuild: Some(None),
            ..Fake::default()
        };
        let s = step(&mut fake, denied);
        assert!(
            matches!(&s, Step::Fail(e) if e.to_string().contains("topic `out`")),
            "the resource is named"
        );
        assert_eq!(fake.calls, ["abort"], "a rebuilt producer grants no ACL");
    }

    #[test]
    fn a_fatal_error_aborts_then_rebuilds_and_a_failed_rebuild_stops() {
        let e = || {
            error(
                Operation::CommitTransaction,
                RDKafkaErrorCode::InvalidTransactionalState,
            )
        };
        assert_eq!(e().kind(), ErrorKind::Fatal);
        let mut fake = Fake {
            rebuild: Some(None),
            ..Fake::default()
        };
        assert!(matches!(step(&mut fake, e()), Step::Rewind));
        assert_eq!(fake.calls, ["abort", "rebuild"]);

        let mut fake = Fake {
            rebuild: Some(Some(RDKafkaErrorCode::TransactionalIdAuthorizationFailed)),
            ..Fake::default()
        };
        assert!(matches!(step(&mut fake, e()), Step::Fail(_)));

        // the at-least-once side cannot rebuild: the cause stops the pipeline
        let mut fake = Fake::default();
        assert!(matches!(step(&mut fake, e()), Step::Fail(Error::Core(_))));
    }
}
