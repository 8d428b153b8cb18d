//! The replay run: read the dead-letter topic from the group's committed offsets up to its
//! ends as of the start, write each dead letter back, and commit the records and the
//! offsets in one transaction.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kafka_eos_core::config::ConsumerProfile;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use super::letter::{decide, DeadLetter, Decision};
use super::meta::Meta;
use super::sink::Sink;
use super::{default_group, ReplayArgs, ReplaySummary, StopReason};
use crate::error::CliError;

/// One poll of the consumer.
const POLL: Duration = Duration::from_millis(100);

/// Where one partition of the dead-letter topic is.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    /// The group's committed offset (or the low watermark), where reading starts.
    start: i64,
    /// The end as of the start of the run: dead letters from here on wait for the next run.
    end: i64,
    /// The next offset to commit: past every dead letter handled.
    next: i64,
    /// The consumer's position as last seen (progress detection).
    position: Option<i64>,
}

/// Runs the replay; `on_letter` sees every dead letter handled, with what happened to it.
pub(crate) fn run(
    args: &ReplayArgs,
    on_letter: &mut dyn FnMut(&DeadLetter, &Decision),
) -> Result<ReplaySummary, CliError> {
    let dlq = args.topic.as_str();
    let group = args.group();
    let timeout = args.timeout();
    let consumer: BaseConsumer = ConsumerProfile::new(&args.bootstrap_servers, &group)
        .security(crate::client::security()?)
        .render()?
        .create()?;
    let mut meta = Meta::new(&consumer, &args.bootstrap_servers, timeout);
    let partitions = meta
        .partitions(dlq)?
        .ok_or_else(|| CliError::DlqTopicMissing {
            topic: dlq.to_owned(),
        })?;
    if let Some(to) = &args.to {
        meta.target(to, None)?;
    }
    if args.group.is_none() && args.source_topic.is_some() {
        refuse_if_replayed(
            &meta,
            dlq,
            &group,
            &default_group(dlq, None),
            None,
            partitions,
        )?;
    }
    // init_transactions first: a previous run's transaction is finished or aborted, so
    // the committed offsets read next are final.
    let mut sink = if args.dry_run {
        None
    } else {
        Some(Sink::start(&args.bootstrap_servers, &group, dlq, timeout)?)
    };
    let mut cursors = cursors(&meta, dlq, partitions)?;
    let mut summary = ReplaySummary::new(dlq, &group, args.dry_run);
    let mut open: BTreeSet<i32> = cursors
        .iter()
        .filter(|(_, c)| c.start < c.end)
        .map(|(p, _)| *p)
        .collect();
    if open.is_empty() {
        return Ok(summary);
    }
    let mut tpl = TopicPartitionList::new();
    for p in &open {
        tpl.add_partition_offset(dlq, *p, Offset::Offset(cursors[p].start))?;
    }
    consumer.assign(&tpl)?;
    if let Some(sink) = sink.as_mut() {
        sink.begin()?;
    }
    let budget = sink.as_ref().map(|s| s.transaction_timeout() / 2);
    let started = Instant::now();
    let mut progress = Instant::now();
    let mut sources = BTreeSet::new();
    while !open.is_empty() {
        if args.limit.is_some_and(|n| summary.replayed >= n) {
            summary.stopped = Some(StopReason::Limit);
            break;
        }
        if budget.is_some_and(|b| started.elapsed() >= b) {
            summary.stopped = Some(StopReason::TransactionTime);
            break;
        }
        match consumer.poll(POLL) {
            Some(Ok(m)) => {
                progress = Instant::now();
                let Some(cursor) = cursors.get_mut(&m.partition()) else {
                    continue;
                };
                if m.offset() >= cursor.end {
                    continue; // arrived after the start: the next run's
                }
                let letter = DeadLetter::from_message(dlq, &m);
                let decision = decide(&letter, args.to.as_deref(), args.source_topic.as_deref())?;
                match &decision {
                    Decision::Replay { topic } => {
                        let count = meta.target(topic, Some(&letter))?;
                        if let Some(sink) = sink.as_mut() {
                            sink.send(&letter, topic, letter.replay_partition(topic, count))?;
                        }
                        if let Some(source) = letter.source_topic() {
                            sources.insert(source.to_owned());
                        }
                        summary.add_replayed(topic);
                    }
                    Decision::Skip => summary.skipped += 1,
                }
                cursor.next = letter.offset + 1;
                on_letter(&letter, &decision);
            }
            Some(Err(e)) => return Err(meta.kafka(e)),
            None => {}
        }
        // A partition is done once the consumer's position (which moves past control
        // records too) reaches its end: every dead letter below was handled above.
        for e in consumer.position()?.elements() {
            let (Some(cursor), Offset::Offset(position)) =
                (cursors.get_mut(&e.partition()), e.offset())
            else {
                continue;
            };
            if cursor.position != Some(position) {
                cursor.position = Some(position);
                progress = Instant::now();
            }
            if position >= cursor.end && open.remove(&e.partition()) {
                cursor.next = cursor.end;
            }
        }
        if progress.elapsed() >= timeout {
            return Err(CliError::Stalled {
                dlq: dlq.to_owned(),
                timeout,
            });
        }
    }
    if let (None, None) = (&args.group, &args.source_topic) {
        for source in &sources {
            let other = default_group(dlq, Some(source));
            refuse_if_replayed(&meta, dlq, &group, &other, Some(source), partitions)?;
        }
    }
    let mut offsets = TopicPartitionList::new();
    for (p, c) in &cursors {
        if c.next > c.start {
            offsets.add_partition_offset(dlq, *p, Offset::Offset(c.next))?;
            summary.committed.push((*p, c.next));
        }
    }
    match sink {
        None => summary.committed.clear(),
        Some(sink) if summary.committed.is_empty() => sink.abort(),
        Some(sink) => sink.commit(&offsets, consumer.group_metadata())?,
    }
    Ok(summary)
}

/// Each partition's start (the group's committed offset, else the low watermark) and end.
fn cursors(meta: &Meta<'_>, dlq: &str, partitions: i32) -> Result<BTreeMap<i32, Cursor>, CliError> {
    let committed = meta.committed(dlq, partitions)?;
    let mut cursors = BTreeMap::new();
    for p in 0..partitions {
        let (low, end) = meta.watermarks(dlq, p)?;
        let start = committed.get(&p).copied().flatten().unwrap_or(low).max(low);
        cursors.insert(
            p,
            Cursor {
                start,
                end,
                next: start,
                position: None,
            },
        );
    }
    Ok(cursors)
}

/// [`CliError::MixedGroups`] if `other` (the default group of the other way of replaying
/// `dlq`) has committed offsets on it.
fn refuse_if_replayed(
    meta: &Meta<'_>,
    dlq: &str,
    group: &str,
    other: &str,
    other_source: Option<&str>,
    partitions: i32,
) -> Result<(), CliError> {
    if meta.group_has_committed(other, dlq, partitions)? {
        return Err(CliError::MixedGroups {
            dlq: dlq.to_owned(),
            group: group.to_owned(),
            other: other.to_owned(),
            source_topic: other_source.map(str::to_owned),
        });
    }
    Ok(())
}
