//! `kafka-eos dlq replay` on dead letters written by a real pipeline
//! (`ErrorPolicy::DeadLetter`): each goes back to its source topic and partition exactly
//! once, with its key, value (a tombstone too) and original headers.

mod common;

use std::time::Duration;

use common::{cluster, read, replay, reserved_headers, topics};
use kafka_eos_cli::dlq::{ReplayArgs, REPLAYED_FROM};
use kafka_eos_processor::{
    dlq_headers, BoxError, ErrorPolicy, Failure, Input, Output, PipelineBuilder, Processor,
    RawBytes,
};
use kafka_eos_testkit::{run_pipeline, write_records, Record};

/// Copies each record to `output`; dead-letters tombstones and values starting with `bad`.
struct RejectBad {
    output: String,
}

impl Processor for RejectBad {
    type Input = Option<Vec<u8>>;

    async fn process(&self, input: Input<Option<Vec<u8>>>) -> Result<Vec<Output>, BoxError> {
        match input.value {
            Some(v) if !v.starts_with(b"bad") => {
                let key = input.key.map(Vec::from).unwrap_or_default();
                Ok(vec![Output::new(&self.output, key, v)])
            }
            _ => Err(Failure::dead_letter("rejected by the test").into()),
        }
    }
}

#[test]
fn pipeline_dead_letters_go_back_to_their_source_partition_exactly_once() {
    let (cluster, bootstrap) = cluster();
    let [input, output, dlq] = topics(&cluster, ["orders", "out", "orders-dlq"], 3);
    let mut records: Vec<Record> = (0..12)
        .map(|i| Record::new(format!("k{i}"), format!("ok-{i}")))
        .collect();
    records.push(Record::new("p1", "bad-1").with_header("trace", "t-1"));
    records.push(
        Record::tombstone("p2")
            .with_header("trace", "t-2")
            .with_null_header("unset"),
    );
    records.push(Record::new("p3", "bad-3").with_header("kafka-eos.replayed-from", "old/0/0"));
    write_records(&bootstrap, &input, &records).unwrap();

    let pipeline = PipelineBuilder::new()
        .bootstrap_servers(&bootstrap)
        .group_id(cluster.unique_topic("reject-bad"))
        .input_topic(&input)
        .on_error(ErrorPolicy::DeadLetter(dlq.clone()))
        .build(
            RejectBad {
                output: output.clone(),
            },
            RawBytes,
        )
        .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dead = runtime
        .block_on(run_pipeline(
            pipeline,
            &bootstrap,
            &dlq,
            3,
            Duration::from_secs(60),
        ))
        .unwrap()
        .records;
    assert_eq!(dead.len(), 3, "{dead:?}");

    let args = ReplayArgs::new(&bootstrap, &dlq);
    let (summary, _) = replay(&args).unwrap();
    assert_eq!(summary.replayed, 3, "{summary}");

    let total = records.len() + 3;
    let all = read(&bootstrap, &input, total);
    assert_eq!(all.len(), total, "each dead letter written once");
    for d in &dead {
        let at = format!("{dlq}/{}/{}", d.partition, d.offset);
        let back: Vec<_> = all
            .iter()
            .filter(|r| r.header(REPLAYED_FROM).as_deref() == Some(at.as_str()))
            .collect();
        assert_eq!(back.len(), 1, "{at}: {back:?}");
        let r = back[0];
        let original = records.iter().find(|o| o.key == d.key).unwrap();
        assert_eq!((&r.key, &r.value), (&original.key, &original.value));
        let source_partition: i32 = d.header(dlq_headers::PARTITION).unwrap().parse().unwrap();
        assert_eq!(r.partition, source_partition, "back to its key's partition");
        // original headers kept (kafka-eos.* dropped, even an old replayed-from), one new
        let mut want: Vec<_> = original
            .headers
            .iter()
            .filter(|(k, _)| !k.starts_with("kafka-eos."))
            .cloned()
            .collect();
        want.push((REPLAYED_FROM.to_owned(), Some(at.clone().into_bytes())));
        assert_eq!(r.headers, want);
        assert_eq!(reserved_headers(r), [REPLAYED_FROM]);
    }
    assert!(all.iter().any(|r| r.key == b"p2" && r.value.is_none()));

    // once only: a second run writes nothing
    let (again, _) = replay(&args).unwrap();
    assert_eq!(again.replayed, 0, "{again}");
    assert_eq!(read(&bootstrap, &input, total).len(), total);
}
