//! Classic consumer groups against the embedded broker, driven by librdkafka
//! `StreamConsumer`s: partitions are split between members, a member leaving hands its
//! partitions to the others, and committed offsets survive for the next consumer.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kafka_eos_broker::{BrokerConfig, EmbeddedBroker};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::TopicPartitionList;

const TOPIC: &str = "grouped";
const PARTITIONS: i32 = 4;
const GROUP: &str = "group-it";
const DEADLINE: Duration = Duration::from_secs(60);

fn consumer(bootstrap: &str) -> StreamConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "300")
        .set("fetch.wait.max.ms", "100")
        .set("topic.metadata.refresh.interval.ms", "1000")
        .create()
        .expect("consumer")
}

fn producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("linger.ms", "1")
        .create()
        .expect("producer")
}

/// Produces one record `"<prefix>-<partition>-<i>"` per partition and index.
async fn produce(p: &FutureProducer, prefix: &str, per_partition: usize) {
    for partition in 0..PARTITIONS {
        for i in 0..per_partition {
            let value = format!("{prefix}-{partition}-{i}");
            p.send(
                FutureRecord::to(TOPIC)
                    .partition(partition)
                    .key("k")
                    .payload(&value),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("produce");
        }
    }
}

/// The partitions of `TOPIC` assigned to `c`.
fn assigned(c: &StreamConsumer) -> BTreeSet<i32> {
    c.assignment()
        .map(|tpl| {
            tpl.elements()
                .iter()
                .filter(|e| e.topic() == TOPIC)
                .map(|e| e.partition())
                .collect()
        })
        .unwrap_or_default()
}

/// Polls every consumer in turn (which drives their rebalances) and collects the records
/// received, until `done` holds for the consumers and records so far.
async fn drive(
    consumers: &[&StreamConsumer],
    received: &mut Vec<Vec<String>>,
    done: impl Fn(&[&StreamConsumer], &[Vec<String>]) -> bool,
) {
    received.resize(consumers.len(), Vec::new());
    let deadline = Instant::now() + DEADLINE;
    while !done(consumers, received) {
        assert!(
            Instant::now() < deadline,
            "timed out; received {received:?}"
        );
        for (i, c) in consumers.iter().enumerate() {
            if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(20), c.recv()).await {
                let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                received[i].push(value);
            }
        }
    }
}

/// Whether the consumers' assignments are disjoint and cover all partitions.
fn split_all(consumers: &[&StreamConsumer]) -> bool {
    let sets: Vec<BTreeSet<i32>> = consumers.iter().map(|c| assigned(c)).collect();
    let total: usize = sets.iter().map(BTreeSet::len).sum();
    let union: BTreeSet<i32> = sets.iter().flatten().copied().collect();
    sets.iter().all(|s| !s.is_empty())
        && total == PARTITIONS as usize
        && union.len() == PARTITIONS as usize
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn expected(prefix: &str, per_partition: usize) -> Vec<String> {
    let mut v: Vec<String> = (0..PARTITIONS)
        .flat_map(|p| (0..per_partition).map(move |i| format!("{prefix}-{p}-{i}")))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_splits_partitions_hands_over_and_resumes_from_commits() {
    let broker = EmbeddedBroker::start(BrokerConfig::default())
        .await
        .unwrap();
    broker.create_topic(TOPIC, PARTITIONS).unwrap();
    let bootstrap = broker.bootstrap_servers();
    let p = producer(&bootstrap);

    // Two members split the four partitions (wait for the split before producing, so
    // that no partition moves after it was read), then read everything exactly once.
    let c1 = consumer(&bootstrap);
    let c2 = consumer(&bootstrap);
    c1.subscribe(&[TOPIC]).unwrap();
    c2.subscribe(&[TOPIC]).unwrap();
    let mut received = Vec::new();
    drive(&[&c1, &c2], &mut received, |cs, _| split_all(cs)).await;
    let (s1, s2) = (assigned(&c1), assigned(&c2));
    assert!(s1.is_disjoint(&s2), "{s1:?} / {s2:?}");
    produce(&p, "a", 5).await;
    drive(&[&c1, &c2], &mut received, |_, r| {
        r.iter().map(Vec::len).sum::<usize>() >= 20
    })
    .await;
    assert_eq!((assigned(&c1), assigned(&c2)), (s1.clone(), s2.clone()));
    assert_eq!(sorted(received.concat()), expected("a", 5));
    for (values, set) in received.iter().zip([&s1, &s2]) {
        for v in values {
            let partition: i32 = v.split('-').nth(1).unwrap().parse().unwrap();
            assert!(
                set.contains(&partition),
                "{v} read by a member without partition {partition}"
            );
        }
    }
    c1.commit_consumer_state(CommitMode::Sync).unwrap();
    c2.commit_consumer_state(CommitMode::Sync).unwrap();

    // c2 leaves: c1 gets every partition and continues after c2's commits.
    drop(c2);
    let mut received = Vec::new();
    drive(&[&c1], &mut received, |cs, _| {
        assigned(cs[0]).len() == PARTITIONS as usize
    })
    .await;
    assert!(received[0].is_empty(), "no redelivery: {received:?}");
    produce(&p, "b", 1).await;
    drive(&[&c1], &mut received, |_, r| r[0].len() >= 4).await;
    assert_eq!(sorted(received[0].clone()), expected("b", 1));
    c1.commit_consumer_state(CommitMode::Sync).unwrap();
    drop(c1);

    // A new consumer of the group resumes from the committed offsets.
    produce(&p, "c", 1).await;
    let c3 = consumer(&bootstrap);
    let mut tpl = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        tpl.add_partition(TOPIC, partition);
    }
    let committed = c3.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    for e in committed.elements() {
        assert_eq!(e.offset().to_raw(), Some(6), "partition {}", e.partition());
    }
    c3.subscribe(&[TOPIC]).unwrap();
    let mut received = Vec::new();
    drive(&[&c3], &mut received, |_, r| r[0].len() >= 4).await;
    // Linger to catch redeliveries.
    let until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < until {
        if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(50), c3.recv()).await {
            received[0].push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    assert_eq!(sorted(received[0].clone()), expected("c", 1));
    drop(c3);
    broker.shutdown().await;
}

/// The assignor is the clients' choice (the broker picks the protocol all members
/// support): with range, roundrobin and cooperative-sticky, two members split the
/// partitions between them, disjoint and complete.
#[test]
fn every_client_assignor_splits_the_partitions() {
    use rdkafka::consumer::BaseConsumer;
    let broker = kafka_eos_broker::BackgroundBroker::start(BrokerConfig::default()).unwrap();
    for (i, strategy) in ["range", "roundrobin", "cooperative-sticky"]
        .iter()
        .enumerate()
    {
        let topic = format!("assign-{i}");
        broker.create_topic(&topic, PARTITIONS).unwrap();
        let make = || -> BaseConsumer {
            ClientConfig::new()
                .set("bootstrap.servers", broker.bootstrap_servers())
                .set("broker.address.family", "v4")
                .set("group.id", format!("assign-group-{i}"))
                .set("partition.assignment.strategy", *strategy)
                .set("session.timeout.ms", "6000")
                .set("heartbeat.interval.ms", "200")
                .create()
                .unwrap()
        };
        let (a, b) = (make(), make());
        a.subscribe(&[&topic]).unwrap();
        b.subscribe(&[&topic]).unwrap();
        let deadline = Instant::now() + DEADLINE;
        loop {
            let _ = a.poll(Duration::from_millis(50));
            let _ = b.poll(Duration::from_millis(50));
            let pa: BTreeSet<i32> = a
                .assignment()
                .unwrap()
                .elements()
                .iter()
                .map(|e| e.partition())
                .collect();
            let pb: BTreeSet<i32> = b
                .assignment()
                .unwrap()
                .elements()
                .iter()
                .map(|e| e.partition())
                .collect();
            let union: BTreeSet<i32> = pa.union(&pb).copied().collect();
            if !pa.is_empty()
                && !pb.is_empty()
                && pa.is_disjoint(&pb)
                && union.len() == PARTITIONS as usize
            {
                break;
            }
            assert!(Instant::now() < deadline, "{strategy}: a={pa:?} b={pb:?}");
        }
    }
}
