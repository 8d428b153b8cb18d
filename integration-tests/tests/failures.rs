//! Outcomes the processor chooses: dead-letter now (bad data, no retries), stop the
//! pipeline (fatal), retry after a delay hint; a plain error is retried with backoff.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_eos_demo::orders::{expected_results, result_of, OrderEvent};
use kafka_eos_integration_tests::{order_records, runtime, Topics};
use kafka_eos_processor::{
    dlq_headers, BoxError, Error, ErrorPolicy, Failure, Input, JsonCodec, Output, PipelineBuilder,
    Processor,
};
use kafka_eos_testkit::{
    read_committed, run_pipeline, test_seed, write_records, Cluster, PipelineRun,
};

type Decide = dyn Fn(&Input<OrderEvent>, usize) -> Option<BoxError> + Send + Sync;

/// One result per event, unless `decide` (given the record and how often it was seen
/// before) returns an error; records the time of every attempt per offset.
struct Choosy {
    output: String,
    decide: Box<Decide>,
    attempts: Arc<Mutex<HashMap<i64, Vec<Instant>>>>,
}

impl Processor for Choosy {
    type Input = OrderEvent;
    async fn process(&self, input: Input<OrderEvent>) -> Result<Vec<Output>, BoxError> {
        let seen = {
            let mut attempts = self.attempts.lock().unwrap();
            let times = attempts.entry(input.offset).or_default();
            times.push(Instant::now());
            times.len() - 1
        };
        if let Some(error) = (self.decide)(&input, seen) {
            return Err(error);
        }
        let (key, value) = result_of(&input.value);
        Ok(vec![Output::new(&self.output, key, value)])
    }
}

struct Setup {
    cluster: Cluster,
    topics: Topics,
    events: Vec<OrderEvent>,
}

/// 300 orders on one partition (offsets are input positions).
fn setup(prefix: &str) -> Setup {
    let cluster = Cluster::from_env().unwrap();
    let topics = Topics::create_unique(&cluster, prefix, 1).unwrap();
    let (events, input, _) = order_records(300, test_seed());
    write_records(&cluster.bootstrap_servers(), &topics.input, &input).unwrap();
    Setup {
        cluster,
        topics,
        events,
    }
}

fn run(
    s: &Setup,
    decide: Box<Decide>,
    expected: usize,
) -> (
    Result<PipelineRun, kafka_eos_testkit::Error>,
    HashMap<i64, Vec<Instant>>,
) {
    let attempts = Arc::new(Mutex::new(HashMap::new()));
    let pipeline = PipelineBuilder::new()
        .bootstrap_servers(s.cluster.bootstrap_servers())
        .group_id(&s.topics.group)
        .input_topic(&s.topics.input)
        .commit_every_records(100)
        .on_error(ErrorPolicy::DeadLetter(s.topics.dlq.clone()))
        .build(
            Choosy {
                output: s.topics.output.clone(),
                decide,
                attempts: Arc::clone(&attempts),
            },
            JsonCodec::<OrderEvent>::new(),
        )
        .unwrap();
    let result = runtime().block_on(run_pipeline(
        pipeline,
        &s.cluster.bootstrap_servers(),
        &s.topics.output,
        expected,
        Duration::from_secs(60),
    ));
    let attempts = attempts.lock().unwrap().clone();
    (result, attempts)
}

#[test]
fn bad_data_is_dead_lettered_at_once_without_retries() {
    let s = setup("failure-dlq");
    let (result, attempts) = run(
        &s,
        Box::new(|i, _| (i.offset == 42).then(|| Failure::dead_letter("no such customer").into())),
        s.events.len() - 1,
    );
    let run = result.unwrap();
    assert_eq!(
        attempts[&42].len(),
        1,
        "a dead-letter-now record is not retried"
    );
    assert_eq!(run.metrics.aborts, 0, "{:?}", run.metrics);
    assert_eq!(run.metrics.dead_lettered, 1, "{:?}", run.metrics);
    let dlq = read_committed(
        &s.cluster.bootstrap_servers(),
        &s.topics.dlq,
        1,
        Duration::from_secs(1),
    )
    .unwrap();
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].header(dlq_headers::OFFSET).as_deref(), Some("42"));
    assert_eq!(dlq[0].header(dlq_headers::ATTEMPTS).as_deref(), Some("1"));
    assert_eq!(
        dlq[0].header(dlq_headers::FIRST_FAILURE),
        dlq[0].header(dlq_headers::LAST_FAILURE)
    );
    assert!(dlq[0]
        .header(dlq_headers::ERROR)
        .is_some_and(|e| e.contains("no such customer")));
}

#[test]
fn a_failure_that_says_stop_stops_the_pipeline_naming_the_record() {
    let s = setup("failure-stop");
    let (result, attempts) = run(
        &s,
        Box::new(|i, _| (i.offset == 7).then(|| Failure::stop("ledger unreachable").into())),
        s.events.len(),
    );
    let err = result.unwrap_err();
    match err {
        kafka_eos_testkit::Error::Pipeline(Error::Process {
            offset, attempts, ..
        }) => assert_eq!((offset, attempts), (7, 1)),
        other => panic!("expected the pipeline to stop on offset 7, got {other:?}"),
    }
    assert_eq!(attempts[&7].len(), 1, "a stop is not retried");
    // nothing was dead-lettered, and the aborted batch left no output
    let dlq = read_committed(
        &s.cluster.bootstrap_servers(),
        &s.topics.dlq,
        0,
        Duration::from_millis(500),
    )
    .unwrap();
    assert!(dlq.is_empty(), "{dlq:?}");
}

#[test]
fn retries_wait_for_the_hint_or_the_backoff_and_then_succeed_exactly_once() {
    let s = setup("failure-retry");
    let expected = expected_results(&s.events);
    let (result, attempts) = run(
        &s,
        Box::new(|i, seen| match (i.offset, seen) {
            // a hint: retry in 400 ms
            (10, 0) => Some(Failure::retry_after("503", Duration::from_millis(400)).into()),
            // a plain error: the default backoff (100 ms ± 20 % after the first failure)
            (150, 0) => Some("timeout".into()),
            _ => None,
        }),
        expected.len(),
    );
    let run = result.unwrap();
    let report = kafka_eos_testkit::check_exactly_once(&expected, &run.records);
    assert!(report.is_exactly_once(), "{report}");
    let gap = |offset: i64| attempts[&offset][1] - attempts[&offset][0];
    assert!(gap(10) >= Duration::from_millis(400), "{:?}", gap(10));
    assert!(gap(150) >= Duration::from_millis(80), "{:?}", gap(150));
    assert_eq!(run.metrics.dead_lettered, 0, "{:?}", run.metrics);
    let retries = run.metrics.record_retries_by_attempt;
    assert_eq!(
        retries[0], 2,
        "two records retried after their first attempt: {retries:?}"
    );
    assert_eq!(retries[1..].iter().sum::<u64>(), 0, "{retries:?}");
}
