//! Rebalances served by [`kafka_eos_core::rebalance::serve`]: a consumer closed while its
//! assignment waits in its queue closes (the close serves the event, and the group waits
//! for that assign call before it terminates: a `serve` that skipped it would hang here).
//! The race `serve` guards against, an event served after the group terminated, depends on
//! librdkafka's threads and is not reproduced here.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

use std::sync::mpsc;
use std::time::Duration;

use kafka_eos_core::rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use kafka_eos_core::rdkafka::mocking::MockCluster;
use kafka_eos_core::rdkafka::types::RDKafkaRespErr;
use kafka_eos_core::rdkafka::{ClientConfig, ClientContext, TopicPartitionList};

/// A context that serves rebalances with [`kafka_eos_core::rebalance::serve`].
struct Served;

impl ClientContext for Served {}

impl ConsumerContext for Served {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        kafka_eos_core::rebalance::serve(self, consumer, err, tpl);
    }
}

#[test]
fn a_consumer_closed_with_its_assignment_queued_closes() {
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic("in", 2, 1).unwrap();
    let consumer: BaseConsumer<Served> = ClientConfig::new()
        .set("bootstrap.servers", mock.bootstrap_servers())
        .set("group.id", "closing")
        .create_with_context(Served)
        .unwrap();
    consumer.subscribe(&["in"]).unwrap();
    // Nobody polls: the group's assignment arrives as an event and waits in the queue.
    std::thread::sleep(Duration::from_secs(5));
    let (closed, done) = mpsc::channel();
    std::thread::spawn(move || {
        drop(consumer); // closes: polls until the group has terminated
        let _ = closed.send(());
    });
    assert!(
        done.recv_timeout(Duration::from_secs(30)).is_ok(),
        "closing the consumer did not return"
    );
}
