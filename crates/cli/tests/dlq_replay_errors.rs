//! `kafka-eos dlq replay` errors: each a [`CliError`] variant, and a failed run writes and
//! commits nothing.

mod common;

use common::{cluster, dead_letter, read, replay, topics, values};
use kafka_eos_cli::dlq::ReplayArgs;
use kafka_eos_cli::CliError;
use kafka_eos_testkit::write_records;

#[test]
fn a_missing_dead_letter_topic_is_a_clear_error() {
    let (cluster, bootstrap) = cluster();
    let missing = cluster.unique_topic("no-such-dlq");
    let err = replay(&ReplayArgs::new(&bootstrap, &missing)).unwrap_err();
    assert!(
        matches!(&err, CliError::DlqTopicMissing { topic } if *topic == missing),
        "{err}"
    );
    assert!(err.to_string().contains("does not exist"), "{err}");
    // and it was not created by asking
    let again = replay(&ReplayArgs::new(&bootstrap, &missing)).unwrap_err();
    assert!(matches!(again, CliError::DlqTopicMissing { .. }), "{again}");
}

#[test]
fn a_dead_letter_without_source_topic_fails_naming_it_and_nothing_is_written() {
    let (cluster, bootstrap) = cluster();
    let [dlq, orders] = topics(&cluster, ["dlq", "orders"], 1);
    let letters = [
        dead_letter(Some(&orders), 1, "a", Some("v-a")),
        dead_letter(None, 2, "b", Some("v-b")),
        dead_letter(Some(&orders), 3, "c", Some("v-c")),
    ];
    write_records(&bootstrap, &dlq, &letters).unwrap();
    let args = ReplayArgs::new(&bootstrap, &dlq);
    let err = replay(&args).unwrap_err();
    assert!(
        matches!(&err, CliError::NoSourceTopic { dlq: d, partition: 0, offset: 1 } if *d == dlq),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!("{dlq}/0/1")) && text.contains("--to"),
        "{text}"
    );
    // the first dead letter was sent in the aborted transaction: invisible, not committed
    assert!(read(&bootstrap, &orders, 0).is_empty());
    let err = replay(&args).unwrap_err();
    assert!(
        matches!(err, CliError::NoSourceTopic { offset: 1, .. }),
        "{err}"
    );

    // --to says where it goes: everything is replayed, once
    let mut to = args.clone();
    to.to = Some(orders.clone());
    assert_eq!(replay(&to).unwrap().0.replayed, 3);
    assert_eq!(values(&read(&bootstrap, &orders, 3)), ["v-a", "v-b", "v-c"]);
}

#[test]
fn a_missing_target_topic_is_a_clear_error_and_nothing_is_written() {
    let (cluster, bootstrap) = cluster();
    let [dlq, orders] = topics(&cluster, ["dlq", "orders"], 1);
    let gone = cluster.unique_topic("gone");
    let letters = [
        dead_letter(Some(&orders), 1, "a", Some("v-a")),
        dead_letter(Some(&gone), 2, "b", Some("v-b")),
    ];
    write_records(&bootstrap, &dlq, &letters).unwrap();

    let err = replay(&ReplayArgs::new(&bootstrap, &dlq)).unwrap_err();
    assert!(
        matches!(&err, CliError::TargetTopicMissing { topic, at: Some(at) }
            if *topic == gone && *at == format!("{dlq}/0/1")),
        "{err}"
    );
    assert!(read(&bootstrap, &orders, 0).is_empty());

    let mut to_missing = ReplayArgs::new(&bootstrap, &dlq);
    to_missing.to = Some(gone.clone());
    let err = replay(&to_missing).unwrap_err();
    assert!(
        matches!(&err, CliError::TargetTopicMissing { topic, at: None } if *topic == gone),
        "{err}"
    );
    // not created by the attempt either
    let err = replay(&to_missing).unwrap_err();
    assert!(matches!(err, CliError::TargetTopicMissing { .. }), "{err}");
}

#[test]
fn an_unreachable_broker_fails_within_the_timeout() {
    let mut args = ReplayArgs::new("127.0.0.1:1", "orders-dlq");
    args.timeout_secs = 2;
    let err = replay(&args).unwrap_err();
    assert!(matches!(err, CliError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
}
