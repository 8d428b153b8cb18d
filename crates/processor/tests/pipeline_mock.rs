//! Pipeline flows on librdkafka's mock cluster (no commit markers there: these tests
//! check the flow, not exactly-once output, which the embedded-broker suites prove).
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

use std::time::Duration;

use kafka_eos_processor::config::Mode;
use kafka_eos_processor::core::rdkafka::consumer::{BaseConsumer, Consumer};
use kafka_eos_processor::core::rdkafka::message::{Headers, Message};
use kafka_eos_processor::core::rdkafka::mocking::MockCluster;
use kafka_eos_processor::core::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use kafka_eos_processor::core::rdkafka::ClientConfig;
use kafka_eos_processor::{
    dlq_headers, BoxError, Error, ErrorPolicy, Input, JsonCodec, Output, PipelineBuilder, Processor,
};

struct Doubler {
    fail_on: Option<u64>,
}

impl Processor for Doubler {
    type Input = u64;

    async fn process(&self, input: Input<u64>) -> Result<Vec<Output>, BoxError> {
        if Some(input.value) == self.fail_on {
            return Err(format!("cannot process {}", input.value).into());
        }
        Ok(vec![Output::new(
            "out",
            input.key.unwrap_or_default(),
            (input.value * 2).to_string(),
        )])
    }
}

fn seed(bootstrap: &str, values: &[&str]) {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    for (i, v) in values.iter().enumerate() {
        let key = format!("k{i}");
        p.send(BaseRecord::to("in").key(&key).payload(*v)).unwrap();
    }
    p.flush(Duration::from_secs(10)).unwrap();
}

type ReadHeaders = Vec<(String, Vec<u8>)>;

fn read_all(bootstrap: &str, topic: &str, expect: usize) -> Vec<(Vec<u8>, ReadHeaders)> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("reader-{topic}"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    c.subscribe(&[topic]).unwrap();
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while out.len() < expect && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            let headers = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                        .collect()
                })
                .unwrap_or_default();
            out.push((m.payload().unwrap_or_default().to_vec(), headers));
        }
    }
    out
}

fn cluster(
) -> MockCluster<'static, kafka_eos_processor::core::rdkafka::producer::DefaultProducerContext> {
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic("in", 2, 1).unwrap();
    mock.create_topic("out", 2, 1).unwrap();
    mock.create_topic("dlq", 1, 1).unwrap();
    mock
}

async fn wait_for(pred: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !pred() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached in time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_commits_and_dead_letters_poison() {
    let mock = cluster();
    let bootstrap = mock.bootstrap_servers();
    let mut values: Vec<String> = (1..=20).map(|i| i.to_string()).collect();
    values.insert(7, "not-json".into());
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    seed(&bootstrap, &refs);

    let pipeline = PipelineBuilder::new()
        .bootstrap_servers(bootstrap.clone())
        .group_id("doubler")
        .input_topic("in")
        .app_name("test")
        .commit_every_records(5)
        .commit_every(Duration::from_millis(200))
        .operation_timeout(Duration::from_secs(10))
        .on_error(ErrorPolicy::DeadLetter("dlq".into()))
        .build(Doubler { fail_on: None }, JsonCodec::<u64>::new())
        .unwrap();
    assert_eq!(pipeline.config().transactional_id(), Some("test-doubler-0"));
    let metrics = pipeline.metrics();
    let stop = pipeline.shutdown_token();
    let run = tokio::spawn(pipeline.run());

    wait_for(|| metrics.snapshot().records_in >= 21 && metrics.snapshot().commits >= 1).await;
    wait_for(|| metrics.snapshot().records_out >= 21).await;
    stop.cancel();
    run.await.unwrap().unwrap();

    let s = metrics.snapshot();
    assert_eq!(s.records_in, 21);
    assert_eq!(s.records_out, 21, "20 outputs + 1 dead letter");
    assert_eq!(s.dead_lettered, 1);
    assert_eq!(s.aborts, 0);

    let mut outs: Vec<u64> = read_all(&bootstrap, "out", 20)
        .into_iter()
        .map(|(v, _)| String::from_utf8(v).unwrap().parse().unwrap())
        .collect();
    outs.sort_unstable();
    assert_eq!(outs, (1..=20).map(|i| i * 2).collect::<Vec<u64>>());

    let dlq = read_all(&bootstrap, "dlq", 1);
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].0, b"not-json");
    let h = &dlq[0].1;
    assert!(h.iter().any(|(k, _)| k == dlq_headers::ERROR));
    assert!(h
        .iter()
        .any(|(k, v)| k == dlq_headers::STAGE && v == b"decode"));
    assert!(h.iter().any(|(k, v)| k == dlq_headers::TOPIC && v == b"in"));

    // Committed input offsets are not checked here: the mock cluster does not make
    // TxnOffsetCommit offsets visible (no commit markers); the embedded-broker suites do.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_policy_names_the_undecodable_record() {
    let mock = cluster();
    let bootstrap = mock.bootstrap_servers();
    mock.create_topic("in1", 1, 1).unwrap();
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    for v in ["1", "2", "{bad"] {
        p.send(BaseRecord::<(), _>::to("in1").payload(v)).unwrap();
    }
    p.flush(Duration::from_secs(10)).unwrap();

    let pipeline = PipelineBuilder::new()
        .bootstrap_servers(bootstrap)
        .group_id("stopper")
        .input_topic("in1")
        .commit_every_records(10)
        .commit_every(Duration::from_millis(200))
        .operation_timeout(Duration::from_secs(10))
        .build(Doubler { fail_on: None }, JsonCodec::<u64>::new())
        .unwrap();
    let err = tokio::time::timeout(Duration::from_secs(60), pipeline.run())
        .await
        .expect("pipeline should stop on the poison record")
        .unwrap_err();
    match err {
        Error::Decode {
            topic,
            partition,
            offset,
            ..
        } => {
            assert_eq!((topic.as_str(), partition, offset), ("in1", 0, 2));
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_record_is_replayed_then_dead_lettered() {
    let mock = cluster();
    let bootstrap = mock.bootstrap_servers();
    seed(&bootstrap, &["1", "2", "3", "4"]);
    let pipeline = PipelineBuilder::new()
        .bootstrap_servers(bootstrap.clone())
        .group_id("retrier")
        .input_topic("in")
        .commit_every_records(100)
        .commit_every(Duration::from_millis(300))
        .operation_timeout(Duration::from_secs(10))
        .max_attempts(3)
        .on_error(ErrorPolicy::DeadLetter("dlq".into()))
        .build(Doubler { fail_on: Some(3) }, JsonCodec::<u64>::new())
        .unwrap();
    let metrics = pipeline.metrics();
    let stop = pipeline.shutdown_token();
    let run = tokio::spawn(pipeline.run());
    wait_for(|| metrics.snapshot().dead_lettered >= 1 && metrics.snapshot().commits >= 1).await;
    stop.cancel();
    run.await.unwrap().unwrap();
    let s = metrics.snapshot();
    assert_eq!(s.dead_lettered, 1);
    assert!(
        s.aborts >= 2,
        "two failed attempts aborted before dead-lettering: {s:?}"
    );
    let dlq = read_all(&bootstrap, "dlq", 1);
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].0, b"3");
    assert!(dlq[0]
        .1
        .iter()
        .any(|(k, v)| k == dlq_headers::STAGE && v == b"process"));
}

#[test]
fn builder_validation() {
    let err = PipelineBuilder::new()
        .group_id("g")
        .input_topic("t")
        .build(Doubler { fail_on: None }, JsonCodec::<u64>::new())
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    let ok = PipelineBuilder::new()
        .bootstrap_servers("b:1")
        .group_id("g")
        .input_topic("t")
        .mode(Mode::AtLeastOnce)
        .build(Doubler { fail_on: None }, JsonCodec::<u64>::new())
        .unwrap();
    assert_eq!(ok.config().transactional_id(), None);
}
