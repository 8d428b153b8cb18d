//! The async calls and `run_pipeline` from plain `#[tokio::test]`s (current-thread runtime):
//! a spawned pipeline keeps running while the testkit reads, its output is checked against
//! f(input), an error it stops with comes back at once, and a timeout says what was read.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

use std::error::Error as _;
use std::time::Duration;

use kafka_eos_processor::{
    BoxError, ErrorPolicy, Input, Output, Pipeline, PipelineBuilder, Processor, RawBytes,
};
use kafka_eos_testkit::{
    check_exactly_once, read_committed_async, run_pipeline, verify_topic_async,
    write_records_async, Cluster, Error, Record,
};

const RECORDS: usize = 60;
const TIMEOUT: Duration = Duration::from_secs(60);

/// Upper-cases each value, same key, to `output`; fails on values equal to `fail_on`.
struct Upper {
    output: String,
    fail_on: Option<Vec<u8>>,
}

impl Processor for Upper {
    type Input = Option<Vec<u8>>;

    async fn process(&self, input: Input<Option<Vec<u8>>>) -> Result<Vec<Output>, BoxError> {
        let value = input.value.unwrap_or_default();
        if self.fail_on.as_ref() == Some(&value) {
            return Err(format!("cannot process {:?}", String::from_utf8_lossy(&value)).into());
        }
        let value = value.to_ascii_uppercase();
        Ok(vec![Output::new(
            &self.output,
            input.key.unwrap_or_default(),
            value,
        )])
    }
}

/// f(input): what `Upper` must write, computed independently of it.
fn upper(input: &[Record]) -> Vec<Record> {
    input
        .iter()
        .map(|r| Record::new(r.key.clone(), r.value_text().to_uppercase()))
        .collect()
}

/// `RECORDS` records over 6 keys.
fn words() -> Vec<Record> {
    (0..RECORDS)
        .map(|i| Record::new(format!("k{}", i % 6), format!("word-{i}")))
        .collect()
}

struct Topics {
    cluster: Cluster,
    bootstrap: String,
    input: String,
    output: String,
}

/// A cluster with an input and an output topic (created with the async call).
async fn topics(input_partitions: i32, output_partitions: i32) -> Topics {
    let cluster = Cluster::from_env().unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let input = cluster.unique_topic("words");
    let output = cluster.unique_topic("upper");
    cluster
        .create_topic_async(&input, input_partitions)
        .await
        .unwrap();
    cluster
        .create_topic_async(&output, output_partitions)
        .await
        .unwrap();
    Topics {
        cluster,
        bootstrap,
        input,
        output,
    }
}

impl Topics {
    async fn write(&self, topic: &str, records: &[Record]) {
        write_records_async(&self.bootstrap, topic, records)
            .await
            .unwrap();
    }
}

/// [`topics`] with [`words`] written to the input; also returns f(input).
async fn words_written(input_partitions: i32, output_partitions: i32) -> (Topics, Vec<Record>) {
    let t = topics(input_partitions, output_partitions).await;
    let input = words();
    t.write(&t.input, &input).await;
    (t, upper(&input))
}

fn pipeline(
    t: &Topics,
    fail_on: Option<&str>,
    configure: impl FnOnce(PipelineBuilder) -> PipelineBuilder,
) -> Pipeline<Upper, RawBytes> {
    let builder = PipelineBuilder::new()
        .bootstrap_servers(&t.bootstrap)
        .group_id(t.cluster.unique_topic("upper-test"))
        .input_topic(&t.input)
        .commit_every_records(20);
    configure(builder)
        .build(
            Upper {
                output: t.output.clone(),
                fail_on: fail_on.map(|v| v.as_bytes().to_vec()),
            },
            RawBytes,
        )
        .unwrap()
}

/// The case: a pipeline spawned on a current-thread runtime, the test reading its
/// output on the same thread. A blocking read would starve the pipeline (`got: 0`).
#[tokio::test]
async fn a_spawned_pipeline_keeps_running_while_the_async_reader_waits() {
    let (t, expected) = words_written(3, 3).await;

    let pipeline = pipeline(&t, None, |b| b);
    let shutdown = pipeline.shutdown_token();
    let task = tokio::spawn(pipeline.run());

    let read = read_committed_async(
        &t.bootstrap,
        &t.output,
        expected.len(),
        Duration::from_millis(500),
    )
    .await
    .unwrap();
    let report = check_exactly_once(&expected, &read);
    assert!(report.is_exactly_once(), "{report}");
    let report = verify_topic_async(&t.bootstrap, &t.output, &expected)
        .await
        .unwrap();
    assert!(report.is_exactly_once(), "{report}");

    shutdown.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn run_pipeline_returns_the_output_and_the_metrics() {
    let (t, expected) = words_written(3, 2).await;

    let run = run_pipeline(
        pipeline(&t, None, |b| b),
        &t.bootstrap,
        &t.output,
        expected.len(),
        TIMEOUT,
    )
    .await
    .unwrap();

    let report = check_exactly_once(&expected, &run.records);
    assert!(report.is_exactly_once(), "{report}");
    assert_eq!(run.metrics.records_in, RECORDS as u64);
    assert_eq!(run.metrics.records_out, RECORDS as u64);
    assert!(run.metrics.commits >= 1, "{:?}", run.metrics);
    assert_eq!(run.metrics.aborts, 0, "{:?}", run.metrics);
}

/// A processor error under `ErrorPolicy::Stop` with one attempt stops the pipeline; the
/// error comes back as it is (not a timeout after the reader gave up).
#[tokio::test]
async fn a_pipeline_that_stops_with_an_error_returns_that_error() {
    let (t, _) = words_written(1, 1).await;

    let pipeline = pipeline(&t, Some("word-7"), |b| {
        b.on_error(ErrorPolicy::Stop).max_attempts(1)
    });
    let err = run_pipeline(
        pipeline,
        &t.bootstrap,
        &t.output,
        RECORDS,
        Duration::from_secs(120),
    )
    .await
    .unwrap_err();

    let Error::Pipeline(kafka_eos_processor::Error::Process {
        topic,
        offset,
        attempts,
        source,
        ..
    }) = &err
    else {
        panic!("expected the pipeline's Process error, got {err:?}");
    };
    assert_eq!(topic, &t.input);
    assert_eq!(*offset, 7);
    assert_eq!(*attempts, 1);
    assert!(source.to_string().contains("word-7"), "{source}");
    // the processor error is kept as the source, not flattened to text
    let inner = err.source().expect("a source");
    assert!(
        inner.downcast_ref::<kafka_eos_processor::Error>().is_some(),
        "{inner:?}"
    );
}

/// The timeout error names the count read, the first keys in read order and the metrics.
#[tokio::test]
async fn a_timeout_says_what_was_read_and_the_metrics() {
    // One output partition, seeded with 8 records: read order is k0, k1, ...
    let t = topics(1, 1).await;
    let seeded: Vec<Record> = (0..8)
        .map(|i| Record::new(format!("k{i}"), "seeded"))
        .collect();
    t.write(&t.output, &seeded).await;
    let input: Vec<Record> = (0..3).map(|i| Record::new("in", format!("v{i}"))).collect();
    t.write(&t.input, &input).await;

    let err = run_pipeline(
        pipeline(&t, None, |b| b),
        &t.bootstrap,
        &t.output,
        100,
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();

    let Error::PipelineTimeout {
        topic,
        got,
        expected,
        timeout,
        first_keys,
        metrics,
    } = &err
    else {
        panic!("expected a timeout, got {err:?}");
    };
    assert_eq!(topic, &t.output);
    assert!((8..=11).contains(got), "got {got}");
    assert_eq!(*expected, 100);
    assert_eq!(*timeout, Duration::from_secs(5));
    assert_eq!(first_keys, &["k0", "k1", "k2", "k3", "k4"]);
    assert!(metrics.records_out >= (*got - 8) as u64, "{metrics:?}");
    assert!(metrics.records_in <= 3, "{metrics:?}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("{got} of 100 records")),
        "{message}"
    );
    assert!(message.contains("\"k0\""), "{message}");
    assert!(message.contains("records_in"), "{message}");
}
