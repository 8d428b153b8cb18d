//! One batch of input records: collected from the consumer (up to `commit_max_records` or
//! the commit interval), its offsets, and the rewind that replays it after an abort.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use rdkafka::consumer::{Consumer, ConsumerGroupMetadata, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::arena::{Arena, Chunks};
use crate::context::EosConsumerContext;
use crate::error::Result;

/// A polled record, copied out of the consumer's buffer: the key and value into the
/// batch's [`Arena`] (slices that never leave the pipeline), the header values as
/// [`Bytes`] of their own (they move into the processor's [`Input`](crate::Input)), the
/// topic shared by the batch's records of that topic.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Polled {
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: Option<i64>,
    pub key: Option<Bytes>,
    /// `None`: a tombstone.
    pub value: Option<Bytes>,
    /// In order; `None`: a null header value. Moved into the processor's input when the
    /// record is processed (unless a dead letter may need them).
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// What [`Polled::copy`] reads of a polled message: rdkafka's [`Message`] (a trait of our
/// own so that a test can count the calls to `headers`; `Message` has an unsafe method).
pub(crate) trait Source {
    type Headers: Headers;
    fn topic(&self) -> &str;
    fn partition(&self) -> i32;
    fn offset(&self) -> i64;
    fn timestamp(&self) -> Option<i64>;
    fn key(&self) -> Option<&[u8]>;
    fn payload(&self) -> Option<&[u8]>;
    /// Parses the headers on the first call (librdkafka allocates, even for none).
    fn headers(&self) -> Option<&Self::Headers>;
}

impl<M: Message> Source for M {
    type Headers = M::Headers;
    fn topic(&self) -> &str {
        Message::topic(self)
    }
    fn partition(&self) -> i32 {
        Message::partition(self)
    }
    fn offset(&self) -> i64 {
        Message::offset(self)
    }
    fn timestamp(&self) -> Option<i64> {
        Message::timestamp(self).to_millis()
    }
    fn key(&self) -> Option<&[u8]> {
        Message::key(self)
    }
    fn payload(&self) -> Option<&[u8]> {
        Message::payload(self)
    }
    fn headers(&self) -> Option<&M::Headers> {
        Message::headers(self)
    }
}

impl Polled {
    /// Copies `msg` out of the consumer into `arena`; its headers too if `headers` (else
    /// the record has none: librdkafka parses a record's headers when they are first asked
    /// for, allocating even for a record without any).
    pub(crate) fn copy<M: Source>(msg: &M, arena: &mut Arena, headers: bool) -> Self {
        Polled {
            topic: arena.topic(msg.topic()),
            partition: msg.partition(),
            offset: msg.offset(),
            timestamp: msg.timestamp(),
            key: msg.key().map(|k| arena.copy(k)),
            value: msg.payload().map(|v| arena.copy(v)),
            // asked only when wanted: asking parses them
            headers: headers
                .then(|| msg.headers())
                .flatten()
                .map(|h| {
                    h.iter()
                        .map(|h| (h.key.to_owned(), h.value.map(Bytes::copy_from_slice)))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The headers as they were read, each value in an allocation of its own (for a record
    /// written out as read: a dead letter, a park).
    pub(crate) fn owned_headers(&self) -> Vec<(String, Option<Vec<u8>>)> {
        self.headers
            .iter()
            .map(|(name, value)| (name.clone(), value.as_deref().map(<[u8]>::to_vec)))
            .collect()
    }

    /// This record with its key and value in allocations of their own, to keep past its
    /// batch (a slice of the batch's arena would keep the whole chunk).
    pub(crate) fn detached(&self) -> Self {
        Polled {
            key: detached(&self.key),
            value: detached(&self.value),
            ..self.clone()
        }
    }
}

/// `bytes` in an allocation of its own (see [`Polled::detached`]).
pub(crate) fn detached(bytes: &Option<Bytes>) -> Option<Bytes> {
    bytes.as_deref().map(Bytes::copy_from_slice)
}

/// How a collection copies records out of the consumer: into the pipeline's reused
/// [`Chunks`], with or without their headers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Intake {
    pub chunks: Chunks,
    /// Whether records are copied with their headers
    /// ([`PipelineBuilder::input_headers`](crate::PipelineBuilder::input_headers), or a
    /// dead letter or a park may write them: `Pipeline::writes_records_as_read`).
    pub headers: bool,
}

/// A batch as collected: its records, and the group membership they were polled under.
pub(crate) struct Collected {
    pub records: Vec<Polled>,
    pub membership: Membership,
}

/// The consumer's group membership when a collection ended: its transaction's offsets are
/// sent with this group metadata, and a rebalance since (the generation moved on) aborts it.
pub(crate) struct Membership {
    /// Rebalances completed ([`EosConsumerContext::generation`]).
    pub generation: u64,
    /// `None` before the consumer joined its group.
    pub group: Option<ConsumerGroupMetadata>,
}

impl Membership {
    /// The membership of `consumer` now.
    pub(crate) fn of(
        consumer: &StreamConsumer<EosConsumerContext>,
        context: &EosConsumerContext,
    ) -> Self {
        Membership {
            generation: context.generation(),
            group: consumer.group_metadata(),
        }
    }

    /// Whether a rebalance ran since (the batch's partitions may have moved).
    pub(crate) fn is_stale(&self, context: &EosConsumerContext) -> bool {
        context.generation() != self.generation
    }
}

/// How many records are taken between two looks at the clock and the shutdown token.
const CHECK_EVERY: usize = 64;

/// Polls up to `max` records into `batch` (emptied first: a spent batch's buffer), until
/// `interval` passes (and, with `hold`, until `hold` is cancelled too: a prefetch goes on
/// while the batch before it is still in its transaction) or `shutdown` is cancelled. Records polled before a rebalance are dropped:
/// the new assignment resumes from committed offsets.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn collect(
    consumer: &StreamConsumer<EosConsumerContext>,
    context: &EosConsumerContext,
    max: usize,
    interval: Duration,
    hold: Option<&CancellationToken>,
    shutdown: &CancellationToken,
    mut batch: Vec<Polled>,
    intake: &Intake,
) -> Result<Collected> {
    // One timer and one registration with the token for the whole batch: per record they
    // cost more than the record. A record that is ready is taken without them (the clock
    // and the token are read every few records instead, so a full local queue cannot
    // stretch the batch); the timer and the token are awaited only when none is ready.
    let until = Instant::now() + interval;
    let deadline = tokio::time::sleep_until(until);
    tokio::pin!(deadline);
    let cancelled = shutdown.cancelled();
    tokio::pin!(cancelled);
    let released = async {
        if let Some(hold) = hold {
            hold.cancelled().await;
        }
    };
    tokio::pin!(released);
    let is_released = || hold.is_none_or(CancellationToken::is_cancelled);
    let mut due = false;
    // one registration with the consumer's wakers for the whole batch (`recv` makes one
    // per record)
    let mut messages = consumer.stream();
    batch.clear();
    let mut arena = Arena::new(&intake.chunks);
    while batch.len() < max {
        let (polled, was_ready) = match messages.next().now_or_never() {
            Some(polled) => (polled, true),
            None => tokio::select! {
                biased;
                () = &mut cancelled => break,
                () = &mut deadline, if !due => {
                    due = true;
                    if is_released() {
                        break;
                    }
                    continue;
                }
                () = &mut released, if due => break,
                polled = messages.next() => (polled, false),
            },
        };
        match polled {
            // the consumer's stream never ends; stop the batch if it did
            None => break,
            Some(Ok(msg)) => {
                let msg = Polled::copy(&msg, &mut arena, intake.headers);
                if context.take_rebalanced() {
                    // Earlier records belong to the old assignment; the new one
                    // resumes from committed offsets.
                    batch.clear();
                }
                batch.push(msg);
            }
            Some(Err(e)) => {
                if matches!(e, rdkafka::error::KafkaError::MessageConsumptionFatal(_)) {
                    return Err(crate::pipeline::core_error(
                        kafka_eos_core::Operation::Consumer,
                    )(e));
                }
                tracing::warn!(error = %e, "consumer error; polling again");
            }
        }
        if was_ready {
            if batch.len().is_multiple_of(CHECK_EVERY)
                && (shutdown.is_cancelled() || (Instant::now() >= until && is_released()))
            {
                break;
            }
            // a long run of ready records still lets the worker's other tasks run
            tokio::task::consume_budget().await;
        }
    }
    if context.take_rebalanced() {
        batch.clear();
    }
    Ok(Collected {
        records: batch,
        membership: Membership::of(consumer, context),
    })
}

/// First and next offsets of each partition in a batch.
pub(crate) fn offsets(batch: &[Polled]) -> BTreeMap<(Arc<str>, i32), (i64, i64)> {
    let mut m: BTreeMap<(Arc<str>, i32), (i64, i64)> = BTreeMap::new();
    // one look-up per run of records of one partition (the consumer hands them so)
    for run in same_partition_runs(batch) {
        let (low, high) = run.iter().fold((i64::MAX, i64::MIN), |(low, high), msg| {
            (low.min(msg.offset), high.max(msg.offset + 1))
        });
        let e = m
            .entry((Arc::clone(&run[0].topic), run[0].partition))
            .or_insert((low, high));
        e.0 = e.0.min(low);
        e.1 = e.1.max(high);
    }
    m
}

/// The runs of consecutive records of one partition in `batch`.
pub(crate) fn same_partition_runs(batch: &[Polled]) -> impl Iterator<Item = &[Polled]> {
    batch.chunk_by(|a, b| a.partition == b.partition && Arc::ptr_eq(&a.topic, &b.topic))
}

/// Seeks every partition of the batch to the group's committed offset, where its next
/// batch starts: the batch start after an abort (each batch commits atomically), or past
/// the batch when a commit whose outcome was unknown had landed after all (a rebuilt
/// producer's `init_transactions` completes such a commit before this runs). Where the
/// committed offset cannot be read, the batch start.
pub(crate) async fn rewind(consumer: &Arc<StreamConsumer<EosConsumerContext>>, batch: &[Polled]) {
    let starts = offsets(batch);
    let committed = committed(consumer, starts.keys()).await;
    for ((topic, partition), (first, next)) in starts {
        let to = match committed.get(&(Arc::clone(&topic), partition)) {
            Some(&at) if at != first => {
                tracing::warn!(%topic, partition, batch_start = first, batch_end = next, committed = at,
                    "the batch's commit had landed after all: resuming from the committed offset");
                at
            }
            _ => first,
        };
        let c = Arc::clone(consumer);
        let t = Arc::clone(&topic);
        let res = tokio::task::spawn_blocking(move || {
            c.seek(&t, partition, Offset::Offset(to), Duration::from_secs(10))
        })
        .await;
        match res {
            Ok(Ok(())) => tracing::info!(%topic, partition, offset = to, "rewound"),
            Ok(Err(e)) => {
                tracing::warn!(%topic, partition, error = %e, "rewind failed (partition probably revoked; its new owner resumes from the committed offset)");
            }
            Err(e) => tracing::warn!(%topic, partition, error = %e, "rewind task failed"),
        }
    }
}

/// The group's committed offsets of `partitions` (those it has; none if they cannot be
/// read).
async fn committed<'a>(
    consumer: &Arc<StreamConsumer<EosConsumerContext>>,
    partitions: impl Iterator<Item = &'a (Arc<str>, i32)>,
) -> HashMap<(Arc<str>, i32), i64> {
    let mut tpl = TopicPartitionList::new();
    let mut topics = Vec::new();
    for (topic, partition) in partitions {
        tpl.add_partition(topic, *partition);
        topics.push(Arc::clone(topic));
    }
    let c = Arc::clone(consumer);
    let fetched =
        tokio::task::spawn_blocking(move || c.committed_offsets(tpl, Duration::from_secs(10)))
            .await;
    let tpl = match fetched {
        Ok(Ok(tpl)) => tpl,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot read the committed offsets: rewinding to the batch start");
            return HashMap::new();
        }
        Err(e) => {
            tracing::warn!(error = %e, "committed-offsets task failed: rewinding to the batch start");
            return HashMap::new();
        }
    };
    tpl.elements()
        .iter()
        .filter_map(|e| {
            let topic = topics.iter().find(|t| &***t == e.topic())?;
            match e.offset() {
                Offset::Offset(at) => Some(((Arc::clone(topic), e.partition()), at)),
                _ => None,
            }
        })
        .collect()
}

/// Which polled records are replays: per partition, the offset below which records were
/// polled before (set when a batch is rewound).
#[derive(Debug, Default)]
pub(crate) struct Replays {
    until: HashMap<(Arc<str>, i32), i64>,
}

impl Replays {
    /// Remembers that `batch` will be polled again.
    pub(crate) fn rewound(&mut self, batch: &[Polled]) {
        for (tp, (_, next)) in offsets(batch) {
            let until = self.until.entry(tp).or_insert(next);
            *until = (*until).max(next);
        }
    }

    /// How many records of `batch` were polled before.
    pub(crate) fn count(&self, batch: &[Polled]) -> usize {
        if self.until.is_empty() {
            return 0;
        }
        batch
            .iter()
            .filter(|m| {
                self.until
                    .get(&(Arc::clone(&m.topic), m.partition))
                    .is_some_and(|until| m.offset < *until)
            })
            .count()
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::message::{Header, OwnedHeaders, OwnedMessage, Timestamp};

    use super::*;

    fn message(topic: &str, offset: i64, payload: Option<&[u8]>) -> OwnedMessage {
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "a",
                value: Some(&b"1"[..]),
            })
            .insert(Header::<&[u8]> {
                key: "null",
                value: None,
            });
        OwnedMessage::new(
            payload.map(<[u8]>::to_vec),
            Some(b"k".to_vec()),
            topic.to_owned(),
            Timestamp::CreateTime(5),
            0,
            offset,
            Some(headers),
        )
    }

    #[test]
    fn a_copy_keeps_tombstones_and_null_headers_and_shares_the_topic() {
        let mut arena = Arena::new(&Chunks::default());
        let first = Polled::copy(&message("in", 0, None), &mut arena, true);
        let second = Polled::copy(&message("in", 1, Some(b"")), &mut arena, true);
        let other = Polled::copy(&message("other", 0, Some(b"v")), &mut arena, true);
        assert_eq!(first.value, None);
        assert_eq!(second.value, Some(Bytes::new()));
        assert_eq!(
            first.headers,
            [
                ("a".to_owned(), Some(Bytes::from_static(b"1"))),
                ("null".to_owned(), None)
            ]
        );
        assert_eq!(first.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(first.timestamp, Some(5));
        assert!(Arc::ptr_eq(&first.topic, &second.topic));
        assert_eq!(&*other.topic, "other");
        assert_eq!(other.value.as_deref(), Some(&b"v"[..]));
    }

    #[test]
    fn a_copy_without_headers_keeps_the_rest() {
        let mut arena = Arena::new(&Chunks::default());
        let with = Polled::copy(&message("in", 3, Some(b"v")), &mut arena, true);
        let without = Polled::copy(&message("in", 3, Some(b"v")), &mut arena, false);
        assert!(without.headers.is_empty());
        assert_eq!(with.owned_headers().len(), 2);
        assert_eq!(
            without,
            Polled {
                headers: Vec::new(),
                ..with
            }
        );
    }

    /// A message that counts the calls to `headers`.
    struct HeadersAsked(OwnedMessage, std::cell::Cell<u32>);

    impl Source for HeadersAsked {
        type Headers = OwnedHeaders;
        fn topic(&self) -> &str {
            Source::topic(&self.0)
        }
        fn partition(&self) -> i32 {
            Source::partition(&self.0)
        }
        fn offset(&self) -> i64 {
            Source::offset(&self.0)
        }
        fn timestamp(&self) -> Option<i64> {
            Source::timestamp(&self.0)
        }
        fn key(&self) -> Option<&[u8]> {
            Source::key(&self.0)
        }
        fn payload(&self) -> Option<&[u8]> {
            Source::payload(&self.0)
        }
        fn headers(&self) -> Option<&OwnedHeaders> {
            self.1.set(self.1.get() + 1);
            Source::headers(&self.0)
        }
    }

    #[test]
    fn a_copy_without_headers_never_asks_for_them() {
        let mut arena = Arena::new(&Chunks::default());
        let msg = HeadersAsked(message("in", 3, Some(b"v")), Default::default());
        let _ = Polled::copy(&msg, &mut arena, false);
        assert_eq!(msg.1.get(), 0);
        let copied = Polled::copy(&msg, &mut arena, true);
        assert_eq!((msg.1.get(), copied.headers.len()), (1, 2));
    }

    #[test]
    fn a_detached_record_holds_its_own_bytes() {
        let mut arena = Arena::new(&Chunks::default());
        let first = Polled::copy(&message("in", 0, Some(b"v1")), &mut arena, true);
        let second = Polled::copy(&message("in", 1, Some(b"v2")), &mut arena, true);
        // key and value of both records lie in one chunk
        let chunk = first.key.as_ref().unwrap().as_ptr() as usize;
        let end = second.value.as_ref().unwrap().as_ptr() as usize;
        assert!(end > chunk && end - chunk < 16);
        let kept = second.detached();
        assert_eq!(kept, second);
        let at = kept.value.as_ref().unwrap().as_ptr() as usize;
        assert!(
            !(chunk..chunk + 64 * 1024).contains(&at),
            "outside the chunk"
        );
    }
}
