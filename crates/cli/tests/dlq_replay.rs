//! `kafka-eos dlq replay` on dead letters written directly with the documented headers:
//! exactly once across runs, `--source-topic`, `--to`, `--limit` and `--dry-run`.

mod common;

use common::{cluster, dead_letter, read, replay, replayed, reserved_headers, topics, values};
use kafka_eos_cli::dlq::{default_group, ReplayArgs, StopReason, REPLAYED_FROM};
use kafka_eos_cli::lag::{self, LagArgs};
use kafka_eos_cli::CliError;
use kafka_eos_testkit::write_records;

#[test]
fn each_dead_letter_is_replayed_once_across_runs_and_new_ones_by_the_next_run() {
    let (cluster, bootstrap) = cluster();
    let [dlq, orders] = topics(&cluster, ["orders-dlq", "orders"], 1);
    let first = [
        dead_letter(Some(&orders), 10, "a", Some("v-a")),
        dead_letter(Some(&orders), 11, "b", None), // a tombstone stays a tombstone
        dead_letter(Some(&orders), 12, "c", Some("v-c")),
    ];
    write_records(&bootstrap, &dlq, &first).unwrap();

    let args = ReplayArgs::new(&bootstrap, &dlq);
    let (summary, lines) = replay(&args).unwrap();
    assert_eq!((summary.replayed, summary.skipped), (3, 0), "{summary}");
    assert_eq!(summary.committed, [(0, 3)]);
    assert_eq!(summary.stopped, None);
    assert_eq!(lines.len(), 3);
    assert_eq!(
        summary.to_string(),
        format!("replayed 3 dead letters from {dlq} to {orders}")
    );

    let out = read(&bootstrap, &orders, 3);
    assert_eq!(out.len(), 3, "{out:?}");
    for (i, r) in out.iter().enumerate() {
        let original = &first[i];
        assert_eq!(r.key, original.key);
        assert_eq!(r.value, original.value);
        assert_eq!(
            r.headers,
            [
                (
                    "trace".to_owned(),
                    Some(format!("t-{}", r.key[0] as char).into_bytes())
                ),
                ("unset".to_owned(), None),
                (
                    REPLAYED_FROM.to_owned(),
                    Some(format!("{dlq}/0/{i}").into_bytes())
                ),
            ]
        );
    }
    assert_eq!(out[1].value, None);

    // a second run finds nothing new and writes nothing
    let (again, lines) = replay(&args).unwrap();
    assert_eq!((again.replayed, lines.len()), (0, 0), "{again}");
    assert!(again.committed.is_empty());
    assert_eq!(read(&bootstrap, &orders, 3).len(), 3);

    // dead letters that arrive later: the next run replays them, and only them
    let later = [
        dead_letter(Some(&orders), 20, "d", Some("v-d")),
        dead_letter(Some(&orders), 21, "e", Some("v-e")),
    ];
    write_records(&bootstrap, &dlq, &later).unwrap();
    let (third, _) = replay(&args).unwrap();
    assert_eq!(third.replayed, 2, "{third}");
    assert_eq!(third.committed, [(0, 5)]);
    let out = read(&bootstrap, &orders, 5);
    assert_eq!(values(&out), ["", "v-a", "v-c", "v-d", "v-e"]);
    let mut from: Vec<_> = out.iter().filter_map(|r| r.header(REPLAYED_FROM)).collect();
    from.sort();
    from.dedup();
    assert_eq!(from.len(), 5, "each dead letter replayed once: {from:?}");
    assert_eq!(replay(&args).unwrap().0.replayed, 0);
}

#[test]
fn source_topic_filters_and_each_source_topic_keeps_its_own_position() {
    let (cluster, bootstrap) = cluster();
    let [dlq, orders, payments] = topics(&cluster, ["dlq", "orders", "payments"], 2);
    let letters = [
        dead_letter(Some(&orders), 1, "o1", Some("order-1")),
        dead_letter(Some(&payments), 1, "p1", Some("payment-1")),
        dead_letter(Some(&orders), 2, "o2", Some("order-2")),
        dead_letter(Some(&payments), 2, "p2", Some("payment-2")),
        dead_letter(Some(&payments), 3, "p3", Some("payment-3")),
    ];
    write_records(&bootstrap, &dlq, &letters).unwrap();

    let mut only_orders = ReplayArgs::new(&bootstrap, &dlq);
    only_orders.source_topic = Some(orders.clone());
    let (s, lines) = replay(&only_orders).unwrap();
    assert_eq!((s.replayed, s.skipped), (2, 3), "{s}");
    assert_eq!(s.group, default_group(&dlq, Some(&orders)));
    assert!(
        s.to_string().ends_with("(3 skipped: other source topic)"),
        "{s}"
    );
    assert_eq!(lines.iter().filter(|l| l.contains("skipped")).count(), 3);
    assert_eq!(
        values(&replayed(&bootstrap, &orders, 2)),
        ["order-1", "order-2"]
    );
    assert!(read(&bootstrap, &payments, 0).is_empty());

    // payments' dead letters were not passed over: their own run replays them
    let mut only_payments = ReplayArgs::new(&bootstrap, &dlq);
    only_payments.source_topic = Some(payments.clone());
    let (s, _) = replay(&only_payments).unwrap();
    assert_eq!((s.replayed, s.skipped), (3, 2), "{s}");
    assert_eq!(
        values(&replayed(&bootstrap, &payments, 3)),
        ["payment-1", "payment-2", "payment-3"]
    );
    assert_eq!(replay(&only_orders).unwrap().0.replayed, 0);
    assert_eq!(replay(&only_payments).unwrap().0.replayed, 0);

    // an unfiltered run with its default group would replay them again: refused
    let all = ReplayArgs::new(&bootstrap, &dlq);
    let err = replay(&all).unwrap_err();
    assert!(matches!(err, CliError::MixedGroups { .. }), "{err}");
    assert_eq!(read(&bootstrap, &orders, 2).len(), 2);
    assert_eq!(read(&bootstrap, &payments, 3).len(), 3);
}

#[test]
fn a_filtered_run_after_an_unfiltered_one_is_refused() {
    let (cluster, bootstrap) = cluster();
    let [dlq, orders] = topics(&cluster, ["dlq", "orders"], 1);
    write_records(
        &bootstrap,
        &dlq,
        &[dead_letter(Some(&orders), 1, "o1", Some("x"))],
    )
    .unwrap();
    assert_eq!(
        replay(&ReplayArgs::new(&bootstrap, &dlq))
            .unwrap()
            .0
            .replayed,
        1
    );
    let mut filtered = ReplayArgs::new(&bootstrap, &dlq);
    filtered.source_topic = Some(orders.clone());
    let err = replay(&filtered).unwrap_err();
    assert!(matches!(err, CliError::MixedGroups { .. }), "{err}");
    // with an explicit group the operator decides
    filtered.group = Some(cluster.unique_topic("explicit"));
    assert_eq!(replay(&filtered).unwrap().0.replayed, 1);
}

#[test]
fn dry_run_lists_and_writes_and_commits_nothing() {
    let (cluster, bootstrap) = cluster();
    let [dlq, orders] = topics(&cluster, ["dlq", "orders"], 1);
    let letters = [
        dead_letter(Some(&orders), 7, "a", Some("v-a")),
        dead_letter(Some(&orders), 8, "b", None),
    ];
    write_records(&bootstrap, &dlq, &letters).unwrap();

    let mut dry = ReplayArgs::new(&bootstrap, &dlq);
    dry.dry_run = true;
    let (s, lines) = replay(&dry).unwrap();
    assert_eq!(s.replayed, 2);
    assert!(s.committed.is_empty());
    assert!(
        s.to_string()
            .contains("dry run: nothing written or committed"),
        "{s}"
    );
    assert_eq!(
        lines,
        [
            format!("{dlq}/0/0 from {orders}/0/7 -> {orders}: key \"a\", error \"cannot process a\""),
            format!(
                "{dlq}/0/1 from {orders}/0/8 -> {orders}: key \"b\" (tombstone), error \"cannot process b\""
            ),
        ]
    );
    assert!(read(&bootstrap, &orders, 0).is_empty());
    let lags = lag::run(&LagArgs::new(&bootstrap, &s.group, &dlq)).unwrap();
    assert!(lags.iter().all(|l| l.committed.is_none()), "{lags:?}");

    // a dry run twice lists the same; a real run then replays everything
    assert_eq!(replay(&dry).unwrap().1, lines);
    let (real, _) = replay(&ReplayArgs::new(&bootstrap, &dlq)).unwrap();
    assert_eq!(real.replayed, 2);
    assert_eq!(values(&read(&bootstrap, &orders, 2)), ["", "v-a"]);
}

#[test]
fn limit_stops_the_run_and_the_next_run_goes_on() {
    let (cluster, bootstrap) = cluster();
    let [dlq, orders] = topics(&cluster, ["dlq", "orders"], 1);
    let letters: Vec<_> = (0..5)
        .map(|i| dead_letter(Some(&orders), i, &format!("k{i}"), Some(&format!("v{i}"))))
        .collect();
    write_records(&bootstrap, &dlq, &letters).unwrap();
    let mut args = ReplayArgs::new(&bootstrap, &dlq);
    args.limit = Some(2);
    let (s, _) = replay(&args).unwrap();
    assert_eq!((s.replayed, s.stopped), (2, Some(StopReason::Limit)), "{s}");
    assert_eq!(s.committed, [(0, 2)]);
    assert_eq!(values(&read(&bootstrap, &orders, 2)), ["v0", "v1"]);
    let (s, _) = replay(&args).unwrap();
    assert_eq!(s.replayed, 2);
    args.limit = None;
    let (s, _) = replay(&args).unwrap();
    assert_eq!((s.replayed, s.stopped), (1, None));
    assert_eq!(
        values(&read(&bootstrap, &orders, 5)),
        ["v0", "v1", "v2", "v3", "v4"]
    );
}

#[test]
fn to_writes_every_dead_letter_to_one_topic() {
    let (cluster, bootstrap) = cluster();
    let [dlq, fixed] = topics(&cluster, ["dlq", "fixed"], 1);
    let letters = [
        dead_letter(Some("orders-gone"), 1, "a", Some("v-a")),
        dead_letter(None, 2, "b", Some("v-b")), // no source: --to says where
    ];
    write_records(&bootstrap, &dlq, &letters).unwrap();
    let mut args = ReplayArgs::new(&bootstrap, &dlq);
    args.to = Some(fixed.clone());
    let (s, _) = replay(&args).unwrap();
    assert_eq!(s.replayed, 2, "{s}");
    let out = read(&bootstrap, &fixed, 2);
    assert_eq!(values(&out), ["v-a", "v-b"]);
    for r in &out {
        assert_eq!(reserved_headers(r), [REPLAYED_FROM], "{r:?}");
    }
}
