//! The idempotent producer and Fetch long polling, at the protocol level (raw requests
//! built with `kafka-protocol`) and with librdkafka under injected faults.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::raw::{batch, decode_records, ProducerFields, RawClient, Rec};
use common::*;
use kafka_eos_broker::protocol::messages::{ApiKey, InitProducerIdRequest, ProducerId};
use kafka_eos_broker::protocol::ResponseError;
use rdkafka::config::ClientConfig;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::ClientContext;

fn recs(values: &[&str]) -> Vec<Rec> {
    values.iter().map(|v| Rec::value(v)).collect()
}

fn idem(producer_id: i64, epoch: i16, base_sequence: i32) -> ProducerFields {
    ProducerFields {
        producer_id,
        epoch,
        base_sequence,
    }
}

fn code(e: ResponseError) -> i16 {
    e.code()
}

fn fetched_values(client: &mut RawClient, topic: &str, offset: i64) -> Vec<(i64, String)> {
    let p = client.fetch(topic, 0, offset, 0, 1);
    assert_eq!(p.error_code, 0);
    decode_records(&p.records)
        .into_iter()
        .map(|r| {
            (
                r.offset,
                String::from_utf8(r.value.unwrap_or_default().to_vec()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn init_producer_id_without_transactional_id_allocates_distinct_ids() {
    let broker = broker();
    let mut c = RawClient::connect(broker.local_addr());
    let (a, epoch_a) = c.init_producer_id();
    let (b, epoch_b) = c.init_producer_id();
    assert!(a >= 0 && b >= 0);
    assert_ne!(a, b, "each idempotent producer gets its own id");
    assert_eq!((epoch_a, epoch_b), (0, 0));
}

#[test]
fn a_retried_batch_is_acknowledged_with_its_original_offset_and_not_appended_again() {
    let broker = broker();
    broker.create_topic("idem", 1).unwrap();
    let mut c = RawClient::connect(broker.local_addr());
    let (pid, epoch) = c.init_producer_id();

    let first = batch(&recs(&["a", "b", "c"]), idem(pid, epoch, 0));
    let r = c.produce("idem", 0, first.clone());
    assert_eq!((r.error_code, r.base_offset), (0, 0));
    let second = batch(&recs(&["d", "e"]), idem(pid, epoch, 3));
    let r = c.produce("idem", 0, second.clone());
    assert_eq!((r.error_code, r.base_offset), (0, 3));
    assert_eq!(broker.offsets("idem", 0).unwrap().0, 5);

    // The same batches again (a retry after a lost response): acknowledged, not appended.
    let r = c.produce("idem", 0, second);
    assert_eq!(
        (r.error_code, r.base_offset),
        (0, 3),
        "duplicate of the last batch"
    );
    let r = c.produce("idem", 0, first);
    assert_eq!(
        (r.error_code, r.base_offset),
        (0, 0),
        "duplicate of an earlier cached batch"
    );
    assert_eq!(
        broker.offsets("idem", 0).unwrap().0,
        5,
        "high watermark unchanged"
    );

    let values = fetched_values(&mut c, "idem", 0);
    assert_eq!(
        values,
        [(0, "a"), (1, "b"), (2, "c"), (3, "d"), (4, "e")].map(|(o, v)| (o, v.to_owned()))
    );

    // The next batch in sequence is appended after them.
    let r = c.produce("idem", 0, batch(&recs(&["f"]), idem(pid, epoch, 5)));
    assert_eq!((r.error_code, r.base_offset), (0, 5));
}

#[test]
fn a_sequence_gap_is_out_of_order_and_appends_nothing() {
    let broker = broker();
    broker.create_topic("gap", 1).unwrap();
    let mut c = RawClient::connect(broker.local_addr());
    let (pid, epoch) = c.init_producer_id();
    let r = c.produce("gap", 0, batch(&recs(&["a", "b"]), idem(pid, epoch, 0)));
    assert_eq!(r.error_code, 0);
    // expected next sequence: 2
    let r = c.produce("gap", 0, batch(&recs(&["x"]), idem(pid, epoch, 5)));
    assert_eq!(r.error_code, code(ResponseError::OutOfOrderSequenceNumber));
    // a fresh producer id must start at sequence 0
    let (other, _) = c.init_producer_id();
    let r = c.produce("gap", 0, batch(&recs(&["y"]), idem(other, 0, 7)));
    assert_eq!(r.error_code, code(ResponseError::OutOfOrderSequenceNumber));
    assert_eq!(broker.offsets("gap", 0).unwrap().0, 2);
    let r = c.produce("gap", 0, batch(&recs(&["c"]), idem(pid, epoch, 2)));
    assert_eq!((r.error_code, r.base_offset), (0, 2));
}

#[test]
fn a_stale_epoch_is_rejected_after_the_epoch_was_bumped() {
    let broker = broker();
    broker.create_topic("epoch", 1).unwrap();
    let mut c = RawClient::connect(broker.local_addr());
    let (pid, epoch) = c.init_producer_id();
    let r = c.produce("epoch", 0, batch(&recs(&["e0"]), idem(pid, epoch, 0)));
    assert_eq!(r.error_code, 0);

    // KIP-360: the idempotent producer bumps its own epoch.
    let bumped = c.request(
        4,
        &InitProducerIdRequest::default()
            .with_transaction_timeout_ms(-1)
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch),
    );
    assert_eq!(bumped.error_code, 0);
    assert_eq!(
        (bumped.producer_id.0, bumped.producer_epoch),
        (pid, epoch + 1)
    );

    let r = c.produce("epoch", 0, batch(&recs(&["e1"]), idem(pid, epoch + 1, 0)));
    assert_eq!(
        (r.error_code, r.base_offset),
        (0, 1),
        "a new epoch restarts at sequence 0"
    );
    let r = c.produce("epoch", 0, batch(&recs(&["stale"]), idem(pid, epoch, 1)));
    assert_eq!(r.error_code, code(ResponseError::InvalidProducerEpoch));
    assert_eq!(broker.offsets("epoch", 0).unwrap().0, 2);
}

#[test]
fn a_long_poll_fetch_on_an_empty_partition_returns_data_produced_later() {
    let broker = broker();
    broker.create_topic("poll", 1).unwrap();
    let addr = broker.local_addr();

    // Without waiting, an empty partition answers at once with nothing.
    let mut c = RawClient::connect(addr);
    let p = c.fetch("poll", 0, 0, 0, 1);
    assert_eq!((p.error_code, p.high_watermark), (0, 0));
    assert!(decode_records(&p.records).is_empty());
    // A short wait with nothing arriving also answers with nothing.
    let p = c.fetch("poll", 0, 0, 100, 1);
    assert!(decode_records(&p.records).is_empty());

    let cid = c
        .send(
            common::raw::FETCH_VERSION,
            &common::raw::fetch_request("poll", 0, 0, 3_000, 1),
        )
        .unwrap();
    // Let the broker park the fetch, then produce on another connection.
    std::thread::sleep(Duration::from_millis(200));
    let mut producer = RawClient::connect(addr);
    let r = producer.produce("poll", 0, batch(&recs(&["late"]), ProducerFields::NONE));
    assert_eq!(r.error_code, 0);

    let response = c.receive::<kafka_eos_broker::protocol::messages::FetchRequest>(
        common::raw::FETCH_VERSION,
        cid,
    );
    let p = &response.responses[0].partitions[0];
    assert_eq!((p.error_code, p.high_watermark), (0, 1));
    let records = decode_records(&p.records);
    assert_eq!(
        records.len(),
        1,
        "the parked fetch returned the record produced later"
    );
    assert_eq!(records[0].value.as_deref(), Some(&b"late"[..]));
}

#[test]
fn a_fetch_beyond_the_high_watermark_is_out_of_range() {
    let broker = broker();
    broker.create_topic("range", 1).unwrap();
    let mut c = RawClient::connect(broker.local_addr());
    c.produce("range", 0, batch(&recs(&["a", "b"]), ProducerFields::NONE));
    let p = c.fetch("range", 0, 2, 0, 1);
    assert_eq!(p.error_code, 0, "fetching at the high watermark is fine");
    let p = c.fetch("range", 0, 3, 0, 1);
    assert_eq!(p.error_code, code(ResponseError::OffsetOutOfRange));
    assert_eq!(p.high_watermark, 2);
    let p = c.fetch("range", 0, -5, 0, 1);
    assert_eq!(p.error_code, code(ResponseError::OffsetOutOfRange));
    let p = c.fetch("range", 7, 0, 0, 1);
    assert_eq!(p.error_code, code(ResponseError::UnknownTopicOrPartition));
}

#[test]
fn produce_with_acks_zero_gets_no_response_but_is_appended() {
    let broker = broker();
    broker.create_topic("acks0", 1).unwrap();
    let mut c = RawClient::connect(broker.local_addr());
    c.send(
        common::raw::PRODUCE_VERSION,
        &common::raw::produce_request("acks0", 0, batch(&recs(&["fire"]), ProducerFields::NONE), 0),
    )
    .unwrap();
    // The next response on this connection is the fetch's, not a produce response.
    let values = fetched_values(&mut c, "acks0", 0);
    assert_eq!(values, [(0, "fire".to_owned())]);
}

/// Counts delivery reports, failed ones separately.
#[derive(Debug, Default, Clone)]
struct Deliveries {
    ok: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.ok.fetch_add(1, Ordering::SeqCst),
            Err(_) => self.failed.fetch_add(1, Ordering::SeqCst),
        };
    }
}

#[test]
fn an_idempotent_librdkafka_producer_under_faults_writes_every_record_exactly_once_in_order() {
    const N: usize = 2000;
    let broker = broker();
    broker.create_topic("faulty", 1).unwrap();
    let faults = broker.faults();
    let deliveries = Deliveries::default();
    let mut config: ClientConfig = base_config(&broker);
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("batch.num.messages", "50")
        .set("retry.backoff.ms", "20")
        .set("message.timeout.ms", "60000");
    let p: BaseProducer<Deliveries> = config.create_with_context(deliveries.clone()).unwrap();

    let value = |i: usize| format!("v-{i:05}");
    for i in 0..N {
        match i {
            300 => faults.fail_next(ApiKey::Produce, ResponseError::NotLeaderOrFollower, 3),
            900 => faults.fail_next(ApiKey::Produce, ResponseError::RequestTimedOut, 3),
            1200 | 1600 => faults.drop_connections(),
            _ => {}
        }
        let v = value(i);
        let mut record = BaseRecord::to("faulty").key("k").payload(&v).partition(0);
        loop {
            match p.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    p.poll(Duration::from_millis(5));
                    record = r;
                }
            }
        }
        if i % 100 == 0 {
            // give the producer a chance to send (and meet the faults) mid-stream
            p.poll(Duration::from_millis(5));
        }
    }
    p.flush(TIMEOUT).unwrap();
    assert_eq!(
        deliveries.failed.load(Ordering::SeqCst),
        0,
        "no delivery failed"
    );
    assert_eq!(deliveries.ok.load(Ordering::SeqCst), N);
    assert_eq!(
        broker.offsets("faulty", 0).unwrap().0,
        N as i64,
        "no record appended twice"
    );
    // Every injected error was used up by the producer's requests: a produce now succeeds.
    broker.create_topic("probe", 1).unwrap();
    let r = RawClient::connect(broker.local_addr()).produce(
        "probe",
        0,
        batch(&recs(&["p"]), ProducerFields::NONE),
    );
    assert_eq!(
        r.error_code, 0,
        "all six injected errors were consumed by the producer"
    );

    let reads = read_all(
        &consumer(&broker, "read_uncommitted", &[]),
        "faulty",
        1,
        Some(N),
        Duration::from_millis(300),
    );
    let values: Vec<String> = reads.iter().map(|r| r.value.clone()).collect();
    let expected: Vec<String> = (0..N).map(value).collect();
    assert_eq!(values.len(), N, "every value read once");
    assert!(values == expected, "values out of order or duplicated");
    let offsets: Vec<i64> = reads.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (0..N as i64).collect::<Vec<_>>());
}
