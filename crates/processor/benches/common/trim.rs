//! Trimming an output topic while a long run writes it, so that a steady window's backlog
//! is bounded by the input alone: the broker would otherwise hold every output record too
//! (the embedded broker keeps its log in memory), and the backlog a window can afford
//! would halve.
//!
//! Every tick, each partition's log start moves (DeleteRecords) up to the high watermark
//! read at the tick before, so the last tick's output stays: a producer's last batch is
//! never deleted under it (a broker may forget a producer whose records are all gone).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use kafka_eos_processor::core::rdkafka::admin::{AdminClient, AdminOptions};
use kafka_eos_processor::core::rdkafka::client::DefaultClientContext;
use kafka_eos_processor::core::rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::{BenchResult, KAFKA_TIMEOUT};

/// How often the output is trimmed.
const TICK: Duration = Duration::from_secs(1);

/// A thread trimming one topic until stopped.
pub struct Trimmer {
    stop: Arc<AtomicBool>,
    /// Answers the offsets deleted, summed over the partitions.
    thread: JoinHandle<BenchResult<i64>>,
}

impl Trimmer {
    /// Starts trimming `topic` (`partitions` partitions). The admin client lives and drops
    /// on the trimmer's own thread, never on a Tokio worker.
    pub fn start(bootstrap: &str, topic: &str, partitions: i32) -> BenchResult<Self> {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .create()?;
        let stop = Arc::new(AtomicBool::new(false));
        let (topic, flag) = (topic.to_owned(), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name("bench-trimmer".into())
            .spawn(move || trim_until(&admin, &topic, partitions, &flag))?;
        Ok(Self { stop, thread })
    }

    /// Stops trimming; returns the offsets deleted (summed over the partitions), or the
    /// first error.
    pub fn stop(self) -> BenchResult<i64> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| "the trimmer thread panicked")?
    }
}

fn trim_until(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    partitions: i32,
    stop: &AtomicBool,
) -> BenchResult<i64> {
    let mut deleted = 0;
    // (low, high) per partition as of the last tick
    let mut marks = vec![(0_i64, 0_i64); usize::try_from(partitions)?];
    let options = AdminOptions::new().operation_timeout(Some(KAFKA_TIMEOUT));
    while !sleep_unless(stop, TICK) {
        let mut list = TopicPartitionList::new();
        for (p, (low, high)) in (0..partitions).zip(&marks) {
            if high > low {
                list.add_partition_offset(topic, p, Offset::Offset(*high))?;
            }
        }
        if list.count() > 0 {
            let answer = futures::executor::block_on(admin.delete_records(&list, &options))?;
            for elem in answer.elements() {
                if elem.error().is_ok() {
                    let i = usize::try_from(elem.partition())?;
                    if let (Some(mark), Offset::Offset(low)) = (marks.get_mut(i), elem.offset()) {
                        deleted += low - mark.0;
                        mark.0 = low;
                    }
                }
            }
        }
        for (p, mark) in (0..partitions).zip(marks.iter_mut()) {
            let (_, high) = admin.inner().fetch_watermarks(topic, p, KAFKA_TIMEOUT)?;
            mark.1 = high;
        }
    }
    Ok(deleted)
}

/// Sleeps `d` in short steps; true as soon as `stop` is set.
fn sleep_unless(stop: &AtomicBool, d: Duration) -> bool {
    let step = Duration::from_millis(50);
    let mut slept = Duration::ZERO;
    while slept < d {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        std::thread::sleep(step);
        slept += step;
    }
    stop.load(Ordering::Relaxed)
}
