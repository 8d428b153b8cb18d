//! Durable logs (`BrokerConfig::data_dir`), driven by librdkafka: what a broker acknowledged
//! is there after a restart on the same data dir — records, committed group offsets,
//! transactional offsets, topic configs, transactional ids — an open transaction is aborted
//! by its timeout after the restart, and a torn log tail is cut off.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use futures::executor::block_on;
use kafka_eos_broker::{BackgroundBroker, BrokerConfig, FsyncPolicy};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};

/// An empty data dir for one test, removed when dropped.
struct DataDir(PathBuf);

impl DataDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "kafka-eos-durable-{}-{name}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start(dir: &DataDir, fsync: FsyncPolicy) -> BackgroundBroker {
    BackgroundBroker::start(BrokerConfig::default().data_dir(dir.path()).fsync(fsync))
        .expect("broker starts on the data dir")
}

fn values(reads: &[Read]) -> Vec<String> {
    reads.iter().map(|r| r.value.clone()).collect()
}

fn read_values(broker: &BackgroundBroker, topic: &str, isolation: &str, n: usize) -> Vec<String> {
    let c = consumer(broker, isolation, &[]);
    values(&read_all(&c, topic, 1, Some(n), Duration::from_millis(500)))
}

/// Waits (polling, up to [`TIMEOUT`]) until `done` holds.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn admin(broker: &BackgroundBroker) -> AdminClient<DefaultClientContext> {
    base_config(broker).create().unwrap()
}

fn topic_config(broker: &BackgroundBroker, topic: &str, key: &str) -> Option<String> {
    let a = admin(broker);
    let d = block_on(a.describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new()))
        .unwrap();
    let d = d[0].as_ref().unwrap();
    d.get(key).and_then(|e| e.value.clone())
}

fn input_offset(o: i64) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("in", 0, Offset::Offset(o))
        .unwrap();
    tpl
}

#[test]
fn acknowledged_state_survives_a_restart_and_an_open_transaction_times_out() {
    let dir = DataDir::new("restart");
    let before = start(&dir, FsyncPolicy::Never);
    let a = admin(&before);
    let topics = [
        NewTopic::new("in", 1, TopicReplication::Fixed(1)).set("retention.ms", "4321"),
        NewTopic::new("out", 1, TopicReplication::Fixed(1)),
    ];
    let created = block_on(a.create_topics(&topics, &AdminOptions::new())).unwrap();
    assert!(created.iter().all(Result::is_ok), "{created:?}");

    // an idempotent producer's records and a consumer group's commit
    let p = producer(&before, &[]);
    for i in 0..3 {
        send(&p, "in", 0, "k", &format!("in-{i}"));
    }
    p.flush(TIMEOUT).unwrap();
    let c = consumer(&before, "read_committed", &[("group.id", "plain")]);
    c.commit(&input_offset(2), CommitMode::Sync).unwrap();

    // a committed transaction with offsets, and one left open
    let eos = consumer(&before, "read_committed", &[("group.id", "eos")]);
    let cgm = eos.group_metadata().unwrap();
    let done = txn_producer(&before, "tx-done");
    done.begin_transaction().unwrap();
    send(&done, "out", 0, "k", "committed-1");
    done.send_offsets_to_transaction(&input_offset(3), &cgm, TIMEOUT)
        .unwrap();
    done.commit_transaction(TIMEOUT).unwrap();
    let open = producer(
        &before,
        &[
            ("transactional.id", "tx-open"),
            ("transaction.timeout.ms", "3000"),
        ],
    );
    open.init_transactions(TIMEOUT).unwrap();
    open.begin_transaction().unwrap();
    send(&open, "out", 0, "k", "never-visible");
    open.flush(TIMEOUT).unwrap();
    let (hw, lso) = before.offsets("out", 0).unwrap();
    assert!(
        lso < hw,
        "the open transaction holds the last stable offset"
    );
    drop(before);
    drop(open);

    let after = start(&dir, FsyncPolicy::Never);
    assert_eq!(after.partitions("in"), Some(1));
    assert_eq!(
        topic_config(&after, "in", "retention.ms").as_deref(),
        Some("4321")
    );
    assert_eq!(after.offsets("in", 0).unwrap(), (3, 3));
    assert_eq!(
        read_values(&after, "in", "read_committed", 3),
        ["in-0", "in-1", "in-2"]
    );
    assert_eq!(committed(&after, "plain", "in", 1)[&0], 2);
    assert_eq!(committed(&after, "eos", "in", 1)[&0], 3);
    // the open transaction is still open, then its timeout aborts it
    assert_eq!(
        read_values(&after, "out", "read_committed", 1),
        ["committed-1"]
    );
    eventually("the open transaction's timeout", || {
        after.transaction_counts().timed_out == 1
    });
    let (hw, lso) = after.offsets("out", 0).unwrap();
    assert_eq!(hw, lso, "the abort marker released the last stable offset");
    assert_eq!(
        read_values(&after, "out", "read_committed", 1),
        ["committed-1"]
    );
    assert!(read_values(&after, "out", "read_uncommitted", 2).contains(&"never-visible".to_owned()));

    // the transactional ids carry on: a new producer of each initializes and commits
    for tid in ["tx-done", "tx-open"] {
        let p = txn_producer(&after, tid);
        p.begin_transaction().unwrap();
        send(&p, "out", 0, "k", &format!("after-{tid}"));
        p.commit_transaction(TIMEOUT).unwrap();
    }
    assert_eq!(
        read_values(&after, "out", "read_committed", 3),
        ["committed-1", "after-tx-done", "after-tx-open"]
    );
    let ids: Vec<String> = after
        .transactions()
        .into_iter()
        .map(|t| t.transactional_id)
        .collect();
    assert_eq!(ids, ["tx-done", "tx-open"]);
}

#[test]
fn a_torn_log_tail_is_cut_off_and_the_log_continues_after_the_valid_prefix() {
    let dir = DataDir::new("torn");
    let before = start(&dir, FsyncPolicy::Always);
    before.create_topic("t", 1).unwrap();
    let p = producer(&before, &[]);
    for i in 0..5 {
        send(&p, "t", 0, "k", &format!("v{i}"));
        p.flush(TIMEOUT).unwrap();
    }
    drop(p);
    drop(before);
    // a crash in the middle of a write: the last batch is cut in half
    let log = dir.path().join("logs").join("t-0.log");
    let bytes = std::fs::read(&log).unwrap();
    let last_len = {
        // the last batch's length: batches are [offset i64][length i32][...]
        let mut pos = 0usize;
        let mut last = 0usize;
        while pos < bytes.len() {
            let len = i32::from_be_bytes(bytes[pos + 8..pos + 12].try_into().unwrap());
            last = 12 + len as usize;
            pos += last;
        }
        last
    };
    std::fs::write(&log, &bytes[..bytes.len() - last_len / 2]).unwrap();

    let after = start(&dir, FsyncPolicy::Always);
    assert_eq!(after.offsets("t", 0).unwrap(), (4, 4));
    assert_eq!(
        read_values(&after, "t", "read_uncommitted", 4),
        ["v0", "v1", "v2", "v3"]
    );
    assert_eq!(
        std::fs::metadata(&log).unwrap().len(),
        (bytes.len() - last_len) as u64,
        "the file is truncated after its last whole batch"
    );
    let p = producer(&after, &[]);
    send(&p, "t", 0, "k", "v-after");
    p.flush(TIMEOUT).unwrap();
    drop(p);
    drop(after);

    let again = start(&dir, FsyncPolicy::Always);
    assert_eq!(
        read_values(&again, "t", "read_uncommitted", 5),
        ["v0", "v1", "v2", "v3", "v-after"]
    );
}

#[test]
fn a_corrupt_metadata_file_is_an_error_naming_it() {
    let dir = DataDir::new("corrupt");
    drop(start(&dir, FsyncPolicy::Never));
    let path = dir.path().join("metadata.json");
    std::fs::write(&path, b"{\"version\": 1, \"topics\": [").unwrap();
    match BackgroundBroker::start(BrokerConfig::default().data_dir(dir.path())) {
        Err(kafka_eos_broker::Error::CorruptMetadata { path: p, .. }) => assert_eq!(p, path),
        other => panic!("expected CorruptMetadata, got {other:?}"),
    }
}
