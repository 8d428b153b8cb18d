//! Keyed concurrency suite: many records in flight keep each key's order and exactly once;
//! a processor that stalls holds the pipeline at one batch in process (and at most one more
//! being collected behind it; the consumer is paused) until it resumes; a `SequentialProcessor` runs one record at a time.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kafka_eos_demo::orders::{result_of, OrderEvent};
use kafka_eos_integration_tests::{order_records, runtime, Topics};
use kafka_eos_processor::{
    BoxError, Input, JsonCodec, Output, PipelineBuilder, Processor, Sequential, SequentialProcessor,
};
use kafka_eos_testkit::{
    check_exactly_once, run_pipeline, test_seed, wait_until, write_records, Cluster, Record,
};

/// One result per event after a pseudo-random wait of 0-3 ms (from the offset), so records
/// of different keys overtake each other while each key must keep its order.
struct Jittery {
    output: String,
}

impl Processor for Jittery {
    type Input = OrderEvent;
    async fn process(&self, input: Input<OrderEvent>) -> Result<Vec<Output>, BoxError> {
        let wait = (input.offset.wrapping_mul(2_654_435_761) % 4) as u64;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let (key, value) = result_of(&input.value);
        Ok(vec![Output::new(&self.output, key, value)])
    }
}

#[test]
fn sixty_four_in_flight_keep_every_keys_order_exactly_once() {
    let seed = test_seed();
    let cluster = Cluster::from_env().unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let topics = Topics::create_unique(&cluster, "keyed", 8).unwrap();
    let (_, input, expected) = order_records(5_000, seed);
    write_records(&bootstrap, &topics.input, &input).unwrap();
    let pipeline = PipelineBuilder::new()
        .bootstrap_servers(&bootstrap)
        .group_id(&topics.group)
        .input_topic(&topics.input)
        .commit_every_records(500)
        .max_in_flight(64)
        .build(
            Jittery {
                output: topics.output.clone(),
            },
            JsonCodec::<OrderEvent>::new(),
        )
        .unwrap();
    let run = runtime()
        .block_on(run_pipeline(
            pipeline,
            &bootstrap,
            &topics.output,
            expected.len(),
            Duration::from_secs(120),
        ))
        .unwrap();
    let report = check_exactly_once(&expected, &run.records);
    assert!(report.is_exactly_once(), "{report} (seed {seed})");
    assert!(
        run.metrics.in_flight_peak > 1 && run.metrics.in_flight_peak <= 64,
        "{:?}",
        run.metrics
    );
}

/// Stalls for `stall` on the first record of key `slow`, once.
struct Staller {
    output: String,
    stalled: Arc<AtomicBool>,
    stall: Duration,
}

impl Processor for Staller {
    type Input = OrderEvent;
    async fn process(&self, input: Input<OrderEvent>) -> Result<Vec<Output>, BoxError> {
        if input.key.as_deref() == Some(b"slow") && !self.stalled.swap(true, Ordering::AcqRel) {
            tokio::time::sleep(self.stall).await;
        }
        let (key, value) = result_of(&input.value);
        Ok(vec![Output::new(&self.output, key, value)])
    }
}

#[test]
fn a_stalled_processor_holds_one_batch_and_polls_nothing_more() {
    stall(8);
}

/// The same one record at a time (the default): the consumer is paused there too.
#[test]
fn a_stalled_sequential_processor_pauses_the_consumer_too() {
    stall(1);
}

fn stall(max_in_flight: usize) {
    let seed = test_seed();
    let cluster = Cluster::from_env().unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let topics = Topics::create_unique(&cluster, "stall", 1).unwrap();
    let (events, mut input, _) = order_records(1_000, seed);
    // the stalling record first, then thousands waiting behind it
    let slow_event = events[0].clone();
    input.insert(
        0,
        Record::new("slow", serde_json::to_vec(&slow_event).unwrap()),
    );
    write_records(&bootstrap, &topics.input, &input).unwrap();
    let stalled = Arc::new(AtomicBool::new(false));
    const BATCH: usize = 100;
    let pipeline = PipelineBuilder::new()
        .bootstrap_servers(&bootstrap)
        .group_id(&topics.group)
        .input_topic(&topics.input)
        .commit_every_records(BATCH)
        .max_in_flight(max_in_flight)
        .build(
            Staller {
                output: topics.output.clone(),
                stalled: Arc::clone(&stalled),
                stall: Duration::from_secs(3),
            },
            JsonCodec::<OrderEvent>::new(),
        )
        .unwrap();
    let metrics = pipeline.metrics();
    let token = pipeline.shutdown_token();
    let rt = runtime();
    let task = rt.spawn(pipeline.run());
    assert!(
        wait_until(
            || usize::from(stalled.load(Ordering::Acquire)),
            |s| s == 1,
            Duration::from_secs(30)
        ),
        "the stalling record was never processed"
    );
    // while the stalled record is in flight, its batch cannot commit and no other batch is
    // taken into process (`records_polled` counts those; the one collected behind it
    // meanwhile is bounded by `commit_every_records` too)
    std::thread::sleep(Duration::from_millis(300));
    let during = metrics.snapshot();
    std::thread::sleep(Duration::from_millis(1500));
    let later = metrics.snapshot();
    assert_eq!(during.records_polled, later.records_polled, "{later:?}");
    assert!(later.records_polled <= BATCH as u64, "{later:?}");
    assert_eq!(
        later.records_in, 0,
        "the stalled batch committed: {later:?}"
    );
    // other keys of the batch went on meanwhile, up to the bound
    if max_in_flight > 1 {
        assert!(later.process_calls > 1, "{later:?}");
    }
    // and the consumer was paused, so librdkafka does not prefetch behind the stall
    assert!(later.pauses >= 1, "{later:?}");

    // once it resumes, everything is processed
    let total = input.len() as u64;
    let done = AtomicU64::new(0);
    assert!(
        wait_until(
            || {
                let n = metrics.snapshot().records_in;
                done.store(n, Ordering::Relaxed);
                n as usize
            },
            |n| n as u64 >= total,
            Duration::from_secs(30)
        ),
        "stalled at {} of {total}",
        done.load(Ordering::Relaxed)
    );
    token.cancel();
    rt.block_on(task).unwrap().unwrap();
}

/// Numbers its records: `&mut self` state, run through `Sequential`.
struct Numbering {
    output: String,
    next: u64,
}

impl SequentialProcessor for Numbering {
    type Input = OrderEvent;
    async fn process(&mut self, input: Input<OrderEvent>) -> Result<Vec<Output>, BoxError> {
        self.next += 1;
        tokio::time::sleep(Duration::from_micros(200)).await;
        let (key, _) = result_of(&input.value);
        Ok(vec![Output::new(&self.output, key, self.next.to_string())])
    }
}

#[test]
fn a_sequential_processor_numbers_its_records_without_gaps_or_repeats() {
    let cluster = Cluster::from_env().unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let topics = Topics::create_unique(&cluster, "sequential", 2).unwrap();
    let (_, input, _) = order_records(300, test_seed());
    write_records(&bootstrap, &topics.input, &input).unwrap();
    let pipeline = PipelineBuilder::new()
        .bootstrap_servers(&bootstrap)
        .group_id(&topics.group)
        .input_topic(&topics.input)
        .max_in_flight(16) // ignored by the lock: one record at a time
        .build(
            Sequential::new(Numbering {
                output: topics.output.clone(),
                next: 0,
            }),
            JsonCodec::<OrderEvent>::new(),
        )
        .unwrap();
    let run = runtime()
        .block_on(run_pipeline(
            pipeline,
            &bootstrap,
            &topics.output,
            input.len(),
            Duration::from_secs(120),
        ))
        .unwrap();
    let mut numbers: Vec<u64> = run
        .records
        .iter()
        .map(|r| r.value_text().parse().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=input.len() as u64).collect::<Vec<_>>());
}
