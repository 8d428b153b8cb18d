//! [`Prefetch`]: the next batch collected on a task of its own while this one is processed
//! and committed, so polling and producing run on both of the runtime's workers instead of
//! taking turns on one.
//!
//! Why it stays exactly once: the collecting task may serve a rebalance while the batch
//! before it is in its transaction. That batch's offsets are sent with the group metadata
//! of the generation its records were polled in ([`Membership`]), so:
//! - a rebalance noticed before the commit aborts the transaction and rewinds (the
//!   pipeline checks the generation);
//! - one that lands during the commit either finds the offsets pending (the new owner's
//!   offset fetch, `require_stable`, waits until the transaction ends: KIP-447) or fences
//!   them with ILLEGAL_GENERATION (the transaction aborts).
//!
//! Either way no output of a partition's records is committed twice.

use std::sync::Arc;
use std::time::Duration;

use kafka_eos_core::{Error as CoreError, Operation};
use rdkafka::consumer::StreamConsumer;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::batch::{self, Collected, Intake, Polled};
use crate::context::EosConsumerContext;
use crate::error::{Error, Result};

/// A batch being collected on its own task.
pub(crate) struct Prefetch {
    /// Cuts the collection short (a child of the pipeline's shutdown token).
    stop: CancellationToken,
    /// Lets the collection end once its interval has passed: until then it goes on
    /// polling, however long the batch before it takes.
    release: CancellationToken,
    handle: JoinHandle<Result<Collected>>,
}

impl Prefetch {
    /// Starts collecting the next batch into `buffer` (a spent batch's) as `intake` says: up to `max`
    /// records, for `interval` or until [`finish`](Self::finish) is called, whichever is
    /// later.
    pub(crate) fn start(
        consumer: &Arc<StreamConsumer<EosConsumerContext>>,
        context: &EosConsumerContext,
        max: usize,
        interval: Duration,
        shutdown: &CancellationToken,
        buffer: Vec<Polled>,
        intake: &Intake,
    ) -> Self {
        let (stop, release) = (shutdown.child_token(), CancellationToken::new());
        let (consumer, context, intake) = (Arc::clone(consumer), context.clone(), intake.clone());
        let (token, hold) = (stop.clone(), release.clone());
        let handle = tokio::spawn(async move {
            let collected = batch::collect(
                &consumer,
                &context,
                max,
                interval,
                Some(&hold),
                &token,
                buffer,
                &intake,
            )
            .await;
            // the pipeline's future dropped meanwhile: this task closes the consumer
            crate::pipeline::close_consumer(consumer).await;
            collected
        });
        Prefetch {
            stop,
            release,
            handle,
        }
    }

    /// The batch, once its interval has passed.
    pub(crate) async fn finish(mut self) -> Result<Collected> {
        self.release.cancel();
        match (&mut self.handle).await {
            Ok(collected) => collected,
            Err(source) => Err(Error::Core(CoreError::Blocking {
                op: Operation::Consumer,
                source,
            })),
        }
    }

    /// Ends the collection now; returns what it polled so far.
    pub(crate) async fn cancel(self) -> Result<Collected> {
        self.stop.cancel();
        self.finish().await
    }
}

impl Drop for Prefetch {
    /// A prefetch dropped unfinished (the pipeline's future dropped) stops polling soon.
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
