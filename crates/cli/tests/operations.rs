//! `kafka-eos offsets` and `kafka-eos lag` against the embedded broker (or the cluster in
//! `KAFKA_BOOTSTRAP_SERVERS`): replay by resetting a group's offsets, and per-partition lag.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafka_eos_cli::lag::{self, LagArgs};
use kafka_eos_cli::offsets::{self, OffsetsArgs, ResetTo};
use kafka_eos_cli::skew;
use kafka_eos_testkit::{write_records, Cluster, Record};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn offsets_args(bootstrap: &str, group: &str, topic: &str, to: ResetTo) -> OffsetsArgs {
    OffsetsArgs {
        bootstrap: bootstrap.to_owned(),
        group: group.to_owned(),
        topic: topic.to_owned(),
        to,
        offset: None,
        timestamp: None,
        dry_run: false,
    }
}

/// (partition, committed, lag) of every partition, sorted; empty if the lag cannot be read.
fn lag_of(bootstrap: &str, group: &str, topic: &str) -> Vec<(i32, Option<i64>, i64)> {
    let mut l: Vec<_> = lag::run(&LagArgs::new(bootstrap, group, topic))
        .into_iter()
        .flatten()
        .map(|l| (l.partition, l.committed, l.lag))
        .collect();
    l.sort();
    l
}

#[test]
fn offsets_reset_to_earliest_latest_an_offset_and_a_timestamp_and_lag_follows() {
    let cluster = Cluster::from_env().unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let topic = cluster.unique_topic("ops");
    let group = cluster.unique_topic("ops-group");
    cluster.create_topic(&topic, 2).unwrap();
    // two rounds of 10 records, with a timestamp between them
    let round = |tag: &str| -> Vec<Record> {
        (0..10)
            .map(|i| Record::new(format!("key-{i}"), format!("{tag}{i}")))
            .collect()
    };
    let ends = |dry_group: &str| -> Vec<(i32, i64)> {
        let mut a = offsets_args(&bootstrap, dry_group, &topic, ResetTo::Latest);
        a.dry_run = true;
        let mut v = offsets::run(&a).unwrap();
        v.sort();
        v
    };
    write_records(&bootstrap, &topic, &round("a")).unwrap();
    let mid = ends(&group);
    std::thread::sleep(Duration::from_millis(20));
    let between = now_ms();
    std::thread::sleep(Duration::from_millis(20));
    write_records(&bootstrap, &topic, &round("b")).unwrap();
    let end = ends(&group);
    assert_eq!(end.iter().map(|(_, o)| o).sum::<i64>(), 20);

    // nothing committed yet: the whole partition is lag
    let before = lag_of(&bootstrap, &group, &topic);
    assert_eq!(before.iter().map(|l| l.2).sum::<i64>(), 20);
    assert!(before.iter().all(|l| l.1.is_none()), "{before:?}");

    let mut latest =
        offsets::run(&offsets_args(&bootstrap, &group, &topic, ResetTo::Latest)).unwrap();
    latest.sort();
    assert_eq!(latest, end);
    assert_eq!(
        lag_of(&bootstrap, &group, &topic)
            .iter()
            .map(|l| l.2)
            .sum::<i64>(),
        0
    );

    // an offset is clamped to each partition's range
    let mut at = offsets_args(&bootstrap, &group, &topic, ResetTo::Offset);
    at.offset = Some(3);
    offsets::run(&at).unwrap();
    let l = lag_of(&bootstrap, &group, &topic);
    for ((p, committed, lag), (_, e)) in l.iter().zip(&end) {
        let want = 3.min(*e);
        assert_eq!(
            (*committed, *lag),
            (Some(want), e - want),
            "partition {p}: {l:?}"
        );
    }

    // the timestamp between the rounds: each partition's first record of round b
    let mut ts = offsets_args(&bootstrap, &group, &topic, ResetTo::Timestamp);
    ts.timestamp = Some(between);
    let mut moved = offsets::run(&ts).unwrap();
    moved.sort();
    assert_eq!(moved, mid);

    // a dry run reports without committing
    let mut dry = offsets_args(&bootstrap, &group, &topic, ResetTo::Earliest);
    dry.dry_run = true;
    assert!(offsets::run(&dry).unwrap().iter().all(|(_, o)| *o == 0));
    let l = lag_of(&bootstrap, &group, &topic);
    assert_eq!(
        l.iter().map(|l| l.1.unwrap_or(-1)).collect::<Vec<_>>(),
        mid.iter().map(|m| m.1).collect::<Vec<_>>()
    );

    offsets::run(&offsets_args(&bootstrap, &group, &topic, ResetTo::Earliest)).unwrap();
    let lags = lag::run(&LagArgs::new(&bootstrap, &group, &topic)).unwrap();
    assert_eq!(lags.iter().map(|l| l.lag).sum::<i64>(), 20);
    let max = lags.iter().map(|l| l.lag).max().unwrap() as f64;
    assert!((skew(&lags) - max / 10.0).abs() < 1e-9);

    // bad input: clear errors, nothing committed
    let missing = offsets::run(&offsets_args(
        &bootstrap,
        &group,
        "no-such-topic-xyz",
        ResetTo::Latest,
    ));
    assert!(missing.is_err());
    let no_ts = offsets::run(&offsets_args(
        &bootstrap,
        &group,
        &topic,
        ResetTo::Timestamp,
    ));
    assert!(no_ts.unwrap_err().to_string().contains("--timestamp"));
}

#[test]
fn lag_watch_follows_the_group_with_rates_and_time_to_catch_up() {
    let cluster = Cluster::from_env().unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let topic = cluster.unique_topic("watch");
    let group = cluster.unique_topic("watch-group");
    cluster.create_topic(&topic, 2).unwrap();
    let records: Vec<Record> = (0..100)
        .map(|i| Record::new(format!("key-{i}"), i.to_string()))
        .collect();
    write_records(&bootstrap, &topic, &records).unwrap();
    offsets::run(&offsets_args(&bootstrap, &group, &topic, ResetTo::Earliest)).unwrap();

    let mut args = LagArgs::new(&bootstrap, &group, &topic);
    args.watch = true;
    args.interval = 0.3;
    args.count = Some(3);
    let mut samples = Vec::new();
    lag::watch(&args, |s| {
        samples.push(s.clone());
        if samples.len() == 1 {
            // the group catches up between the first and the second sample
            offsets::run(&offsets_args(&bootstrap, &group, &topic, ResetTo::Latest)).unwrap();
        }
    })
    .unwrap();

    assert_eq!(samples.len(), 3, "--count");
    let (first, second, third) = (&samples[0], &samples[1], &samples[2]);
    assert_eq!(first.total_lag, 100);
    assert!(first.partitions.iter().all(|p| p.consumed_per_s.is_none()));
    assert_eq!(second.total_lag, 0);
    for p in &second.partitions {
        let ahead = first.partitions[p.partition as usize].lag as f64;
        let rate = p.consumed_per_s.unwrap();
        assert!(rate > 0.0 && rate <= ahead / 0.25, "{p:?}");
        assert_eq!(p.produced_per_s, Some(0.0), "{p:?}");
        assert_eq!(p.catch_up_s, Some(0.0), "{p:?}");
    }
    assert_eq!(third.total_lag, 0);
    assert!(
        third.time_ms >= second.time_ms + 250,
        "{third:?} {second:?}"
    );
    let json = serde_json::to_value(third).unwrap();
    assert_eq!(json["topic"], topic.as_str());
    assert_eq!(json["partitions"].as_array().map(Vec::len), Some(2));
}

#[test]
fn the_lag_command_prints_json_and_rejects_a_bad_interval() {
    let cluster = Cluster::from_env().unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let topic = cluster.unique_topic("lag-json");
    cluster.create_topic(&topic, 3).unwrap();
    let records: Vec<Record> = (0..30)
        .map(|i| Record::new(format!("key-{i}"), i.to_string()))
        .collect();
    write_records(&bootstrap, &topic, &records).unwrap();
    let kafka_eos = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_kafka-eos"))
            .args([
                "lag",
                "--bootstrap",
                &bootstrap,
                "--group",
                "lag-json-group",
            ])
            .args(["--topic", &topic])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = kafka_eos(&["--json"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one sample without --watch: {text}");
    let sample: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(sample["total_lag"], 30, "{sample}");
    assert_eq!(sample["partitions"].as_array().map(Vec::len), Some(3));

    let bad = kafka_eos(&["--watch", "--interval", "0"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("positive number of seconds"), "{err}");
}
