//! `kafka-eos dlq replay` when the cluster fails it (faults injected into the embedded
//! broker, which these tests always run on): a failed delivery names its dead letter,
//! a fencing names the group, and a commit whose outcome is unknown is said to be so and
//! is never replayed twice.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

mod common;

use std::time::Duration;

use common::{dead_letter, embedded_cluster, read, replay, topics, values};
use kafka_eos_broker::protocol::messages::ApiKey;
use kafka_eos_broker::protocol::ResponseError;
use kafka_eos_cli::dlq::ReplayArgs;
use kafka_eos_cli::CliError;
use kafka_eos_testkit::write_records;

/// An embedded broker whose dead-letter topic holds one dead letter of `orders`.
struct OneDeadLetter {
    cluster: kafka_eos_testkit::Cluster,
    bootstrap: String,
    dlq: String,
    orders: String,
}

impl OneDeadLetter {
    fn faults(&self) -> kafka_eos_broker::Faults {
        self.cluster.faults().unwrap()
    }
}

fn one_dead_letter() -> OneDeadLetter {
    let (cluster, bootstrap) = embedded_cluster();
    let [dlq, orders] = topics(&cluster, ["dlq", "orders"], 1);
    write_records(
        &bootstrap,
        &dlq,
        &[dead_letter(Some(&orders), 1, "a", Some("v-a"))],
    )
    .unwrap();
    OneDeadLetter {
        cluster,
        bootstrap,
        dlq,
        orders,
    }
}

#[test]
fn a_failed_delivery_names_its_dead_letter_and_nothing_is_written() {
    let s = one_dead_letter();
    let faults = s.faults();
    let (bootstrap, dlq, orders) = (s.bootstrap.as_str(), s.dlq.as_str(), s.orders.as_str());
    faults.fail_next(ApiKey::Produce, ResponseError::MessageTooLarge, 1);

    let args = ReplayArgs::new(bootstrap, dlq);
    let err = replay(&args).unwrap_err();
    assert!(
        matches!(&err, CliError::Delivery { at, topic, .. }
            if *at == format!("{dlq}/0/0") && topic == orders),
        "{err}"
    );
    assert!(err.to_string().contains("nothing was replayed"), "{err}");
    assert_eq!(faults.pending_errors(), 0);
    assert!(read(bootstrap, orders, 0).is_empty());

    // the next run replays it, once
    assert_eq!(replay(&args).unwrap().0.replayed, 1);
    assert_eq!(values(&read(bootstrap, orders, 1)), ["v-a"]);
}

#[test]
fn a_fenced_commit_names_the_group_and_commits_nothing() {
    let s = one_dead_letter();
    let faults = s.faults();
    let (bootstrap, dlq, orders) = (s.bootstrap.as_str(), s.dlq.as_str(), s.orders.as_str());
    faults.fail_next(ApiKey::EndTxn, ResponseError::ProducerFenced, 1);

    let args = ReplayArgs::new(bootstrap, dlq);
    let err = replay(&args).unwrap_err();
    assert!(
        matches!(&err, CliError::Fenced { transactional_id, .. } if *transactional_id == args.group()),
        "{err}"
    );
    assert!(read(bootstrap, orders, 0).is_empty());

    assert_eq!(replay(&args).unwrap().0.replayed, 1);
    assert_eq!(values(&read(bootstrap, orders, 1)), ["v-a"]);
}

#[test]
fn a_commit_that_times_out_is_reported_unknown_and_never_replayed_twice() {
    let s = one_dead_letter();
    let faults = s.faults();
    let (bootstrap, dlq, orders) = (s.bootstrap.as_str(), s.dlq.as_str(), s.orders.as_str());
    // every commit attempt (1 s each, 3 attempts) times out; the broker commits after 8 s
    // all the same
    faults.add_latency(ApiKey::EndTxn, Duration::from_secs(8));

    let mut args = ReplayArgs::new(bootstrap, dlq);
    args.timeout_secs = 1;
    let err = replay(&args).unwrap_err();
    assert!(
        matches!(
            &err,
            CliError::Transaction {
                nothing_replayed: false,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("outcome is unknown"), "{err}");

    // it went through: the record and the group's offset committed together
    assert_eq!(values(&read(bootstrap, orders, 1)), ["v-a"]);
    faults.clear();
    let (again, _) = replay(&args).unwrap();
    assert_eq!(again.replayed, 0, "{again}");
    assert_eq!(read(bootstrap, orders, 1).len(), 1);
}
