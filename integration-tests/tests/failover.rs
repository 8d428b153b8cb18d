//! Failover suite (embedded broker at three nodes, replication factor 3: nodes are stopped
//! in it): while pipelines run, the leader of an input partition or of an output partition
//! fails mid-transaction, the transaction coordinator fails mid-commit, the group
//! coordinator fails mid-transaction and mid-rebalance, and a failed node comes back.
//! Leadership and coordinators move to live nodes after the failover delay, as in a Kafka
//! cluster; the output, read by a read_committed reader, is exactly once and in order per
//! key.
//!
//! A group coordinator failover gets librdkafka (2.12) stuck in
//! `send_offsets_to_transaction`, past its timeout (librdkafka issues 5456 and 5511): the
//! producer gives up on the call after its timeout plus a margin and the pipeline replaces
//! it (`kafka_eos_core::Error::Stalled`); those tests check that this keeps exactly once.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

use std::time::Duration;

use kafka_eos_broker::protocol::messages::ApiKey;
use kafka_eos_broker::{BrokerConfig, EmbeddedBroker, TransactionCounts};
use kafka_eos_demo::orders::{OrderEvent, OrderProcessor};
use kafka_eos_integration_tests::{await_output, order_records, runtime, Topics};
use kafka_eos_processor::{CancellationToken, JsonCodec, PipelineBuilder};
use kafka_eos_testkit::{test_seed, verify_topic, wait_until, write_records, Cluster, Collector};

/// How long a stopped node keeps its leadership before it moves.
const FAILOVER_DELAY: Duration = Duration::from_millis(1_500);

/// What a fault may act on.
struct Scene<'a> {
    broker: &'a EmbeddedBroker,
    names: &'a Topics,
    /// The transactional id of the first pipeline.
    tid: &'a str,
    /// Starts another pipeline of the group with this transactional id.
    start: &'a dyn Fn(&str),
}

impl Scene<'_> {
    /// The leader of a partition of `topic` on a node that does not coordinate the group
    /// (so that each test fails one role).
    fn leader_off_the_group_coordinator(&self, topic: &str) -> (i32, i32) {
        let coordinator = self.broker.group_coordinator(&self.names.group);
        let partitions = self.broker.partitions(topic).unwrap();
        (0..partitions)
            .find_map(|p| {
                let leader = self.broker.leader(topic, p)?;
                (leader != coordinator).then_some((p, leader))
            })
            .expect("every partition led by the group coordinator")
    }

    /// Stops `node` and waits until its leadership and coordinators have moved.
    fn fail(&self, node: i32, what: &str) {
        assert!(node > 0, "{what}: no node");
        self.broker.faults().stop_node(node).unwrap();
        assert!(
            wait_until(
                || self.broker.listed_nodes().len(),
                |n| n == 2,
                Duration::from_secs(10)
            ),
            "{what}: node {node} was not failed over"
        );
    }
}

/// Runs a pipeline on a three-node cluster over ~7,500 order events; once a fifth of the
/// results is out (a transaction is in flight), calls `fault`; then checks exactly-once.
fn run_through(fault: impl FnOnce(&Scene<'_>)) -> TransactionCounts {
    let seed = test_seed();
    let cluster = Cluster::embedded_with(
        BrokerConfig::default()
            .nodes(3)
            .default_replication_factor(3)
            .failover_delay(FAILOVER_DELAY),
    )
    .unwrap();
    let broker = cluster.embedded_broker().unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let names = Topics::create_unique(&cluster, "failover", 4).unwrap();
    let (_, input, expected) = order_records(2_000, seed);
    write_records(&bootstrap, &names.input, &input).unwrap();

    let progress = Collector::start(&bootstrap, &[&names.output]).unwrap();
    let token = CancellationToken::new();
    let rt = runtime();
    let tasks = std::sync::Mutex::new(Vec::new());
    let start = |tid: &str| {
        let pipeline = PipelineBuilder::new()
            .bootstrap_servers(&bootstrap)
            .group_id(&names.group)
            .input_topic(&names.input)
            .transactional_id(tid)
            .commit_every_records(100)
            .operation_timeout(Duration::from_secs(10))
            .shutdown(token.clone())
            .build(
                OrderProcessor::new(names.output.clone(), 10),
                JsonCodec::<OrderEvent>::new(),
            )
            .unwrap();
        tasks.lock().unwrap().push(rt.spawn(pipeline.run()));
    };
    // a transactional id not coordinated by the group's node, so that failing one
    // coordinator leaves the other alone
    let group_node = broker.group_coordinator(&names.group);
    let tid = (0..)
        .map(|i| format!("{}-a{i}", names.group))
        .find(|tid| broker.transaction_coordinator(tid) != group_node)
        .unwrap();
    start(&tid);
    assert!(
        wait_until(
            || progress.count_of(&names.output),
            |n| n >= expected.len() / 5,
            Duration::from_secs(30)
        ),
        "no progress before the fault"
    );
    assert!(progress.count_of(&names.output) < expected.len());
    fault(&Scene {
        broker,
        names: &names,
        tid: &tid,
        start: &start,
    });
    let (finished, live) = await_output(progress, &names, expected.len(), Duration::from_secs(60));
    token.cancel();
    let stopped: Vec<_> = tasks
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|task| {
            rt.block_on(async { tokio::time::timeout(Duration::from_secs(30), task).await })
        })
        .collect();
    // a pipeline stuck in a blocking client call must fail the test, not hang it
    rt.shutdown_timeout(Duration::from_secs(5));
    assert!(finished, "stalled at {live} of {}", expected.len());
    for result in stopped {
        let result = result.expect("a pipeline did not stop").unwrap();
        assert!(result.is_ok(), "{result:?}");
    }

    let report = verify_topic(&bootstrap, &names.output, &expected).unwrap();
    assert!(report.is_exactly_once(), "{report} (seed {seed})");
    let counts = broker.transaction_counts();
    assert!(counts.committed > 0, "{counts:?}");
    counts
}

#[test]
fn an_input_partitions_leader_fails_mid_transaction() {
    run_through(|s| {
        let (partition, leader) = s.leader_off_the_group_coordinator(&s.names.input);
        s.fail(leader, "input leader");
        assert_ne!(s.broker.leader(&s.names.input, partition), Some(leader));
    });
}

#[test]
fn an_output_partitions_leader_fails_mid_transaction() {
    run_through(|s| {
        let (partition, leader) = s.leader_off_the_group_coordinator(&s.names.output);
        s.fail(leader, "output leader");
        assert_ne!(s.broker.leader(&s.names.output, partition), Some(leader));
    });
}

#[test]
fn the_transaction_coordinator_fails_mid_commit() {
    run_through(|s| {
        // a commit in flight: its answer held back, so the node dies under it
        let faults = s.broker.faults();
        faults.add_response_latency(ApiKey::EndTxn, Duration::from_millis(800));
        std::thread::sleep(Duration::from_millis(300));
        let coordinator = s.broker.transaction_coordinator(s.tid);
        s.fail(coordinator, "transaction coordinator");
        faults.add_response_latency(ApiKey::EndTxn, Duration::ZERO);
        assert_ne!(s.broker.transaction_coordinator(s.tid), coordinator);
    });
}

#[test]
fn the_group_coordinator_fails_mid_transaction() {
    run_through(|s| {
        let coordinator = s.broker.group_coordinator(&s.names.group);
        s.fail(coordinator, "group coordinator");
        assert_ne!(s.broker.group_coordinator(&s.names.group), coordinator);
    });
}

#[test]
fn the_group_coordinator_fails_mid_rebalance() {
    run_through(|s| {
        // a second instance joins: the group rebalances, with the first one's batch open
        (s.start)(&format!("{}-b", s.names.group));
        let coordinator = s.broker.group_coordinator(&s.names.group);
        let rebalancing = || s.broker.group_state(&s.names.group) == Some("PreparingRebalance");
        assert!(
            wait_until(|| 0, |_| rebalancing(), Duration::from_secs(10)),
            "no rebalance started"
        );
        s.fail(coordinator, "group coordinator");
        assert_ne!(s.broker.group_coordinator(&s.names.group), coordinator);
    });
}

#[test]
fn a_failed_node_comes_back_and_takes_its_leadership_again() {
    run_through(|s| {
        let (partition, leader) = s.leader_off_the_group_coordinator(&s.names.output);
        s.fail(leader, "output leader");
        std::thread::sleep(Duration::from_millis(500));
        s.broker.faults().start_node(leader).unwrap();
        // leadership moving back is a leader change too, with a new epoch
        assert!(s.broker.faults().elect_preferred_leaders() > 0);
        assert_eq!(s.broker.leader(&s.names.output, partition), Some(leader));
    });
}
