//! The one error type of this crate and its classification.

use std::fmt;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::record::OwnedRecord;

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The operation an error came from; part of the classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// Creating the librdkafka client.
    CreateClient,
    /// `init_transactions`.
    InitTransactions,
    /// `begin_transaction`.
    BeginTransaction,
    /// Producing one record (delivery awaited).
    Send,
    /// `send_offsets_to_transaction` (TxnOffsetCommit).
    SendOffsets,
    /// `commit_transaction` (EndTxn commit).
    CommitTransaction,
    /// `abort_transaction` (EndTxn abort).
    AbortTransaction,
    /// `flush`.
    Flush,
    /// A consumer operation (poll, seek, commit, committed offsets, ...).
    Consumer,
}

impl Operation {
    /// A short, stable name (used in logs and error messages).
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::CreateClient => "create_client",
            Operation::InitTransactions => "init_transactions",
            Operation::BeginTransaction => "begin_transaction",
            Operation::Send => "send",
            Operation::SendOffsets => "send_offsets_to_transaction",
            Operation::CommitTransaction => "commit_transaction",
            Operation::AbortTransaction => "abort_transaction",
            Operation::Flush => "flush",
            Operation::Consumer => "consumer",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the transaction loop does about an error (see [`Error::kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Call the same operation again after a backoff (a timed-out commit is retried,
    /// never switched to an abort).
    Retriable,
    /// Abort the transaction, rewind the consumer to the committed offsets and process
    /// the batch again.
    Abortable,
    /// The producer is unusable: drop it, build a new one (which fences and aborts the
    /// open transaction) and rewind.
    Fatal,
    /// A newer instance with the same `transactional.id` took over: stop.
    Fenced,
}

/// Every error of this crate.
///
/// librdkafka errors are kept as [`KafkaError`] (never flattened to strings), together
/// with the [`Operation`] they came from; [`Error::kind`] classifies them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A librdkafka call failed.
    #[error("{op} failed: {source}")]
    Kafka {
        /// The failed operation.
        op: Operation,
        /// The librdkafka error.
        #[source]
        source: KafkaError,
    },
    /// The producer was fenced by a newer instance using the same `transactional.id`.
    #[error("producer fenced during {op}: transactional.id `{transactional_id}` is now owned by a newer instance; this instance must stop")]
    Fenced {
        /// The contested transactional id.
        transactional_id: String,
        /// The operation that saw the fencing.
        op: Operation,
        /// The librdkafka error.
        #[source]
        source: KafkaError,
    },
    /// The cluster refused this client's principal an operation on a resource (an ACL is
    /// missing): fatal, and no retry or rebuilt producer changes it, so a pipeline stops.
    #[error("{op} failed: not authorized on {resource} (grant the principal access, then restart): {source}")]
    NotAuthorized {
        /// The failed operation.
        op: Operation,
        /// The resource refused: ``topic `orders-out` ``, ``transactional.id `app-0` ``.
        resource: String,
        /// The librdkafka error (an `*_AUTHORIZATION_FAILED` code).
        #[source]
        source: KafkaError,
    },
    /// A retriable operation still failed after the retry budget.
    #[error("{op} still failing after {attempts} attempts: {source}")]
    RetriesExhausted {
        /// The operation retried.
        op: Operation,
        /// How many times it was called.
        attempts: u32,
        /// The last error.
        #[source]
        source: Box<Error>,
    },
    /// The settings were rejected.
    #[error(transparent)]
    Config(#[from] kafka_eos_config::ConfigError),
    /// The blocking task running a librdkafka call panicked or was cancelled.
    #[error("blocking librdkafka call {op} did not complete: {source}")]
    Blocking {
        /// The operation that was running.
        op: Operation,
        /// The join error.
        #[source]
        source: tokio::task::JoinError,
    },
    /// A librdkafka call did not return within its own timeout plus a margin: the
    /// producer is stuck in it (librdkafka 2.12 waits without limit for a group
    /// coordinator that is down, librdkafka issues 5456 and 5511). Fatal: the pipeline
    /// replaces the producer, whose successor fences it and aborts its transaction.
    #[error("librdkafka call {op} did not return within {waited:?}, past its timeout: the producer is stuck in it and must be replaced")]
    Stalled {
        /// The operation that did not return.
        op: Operation,
        /// How long it was waited for.
        waited: std::time::Duration,
    },
    /// The thread that runs a librdkafka call could not be started.
    #[error("could not start a thread for {op}: {source}")]
    Thread {
        /// The operation to run.
        op: Operation,
        /// The spawn error.
        #[source]
        source: std::io::Error,
    },
    /// An operation was called in the wrong transaction state (a bug in the caller).
    #[error("invalid transaction state for {op}: {reason}")]
    State {
        /// The operation called.
        op: Operation,
        /// What was wrong.
        reason: &'static str,
    },
}

impl Error {
    /// Wraps a librdkafka error from `op`.
    pub fn kafka(op: Operation, source: KafkaError) -> Self {
        Error::Kafka { op, source }
    }

    /// How the transaction loop reacts to this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Kafka { op, source } => classify(*op, source),
            Error::Fenced { .. } => ErrorKind::Fenced,
            Error::NotAuthorized { .. } => ErrorKind::Fatal,
            Error::RetriesExhausted { .. } => ErrorKind::Fatal,
            Error::Config(_)
            | Error::Blocking { .. }
            | Error::Stalled { .. }
            | Error::Thread { .. }
            | Error::State { .. } => ErrorKind::Fatal,
        }
    }

    /// The librdkafka error, if this error wraps one.
    pub fn kafka_error(&self) -> Option<&KafkaError> {
        match self {
            Error::Kafka { source, .. }
            | Error::Fenced { source, .. }
            | Error::NotAuthorized { source, .. } => Some(source),
            Error::RetriesExhausted { source, .. } => source.kafka_error(),
            _ => None,
        }
    }

    /// The librdkafka error code, if any.
    pub fn code(&self) -> Option<RDKafkaErrorCode> {
        self.kafka_error().and_then(KafkaError::rdkafka_error_code)
    }

    /// The operation that failed, if known.
    pub fn operation(&self) -> Option<Operation> {
        match self {
            Error::Kafka { op, .. }
            | Error::Fenced { op, .. }
            | Error::NotAuthorized { op, .. }
            | Error::RetriesExhausted { op, .. }
            | Error::Blocking { op, .. }
            | Error::Stalled { op, .. }
            | Error::Thread { op, .. }
            | Error::State { op, .. } => Some(*op),
            Error::Config(_) => None,
        }
    }

    /// `true` if [`ErrorKind::Retriable`].
    pub fn is_retriable(&self) -> bool {
        self.kind() == ErrorKind::Retriable
    }

    /// `true` if [`ErrorKind::Abortable`].
    pub fn is_abortable(&self) -> bool {
        self.kind() == ErrorKind::Abortable
    }

    /// `true` if [`ErrorKind::Fatal`].
    pub fn is_fatal(&self) -> bool {
        self.kind() == ErrorKind::Fatal
    }

    /// `true` if [`ErrorKind::Fenced`].
    pub fn is_fenced(&self) -> bool {
        self.kind() == ErrorKind::Fenced
    }

    /// `true` when the cluster refused an operation for lack of an ACL
    /// ([`Error::NotAuthorized`], or an `*_AUTHORIZATION_FAILED` code): stop, do not retry.
    pub fn is_not_authorized(&self) -> bool {
        matches!(self, Error::NotAuthorized { .. }) || self.code().is_some_and(is_authorization)
    }

    /// Turns an authorization failure into [`Error::NotAuthorized`] naming the resource
    /// `resource` gives for its code (`None`: left as it is).
    pub fn naming_resource(
        self,
        resource: impl FnOnce(RDKafkaErrorCode) -> Option<String>,
    ) -> Self {
        match self {
            Error::Kafka { op, source } => {
                let named = source
                    .rdkafka_error_code()
                    .filter(|c| is_authorization(*c))
                    .and_then(resource);
                match named {
                    Some(resource) => Error::NotAuthorized {
                        op,
                        resource,
                        source,
                    },
                    None => Error::Kafka { op, source },
                }
            }
            other => other,
        }
    }

    /// Turns a classified-fenced Kafka error into [`Error::Fenced`] naming the id.
    pub(crate) fn with_transactional_id(self, transactional_id: &str) -> Self {
        match self {
            Error::Kafka { op, source } if classify(op, &source) == ErrorKind::Fenced => {
                Error::Fenced {
                    transactional_id: transactional_id.to_owned(),
                    op,
                    source,
                }
            }
            other => other,
        }
    }
}

/// Whether `code` is one of Kafka's `*_AUTHORIZATION_FAILED` codes.
pub fn is_authorization(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        code,
        C::TransactionalIdAuthorizationFailed
            | C::TopicAuthorizationFailed
            | C::GroupAuthorizationFailed
            | C::ClusterAuthorizationFailed
            | C::DelegationTokenAuthorizationFailed
    )
}

/// Classifies a librdkafka error raised by `op` (the table in this crate's docs).
///
/// Order: fencing codes first (`PRODUCER_FENCED`, `INVALID_PRODUCER_EPOCH` and
/// librdkafka's local `_FENCED` it turns them into); then the flags librdkafka sets on transactional errors
/// (`is_fatal`, `txn_requires_abort`, `is_retriable`); then the error code; then the
/// operation (a failed produce is abortable).
pub fn classify(op: Operation, err: &KafkaError) -> ErrorKind {
    use RDKafkaErrorCode as C;
    let code = err.rdkafka_error_code();
    if matches!(
        code,
        Some(C::ProducerFenced | C::InvalidProducerEpoch | C::Fenced)
    ) {
        return ErrorKind::Fenced;
    }
    // a missing ACL: librdkafka may call it abortable, but no abort grants it
    if code.is_some_and(is_authorization) {
        return ErrorKind::Fatal;
    }
    if let KafkaError::Transaction(rd) = err {
        if rd.is_fatal() {
            return ErrorKind::Fatal;
        }
        if rd.txn_requires_abort() {
            return ErrorKind::Abortable;
        }
        if rd.is_retriable() {
            return ErrorKind::Retriable;
        }
    }
    if matches!(err, KafkaError::Canceled) {
        return ErrorKind::Fatal;
    }
    match code {
        // A send refused because the transaction is in an error state (for instance an
        // abortable error, or a fencing librdkafka has not reported yet): aborting reveals
        // which, and is the right first step either way.
        Some(C::State) if op == Operation::Send => ErrorKind::Abortable,
        Some(
            C::TransactionalIdAuthorizationFailed
            | C::TopicAuthorizationFailed
            | C::GroupAuthorizationFailed
            | C::ClusterAuthorizationFailed
            | C::InvalidTransactionalState
            | C::InvalidTransactionTimeout
            | C::Fatal
            | C::State,
        ) => ErrorKind::Fatal,
        Some(
            C::UnknownProducerId
            | C::InvalidProducerIdMapping
            | C::MessageTimedOut
            | C::OutOfOrderSequenceNumber
            | C::PurgeQueue
            | C::PurgeInflight,
        ) => ErrorKind::Abortable,
        Some(
            C::IllegalGeneration
            | C::UnknownMemberId
            | C::FencedInstanceId
            | C::RebalanceInProgress,
        ) if op == Operation::SendOffsets => ErrorKind::Abortable,
        Some(
            C::OperationTimedOut
            | C::RequestTimedOut
            | C::TimedOutQueue
            | C::CoordinatorNotAvailable
            | C::NotCoordinator
            | C::CoordinatorLoadInProgress
            | C::ConcurrentTransactions
            | C::NetworkException
            | C::BrokerTransportFailure
            | C::AllBrokersDown
            | C::QueueFull
            | C::Retry,
        ) => ErrorKind::Retriable,
        _ => match op {
            // Any other failed produce leaves the transaction unable to commit.
            Operation::Send | Operation::SendOffsets => ErrorKind::Abortable,
            _ => ErrorKind::Fatal,
        },
    }
}

/// A failed [`send`](crate::TransactionalProducer::send): the error and the record,
/// handed back so it can be retried or dead-lettered without re-encoding.
#[derive(Debug, thiserror::Error)]
#[error("failed to send record to `{}`: {error}", record.topic)]
pub struct SendError {
    /// Why the send failed.
    #[source]
    pub error: Error,
    /// The record that was not delivered.
    pub record: OwnedRecord,
}

impl SendError {
    /// Classification of the underlying error.
    pub fn kind(&self) -> ErrorKind {
        self.error.kind()
    }

    /// Splits into the error and the record.
    pub fn into_parts(self) -> (Error, OwnedRecord) {
        (self.error, self.record)
    }
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        e.error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(op: Operation, e: KafkaError) -> ErrorKind {
        Error::kafka(op, e).kind()
    }

    #[test]
    fn fenced_codes() {
        use RDKafkaErrorCode as C;
        for code in [C::ProducerFenced, C::InvalidProducerEpoch, C::Fenced] {
            for op in [
                Operation::Send,
                Operation::CommitTransaction,
                Operation::SendOffsets,
            ] {
                assert_eq!(kind(op, KafkaError::Global(code)), ErrorKind::Fenced);
            }
        }
        let e = Error::kafka(
            Operation::CommitTransaction,
            KafkaError::Global(C::ProducerFenced),
        )
        .with_transactional_id("app-g-0");
        assert!(
            matches!(&e, Error::Fenced { transactional_id, .. } if transactional_id == "app-g-0")
        );
        assert!(e.to_string().contains("app-g-0"));
        assert_eq!(e.code(), Some(C::ProducerFenced));
    }

    #[test]
    fn retriable_codes() {
        use RDKafkaErrorCode as C;
        for code in [
            C::OperationTimedOut,
            C::RequestTimedOut,
            C::CoordinatorNotAvailable,
            C::NotCoordinator,
            C::CoordinatorLoadInProgress,
            C::ConcurrentTransactions,
        ] {
            assert_eq!(
                kind(Operation::CommitTransaction, KafkaError::Global(code)),
                ErrorKind::Retriable,
                "{code:?}"
            );
        }
    }

    #[test]
    fn abortable_codes() {
        use RDKafkaErrorCode as C;
        assert_eq!(
            kind(
                Operation::Send,
                KafkaError::MessageProduction(C::MessageTimedOut)
            ),
            ErrorKind::Abortable
        );
        assert_eq!(
            kind(
                Operation::Send,
                KafkaError::MessageProduction(C::UnknownProducerId)
            ),
            ErrorKind::Abortable
        );
        assert_eq!(
            kind(
                Operation::Send,
                KafkaError::MessageProduction(C::MessageSizeTooLarge)
            ),
            ErrorKind::Abortable,
            "any failed produce is abortable"
        );
        assert_eq!(
            kind(
                Operation::SendOffsets,
                KafkaError::Global(C::IllegalGeneration)
            ),
            ErrorKind::Abortable
        );
        // Outside TxnOffsetCommit an illegal generation is not an abort trigger.
        assert_eq!(
            kind(
                Operation::InitTransactions,
                KafkaError::Global(C::IllegalGeneration)
            ),
            ErrorKind::Fatal
        );
    }

    #[test]
    fn a_send_refused_by_the_transaction_state_is_abortable_elsewhere_fatal() {
        use RDKafkaErrorCode as C;
        assert_eq!(
            kind(Operation::Send, KafkaError::MessageProduction(C::State)),
            ErrorKind::Abortable
        );
        assert_eq!(
            kind(Operation::CommitTransaction, KafkaError::Global(C::State)),
            ErrorKind::Fatal
        );
    }

    #[test]
    fn fatal_codes() {
        use RDKafkaErrorCode as C;
        for code in [
            C::InvalidTransactionalState,
            C::TransactionalIdAuthorizationFailed,
            C::TopicAuthorizationFailed,
            C::GroupAuthorizationFailed,
            C::ClusterAuthorizationFailed,
        ] {
            assert_eq!(
                kind(Operation::CommitTransaction, KafkaError::Global(code)),
                ErrorKind::Fatal,
                "{code:?}"
            );
            // Even on a send, authorization / state errors are fatal.
            assert_eq!(
                kind(Operation::Send, KafkaError::MessageProduction(code)),
                ErrorKind::Fatal,
                "{code:?}"
            );
        }
        assert_eq!(
            kind(Operation::Send, KafkaError::Canceled),
            ErrorKind::Fatal
        );
        let exhausted = Error::RetriesExhausted {
            op: Operation::CommitTransaction,
            attempts: 3,
            source: Box::new(Error::kafka(
                Operation::CommitTransaction,
                KafkaError::Global(C::OperationTimedOut),
            )),
        };
        assert!(exhausted.is_fatal());
        assert_eq!(exhausted.code(), Some(C::OperationTimedOut));
    }

    #[test]
    fn authorization_failures_are_fatal_and_name_their_resource() {
        use RDKafkaErrorCode as C;
        for code in [
            C::TopicAuthorizationFailed,
            C::TransactionalIdAuthorizationFailed,
            C::GroupAuthorizationFailed,
            C::ClusterAuthorizationFailed,
        ] {
            let e = Error::kafka(Operation::CommitTransaction, KafkaError::Global(code));
            assert_eq!(e.kind(), ErrorKind::Fatal, "{code:?}");
            assert!(e.is_not_authorized());
            let named = e.naming_resource(|_| Some("topic `out`".to_owned()));
            assert!(
                matches!(&named, Error::NotAuthorized { resource, .. } if resource == "topic `out`")
            );
            assert!(
                named.to_string().contains("not authorized on topic `out`"),
                "{named}"
            );
            assert_eq!(named.code(), Some(code));
        }
        let other = Error::kafka(Operation::Send, KafkaError::Global(C::MessageTimedOut))
            .naming_resource(|_| Some("topic `out`".to_owned()));
        assert!(
            matches!(other, Error::Kafka { .. }),
            "only authorization failures are named"
        );
        assert!(!other.is_not_authorized());
    }

    #[test]
    fn send_error_hands_back_record() {
        let rec = OwnedRecord::new("t", "k", "v");
        let err = SendError {
            error: Error::kafka(
                Operation::Send,
                KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut),
            ),
            record: rec.clone(),
        };
        assert_eq!(err.kind(), ErrorKind::Abortable);
        let (e, r) = err.into_parts();
        assert_eq!(r, rec);
        assert!(matches!(
            e,
            Error::Kafka {
                op: Operation::Send,
                ..
            }
        ));
    }
}
