//! The record API end to end: tombstones and null header values reach the processor as
//! such and are written back as such (outputs and dead letters), and an output's explicit
//! partition and timestamp are where it lands, and a keyed output lands where Java's default
//! partitioner (murmur2) puts it.

use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_eos_integration_tests::{runtime, Topics};
use kafka_eos_processor::core::partitioning::partition_for_key;
use kafka_eos_processor::{
    dlq_headers, BoxError, Codec, ErrorPolicy, Input, JsonCodec, Output, PipelineBuilder,
    Processor, RawBytes,
};
use kafka_eos_testkit::{check_exactly_once, run_pipeline, write_records, Cluster, Record};

const TIMEOUT: Duration = Duration::from_secs(60);

/// A processor made of a closure, given the output topic and the input.
struct Probe<T, F> {
    output: String,
    f: F,
    input: PhantomData<fn() -> T>,
}

impl<T, F> Processor for Probe<T, F>
where
    T: Send + 'static,
    F: Fn(&str, Input<T>) -> Result<Vec<Output>, BoxError> + Send + Sync + 'static,
{
    type Input = T;

    async fn process(&self, input: Input<T>) -> Result<Vec<Output>, BoxError> {
        (self.f)(&self.output, input)
    }
}

/// Writes `input` to a fresh input topic (`partitions` partitions, output likewise), runs a
/// pipeline of `f` over it (dead letters to the dead-letter topic, `max_attempts` 2, then
/// the builder passed through `configure`) until `read` (`output` or `dlq`) holds
/// `expected` records; returns the topics and those records.
#[allow(clippy::too_many_arguments)]
fn run<C, F>(
    prefix: &str,
    partitions: i32,
    input: &[Record],
    codec: C,
    f: F,
    read: fn(&Topics) -> &str,
    expected: usize,
    configure: fn(PipelineBuilder) -> PipelineBuilder,
) -> (Topics, Vec<Record>)
where
    C: Codec,
    F: Fn(&str, Input<C::Item>) -> Result<Vec<Output>, BoxError> + Send + Sync + 'static,
{
    let cluster = Cluster::from_env().unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let names = Topics::create_unique(&cluster, prefix, partitions).unwrap();
    write_records(&bootstrap, &names.input, input).unwrap();
    let pipeline = PipelineBuilder::new()
        .bootstrap_servers(&bootstrap)
        .group_id(&names.group)
        .input_topic(&names.input)
        .on_error(ErrorPolicy::DeadLetter(names.dlq.clone()))
        .max_attempts(2);
    let pipeline = configure(pipeline)
        .build(
            Probe {
                output: names.output.clone(),
                f,
                input: PhantomData,
            },
            codec,
        )
        .unwrap();
    let topic = read(&names).to_owned();
    let run = runtime()
        .block_on(run_pipeline(
            pipeline, &bootstrap, &topic, expected, TIMEOUT,
        ))
        .unwrap();
    (names, run.records)
}

fn output(t: &Topics) -> &str {
    &t.output
}

fn dlq(t: &Topics) -> &str {
    &t.dlq
}

fn key_of<T>(input: &Input<T>) -> Vec<u8> {
    input.key.clone().map(Vec::from).unwrap_or_default()
}

#[test]
fn a_tombstone_reaches_the_processor_as_a_tombstone_not_as_an_empty_value() {
    let input = [
        Record::new("full", "v"),
        Record::new("empty", ""),
        Record::tombstone("gone"),
    ];
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let (names, read) = run(
        "tombstone-raw",
        1,
        &input,
        RawBytes,
        move |topic: &str, i: Input<Option<Vec<u8>>>| {
            log.lock().unwrap().push((key_of(&i), i.value.clone()));
            // copied as it came: a tombstone is written back as one
            let mut out = Output::tombstone(topic, key_of(&i));
            out.value = i.value;
            Ok(vec![out])
        },
        output,
        input.len(),
        |b| b,
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            (b"full".to_vec(), Some(b"v".to_vec())),
            (b"empty".to_vec(), Some(Vec::new())),
            (b"gone".to_vec(), None),
        ]
    );
    let report = check_exactly_once(&input, &read);
    assert!(report.is_exactly_once(), "{report} ({read:?})");
    assert_eq!(read[2].value, None, "{names:?}");
}

#[test]
fn a_json_option_codec_sees_a_tombstone_as_none() {
    let input = [
        Record::new("a", "5"),
        Record::tombstone("b"),
        Record::new("a", "7"),
    ];
    let (_, read) = run(
        "tombstone-json",
        2,
        &input,
        JsonCodec::<Option<u64>>::new(),
        |topic: &str, i: Input<Option<u64>>| {
            Ok(vec![match i.value {
                Some(balance) => Output::new(topic, key_of(&i), balance.to_string()),
                None => Output::tombstone(topic, key_of(&i)),
            }])
        },
        output,
        input.len(),
        |b| b,
    );
    let report = check_exactly_once(&input, &read);
    assert!(report.is_exactly_once(), "{report} ({read:?})");
}

#[test]
fn a_null_header_value_arrives_as_none_and_is_written_back_null() {
    let input = [Record::new("k", "v")
        .with_header("trace", "t-1")
        .with_null_header("unset")
        .with_header("empty", "")];
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let (_, read) = run(
        "null-header",
        1,
        &input,
        RawBytes,
        move |topic: &str, i: Input<Option<Vec<u8>>>| {
            log.lock()
                .unwrap()
                .push(i.header("unset").map(|v| v.map(<[u8]>::to_vec)));
            let mut out = Output::new(topic, key_of(&i), "copied");
            out.headers = i
                .headers
                .into_iter()
                .map(|(name, value)| (name, value.map(Vec::from)))
                .collect();
            Ok(vec![out])
        },
        output,
        1,
        |b| b,
    );
    assert_eq!(*seen.lock().unwrap(), [Some(None)]);
    assert_eq!(read.len(), 1, "{read:?}");
    assert_eq!(
        read[0].headers,
        [
            ("trace".to_owned(), Some(b"t-1".to_vec())),
            ("unset".to_owned(), None),
            ("empty".to_owned(), Some(Vec::new())),
        ]
    );
}

/// Runs [`run`] with a processor that notes how many headers each input it sees
/// has (and fails on `13`); returns those counts and the records read.
fn headers_seen(
    prefix: &str,
    input: &[Record],
    read: fn(&Topics) -> &str,
    expected: usize,
    configure: fn(PipelineBuilder) -> PipelineBuilder,
) -> (Vec<usize>, Vec<Record>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let f = move |topic: &str, i: Input<u64>| {
        log.lock().unwrap().push(i.headers.len());
        if i.value == 13 {
            return Err("thirteen".into());
        }
        Ok(vec![Output::new(topic, key_of(&i), i.value.to_string())])
    };
    let codec = JsonCodec::<u64>::new();
    let (_, records) = run(prefix, 1, input, codec, f, read, expected, configure);
    let seen = seen.lock().unwrap().clone();
    (seen, records)
}

#[test]
fn without_input_headers_the_processor_sees_none() {
    let input = [
        Record::new("a", "1").with_header("trace", "t-1"),
        Record::new("b", "2").with_null_header("unset"),
    ];
    // no dead letter could need them: they are not even read
    let (seen, read) = headers_seen("no-headers", &input, output, 2, |b| {
        b.input_headers(false).on_error(ErrorPolicy::Stop)
    });
    assert_eq!(seen, [0, 0]);
    let values: Vec<_> = read.iter().map(|r| r.value.clone()).collect();
    assert_eq!(values, [Some(b"1".to_vec()), Some(b"2".to_vec())]);
}

#[test]
fn without_input_headers_a_dead_letter_still_keeps_them() {
    let input = [
        Record::new("a", "1").with_header("trace", "t-1"),
        Record::new("poison", "13")
            .with_header("trace", "t-2")
            .with_null_header("unset"),
    ];
    let (seen, dead) = headers_seen("no-headers-dlq", &input, dlq, 1, |b| b.input_headers(false));
    // "a" once, "poison" twice (max_attempts 2): never a header
    assert!(seen.len() >= 3 && seen.iter().all(|&n| n == 0), "{seen:?}");
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(
        dead[0].headers[..2],
        [
            ("trace".to_owned(), Some(b"t-2".to_vec())),
            ("unset".to_owned(), None)
        ]
    );
    assert_eq!(
        dead[0].header(dlq_headers::STAGE).as_deref(),
        Some("process")
    );
}

#[test]
fn an_output_with_an_explicit_partition_and_timestamp_lands_there() {
    const BASE_MS: i64 = 1_600_000_000_000;
    // keys the partitioner would spread over the 4 partitions, with timestamps set at the
    // source
    let input: Vec<Record> = (0..20)
        .map(|n| {
            let mut r = Record::new(format!("key-{n}"), n.to_string());
            r.timestamp = Some(BASE_MS + n);
            r
        })
        .collect();
    let (_, read) = run(
        "partition",
        4,
        &input,
        JsonCodec::<i64>::new(),
        |topic: &str, i: Input<i64>| {
            let source = i.timestamp.ok_or("no timestamp")?;
            assert_eq!(source, BASE_MS + i.value, "the input's timestamp");
            Ok(vec![Output::new(topic, key_of(&i), i.value.to_string())
                .partition(3)
                .timestamp(source + 1_000)])
        },
        output,
        input.len(),
        |b| b,
    );
    let report = check_exactly_once(&input, &read);
    assert!(report.is_exactly_once(), "{report}");
    for r in &read {
        assert_eq!(r.partition, 3, "{r:?}");
        let n: i64 = r.value_text().parse().unwrap();
        assert_eq!(r.timestamp, Some(BASE_MS + n + 1_000), "{r:?}");
    }
}

#[test]
fn keyed_outputs_land_where_javas_default_partitioner_puts_them() {
    // murmur2, as Kafka's Java clients: librdkafka's default (CRC32) would put most of these
    // keys elsewhere, and an order written by a Java service and by the pipeline would be
    // split over two partitions
    let input: Vec<Record> = (0..200)
        .map(|n| Record::new(format!("order-{n}"), n.to_string()))
        .collect();
    let (_, read) = run(
        "murmur2",
        5,
        &input,
        JsonCodec::<i64>::new(),
        |topic: &str, i: Input<i64>| Ok(vec![Output::new(topic, key_of(&i), i.value.to_string())]),
        output,
        input.len(),
        |b| b,
    );
    let report = check_exactly_once(&input, &read);
    assert!(report.is_exactly_once(), "{report}");
    let used: std::collections::BTreeSet<i32> = read.iter().map(|r| r.partition).collect();
    assert_eq!(
        used.len(),
        5,
        "200 keys spread over every partition: {used:?}"
    );
    for r in &read {
        assert_eq!(r.partition, partition_for_key(&r.key, 5), "{r:?}");
    }
}

#[test]
fn dead_letters_keep_a_null_value_and_null_header_values() {
    let input = [
        Record::new("good", "1"),
        // JsonCodec<u64> has no value for a tombstone: dead-lettered at decode
        Record::tombstone("gone").with_null_header("unset"),
        // fails on both attempts: dead-lettered by the processor
        Record::new("poison", "13")
            .with_null_header("unset")
            .with_header("trace", "t-2"),
        Record::new("good", "2"),
    ];
    let (_, dead) = run(
        "dlq-nulls",
        1,
        &input,
        JsonCodec::<u64>::new(),
        |topic: &str, i: Input<u64>| {
            if i.value == 13 {
                return Err("thirteen".into());
            }
            Ok(vec![Output::new(topic, key_of(&i), i.value.to_string())])
        },
        dlq,
        2,
        |b| b,
    );
    assert_eq!(dead.len(), 2, "{dead:?}");
    let (tombstone, poison) = (&dead[0], &dead[1]);

    assert_eq!(tombstone.key, b"gone");
    assert_eq!(tombstone.value, None, "{tombstone:?}");
    assert_eq!(tombstone.headers[0], ("unset".to_owned(), None));
    assert_eq!(
        tombstone.header(dlq_headers::STAGE).as_deref(),
        Some("decode")
    );
    let error = tombstone.header(dlq_headers::ERROR).unwrap_or_default();
    assert!(error.contains("tombstone"), "{error}");

    assert_eq!(poison.key, b"poison");
    assert_eq!(poison.value.as_deref(), Some(&b"13"[..]));
    assert_eq!(
        poison.headers[..2],
        [
            ("unset".to_owned(), None),
            ("trace".to_owned(), Some(b"t-2".to_vec()))
        ]
    );
    assert_eq!(
        poison.header(dlq_headers::STAGE).as_deref(),
        Some("process")
    );
}
