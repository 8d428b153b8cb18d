//! One transaction: begin; decode the batch in order; process its records by key
//! (concurrently across keys, in input order within a key, within the pipeline's bounds),
//! handing each record's outputs to the producer as soon as they are made; await every
//! delivery; send the input offsets with the group metadata; commit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_eos_core::{Error as CoreError, Operation, OwnedRecord, SendError};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::attempts::{now_ms, RecordId};
use crate::batch::{self, Polled};
use crate::codec::{decode, decode_owned, Codec};
use crate::context::EosConsumerContext;
use crate::dead_letter::{dead_letter, ErrorPolicy, History};
use crate::error::{BoxError, Error};
use crate::failure::{Failure, FailureKind};
use crate::pipeline::{core_error, Pipeline};
use crate::processor::{Input, Processor};
use crate::recovery::{recover, Step};
use crate::scheduler::{run_lanes, Lane, Next};
use crate::sink::Sink;

/// What the lanes of one batch leave behind.
#[derive(Default)]
struct BatchState {
    /// Outputs handed to the producer (their deliveries are awaited before the commit).
    outputs: AtomicU64,
    send_failure: Mutex<Option<SendError>>,
    /// Records that failed below `max_attempts`, and when: the batch is aborted and
    /// replayed.
    retry: Mutex<Vec<(RecordId, i64)>>,
    /// How long to wait before the replay (the longest any failure of the batch asked for).
    retry_delay: Mutex<Duration>,
    /// The pipeline stops with this error (a record under `ErrorPolicy::Stop`).
    stop: Mutex<Option<Error>>,
    dead_letters: AtomicU64,
}

impl BatchState {
    /// Hands `record` to the producer; a failed send stops every lane.
    async fn send(&self, sink: &Sink, record: OwnedRecord) -> Next {
        match sink.enqueue(record).await {
            Ok(()) => {
                self.outputs.fetch_add(1, Ordering::Relaxed);
                Next::Continue
            }
            Err(e) => {
                if let Ok(mut first) = self.send_failure.lock() {
                    first.get_or_insert(e);
                }
                Next::StopAll
            }
        }
    }
}

fn lane_of<T>((msg, _): &(&mut Polled, T)) -> Lane {
    match &msg.key {
        Some(key) => Lane::Key(key.clone()),
        None => Lane::Unkeyed(Arc::clone(&msg.topic), msg.partition),
    }
}

impl<P: Processor, C: Codec<Item = P::Input>> Pipeline<P, C> {
    /// Runs one batch in one transaction; `Ok` once it committed.
    pub(crate) async fn process_batch(
        &mut self,
        batch: &mut [Polled],
        consumer: &Arc<StreamConsumer<EosConsumerContext>>,
        sink: &mut Sink,
    ) -> Result<(), Step> {
        if let Err(e) = sink.begin().await {
            return Err(recover(sink, e).await);
        }
        let state = BatchState::default();
        let started = Instant::now();
        let mut jobs = Vec::with_capacity(batch.len());
        for msg in batch.iter_mut() {
            let decoded = match self.policy {
                // a dead letter writes the value as it was read: decode a borrow
                ErrorPolicy::DeadLetter(_) => decode(&self.codec, msg.value.as_deref()),
                // nothing reads the value after this: the codec may keep its bytes
                ErrorPolicy::Stop => decode_owned(&self.codec, msg.value.take()),
            };
            match decoded {
                Ok(value) => jobs.push((msg, value)),
                Err(e) => {
                    let (topic, partition, offset) = (&*msg.topic, msg.partition, msg.offset);
                    tracing::warn!(topic, partition, offset, error = %e, "undecodable record");
                    match &self.policy {
                        ErrorPolicy::DeadLetter(dlq) => {
                            let history = History::once(now_ms());
                            if state
                                .send(sink, dead_letter(msg, dlq, "decode", &e, history))
                                .await
                                == Next::StopAll
                            {
                                break;
                            }
                            state.dead_letters.fetch_add(1, Ordering::Relaxed);
                        }
                        ErrorPolicy::Stop => {
                            drop(state);
                            let _ = sink.abort().await; // it purges what is still in flight
                            return Err(Step::Fail(Error::Decode {
                                topic: topic.to_owned(),
                                partition,
                                offset,
                                source: e,
                            }));
                        }
                    }
                }
            }
        }
        let send_failed = state.send_failure.lock().map_or(true, |f| f.is_some());
        let this = &*self;
        let shared_sink: &Sink = sink;
        if !send_failed {
            let work = async {
                if this.limits.is_sequential() {
                    // one at a time: input order is every key's order; no lanes to keep
                    this.in_flight.enter();
                    for (msg, value) in jobs {
                        if this.process_record(msg, value, shared_sink, &state).await
                            == Next::StopAll
                        {
                            break;
                        }
                    }
                    this.in_flight.leave();
                } else {
                    run_lanes(
                        jobs,
                        &this.limits,
                        this.rate.as_ref(),
                        &this.in_flight,
                        lane_of,
                        |(msg, _)| (Arc::clone(&msg.topic), msg.partition),
                        |(msg, value)| this.process_record(msg, value, shared_sink, &state),
                    )
                    .await;
                }
            };
            tokio::pin!(work);
            // A batch that stays in flight (a stalled processor) pauses the consumer, so
            // librdkafka stops prefetching behind it; it resumes before the next poll.
            tokio::select! {
                () = &mut work => {}
                () = tokio::time::sleep(PAUSE_AFTER) => {
                    let paused = pause(consumer, &this.metrics);
                    work.await;
                    if let Some(assignment) = paused {
                        if let Err(e) = consumer.resume(&assignment) {
                            tracing::warn!(error = %e, "cannot resume the consumer");
                        }
                    }
                }
            }
        }
        self.metrics
            .record_in_flight_peak(self.in_flight.peak() as u64);

        let BatchState {
            outputs,
            send_failure,
            retry,
            retry_delay,
            stop,
            dead_letters,
        } = state;
        if let Some(error) = stop.into_inner().ok().flatten() {
            let _ = sink.abort().await; // it purges what is still in flight
            return Err(Step::Fail(error));
        }
        let retry = retry.into_inner().unwrap_or_default();
        if !retry.is_empty() {
            for (id, at_ms) in retry {
                self.attempts.failed(id, at_ms);
            }
            if let Err(e) = sink.abort().await {
                return Err(recover(sink, e).await);
            }
            // back off before the replay (a shutdown cuts the wait short)
            let delay = retry_delay.into_inner().unwrap_or_default();
            if !delay.is_zero() {
                tracing::info!(
                    delay_ms = delay.as_millis() as u64,
                    "retrying the batch after a backoff"
                );
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = self.shutdown.cancelled() => {}
                }
            }
            return Err(Step::Rewind);
        }
        // every delivery awaited inside the transaction
        let processed = started.elapsed();
        let outputs = outputs.into_inner();
        let delivered = sink.await_all().await;
        tracing::debug!(
            records = batch.len(),
            outputs,
            process_ms = processed.as_secs_f64() * 1e3,
            deliveries_ms = (started.elapsed() - processed).as_secs_f64() * 1e3,
            "batch processed"
        );
        let send_failure = send_failure.into_inner().ok().flatten();
        if let Some(SendError { error, .. }) = send_failure.or(delivered.err()) {
            return Err(recover(sink, error).await);
        }
        commit(sink, consumer, &*batch).await?;
        self.metrics
            .record_in(batch.len() as u64, dead_letters.into_inner());
        Ok(())
    }

    /// Processes one record in its lane: its outputs go to the producer at once; a failure
    /// is retried (the batch replays), dead-lettered or stops the pipeline.
    ///
    /// The record's headers move into the processor's input, unless a failure of this
    /// attempt would dead-letter the record (which writes them as they were read).
    async fn process_record(
        &self,
        msg: &mut Polled,
        value: C::Item,
        sink: &Sink,
        state: &BatchState,
    ) -> Next {
        let (partition, offset) = (msg.partition, msg.offset);
        let id = || (Arc::clone(&msg.topic), partition, offset);
        let failures = self.attempts.of(id);
        let attempts = failures.map_or(0, |f| f.count) + 1;
        let last_attempt = attempts >= self.max_attempts;
        // a dead letter writes the key and headers as they were read: keep them when one may
        // follow; otherwise they move into the input (a key the processor turns into a
        // `Vec` then keeps its buffer)
        let (key, headers) = if matches!(self.policy, ErrorPolicy::DeadLetter(_)) {
            (msg.key.clone(), msg.headers.clone())
        } else {
            (msg.key.take(), std::mem::take(&mut msg.headers))
        };
        let input = Input {
            topic: Arc::clone(&msg.topic),
            partition,
            offset,
            key,
            headers,
            timestamp: msg.timestamp,
            value,
        };
        self.metrics.record_process_call();
        let error: BoxError = match self.processor.process(input).await {
            Ok(outs) => {
                for out in outs {
                    if state.send(sink, out).await == Next::StopAll {
                        return Next::StopAll;
                    }
                }
                return Next::Continue;
            }
            Err(e) => e,
        };
        let failed_ms = now_ms();
        let topic = &*msg.topic;
        let kind = Failure::kind_of(&error);
        tracing::warn!(topic, partition, offset, attempts, ?kind, error = %error, "processor failed");
        if let FailureKind::Retry(hint) = kind {
            if !last_attempt {
                self.metrics.record_attempt_retry(attempts);
                if let Ok(mut retry) = state.retry.lock() {
                    retry.push((id(), failed_ms));
                }
                if let Ok(mut delay) = state.retry_delay.lock() {
                    // the record's place seeds its jitter: a replay waits the same
                    let seed = (u64::from(partition.unsigned_abs()) << 40) ^ offset as u64;
                    let wait = hint.unwrap_or_else(|| self.backoff.after(attempts, seed));
                    *delay = (*delay).max(wait);
                }
                return Next::StopAll;
            }
        }
        let policy = if kind == FailureKind::Stop {
            &ErrorPolicy::Stop
        } else {
            &self.policy
        };
        match policy {
            ErrorPolicy::DeadLetter(dlq) => {
                let history = History {
                    attempts,
                    first_failure_ms: failures.map_or(failed_ms, |f| f.first_ms),
                    last_failure_ms: failed_ms,
                };
                let next = state
                    .send(sink, dead_letter(msg, dlq, "process", &error, history))
                    .await;
                if next == Next::Continue {
                    state.dead_letters.fetch_add(1, Ordering::Relaxed);
                }
                next
            }
            ErrorPolicy::Stop => {
                if let Ok(mut stop) = state.stop.lock() {
                    stop.get_or_insert(Error::Process {
                        topic: topic.to_owned(),
                        partition,
                        offset,
                        attempts,
                        source: error,
                    });
                }
                Next::StopAll
            }
        }
    }
}

/// How long a batch may stay in flight before the consumer's partitions are paused.
const PAUSE_AFTER: Duration = Duration::from_millis(500);

/// Pauses every assigned partition; returns the assignment to resume.
fn pause(
    consumer: &StreamConsumer<EosConsumerContext>,
    metrics: &kafka_eos_core::Metrics,
) -> Option<TopicPartitionList> {
    let assignment = match consumer.assignment() {
        Ok(a) if a.count() > 0 => a,
        Ok(_) => return None,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the assignment to pause it");
            return None;
        }
    };
    match consumer.pause(&assignment) {
        Ok(()) => {
            metrics.record_pause();
            tracing::info!(
                partitions = assignment.count(),
                after_ms = PAUSE_AFTER.as_millis() as u64,
                "batch still in flight: consumer paused until it completes"
            );
            Some(assignment)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot pause the consumer");
            None
        }
    }
}

/// Sends the batch's next offsets with the group metadata and commits (exactly once), or
/// commits them with the consumer after the deliveries (at least once).
async fn commit(
    sink: &mut Sink,
    consumer: &Arc<StreamConsumer<EosConsumerContext>>,
    batch: &[Polled],
) -> Result<(), Step> {
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), (_, next)) in batch::offsets(batch) {
        if let Err(e) = tpl.add_partition_offset(&topic, partition, Offset::Offset(next)) {
            return Err(Step::Fail(core_error(Operation::SendOffsets)(e)));
        }
    }
    let outcome = match sink {
        Sink::Txn(p) => {
            let Some(group) = consumer.group_metadata() else {
                return Err(Step::Fail(Error::from(CoreError::State {
                    op: Operation::SendOffsets,
                    reason: "the consumer has no group metadata",
                })));
            };
            match p.send_offsets(&tpl, group).await {
                Ok(()) => p.commit().await,
                Err(e) => Err(e),
            }
        }
        Sink::Plain { metrics, .. } => {
            let c = Arc::clone(consumer);
            let metrics = Arc::clone(metrics);
            match tokio::task::spawn_blocking(move || c.commit(&tpl, CommitMode::Sync)).await {
                Ok(Ok(())) => {
                    metrics.record_commit(Duration::ZERO);
                    Ok(())
                }
                Ok(Err(e)) => Err(CoreError::kafka(Operation::Consumer, e)),
                Err(source) => Err(CoreError::Blocking {
                    op: Operation::Consumer,
                    source,
                }),
            }
        }
    };
    match outcome {
        Ok(()) => Ok(()),
        Err(e) => Err(recover(sink, e).await),
    }
}
