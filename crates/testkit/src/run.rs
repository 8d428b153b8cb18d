//! [`run_pipeline`]: a pipeline under test, run until its output topic holds what it must.

use std::future::Future;
use std::pin::{pin, Pin};
use std::time::{Duration, Instant};

use kafka_eos_processor::{Codec, MetricsSnapshot, Pipeline, Processor};

use crate::error::{Error, Result};
use crate::io::{unblock, CommittedRead, Record, POLL};

/// How long [`run_pipeline`] keeps reading after the expected count while nothing more
/// arrives, so a duplicate written right after shows up in [`PipelineRun::records`].
pub const RUN_LINGER: Duration = Duration::from_millis(500);

/// How long [`run_pipeline`] gives the pipeline to return once its shutdown token is cancelled.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// How many keys [`Error::PipelineTimeout`] lists.
const FIRST_KEYS: usize = 5;

/// What a pipeline under test wrote, as [`run_pipeline`] read it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PipelineRun {
    /// The output topic's records as a `read_committed` reader saw them (per-partition order).
    pub records: Vec<Record>,
    /// The pipeline's metrics after it stopped.
    pub metrics: MetricsSnapshot,
}

/// The pipeline's `run()` future, pinned in [`run_pipeline`]'s frame; `None` once it ended.
type Running<'a, F> = Option<Pin<&'a mut F>>;

/// Runs `pipeline` under test: runs [`Pipeline::run`] concurrently with a reader, on the
/// calling task (so the processor needs neither `Send` futures across tasks nor `Sync`), reads
/// `output_topic` from the beginning with a `read_committed` reader until it holds
/// `expected_count` records (and nothing more arrives for [`RUN_LINGER`]), then stops the
/// pipeline gracefully (cancels its shutdown token and awaits `run()`) and returns the
/// records read with the pipeline's metrics.
///
/// Never blocks the runtime (the reader runs on the blocking pool), so it works from a plain
/// `#[tokio::test]` (current-thread runtime) as from any other.
///
/// Errors:
/// - the pipeline stops early with an error: [`Error::Pipeline`] with that error, at once;
/// - `timeout` passes first: [`Error::PipelineTimeout`] with the count read, the first
///   records' keys and the pipeline's metrics (the pipeline is stopped first);
/// - `run()` fails while stopping: [`Error::Pipeline`]; it does not return within
///   [`STOP_TIMEOUT`]: [`Error::PipelineStop`] (its future is dropped).
///
/// A pipeline that returns `Ok` early (its shutdown token cancelled elsewhere) is not an
/// error: the reader goes on until it has the records or `timeout` passes. A panic in the
/// processor reaches the caller as a panic.
///
/// ```no_run
/// # async fn demo<P, C>(pipeline: kafka_eos_processor::Pipeline<P, C>, expected: Vec<kafka_eos_testkit::Record>)
/// #     -> Result<(), kafka_eos_testkit::Error>
/// # where P: kafka_eos_processor::Processor, C: kafka_eos_processor::Codec<Item = P::Input> {
/// use std::time::Duration;
/// use kafka_eos_testkit::{check_exactly_once, run_pipeline};
/// let run = run_pipeline(pipeline, "127.0.0.1:9092", "order-fees", expected.len(), Duration::from_secs(60)).await?;
/// let report = check_exactly_once(&expected, &run.records);
/// assert!(report.is_exactly_once(), "{report}");
/// # Ok(()) }
/// ```
pub async fn run_pipeline<P, C>(
    pipeline: Pipeline<P, C>,
    bootstrap: &str,
    output_topic: &str,
    expected_count: usize,
    timeout: Duration,
) -> Result<PipelineRun>
where
    P: Processor,
    C: Codec<Item = P::Input>,
{
    let deadline = Instant::now() + timeout;
    let metrics = pipeline.metrics();
    let shutdown = pipeline.shutdown_token();
    let run = pin!(pipeline.run());
    let mut running = Some(run);

    let read = read_while_running(
        &mut running,
        bootstrap,
        output_topic,
        expected_count,
        deadline,
    )
    .await;

    shutdown.cancel();
    let stopped = match running {
        Some(run) => stop(run).await,
        None => Ok(()),
    };
    let metrics = metrics.snapshot();
    match read {
        Ok(read) if read.records.len() >= expected_count => {
            stopped?;
            Ok(PipelineRun {
                records: read.records,
                metrics,
            })
        }
        Ok(read) => {
            if let Err(e) = stopped {
                tracing::warn!(error = %e, "the pipeline under test failed while stopping");
            }
            Err(Error::PipelineTimeout {
                topic: output_topic.to_owned(),
                got: read.records.len(),
                expected: expected_count,
                timeout,
                first_keys: read
                    .records
                    .iter()
                    .take(FIRST_KEYS)
                    .map(|r| String::from_utf8_lossy(&r.key).into_owned())
                    .collect(),
                metrics: Box::new(metrics),
            })
        }
        Err(e) => {
            if let Err(stop_error) = stopped {
                tracing::warn!(error = %stop_error, "the pipeline under test failed while stopping");
            }
            Err(e)
        }
    }
}

/// Reads `topic` until it holds `expected` records and nothing more arrives for
/// [`RUN_LINGER`], or `deadline` passes (then returns what it read), while polling the
/// pipeline: an error it stops with is returned at once; once it ended, `running` is `None`.
async fn read_while_running<F>(
    running: &mut Running<'_, F>,
    bootstrap: &str,
    topic: &str,
    expected: usize,
    deadline: Instant,
) -> Result<CommittedRead>
where
    F: Future<Output = kafka_eos_processor::Result<()>>,
{
    let (bootstrap, topic) = (bootstrap.to_owned(), topic.to_owned());
    let mut read = unblock(move || CommittedRead::start(&bootstrap, &[&topic])).await?;
    loop {
        let now = Instant::now();
        if read.has(expected, RUN_LINGER) || now >= deadline {
            return Ok(read);
        }
        let wait = POLL.min(deadline - now);
        let mut poll = tokio::task::spawn_blocking(move || {
            let polled = read.poll_for(wait);
            (read, polled)
        });
        let (back, polled) = match running.as_mut() {
            None => poll.await?,
            Some(run) => {
                let event = tokio::select! {
                    ended = run.as_mut() => Err(ended),
                    polled = &mut poll => Ok(polled),
                };
                match event {
                    Ok(polled) => polled?,
                    Err(ended) => {
                        *running = None;
                        // An error is returned at once (the poll in flight ends on its own).
                        ended?;
                        poll.await?
                    }
                }
            }
        };
        polled?;
        read = back;
    }
}

/// Awaits the pipeline after its shutdown token was cancelled, for up to [`STOP_TIMEOUT`]
/// (then drops it, as an abrupt stop: its open transaction is never committed).
async fn stop<F>(run: Pin<&mut F>) -> Result<()>
where
    F: Future<Output = kafka_eos_processor::Result<()>>,
{
    match tokio::time::timeout(STOP_TIMEOUT, run).await {
        Ok(ended) => Ok(ended?),
        Err(_) => Err(Error::PipelineStop {
            waited: STOP_TIMEOUT,
        }),
    }
}
