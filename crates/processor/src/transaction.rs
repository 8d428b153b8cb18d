//! One transaction: begin; process the batch's records by key, each decoded in its turn
//! (concurrently across keys, in input order within a key, within the pipeline's bounds),
//! handing each record's outputs to the producer as soon as they are made; await every
//! delivery; send the input offsets with the group metadata; commit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_eos_core::{AbortCause, Error as CoreError, Operation, OwnedRecord, SendError};
use rdkafka::consumer::{CommitMode, Consumer, ConsumerGroupMetadata, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};

use kafka_eos_core::parked::park_record;

use crate::attempts::{now_ms, RecordId};
use crate::batch::{self, Membership, Polled};
use crate::codec::{decode, Codec};
use crate::context::EosConsumerContext;
use crate::dead_letter::{dead_letter, ErrorPolicy, History};
use crate::error::{BoxError, Error};
use crate::failure::{Failure, FailureKind};
use crate::parking::{BatchParking, Reader};
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
    /// Records written to the parking topic.
    parked: AtomicU64,
}

/// Where a job's record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// The batch's input.
    Input,
    /// Read back from the parking topic: its key is due.
    Parked,
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

fn lane_of((msg, _): &(&mut Polled, Origin)) -> Lane {
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
        membership: Membership,
        consumer: &Arc<StreamConsumer<EosConsumerContext>>,
        context: &EosConsumerContext,
        reader: Option<&Reader>,
        sink: &mut Sink,
    ) -> Result<(), Step> {
        let mut parked_input = match reader {
            Some(reader) => self.parked_input(consumer, context, reader).await?,
            None => Vec::new(),
        };
        if batch.is_empty() && parked_input.is_empty() {
            return Ok(());
        }
        if let Err(e) = sink.begin().await {
            return Err(recover(sink, e).await);
        }
        let state = BatchState::default();
        let started = Instant::now();
        // parked records first (their keys are due); each record is decoded in its turn
        let jobs: Vec<(&mut Polled, Origin)> = parked_input
            .iter_mut()
            .map(|msg| (msg, Origin::Parked))
            .chain(batch.iter_mut().map(|msg| (msg, Origin::Input)))
            .collect();
        let send_failed = state.send_failure.lock().map_or(true, |f| f.is_some());
        let this = &*self;
        let shared_sink: &Sink = sink;
        let batch_parking = this
            .parking
            .as_ref()
            .map(|p| BatchParking::new(p, now_ms()));
        let parking = batch_parking.as_ref();
        if !send_failed {
            let work = async {
                if this.limits.is_sequential() {
                    // one at a time: input order is every key's order; no lanes to keep
                    this.in_flight.enter();
                    for (msg, origin) in jobs {
                        if this
                            .process_record(msg, origin, parking, shared_sink, &state)
                            .await
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
                        |(msg, origin)| {
                            this.process_record(msg, origin, parking, shared_sink, &state)
                        },
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
        // the parked keys this batch changed: a state record each, in the transaction
        let mut changes = Vec::new();
        if let Some(parking) = batch_parking {
            let (changed, records) = parking.finish();
            for record in records {
                if state.send(shared_sink, record).await == Next::StopAll {
                    break;
                }
            }
            changes = changed;
        }

        let BatchState {
            outputs,
            send_failure,
            retry,
            retry_delay,
            stop,
            dead_letters,
            parked,
        } = state;
        if let Some(error) = stop.into_inner().ok().flatten() {
            let _ = sink.abort(AbortCause::Stop).await; // it purges what is still in flight
            return Err(Step::Fail(error));
        }
        let retry = retry.into_inner().unwrap_or_default();
        if !retry.is_empty() {
            for (id, at_ms) in retry {
                self.attempts.failed(id, at_ms);
            }
            if let Err(e) = sink.abort(AbortCause::Retry).await {
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
        if membership.is_stale(context) {
            // the next batch's collection served a rebalance: these partitions may have
            // moved, and their new owner resumes from the committed offsets
            tracing::info!(
                records = batch.len(),
                "a rebalance ran while the batch was processed: aborting it"
            );
            if let Err(e) = sink.abort(AbortCause::Rebalance).await {
                return Err(recover(sink, e).await);
            }
            return Err(Step::Rewind);
        }
        commit(sink, consumer, membership.group, &*batch).await?;
        self.metrics
            .record_in(batch.len() as u64, dead_letters.into_inner());
        self.metrics.record_records_parked(parked.into_inner());
        if let Some(p) = self.parking.as_mut() {
            p.apply(changes, &self.metrics);
        }
        Ok(())
    }

    /// Loads the parked keys of newly assigned partitions, and reads back the records of
    /// the keys that are due. A read that fails retries the batch.
    async fn parked_input(
        &mut self,
        consumer: &Arc<StreamConsumer<EosConsumerContext>>,
        context: &EosConsumerContext,
        reader: &Reader,
    ) -> Result<Vec<Polled>, Step> {
        let Some(parking) = self.parking.as_mut() else {
            return Ok(Vec::new());
        };
        let generation = context.generation();
        let read = async {
            let assignment = consumer
                .assignment()
                .map_err(|e| Error::Core(CoreError::kafka(Operation::Consumer, e)))?;
            parking
                .sync(reader, generation, &assignment, &self.metrics)
                .await?;
            parking.due_records(reader, now_ms()).await
        };
        match read.await {
            Ok(records) => Ok(records),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the parked keys: retrying the batch");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = self.shutdown.cancelled() => {}
                }
                Err(Step::Rewind)
            }
        }
    }

    /// Processes one record in its lane: its outputs go to the producer at once; a failure
    /// is retried (parked, or the batch replays), dead-lettered or stops the pipeline.
    ///
    /// With parking, a record of a parked key parks behind it instead, and a parked record
    /// whose key's earlier record failed again in this batch waits.
    ///
    /// The record's headers move into the processor's input, unless a failure of this
    /// attempt would dead-letter or park the record (which writes them as they were read).
    async fn process_record(
        &self,
        msg: &mut Polled,
        origin: Origin,
        parking: Option<&BatchParking<'_>>,
        sink: &Sink,
        state: &BatchState,
    ) -> Next {
        let (partition, offset) = (msg.partition, msg.offset);
        // the partition as parking names it (a clone of the shared topic: only with parking)
        let tp = || (Arc::clone(&msg.topic), partition);
        if let Some(pk) = parking {
            let key = &msg.key;
            let waits = match origin {
                Origin::Input => pk.is_parked(&tp(), key),
                Origin::Parked => pk.is_blocked(&tp(), key),
            };
            if waits {
                if origin == Origin::Parked {
                    return Next::Continue; // it is in the parking topic already
                }
                let next = state.send(sink, self.park(pk, msg)).await;
                if next == Next::Continue {
                    pk.parked_behind(&tp(), msg);
                    state.parked.fetch_add(1, Ordering::Relaxed);
                }
                return next;
            }
        }
        let id = || (Arc::clone(&msg.topic), partition, offset);
        let failures = match (parking, origin) {
            (Some(pk), Origin::Parked) => match pk.head_failures(&tp(), &msg.key) {
                (0, _) => None,
                (count, first_ms) => Some(crate::attempts::Failures { count, first_ms }),
            },
            (Some(_), Origin::Input) => None,
            (None, _) => self.attempts.of(id),
        };
        let attempts = failures.map_or(0, |f| f.count) + 1;
        let last_attempt = attempts >= self.max_attempts;
        // decoded from a borrow: the value stays in the batch's arena (a dead letter or a
        // park writes it as it was read)
        let value = match decode(&self.codec, msg.value.as_deref()) {
            Ok(value) => value,
            Err(error) if origin == Origin::Input => {
                return self.undecodable(msg, error, sink, state).await
            }
            Err(_) => {
                // a parked record its codec cannot decode any more: dead-letter it in its turn
                let error: BoxError = "the parked record cannot be decoded".into();
                return self
                    .give_up(
                        msg,
                        origin,
                        parking,
                        sink,
                        state,
                        error,
                        FailureKind::DeadLetter,
                        failures,
                        attempts,
                    )
                    .await;
            }
        };
        // The key is the input's own copy (the polled one is a slice of the batch's arena).
        // A dead letter or a park writes the headers as they were read: keep them when one
        // may follow; otherwise they move into the input.
        let key = batch::detached(&msg.key);
        let headers = if !self.input_headers {
            Vec::new()
        } else if self.writes_records_as_read() {
            msg.headers.clone()
        } else {
            std::mem::take(&mut msg.headers)
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
                if let (Some(pk), Origin::Parked) = (parking, origin) {
                    pk.head_done(&tp(), &msg.key, offset, false);
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
                // the record's place seeds its jitter: a replay waits the same
                let seed = (u64::from(partition.unsigned_abs()) << 40) ^ offset as u64;
                let wait = hint.unwrap_or_else(|| self.backoff.after(attempts, seed));
                if let Some(pk) = parking {
                    let due_ms = failed_ms
                        .saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
                    if origin == Origin::Parked {
                        pk.head_failed(&tp(), &msg.key, attempts, failed_ms, due_ms);
                        return Next::Continue;
                    }
                    let next = state.send(sink, self.park(pk, msg)).await;
                    if next == Next::Continue {
                        pk.parked_failed(&tp(), msg, failed_ms, due_ms);
                        state.parked.fetch_add(1, Ordering::Relaxed);
                    }
                    return next;
                }
                if let Ok(mut retry) = state.retry.lock() {
                    retry.push((id(), failed_ms));
                }
                if let Ok(mut delay) = state.retry_delay.lock() {
                    *delay = (*delay).max(wait);
                }
                return Next::StopAll;
            }
        }
        self.give_up(
            msg, origin, parking, sink, state, error, kind, failures, attempts,
        )
        .await
    }

    /// An input record its codec cannot decode: dead-lettered at once (a retry cannot
    /// change its bytes), or the pipeline stops.
    async fn undecodable(
        &self,
        msg: &Polled,
        error: BoxError,
        sink: &Sink,
        state: &BatchState,
    ) -> Next {
        let (topic, partition, offset) = (&*msg.topic, msg.partition, msg.offset);
        tracing::warn!(topic, partition, offset, error = %error, "undecodable record");
        match &self.policy {
            ErrorPolicy::DeadLetter(dlq) => {
                let history = History::once(now_ms());
                let next = state
                    .send(sink, dead_letter(msg, dlq, "decode", &error, history))
                    .await;
                if next == Next::Continue {
                    state.dead_letters.fetch_add(1, Ordering::Relaxed);
                }
                next
            }
            ErrorPolicy::Stop => {
                if let Ok(mut stop) = state.stop.lock() {
                    stop.get_or_insert(Error::Decode {
                        topic: topic.to_owned(),
                        partition,
                        offset,
                        source: error,
                    });
                }
                Next::StopAll
            }
        }
    }

    /// A record that will not be tried again: dead-lettered (its key then follows the key
    /// policy), or the pipeline stops.
    #[allow(clippy::too_many_arguments)]
    async fn give_up(
        &self,
        msg: &Polled,
        origin: Origin,
        parking: Option<&BatchParking<'_>>,
        sink: &Sink,
        state: &BatchState,
        error: BoxError,
        kind: FailureKind,
        failures: Option<crate::attempts::Failures>,
        attempts: u32,
    ) -> Next {
        let failed_ms = now_ms();
        let (partition, offset) = (msg.partition, msg.offset);
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
                    if let Some(pk) = parking {
                        let tp = (Arc::clone(&msg.topic), partition);
                        match origin {
                            Origin::Parked => pk.head_done(&tp, &msg.key, offset, true),
                            Origin::Input => pk.dead_lettered(&tp, &msg.key, offset),
                        }
                    }
                }
                next
            }
            ErrorPolicy::Stop => {
                if let Ok(mut stop) = state.stop.lock() {
                    stop.get_or_insert(Error::Process {
                        topic: msg.topic.to_string(),
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

    /// The park record of `msg` (its key, value, headers and timestamp as read).
    fn park(&self, pk: &BatchParking<'_>, msg: &Polled) -> OwnedRecord {
        park_record(
            pk.topic(),
            &msg.topic,
            msg.partition,
            msg.offset,
            msg.key.as_deref(),
            msg.value.as_deref().map(<[u8]>::to_vec),
            msg.owned_headers(),
            msg.timestamp,
        )
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

/// Sends the batch's next offsets with the group metadata of the generation its records were
/// polled in and commits (exactly once), or
/// commits them with the consumer after the deliveries (at least once).
async fn commit(
    sink: &mut Sink,
    consumer: &Arc<StreamConsumer<EosConsumerContext>>,
    group: Option<ConsumerGroupMetadata>,
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
            let Some(group) = group else {
                return Err(Step::Fail(Error::from(CoreError::State {
                    op: Operation::SendOffsets,
                    reason: "the consumer has no group metadata",
                })));
            };
            // a batch of parked records only moves no input offset
            let sent = if tpl.count() == 0 {
                Ok(())
            } else {
                p.send_offsets(&tpl, group).await
            };
            match sent {
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
