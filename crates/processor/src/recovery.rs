//! What a failed batch leads to: rewind and replay it, or stop the pipeline. Kafka errors
//! are classified once (core); this maps the class to the step.

use kafka_eos_core::{Error as CoreError, ErrorKind};

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

/// Reacts to a Kafka error inside a batch: abortable errors abort and rewind, fatal ones
/// rebuild the producer (after an abort, so a fencing is noticed first), fencing stops.
pub(crate) async fn recover(sink: &mut Sink, error: CoreError) -> Step {
    tracing::warn!(error = %error, kind = ?error.kind(), "batch failed");
    match error.kind() {
        ErrorKind::Fenced => Step::Fail(Error::from(error)),
        // Abort first: if the fatal error was a fencing, the abort says so, and a
        // rebuilt producer would fence the newer instance that owns the id now.
        ErrorKind::Fatal => match sink.abort().await {
            Err(e) if e.is_fenced() => Step::Fail(Error::from(e)),
            _ => rebuild(sink, error).await,
        },
        _ => match sink.abort().await {
            Ok(()) => Step::Rewind,
            Err(e) if e.is_fenced() => Step::Fail(Error::from(e)),
            Err(e) => rebuild(sink, e).await,
        },
    }
}

async fn rebuild(sink: &mut Sink, cause: CoreError) -> Step {
    match sink {
        Sink::Txn(p) => match p.rebuild().await {
            Ok(()) => Step::Rewind,
            Err(e) => {
                tracing::error!(cause = %cause, error = %e, "producer rebuild failed");
                Step::Fail(Error::from(e))
            }
        },
        Sink::Plain { .. } => Step::Fail(Error::from(cause)),
    }
}
