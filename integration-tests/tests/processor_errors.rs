//! Processor-error suite: failures replayed exactly once, poison records dead-lettered once
//! with their error headers. (Bad configuration is rejected at build(): see the processor
//! crate's `tests/build_errors.rs`.)

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_eos_demo::orders::{expected_results, result_of, OrderEvent};
use kafka_eos_integration_tests::{await_output, join_within_30s, order_records, runtime, Topics};
use kafka_eos_processor::{
    dlq_headers, BoxError, CancellationToken, ErrorPolicy, Input, JsonCodec, MetricsSnapshot,
    Output, PipelineBuilder, Processor,
};
use kafka_eos_testkit::{
    read_committed, test_seed, verify_topic, write_records, Cluster, Collector, Record,
};

/// Writes one result per event; fails the records `fail` picks (given the record and
/// whether it failed before).
struct Faulty<F> {
    output: String,
    failed: Arc<Mutex<HashSet<(i32, i64)>>>,
    fail: F,
}

impl<F> Processor for Faulty<F>
where
    F: Fn(&Input<OrderEvent>, bool) -> bool + Send + Sync + 'static,
{
    type Input = OrderEvent;

    async fn process(&self, input: Input<OrderEvent>) -> Result<Vec<Output>, BoxError> {
        let id = (input.partition, input.offset);
        let before = self.failed.lock().unwrap().contains(&id);
        if (self.fail)(&input, before) {
            self.failed.lock().unwrap().insert(id);
            return Err(format!(
                "simulated failure of order {} seq {}",
                input.value.order, input.value.seq
            )
            .into());
        }
        let (key, value) = result_of(&input.value);
        Ok(vec![Output::new(&self.output, key, value)])
    }
}

/// Runs `processor` over `input` until `expected_out` results are out; returns the metrics.
fn run<P: Processor<Input = OrderEvent>>(
    cluster: &Cluster,
    names: &Topics,
    processor: P,
    policy: ErrorPolicy,
    expected_out: usize,
) -> MetricsSnapshot {
    let bootstrap = cluster.bootstrap_servers();
    let progress = Collector::start(&bootstrap, &[&names.output]).unwrap();
    let token = CancellationToken::new();
    let pipeline = PipelineBuilder::new()
        .bootstrap_servers(&bootstrap)
        .group_id(&names.group)
        .input_topic(&names.input)
        .commit_every_records(200)
        .on_error(policy)
        .shutdown(token.clone())
        .build(processor, JsonCodec::<OrderEvent>::new())
        .unwrap();
    let metrics = pipeline.metrics();
    let rt = runtime();
    let task = rt.spawn(pipeline.run());
    let (finished, live) = await_output(progress, names, expected_out, Duration::from_secs(30));
    // let a duplicate, if any, be written before stopping
    std::thread::sleep(Duration::from_millis(300));
    token.cancel();
    let result = join_within_30s(&rt, task, "the pipeline did not stop");
    assert!(finished, "stalled at {live} of {expected_out} ({result:?})");
    assert!(result.is_ok(), "{result:?}");
    drop(rt);
    metrics.snapshot()
}

#[test]
fn records_failing_on_their_first_attempt_are_replayed_exactly_once() {
    let seed = test_seed();
    let cluster = Cluster::from_env().unwrap();
    let names = Topics::create_unique(&cluster, "flaky", 4).unwrap();
    let (_, input, expected) = order_records(1_500, seed);
    write_records(&cluster.bootstrap_servers(), &names.input, &input).unwrap();
    let failed = Arc::new(Mutex::new(HashSet::new()));
    let processor = Faulty {
        output: names.output.clone(),
        failed: Arc::clone(&failed),
        // every 97th offset fails once; its replay succeeds
        fail: |i: &Input<OrderEvent>, before: bool| i.offset % 97 == 13 && !before,
    };
    let metrics = run(
        &cluster,
        &names,
        processor,
        ErrorPolicy::Stop,
        expected.len(),
    );
    let failures = failed.lock().unwrap().len();
    assert!(failures > 0, "no record failed");
    assert!(
        metrics.aborts > 0,
        "a failure must abort its batch: {metrics:?}"
    );
    assert_eq!(metrics.records_in, input.len() as u64, "{metrics:?}");
    assert!(metrics.records_replayed > 0, "{metrics:?}");
    assert!(metrics.process_calls > metrics.records_in, "{metrics:?}");

    let report = verify_topic(&cluster.bootstrap_servers(), &names.output, &expected).unwrap();
    assert!(
        report.is_exactly_once(),
        "{report} (seed {seed}, {failures} failed records)"
    );
}

/// Metrics count apart what replays would blur: input records done, processor calls, replays,
/// and dead letters committed (not dead letters written in a transaction that aborted).
#[test]
fn metrics_count_inputs_attempts_replays_and_committed_dead_letters_apart() {
    let seed = test_seed();
    let cluster = Cluster::from_env().unwrap();
    let bootstrap = cluster.bootstrap_servers();
    // one partition: the undecodable record and the failing one share a batch
    let names = Topics::create_unique(&cluster, "metrics", 1).unwrap();
    let (_, events, expected) = order_records(100, seed);
    let mut input = vec![Record::new("poison", "{not json")];
    input.extend(events);
    write_records(&bootstrap, &names.input, &input).unwrap();
    let processor = Faulty {
        output: names.output.clone(),
        failed: Arc::default(),
        // offset 13 fails on its first attempt: the batch aborts after the undecodable
        // record at offset 0 was dead-lettered in it, and is replayed
        fail: |i: &Input<OrderEvent>, before: bool| i.offset == 13 && !before,
    };
    let metrics = run(
        &cluster,
        &names,
        processor,
        ErrorPolicy::DeadLetter(names.dlq.clone()),
        expected.len(),
    );
    assert!(metrics.aborts >= 1, "{metrics:?}");
    assert_eq!(metrics.records_in, input.len() as u64, "{metrics:?}");
    assert_eq!(metrics.dead_lettered, 1, "{metrics:?}");
    assert!(metrics.records_replayed >= 13, "{metrics:?}");
    assert!(
        metrics.records_polled >= metrics.records_in + metrics.records_replayed,
        "{metrics:?}"
    );
    // every decodable record once, plus the failed attempt and the replays
    assert!(metrics.process_calls > expected.len() as u64, "{metrics:?}");
    let dlq = read_committed(&bootstrap, &names.dlq, 1, Duration::from_secs(1)).unwrap();
    assert_eq!(dlq.len(), 1, "{dlq:?}");
}

#[test]
fn a_record_that_always_fails_is_dead_lettered_once() {
    let seed = test_seed();
    let cluster = Cluster::from_env().unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let names = Topics::create_unique(&cluster, "dlq-process", 4).unwrap();
    let (events, input, _) = order_records(1_000, seed);
    write_records(&bootstrap, &names.input, &input).unwrap();
    let victim = events[events.len() / 2].clone();
    let survivors: Vec<OrderEvent> = events.iter().filter(|e| **e != victim).cloned().collect();
    let expected = expected_results(&survivors);
    let v = victim.clone();
    let processor = Faulty {
        output: names.output.clone(),
        failed: Arc::default(),
        fail: move |i: &Input<OrderEvent>, _| i.value == v,
    };
    let metrics = run(
        &cluster,
        &names,
        processor,
        ErrorPolicy::DeadLetter(names.dlq.clone()),
        expected.len(),
    );
    assert_eq!(metrics.dead_lettered, 1, "{metrics:?}");

    let report = verify_topic(&bootstrap, &names.output, &expected).unwrap();
    assert!(report.is_exactly_once(), "{report} (seed {seed})");

    let dlq = read_committed(&bootstrap, &names.dlq, 1, Duration::from_secs(1)).unwrap();
    assert_eq!(dlq.len(), 1, "{dlq:?}");
    let dead = &dlq[0];
    assert_eq!(dead.key, victim.key().into_bytes());
    assert_eq!(dead.value, Some(serde_json::to_vec(&victim).unwrap()));
    assert_eq!(dead.header(dlq_headers::STAGE).as_deref(), Some("process"));
    assert!(
        dead.header(dlq_headers::ERROR)
            .is_some_and(|e| e.contains("simulated failure")),
        "{dead:?}"
    );
    assert_eq!(dead.header(dlq_headers::TOPIC), Some(names.input.clone()));
    assert!(dead
        .header(dlq_headers::PARTITION)
        .and_then(|p| p.parse::<i32>().ok())
        .is_some());
    assert!(dead
        .header(dlq_headers::OFFSET)
        .and_then(|o| o.parse::<i64>().ok())
        .is_some());
    // its history: every attempt (the default 3), the first and the last failure
    assert_eq!(dead.header(dlq_headers::ATTEMPTS).as_deref(), Some("3"));
    let at = |name| {
        dead.header(name)
            .and_then(|t| t.parse::<i64>().ok())
            .unwrap_or_else(|| panic!("{name} missing: {dead:?}"))
    };
    let (first, last) = (
        at(dlq_headers::FIRST_FAILURE),
        at(dlq_headers::LAST_FAILURE),
    );
    assert!(first > 1_600_000_000_000, "{first}");
    // two backoffs of the default schedule (100 ms, then 200 ms, each at least 80 %) between
    assert!(last - first >= 240, "first {first}, last {last}");
}

#[test]
fn undecodable_records_are_dead_lettered_with_their_source() {
    let seed = test_seed();
    let cluster = Cluster::from_env().unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let names = Topics::create_unique(&cluster, "dlq-decode", 1).unwrap();
    let (_, mut input, expected) = order_records(500, seed);
    // one partition: the poison records' offsets are their positions in the input
    let positions = [10usize, 400, 900];
    for (n, at) in positions.iter().enumerate() {
        input.insert(*at, Record::new(format!("poison-{n}"), "{not json"));
    }
    write_records(&bootstrap, &names.input, &input).unwrap();
    let processor = Faulty {
        output: names.output.clone(),
        failed: Arc::default(),
        fail: |_: &Input<OrderEvent>, _| false,
    };
    let metrics = run(
        &cluster,
        &names,
        processor,
        ErrorPolicy::DeadLetter(names.dlq.clone()),
        expected.len(),
    );
    assert_eq!(metrics.dead_lettered, 3, "{metrics:?}");
    let report = verify_topic(&bootstrap, &names.output, &expected).unwrap();
    assert!(report.is_exactly_once(), "{report} (seed {seed})");

    let dlq = read_committed(&bootstrap, &names.dlq, 3, Duration::from_secs(1)).unwrap();
    assert_eq!(dlq.len(), 3, "{dlq:?}");
    for (n, (dead, at)) in dlq.iter().zip(positions).enumerate() {
        assert_eq!(dead.key, format!("poison-{n}").into_bytes());
        assert_eq!(dead.value.as_deref(), Some(&b"{not json"[..]));
        assert_eq!(dead.header(dlq_headers::STAGE).as_deref(), Some("decode"));
        assert!(dead.header(dlq_headers::ERROR).is_some(), "{dead:?}");
        assert_eq!(dead.header(dlq_headers::TOPIC), Some(names.input.clone()));
        assert_eq!(dead.header(dlq_headers::PARTITION).as_deref(), Some("0"));
        assert_eq!(dead.header(dlq_headers::OFFSET), Some(at.to_string()));
    }
}
