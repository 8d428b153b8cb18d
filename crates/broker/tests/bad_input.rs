//! Bad input never takes the broker down: malformed and truncated frames, unknown APIs,
//! unsupported versions, oversize requests, invalid topic names, corrupt record batches and
//! a seeded stream of random frames — after which librdkafka still works.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use common::raw::{
    batch, produce_request, ProducerFields, RawClient, Rec, FETCH_VERSION, PRODUCE_VERSION,
};
use common::*;
use kafka_eos_broker::protocol::messages::create_topics_request::CreatableTopic;
use kafka_eos_broker::protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_eos_broker::protocol::messages::RequestHeader;
use kafka_eos_broker::protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreateTopicsRequest, MetadataRequest,
    ResponseHeader, TopicName,
};
use kafka_eos_broker::protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use kafka_eos_broker::protocol::ResponseError;
use kafka_eos_broker::{BackgroundBroker, BrokerConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::producer::Producer;

const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// The broker still answers ApiVersions on a fresh connection.
fn assert_alive(addr: SocketAddr) {
    let mut c = RawClient::connect(addr);
    let r = c.request(3, &ApiVersionsRequest::default());
    assert_eq!(r.error_code, 0);
    assert!(!r.api_keys.is_empty());
}

/// A valid request frame body (header + request) of `R` at `version`.
fn frame_of<R: Request>(version: i16, request: &R) -> BytesMut {
    let key = ApiKey::try_from(R::KEY).unwrap();
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("fuzz")));
    let mut body = BytesMut::new();
    header
        .encode(&mut body, key.request_header_version(version))
        .unwrap();
    request.encode(&mut body, version).unwrap();
    body
}

#[test]
fn truncated_and_malformed_frames_close_the_connection_only() {
    let broker = broker();
    let addr = broker.local_addr();

    // shorter than a request header
    let mut c = RawClient::connect(addr);
    c.write_frame(&[0, 3, 0]).unwrap();
    assert!(c.is_closed_by_peer(CLOSE_WAIT));

    // a valid header and a body that ends early
    let full = frame_of(
        12,
        &MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(TopicName("some-topic".into())))
        ])),
    );
    let mut c = RawClient::connect(addr);
    c.write_frame(&full[..full.len() - 6]).unwrap();
    assert!(c.is_closed_by_peer(CLOSE_WAIT));

    // a size prefix promising more than is sent, then the client goes away
    let mut c = RawClient::connect(addr);
    c.write_raw(&[0, 0, 0, 100, 0, 3, 0, 0]).unwrap();
    drop(c);

    // garbage after a valid header: a negative string length
    let mut bad = frame_of(1, &MetadataRequest::default().with_topics(Some(Vec::new())));
    bad.truncate(bad.len() - 4);
    bad.extend_from_slice(&[0, 0, 0, 1, 0xff, 0xf0]);
    let mut c = RawClient::connect(addr);
    c.write_frame(&bad).unwrap();
    assert!(c.is_closed_by_peer(CLOSE_WAIT));

    assert_alive(addr);
}

/// Array counts come off the wire: a 14-byte Metadata v0 request claiming 2^31-1 topics
/// must not make the decoder reserve 150 GB (that aborted the process before the vendored
/// kafka-protocol fix, see vendor/README.md).
#[test]
fn a_huge_array_count_in_a_tiny_frame_is_rejected_without_allocating_it() {
    let broker = broker();
    let addr = broker.local_addr();
    for count in [[0x7f, 0xff, 0xff, 0xff], [0x40, 0, 0, 0], [0, 0x10, 0, 0]] {
        let mut c = RawClient::connect(addr);
        let mut frame = vec![0, 3, 0, 0, 0, 0, 0, 1, 0xff, 0xff];
        frame.extend_from_slice(&count);
        c.write_frame(&frame).unwrap();
        assert!(c.is_closed_by_peer(CLOSE_WAIT));
    }
    // compact (flexible) arrays: Metadata v9 with a varint count of about 2^31
    let mut c = RawClient::connect(addr);
    let mut frame = vec![0, 3, 0, 9, 0, 0, 0, 1, 0xff, 0xff, 0];
    frame.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x07]);
    c.write_frame(&frame).unwrap();
    assert!(c.is_closed_by_peer(CLOSE_WAIT));
    assert_alive(addr);
}

#[test]
fn unknown_api_keys_close_the_connection() {
    let broker = broker();
    for key in [-1i16, 200, 1000, i16::MAX] {
        let mut c = RawClient::connect(broker.local_addr());
        let mut body = vec![];
        body.extend_from_slice(&key.to_be_bytes());
        body.extend_from_slice(&0i16.to_be_bytes());
        body.extend_from_slice(&1i32.to_be_bytes());
        body.extend_from_slice(&[0xff, 0xff]); // null client id
        c.write_frame(&body).unwrap();
        assert!(c.is_closed_by_peer(CLOSE_WAIT), "key {key}");
    }
    // A known key the broker does not implement (DescribeAcls) is closed too.
    let mut c = RawClient::connect(broker.local_addr());
    c.write_frame(&[0, 29, 0, 1, 0, 0, 0, 1, 0xff, 0xff])
        .unwrap();
    assert!(c.is_closed_by_peer(CLOSE_WAIT));
    assert_alive(broker.local_addr());
}

#[test]
fn an_unsupported_api_versions_version_is_answered_with_the_supported_list() {
    let broker = broker();
    let mut c = RawClient::connect(broker.local_addr());
    // ApiVersions v99 with a body the broker cannot know: KIP-511 answers v0 with the list.
    let mut body = vec![];
    body.extend_from_slice(&(ApiKey::ApiVersions as i16).to_be_bytes());
    body.extend_from_slice(&99i16.to_be_bytes());
    body.extend_from_slice(&42i32.to_be_bytes());
    body.extend_from_slice(&[0, 4, b'f', b'u', b't', b'r', 0, 1, 2, 3]);
    c.write_frame(&body).unwrap();
    let mut frame = c.read_frame().unwrap();
    let header = ResponseHeader::decode(&mut frame, 0).unwrap();
    assert_eq!(header.correlation_id, 42);
    let r = ApiVersionsResponse::decode(&mut frame, 0).unwrap();
    assert_eq!(r.error_code, ResponseError::UnsupportedVersion.code());
    let produce = r
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::Produce as i16)
        .unwrap();
    assert!(produce.min_version <= 9 && produce.max_version >= 9);
    // The connection stays usable: the client retries at a version from the list.
    let r = c.request(3, &ApiVersionsRequest::default());
    assert_eq!(r.error_code, 0);

    // Other APIs at an unsupported version: the connection is closed.
    for (key, version) in [
        (ApiKey::Produce, 99i16),
        (ApiKey::Produce, 2),
        (ApiKey::Fetch, 99),
        (ApiKey::Metadata, 50),
    ] {
        let mut c = RawClient::connect(broker.local_addr());
        let mut body = vec![];
        body.extend_from_slice(&(key as i16).to_be_bytes());
        body.extend_from_slice(&version.to_be_bytes());
        body.extend_from_slice(&1i32.to_be_bytes());
        body.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
        c.write_frame(&body).unwrap();
        assert!(c.is_closed_by_peer(CLOSE_WAIT), "{key:?} v{version}");
    }
    assert_alive(broker.local_addr());
}

#[test]
fn an_oversize_or_negative_size_prefix_closes_the_connection() {
    let broker = BackgroundBroker::start(BrokerConfig::default().max_request_bytes(4096)).unwrap();
    let mut c = RawClient::connect(broker.local_addr());
    c.write_raw(&8192i32.to_be_bytes()).unwrap();
    assert!(
        c.is_closed_by_peer(CLOSE_WAIT),
        "closed without reading the body"
    );
    let mut c = RawClient::connect(broker.local_addr());
    c.write_raw(&(-5i32).to_be_bytes()).unwrap();
    assert!(c.is_closed_by_peer(CLOSE_WAIT));
    // A produce request over the limit.
    broker.create_topic("big", 1).unwrap();
    let mut c = RawClient::connect(broker.local_addr());
    let records = batch(&[Rec::value(&"x".repeat(5000))], ProducerFields::NONE);
    let _ = c.send(PRODUCE_VERSION, &produce_request("big", 0, records, -1));
    assert!(c.is_closed_by_peer(CLOSE_WAIT));
    assert_eq!(broker.offsets("big", 0).unwrap().0, 0);
    // Just under the limit is fine.
    let mut c = RawClient::connect(broker.local_addr());
    let r = c.produce(
        "big",
        0,
        batch(&[Rec::value(&"x".repeat(3000))], ProducerFields::NONE),
    );
    assert_eq!(r.error_code, 0);
}

#[test]
fn invalid_topic_names_are_rejected_in_create_topics_and_metadata() {
    let broker = broker();
    let mut c = RawClient::connect(broker.local_addr());
    let bad_names = ["bad name", "..", "", "ünïcode", "a/b", &"x".repeat(250)];
    let r = c.request(
        7,
        &CreateTopicsRequest::default()
            .with_timeout_ms(5_000)
            .with_topics(
                bad_names
                    .iter()
                    .map(|n| {
                        CreatableTopic::default()
                            .with_name(TopicName(n.to_string().into()))
                            .with_num_partitions(1)
                            .with_replication_factor(1)
                    })
                    .chain([CreatableTopic::default()
                        .with_name(TopicName("fine".into()))
                        .with_num_partitions(0)
                        .with_replication_factor(1)])
                    .collect(),
            ),
    );
    let codes: Vec<i16> = r.topics.iter().map(|t| t.error_code).collect();
    let mut expected = vec![ResponseError::InvalidTopicException.code(); bad_names.len()];
    expected.push(ResponseError::InvalidPartitions.code());
    assert_eq!(codes, expected);
    assert!(r.topics.iter().all(|t| t.error_message.is_some()));

    let md = c.request(
        12,
        &MetadataRequest::default()
            .with_allow_auto_topic_creation(true)
            .with_topics(Some(
                ["bad name", "a/b"]
                    .iter()
                    .map(|n| {
                        MetadataRequestTopic::default()
                            .with_name(Some(TopicName(n.to_string().into())))
                    })
                    .collect(),
            )),
    );
    assert!(md
        .topics
        .iter()
        .all(|t| t.error_code == ResponseError::InvalidTopicException.code()));
    let all = c.request(12, &MetadataRequest::default().with_topics(None));
    assert!(
        all.topics.is_empty(),
        "nothing was created: {:?}",
        all.topics
    );
}

#[test]
fn corrupt_record_batches_are_rejected_and_nothing_is_appended() {
    let broker = broker();
    broker.create_topic("crc", 1).unwrap();
    let mut c = RawClient::connect(broker.local_addr());
    let good = batch(&[Rec::value("a"), Rec::value("b")], ProducerFields::NONE);

    let mut bad_crc = BytesMut::from(&good[..]);
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0x55; // inside the CRC-covered records
    assert_eq!(
        c.produce("crc", 0, bad_crc.freeze()).error_code,
        ResponseError::CorruptMessage.code()
    );

    let truncated = good.slice(..good.len() - 3);
    assert_eq!(
        c.produce("crc", 0, truncated).error_code,
        ResponseError::CorruptMessage.code()
    );

    let mut old_magic = BytesMut::from(&good[..]);
    old_magic[16] = 1;
    assert_eq!(
        c.produce("crc", 0, old_magic.freeze()).error_code,
        ResponseError::UnsupportedForMessageFormat.code()
    );
    assert_eq!(
        c.produce("crc", 0, bytes::Bytes::from_static(&[1, 2, 3]))
            .error_code,
        ResponseError::CorruptMessage.code()
    );
    // a bad acks value
    let r = c.request(PRODUCE_VERSION, &produce_request("crc", 0, good.clone(), 7));
    assert_eq!(
        r.responses[0].partition_responses[0].error_code,
        ResponseError::InvalidRequiredAcks.code()
    );
    assert_eq!(broker.offsets("crc", 0).unwrap().0, 0, "nothing appended");

    assert_eq!(
        c.produce("crc", 0, good).error_code,
        0,
        "the connection is still usable"
    );
    assert_eq!(broker.offsets("crc", 0).unwrap().0, 2);
}

/// Valid request frames the fuzzer starts from.
fn seeds() -> Vec<BytesMut> {
    let records = batch(&[Rec::value("seed")], ProducerFields::NONE);
    vec![
        frame_of(3, &ApiVersionsRequest::default()),
        frame_of(
            12,
            &MetadataRequest::default().with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(TopicName("fuzz".into())))
            ])),
        ),
        frame_of(
            PRODUCE_VERSION,
            &produce_request("fuzz", 0, records.clone(), -1),
        ),
        frame_of(7, &produce_request("fuzz", 0, records, 1)),
        frame_of(
            FETCH_VERSION,
            &common::raw::fetch_request("fuzz", 0, 0, 0, 1),
        ),
        frame_of(
            7,
            &CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
                .with_name(TopicName("fuzz-created".into()))
                .with_num_partitions(2)
                .with_replication_factor(1)]),
        ),
    ]
}

/// Turns a seed into a malformed frame: truncated, bytes flipped, or random bytes.
fn mangle(rng: &mut StdRng, seeds: &[BytesMut]) -> Vec<u8> {
    let seed = &seeds[rng.gen_range(0..seeds.len())];
    match rng.gen_range(0..4) {
        0 => seed[..rng.gen_range(0..seed.len())].to_vec(),
        1 => {
            let mut f = seed.to_vec();
            for _ in 0..rng.gen_range(1..4) {
                // leave the header's key and version alone half of the time, to reach the decoders
                let from = if rng.gen_bool(0.5) {
                    4.min(f.len() - 1)
                } else {
                    0
                };
                let i = rng.gen_range(from..f.len());
                f[i] = rng.gen();
            }
            f
        }
        2 => {
            // a valid header, a random body
            let mut f = seed[..8.min(seed.len())].to_vec();
            let n = rng.gen_range(0..64);
            f.extend((0..n).map(|_| rng.gen::<u8>()));
            f
        }
        _ => (0..rng.gen_range(0..48)).map(|_| rng.gen::<u8>()).collect(),
    }
}

#[test]
fn random_and_truncated_frames_do_not_take_the_broker_down() {
    let broker = broker();
    broker.create_topic("fuzz", 1).unwrap();
    let addr = broker.local_addr();
    let seeds = seeds();
    let mut rng = StdRng::seed_from_u64(0x6b_6166_6b61);
    let mut sent = 0;
    for _connection in 0..400 {
        let mut c = RawClient::connect(addr);
        for _ in 0..rng.gen_range(1..10) {
            let frame = mangle(&mut rng, &seeds);
            sent += 1;
            if c.write_frame(&frame).is_err() {
                break; // the broker closed this connection
            }
            // Read whatever comes back quickly (a response or a close); do not wait long.
            if !matches!(
                c.poll_frame_or_close(Duration::from_millis(20)),
                Some(true) | None
            ) {
                break;
            }
        }
        // sometimes a raw size prefix with nothing behind it
        if rng.gen_bool(0.2) {
            let _ = c.write_raw(&rng.gen::<u32>().to_be_bytes());
        }
    }
    assert!(sent >= 300, "sent {sent} frames");
    assert_alive(addr);

    // A normal librdkafka round trip still works.
    let p = producer(&broker, &[]);
    for i in 0..10 {
        send(&p, "after-fuzz", 0, "k", &format!("v{i}"));
    }
    p.flush(TIMEOUT).unwrap();
    let values: Vec<String> = read_all(
        &consumer(&broker, "read_uncommitted", &[]),
        "after-fuzz",
        1,
        Some(10),
        Duration::from_millis(200),
    )
    .into_iter()
    .map(|r| r.value)
    .collect();
    assert_eq!(values, (0..10).map(|i| format!("v{i}")).collect::<Vec<_>>());
}
