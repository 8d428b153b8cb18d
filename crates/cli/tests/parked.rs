//! `kafka-eos parked` on keys parked by a real pipeline over 50,000 records: a key held
//! after its poison record was dead-lettered is listed, a dry run releases nothing, a
//! release lets its later records run in order; after a fix, `kafka-eos dlq replay` puts
//! the dead letter back and it runs once; unknown keys and topics are clear errors.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{cluster, replay, topics};
use kafka_eos_cli::dlq::ReplayArgs;
use kafka_eos_cli::parked::{self, ParkingTopic, ReleaseArgs};
use kafka_eos_cli::CliError;
use kafka_eos_processor::{
    BoxError, CancellationToken, ErrorPolicy, Input, KeyPolicy, Output, PipelineBuilder, Processor,
    RawBytes,
};
use kafka_eos_testkit::{read_committed, write_records, Record};

/// Copies each record to `output`; the value `k3-0` fails until `fixed`.
struct PoisonK3 {
    output: String,
    fixed: Arc<AtomicBool>,
}

impl Processor for PoisonK3 {
    type Input = Option<Vec<u8>>;

    async fn process(&self, input: Input<Option<Vec<u8>>>) -> Result<Vec<Output>, BoxError> {
        let value = input.value.unwrap_or_default();
        if value == b"k3-0" && !self.fixed.load(Ordering::Acquire) {
            return Err("k3-0 fails until it is fixed".into());
        }
        let key = input.key.map(Vec::from).unwrap_or_default();
        Ok(vec![Output::new(&self.output, key, value)])
    }
}

fn values_of(records: &[Record], key: &[u8]) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.key == key)
        .map(|r| r.value_text())
        .collect()
}

#[test]
fn a_held_key_is_listed_and_released_through_the_cli() {
    let (cluster, bootstrap) = cluster();
    let [input, output, dlq, parking] = topics(
        &cluster,
        ["orders", "out", "orders-dlq", "orders-parked"],
        2,
    );
    const KEYS: usize = 10_000;
    const PER_KEY: usize = 5;
    let records: Vec<Record> = (0..PER_KEY)
        .flat_map(|j| (0..KEYS).map(move |i| Record::new(format!("k{i}"), format!("k{i}-{j}"))))
        .collect();
    let total = records.len();
    let fixed = Arc::new(AtomicBool::new(false));
    write_records(&bootstrap, &input, &records).unwrap();
    let token = CancellationToken::new();
    let pipeline = PipelineBuilder::new()
        .bootstrap_servers(&bootstrap)
        .group_id(cluster.unique_topic("parked-cli"))
        .input_topic(&input)
        .commit_every(Duration::from_millis(50))
        .max_attempts(2)
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(20))
        .on_error(ErrorPolicy::DeadLetter(dlq.clone()))
        .parking_topic(&parking, KeyPolicy::Hold)
        .shutdown(token.clone())
        .build(
            PoisonK3 {
                output: output.clone(),
                fixed: Arc::clone(&fixed),
            },
            RawBytes,
        )
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let task = rt.spawn(pipeline.run());
    let linger = Duration::from_millis(500);

    // every key but k3 done; k3-0 dead-lettered, k3-1.. parked behind the hold
    let held = total - PER_KEY;
    let out = read_committed(&bootstrap, &output, held, linger).unwrap();
    assert_eq!(out.len(), held);
    let dead = read_committed(&bootstrap, &dlq, 1, linger).unwrap();
    assert_eq!(values_of(&dead, b"k3"), ["k3-0"]);
    let listed = parked::list(&bootstrap, &parking, Some(&input)).unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let k3 = &listed[0];
    assert_eq!(
        (k3.key.as_deref(), k3.records, k3.held),
        (Some("k3"), PER_KEY as u64 - 1, true)
    );
    let table = parked::table(&listed, 0);
    assert!(table.contains("k3") && table.contains("held"), "{table}");
    assert!(parked::list(&bootstrap, &parking, Some("other"))
        .unwrap()
        .is_empty());

    // a dry run writes nothing: k3 stays held
    let mut args = ReleaseArgs {
        parking: ParkingTopic {
            bootstrap_servers: bootstrap.clone(),
            topic: parking.clone(),
        },
        source_topic: input.clone(),
        key: "k3".into(),
        dry_run: true,
    };
    assert!(parked::release(&args).unwrap().held);
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(
        read_committed(&bootstrap, &output, held, linger)
            .unwrap()
            .len(),
        held
    );

    // released: its records run, in order, once
    args.dry_run = false;
    parked::release(&args).unwrap();
    let out = read_committed(&bootstrap, &output, total - 1, linger).unwrap();
    assert_eq!(out.len(), total - 1);
    assert_eq!(values_of(&out, b"k3"), ["k3-1", "k3-2", "k3-3", "k3-4"]);
    let mut left = Vec::new();
    for _ in 0..50 {
        left = parked::list(&bootstrap, &parking, None).unwrap();
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(left.is_empty(), "{left:?}");

    // the bug is fixed: the dead letter goes back to the input and runs, once
    fixed.store(true, Ordering::Release);
    let (summary, _) = replay(&ReplayArgs::new(&bootstrap, &dlq)).unwrap();
    assert_eq!(summary.replayed, 1, "{summary}");
    let out = read_committed(&bootstrap, &output, total, linger).unwrap();
    assert_eq!(out.len(), total);
    assert_eq!(
        values_of(&out, b"k3"),
        ["k3-1", "k3-2", "k3-3", "k3-4", "k3-0"]
    );
    let expected: Vec<Record> = records.iter().filter(|r| r.key != b"k3").cloned().collect();
    let others: Vec<Record> = out.iter().filter(|r| r.key != b"k3").cloned().collect();
    let report = kafka_eos_testkit::check_exactly_once(&expected, &others);
    assert!(report.is_exactly_once(), "{report}");

    token.cancel();
    rt.block_on(task).unwrap().unwrap();

    // errors: a key that is not parked, a topic that does not exist
    let e = parked::release(&args).unwrap_err();
    assert!(matches!(e, CliError::NotParked { .. }), "{e}");
    assert!(e.to_string().contains("kafka-eos parked list"), "{e}");
    let e = parked::list(&bootstrap, "no-such-parking-topic", None).unwrap_err();
    assert!(e.to_string().contains("not found"), "{e}");
}
