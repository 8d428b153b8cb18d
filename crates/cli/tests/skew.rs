//! `kafka-eos skew` on a planted skewed topic (the embedded broker, or the cluster in
//! `KAFKA_BOOTSTRAP_SERVERS`): the hot key, the full partition, and the even spread routing
//! by the order id would give; clear errors for a missing topic or field.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

use kafka_eos_cli::skew::{self, SkewArgs};
use kafka_eos_cli::CliError;
use kafka_eos_testkit::{write_records, Cluster, Record};

/// 1,000 orders of which 700 come from one merchant (the key), over 4 partitions.
fn planted(cluster: &Cluster) -> String {
    let topic = cluster.unique_topic("skewed");
    cluster.create_topic(&topic, 4).unwrap();
    let records: Vec<Record> = (0..1_000)
        .map(|i| {
            let merchant = if i % 10 < 7 {
                "merchant-hot".to_owned()
            } else {
                format!("merchant-{i}")
            };
            Record::new(
                merchant,
                format!(r#"{{"order_id":"order-{i}","amount":{i}}}"#),
            )
        })
        .collect();
    write_records(&cluster.bootstrap_servers(), &topic, &records).unwrap();
    topic
}

#[test]
fn skew_finds_the_hot_key_and_shows_the_spread_of_the_order_id() {
    let cluster = Cluster::from_env().unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let topic = planted(&cluster);
    let mut args = SkewArgs::new(&bootstrap, &topic, 10_000);
    args.key_field = Some("order_id".into());
    let report = skew::run(&args).unwrap();

    assert_eq!(report.sampled, 1_000, "the whole topic fits the sample");
    assert_eq!(report.partitions.len(), 4);
    assert_eq!(
        report.partitions.iter().map(|p| p.records).sum::<i64>(),
        1_000
    );
    assert_eq!(report.top_keys[0].key, "merchant-hot");
    assert_eq!(report.top_keys[0].count, 700);
    assert!(
        report.skew >= 2.8,
        "one partition holds the hot merchant: {report:?}"
    );
    let spread = report.by_field.clone().unwrap();
    assert_eq!(spread.iter().sum::<u64>(), 1_000);
    assert!(
        report.by_field_skew.unwrap() < 1.3,
        "order ids spread evenly: {spread:?}"
    );

    // a smaller sample reads the latest records of each partition
    let small = skew::run(&SkewArgs::new(&bootstrap, &topic, 40)).unwrap();
    assert!(small.sampled <= 40, "{small:?}");
    assert!(
        small.partitions.iter().all(|p| p.sampled <= 10),
        "{small:?}"
    );
}

#[test]
fn a_missing_topic_or_field_is_a_clear_error() {
    let cluster = Cluster::from_env().unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let err = skew::run(&SkewArgs::new(&bootstrap, "no-such-topic-skew", 100)).unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");

    let topic = planted(&cluster);
    let mut args = SkewArgs::new(&bootstrap, &topic, 100);
    args.key_field = Some("customer_id".into());
    let err = skew::run(&args).unwrap_err();
    assert!(
        matches!(&err, CliError::FieldNotFound { field, .. } if field == "customer_id"),
        "{err}"
    );
    assert!(err.to_string().contains("customer_id"), "{err}");
}

#[test]
fn the_skew_command_prints_json() {
    let cluster = Cluster::from_env().unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let topic = planted(&cluster);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kafka-eos"))
        .args([
            "skew",
            "--bootstrap",
            &bootstrap,
            "--topic",
            &topic,
            "--json",
        ])
        .args(["--top", "2", "--key-field", "order_id"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["top_keys"][0]["key"], "merchant-hot", "{report}");
    assert_eq!(report["top_keys"].as_array().map(Vec::len), Some(2));
    assert_eq!(report["by_field"].as_array().map(Vec::len), Some(4));
}
