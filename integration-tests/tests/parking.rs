#![cfg(test)] // test code: clippy.toml lets it unwrap and panic
//! Parking suite (issue 9): a record the processor fails on parks its key in the parking
//! topic, inside the transaction, while every other key flows; the key's records run in
//! order once due. Checked end to end by a `read_committed` reader: every result exactly
//! once, each key's results in input order, no batch aborted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_eos_demo::orders::{result_of, OrderEvent};
use kafka_eos_integration_tests::{await_output, join_within_30s, order_records, runtime, Topics};
use kafka_eos_processor::core::parked::release_record;
use kafka_eos_processor::{
    dlq_headers, Backoff, BoxError, CancellationToken, ErrorPolicy, Input, JsonCodec, KeyPolicy,
    MetricsSnapshot, Output, Pipeline, PipelineBuilder, Processor,
};
use kafka_eos_testkit::{
    check_exactly_once, read_committed, test_seed, verify_topic, wait_until, write_records,
    Cluster, Collector, Record,
};

/// Fails a record of the orders `failing` picks until it has failed `times` times
/// (`u32::MAX`: always); counts the attempts of every record.
struct Flaky {
    output: String,
    failing: fn(&OrderEvent) -> bool,
    times: u32,
    attempts: Arc<Mutex<HashMap<(i32, i64), u32>>>,
}

impl Processor for Flaky {
    type Input = OrderEvent;

    async fn process(&self, input: Input<OrderEvent>) -> Result<Vec<Output>, BoxError> {
        let failed_before = {
            let mut attempts = self.attempts.lock().unwrap();
            let n = attempts.entry((input.partition, input.offset)).or_insert(0);
            *n += 1;
            *n - 1
        };
        if (self.failing)(&input.value) && failed_before < self.times {
            return Err(format!(
                "order {} seq {} failed (attempt {})",
                input.value.order,
                input.value.seq,
                failed_before + 1
            )
            .into());
        }
        let (key, value) = result_of(&input.value);
        Ok(vec![Output::new(&self.output, key, value)])
    }
}

/// A seed, a cluster and fresh topics with `partitions` partitions, the events of `orders`
/// orders written to the input, and the expected output.
fn prepare(
    prefix: &str,
    partitions: i32,
    orders: u64,
) -> (u64, Cluster, Topics, Vec<Record>, Vec<Record>) {
    let seed = test_seed();
    let cluster = Cluster::from_env().unwrap();
    let names = Topics::create_unique(&cluster, prefix, partitions).unwrap();
    let (_, input, expected) = order_records(orders, seed);
    write_records(&cluster.bootstrap_servers(), &names.input, &input).unwrap();
    (seed, cluster, names, input, expected)
}

fn pipeline(
    cluster: &Cluster,
    names: &Topics,
    processor: Flaky,
    policy: KeyPolicy,
    backoff: Backoff,
    token: &CancellationToken,
) -> Pipeline<Flaky, JsonCodec<OrderEvent>> {
    builder(cluster, names, policy, backoff, token)
        .build(processor, JsonCodec::<OrderEvent>::new())
        .unwrap()
}

fn builder(
    cluster: &Cluster,
    names: &Topics,
    policy: KeyPolicy,
    backoff: Backoff,
    token: &CancellationToken,
) -> PipelineBuilder {
    PipelineBuilder::new()
        .bootstrap_servers(cluster.bootstrap_servers())
        .group_id(&names.group)
        .input_topic(&names.input)
        .commit_every_records(500)
        .commit_every(Duration::from_millis(50))
        .max_in_flight(16)
        .max_attempts(4)
        .retry_schedule(backoff)
        .on_error(ErrorPolicy::DeadLetter(names.dlq.clone()))
        .parking_topic(&names.parked, policy)
        .shutdown(token.clone())
}

/// Runs `pipeline` until the output holds `expected_out` records; returns the metrics.
fn run_until(
    cluster: &Cluster,
    names: &Topics,
    pipeline: Pipeline<Flaky, JsonCodec<OrderEvent>>,
    token: CancellationToken,
    expected_out: usize,
) -> MetricsSnapshot {
    let progress = Collector::start(&cluster.bootstrap_servers(), &[&names.output]).unwrap();
    let metrics = pipeline.metrics();
    let rt = runtime();
    let task = rt.spawn(pipeline.run());
    let (finished, live) = await_output(progress, names, expected_out, Duration::from_secs(90));
    std::thread::sleep(Duration::from_millis(300));
    token.cancel();
    let result = join_within_30s(&rt, task, "the pipeline did not stop");
    assert!(result.is_ok(), "{result:?}");
    assert!(
        finished,
        "stalled at {live} of {expected_out}: {:?}",
        metrics.snapshot()
    );
    drop(rt);
    metrics.snapshot()
}

/// Runs `processor` (a key proceeds once its dead letter is written, retries are fast)
/// until the output holds `expected_out` records; returns the metrics.
fn run_released(
    cluster: &Cluster,
    names: &Topics,
    processor: Flaky,
    expected_out: usize,
) -> MetricsSnapshot {
    let token = CancellationToken::new();
    let p = pipeline(
        cluster,
        names,
        processor,
        KeyPolicy::Release,
        fast(),
        &token,
    );
    run_until(cluster, names, p, token, expected_out)
}

fn fast() -> Backoff {
    Backoff::new(Duration::from_millis(20), Duration::from_millis(200))
}

/// Every record of one order in 20 fails.
fn one_in_20(event: &OrderEvent) -> bool {
    failing_order(event.order)
}

fn failing_order(order: u64) -> bool {
    order % 20 == 7
}

#[test]
fn failing_keys_park_while_the_others_commit_and_run_in_order_when_due() {
    let (seed, cluster, names, input, expected) = prepare("park", 4, 14_000);
    assert!(input.len() >= 50_000, "{} records", input.len());
    let attempts = Arc::new(Mutex::new(HashMap::new()));
    let processor = Flaky {
        output: names.output.clone(),
        failing: one_in_20,
        times: 2,
        attempts: Arc::clone(&attempts),
    };
    let metrics = run_released(&cluster, &names, processor, expected.len());

    let report = verify_topic(&cluster.bootstrap_servers(), &names.output, &expected).unwrap();
    assert!(report.is_exactly_once(), "{report} (seed {seed})");
    // parking, not replays: no batch aborted, no record taken twice from the input
    assert_eq!(metrics.aborts, 0, "{metrics:?}");
    assert_eq!(metrics.records_replayed, 0, "{metrics:?}");
    assert_eq!(metrics.records_in, input.len() as u64, "{metrics:?}");
    assert!(metrics.records_parked > 0, "{metrics:?}");
    assert_eq!(metrics.parked_keys, 0, "every key released: {metrics:?}");
    // each failing record: 2 failures then a success; nothing else tried twice
    let attempts = attempts.lock().unwrap();
    let failing: usize = attempts.values().filter(|n| **n > 1).count();
    assert!(failing > 1_000, "{failing} failing records");
    assert!(
        attempts.values().all(|n| *n == 1 || *n == 3),
        "attempts other than 1 or 3"
    );
    assert_eq!(
        metrics.record_retries_by_attempt[0], failing as u64,
        "{metrics:?}"
    );
    assert_eq!(
        metrics.record_retries_by_attempt[1], failing as u64,
        "{metrics:?}"
    );
    assert_eq!(metrics.dead_lettered, 0, "{metrics:?}");
}

#[test]
fn a_new_instance_recovers_the_parked_keys_of_a_stopped_one() {
    let (seed, cluster, names, _, expected) = prepare("park-recover", 4, 3_000);
    let attempts = Arc::new(Mutex::new(HashMap::new()));
    // the first instance parks the failing keys (due in 10 s: durable, whoever retries
    // them), and stops before they are due
    let flaky = |attempts: &Arc<Mutex<_>>| Flaky {
        output: names.output.clone(),
        failing: one_in_20,
        times: 1,
        attempts: Arc::clone(attempts),
    };
    let token = CancellationToken::new();
    let later = Duration::from_secs(10);
    let first = pipeline(
        &cluster,
        &names,
        flaky(&attempts),
        KeyPolicy::Release,
        Backoff::new(later, later).jitter(0.0),
        &token,
    );
    let healthy = expected
        .iter()
        .filter(|r| !failing_order(order_of(r)))
        .count();
    let metrics = run_until(&cluster, &names, first, token, healthy);
    assert!(metrics.parked_keys > 0, "{metrics:?}");
    let parked_keys = metrics.parked_keys;

    // a new instance finds them in the parking topic, and retries them once due
    let token = CancellationToken::new();
    let second = pipeline(
        &cluster,
        &names,
        flaky(&attempts),
        KeyPolicy::Release,
        fast(),
        &token,
    );
    let metrics = run_until(&cluster, &names, second, token, expected.len());
    let report = verify_topic(&cluster.bootstrap_servers(), &names.output, &expected).unwrap();
    assert!(
        report.is_exactly_once(),
        "{report} (seed {seed}, {parked_keys} parked keys)"
    );
    assert_eq!(
        metrics.records_in, 0,
        "the input was done by the first instance: {metrics:?}"
    );
    assert_eq!(metrics.parked_keys, 0, "{metrics:?}");
}

/// A key parked three times longer than the transaction timeout: nothing of it is held in an
/// open transaction between its attempts, so no transaction times out and its records run,
/// in order, once due.
#[test]
fn a_key_parked_longer_than_the_transaction_timeout_runs_when_due() {
    let (seed, cluster, names, _, expected) = prepare("park-long", 2, 14_000);
    let attempts = Arc::new(Mutex::new(HashMap::new()));
    let processor = Flaky {
        output: names.output.clone(),
        failing: |e: &OrderEvent| e.order == 7 && e.seq == 0,
        times: 1,
        attempts: Arc::clone(&attempts),
    };
    let token = CancellationToken::new();
    let wait = Duration::from_secs(6);
    let started = std::time::Instant::now();
    let p = builder(
        &cluster,
        &names,
        KeyPolicy::Release,
        Backoff::new(wait, wait).jitter(0.0),
        &token,
    )
    .producer_override("transaction.timeout.ms", "2000")
    .build(processor, JsonCodec::<OrderEvent>::new())
    .unwrap();
    let metrics = run_until(&cluster, &names, p, token, expected.len());
    assert!(
        started.elapsed() >= wait,
        "the parked key ran before it was due"
    );
    let report = verify_topic(&cluster.bootstrap_servers(), &names.output, &expected).unwrap();
    assert!(report.is_exactly_once(), "{report} (seed {seed})");
    assert_eq!(metrics.aborts, 0, "{metrics:?}");
    assert!(metrics.records_parked >= 1, "{metrics:?}");
    if let Some(broker) = cluster.embedded_broker() {
        let counts = broker.transaction_counts();
        assert_eq!(counts.timed_out, 0, "{counts:?}");
    }
}

/// A parking topic with fewer partitions than the input stops the pipeline at start with
/// an error naming both topics; so does a parking topic that does not exist.
#[test]
fn a_parking_topic_with_too_few_partitions_is_refused_at_start() {
    let cluster = Cluster::from_env().unwrap();
    let names = Topics::unique(&cluster, "park-copart");
    cluster.create_topic(&names.input, 4).unwrap();
    cluster.create_topic(&names.output, 4).unwrap();
    cluster.create_topic(&names.parked, 2).unwrap();
    let run = |parked: &str| {
        let mut names = names.clone();
        names.parked = parked.to_owned();
        let token = CancellationToken::new();
        let processor = Flaky {
            output: names.output.clone(),
            failing: one_in_20,
            times: 1,
            attempts: Arc::default(),
        };
        let p = pipeline(
            &cluster,
            &names,
            processor,
            KeyPolicy::Release,
            fast(),
            &token,
        );
        runtime()
            .block_on(async { tokio::time::timeout(Duration::from_secs(30), p.run()).await })
            .expect("run() did not return")
    };
    let err = run(&names.parked).unwrap_err();
    assert!(
        matches!(
            &err,
            kafka_eos_processor::Error::Copartitioning {
                parking_partitions: 2,
                input_partitions: 4,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&names.parked) && text.contains(&names.input),
        "{text}"
    );
    let missing = cluster.unique_topic("no-such-parking");
    let err = run(&missing).unwrap_err();
    assert!(
        matches!(
            &err,
            kafka_eos_processor::Error::Copartitioning {
                parking_partitions: 0,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_held_key_waits_for_an_operator_and_then_runs_in_order() {
    let (seed, cluster, names, _, expected) = prepare("park-hold", 2, 1_000);
    // order 7's first record always fails: dead-lettered after 4 attempts, its key held
    let poison = |event: &OrderEvent| event.order == 7 && event.seq == 0;
    let attempts = Arc::new(Mutex::new(HashMap::new()));
    let processor = Flaky {
        output: names.output.clone(),
        failing: poison,
        times: 4,
        attempts: Arc::clone(&attempts),
    };
    let token = CancellationToken::new();
    let p = pipeline(&cluster, &names, processor, KeyPolicy::Hold, fast(), &token);
    let metrics = p.metrics();
    let held_key = b"order-7".to_vec();
    let (poison_first, rest): (Vec<&Record>, Vec<&Record>) = {
        let of_key: Vec<&Record> = expected.iter().filter(|r| order_of(r) == 7).collect();
        (of_key[..1].to_vec(), of_key[1..].to_vec())
    };
    let others = expected.len() - poison_first.len() - rest.len();

    let progress =
        Collector::start(&cluster.bootstrap_servers(), &[&names.output, &names.dlq]).unwrap();
    let rt = runtime();
    let task = rt.spawn(p.run());
    let dead_lettered = wait_until(
        || progress.count_of(&names.dlq),
        |n| n >= 1,
        Duration::from_secs(60),
    );
    assert!(dead_lettered, "the poison record was not dead-lettered");
    let all_others = wait_until(
        || progress.count_of(&names.output),
        |n| n >= others,
        Duration::from_secs(60),
    );
    assert!(all_others, "other keys stalled: {:?}", metrics.snapshot());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        progress.count_of(&names.output),
        others,
        "a held key's record ran"
    );
    assert_eq!(
        metrics.snapshot().parked_keys,
        1,
        "{:?}",
        metrics.snapshot()
    );

    // the operator releases the key: its later records run, in order
    let release = release_record(
        &names.parked,
        &names.input,
        partition_of(2, &held_key),
        Some(&held_key),
    );
    write_owned(&cluster.bootstrap_servers(), release);
    let finished = wait_until(
        || progress.count_of(&names.output),
        |n| n >= others + rest.len(),
        Duration::from_secs(60),
    );
    drop(progress.stop(&names.output, &names.dlq));
    token.cancel();
    let result = rt.block_on(task).unwrap();
    assert!(result.is_ok(), "{result:?}");
    assert!(
        finished,
        "the released key did not run: {:?}",
        metrics.snapshot()
    );

    let output = read_committed(
        &cluster.bootstrap_servers(),
        &names.output,
        expected.len() - 1,
        Duration::from_millis(500),
    )
    .unwrap();
    let without_poison: Vec<Record> = expected
        .iter()
        .filter(|r| !std::ptr::eq(*r, poison_first[0]))
        .cloned()
        .collect();
    let report = check_exactly_once(&without_poison, &output);
    assert!(report.is_exactly_once(), "{report} (seed {seed})");
    let dead = only_dead_letter(&cluster, &names);
    assert_eq!(dead.key, held_key);
    assert_eq!(dead.header(dlq_headers::ATTEMPTS).as_deref(), Some("4"));
    assert_eq!(metrics.snapshot().parked_keys, 0);
}

#[test]
fn an_undecodable_record_of_a_parked_key_waits_behind_it() {
    let seed = test_seed();
    let cluster = Cluster::from_env().unwrap();
    let names = Topics::create_unique(&cluster, "park-decode", 2).unwrap();
    let (_, mut input, expected) = order_records(300, seed);
    // order 7's first record fails twice (it parks its key); a record of the same key that
    // no codec can read follows it
    let first = input.iter().position(|r| r.key == b"order-7").unwrap();
    input.insert(first + 1, Record::new("order-7", "{not json"));
    write_records(&cluster.bootstrap_servers(), &names.input, &input).unwrap();
    let processor = Flaky {
        output: names.output.clone(),
        failing: |event| event.order == 7 && event.seq == 0,
        times: 2,
        attempts: Arc::default(),
    };
    let metrics = run_released(&cluster, &names, processor, expected.len());
    assert_eq!(metrics.dead_lettered, 1, "{metrics:?}");

    let report = verify_topic(&cluster.bootstrap_servers(), &names.output, &expected).unwrap();
    assert!(report.is_exactly_once(), "{report} (seed {seed})");
    // dead-lettered in its turn, read back from the parking topic behind the key's first
    // record (not at once, ahead of it, as an undecodable record of a key that waits for
    // nothing is)
    let dead = only_dead_letter(&cluster, &names);
    assert_eq!(dead.key, b"order-7");
    assert_eq!(dead.value.as_deref(), Some(&b"{not json"[..]));
    let error = dead.header(dlq_headers::ERROR).unwrap_or_default();
    assert!(
        error.contains("parked record cannot be decoded"),
        "{dead:?}"
    );
}

/// The dead-letter topic's one record (read `read_committed`).
fn only_dead_letter(cluster: &Cluster, names: &Topics) -> Record {
    let mut dlq = read_committed(
        &cluster.bootstrap_servers(),
        &names.dlq,
        1,
        Duration::from_millis(500),
    )
    .unwrap();
    assert_eq!(dlq.len(), 1, "{dlq:?}");
    dlq.remove(0)
}

/// The order of a result record (keys are `order-N`).
fn order_of(r: &Record) -> u64 {
    String::from_utf8_lossy(&r.key)
        .trim_start_matches("order-")
        .parse()
        .unwrap()
}

/// The input partition of `key`'s records (the testkit writes with murmur2, as Java does).
fn partition_of(partitions: i32, key: &[u8]) -> i32 {
    kafka_eos_processor::core::partitioning::partition_for_key(key, partitions)
}

fn write_owned(bootstrap: &str, record: kafka_eos_processor::core::OwnedRecord) {
    use kafka_eos_processor::core::rdkafka::producer::{BaseProducer, Producer};
    use kafka_eos_processor::core::rdkafka::ClientConfig;
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    producer
        .send(record.as_base_record(()))
        .map_err(|(e, _)| e)
        .unwrap();
    producer.flush(Duration::from_secs(10)).unwrap();
}
