//! A small raw Kafka-protocol client for tests: size-prefixed frames over a blocking
//! `TcpStream`, requests and responses encoded and decoded with `kafka-protocol`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, InitProducerIdRequest, ProduceRequest, ProducerId,
    RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// Produce v9 and Fetch v12: flexible versions librdkafka also uses.
pub const PRODUCE_VERSION: i16 = 9;
pub const FETCH_VERSION: i16 = 12;

/// One connection to the broker.
#[derive(Debug)]
pub struct RawClient {
    stream: TcpStream,
    next_correlation_id: i32,
}

/// A record to put in a batch: key, value, timestamp.
#[derive(Debug, Clone)]
pub struct Rec {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub timestamp: i64,
}

impl Rec {
    pub fn value(v: &str) -> Self {
        Self {
            key: None,
            value: Some(Bytes::copy_from_slice(v.as_bytes())),
            timestamp: 1_700_000_000_000,
        }
    }
}

/// The producer fields of a batch (`-1`s for a plain producer).
#[derive(Debug, Clone, Copy)]
pub struct ProducerFields {
    pub producer_id: i64,
    pub epoch: i16,
    pub base_sequence: i32,
}

impl ProducerFields {
    pub const NONE: Self = Self {
        producer_id: -1,
        epoch: -1,
        base_sequence: -1,
    };
}

/// Encodes `records` as one v2 record batch, uncompressed.
pub fn batch(records: &[Rec], producer: ProducerFields) -> Bytes {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: producer.producer_id,
            producer_epoch: producer.epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: if producer.base_sequence < 0 {
                -1
            } else {
                producer.base_sequence + i as i32
            },
            timestamp: r.timestamp,
            key: r.key.clone(),
            value: r.value.clone(),
            headers: IndexMap::new(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buf.freeze()
}

/// Decodes the record batches of a fetch response partition.
pub fn decode_records(records: &Option<Bytes>) -> Vec<Record> {
    let Some(b) = records else { return Vec::new() };
    let mut b = b.clone();
    RecordBatchDecoder::decode_all(&mut b)
        .unwrap()
        .into_iter()
        .flat_map(|s| s.records)
        .filter(|r| !r.control)
        .collect()
}

/// A single-partition produce request.
pub fn produce_request(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])])
}

/// A single-partition fetch request.
pub fn fetch_request(
    topic: &str,
    partition: i32,
    offset: i64,
    max_wait_ms: i32,
    min_bytes: i32,
) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(1 << 20)
        .with_isolation_level(0)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_owned())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_current_leader_epoch(-1)
                .with_fetch_offset(offset)
                .with_last_fetched_epoch(-1)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(1 << 20)])])
}

/// Decodes a response frame (header + body) to a request of `R` sent at `version` with `cid`.
pub fn decode_response<R: Request>(mut frame: Bytes, version: i16, cid: i32) -> R::Response {
    let key = ApiKey::try_from(R::KEY).unwrap();
    let header_version = if key == ApiKey::ApiVersions {
        0
    } else {
        key.response_header_version(version)
    };
    let header = ResponseHeader::decode(&mut frame, header_version).unwrap();
    assert_eq!(
        header.correlation_id, cid,
        "responses come in request order"
    );
    let response = R::Response::decode(&mut frame, version).unwrap();
    assert_eq!(frame.remaining(), 0, "the whole response was decoded");
    response
}

impl RawClient {
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        Self {
            stream,
            next_correlation_id: 1,
        }
    }

    /// Writes raw bytes (size prefix included, if any).
    pub fn write_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Writes `body` with a size prefix.
    pub fn write_frame(&mut self, body: &[u8]) -> std::io::Result<()> {
        let mut out = Vec::with_capacity(body.len() + 4);
        out.extend_from_slice(&(body.len() as i32).to_be_bytes());
        out.extend_from_slice(body);
        self.write_raw(&out)
    }

    /// Encodes a request frame body (header + request) of `key` at `version`.
    pub fn encode<R: Encodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        request: &R,
    ) -> (i32, BytesMut) {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("raw-test-client")));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, key.request_header_version(version))
            .unwrap();
        request.encode(&mut body, version).unwrap();
        (correlation_id, body)
    }

    /// Sends a request without reading the answer; returns its correlation id.
    pub fn send<R: Request>(&mut self, version: i16, request: &R) -> std::io::Result<i32> {
        let key = ApiKey::try_from(R::KEY).unwrap();
        let (cid, body) = self.encode(key, version, request);
        self.write_frame(&body)?;
        Ok(cid)
    }

    /// Reads one response frame body.
    pub fn read_frame(&mut self) -> std::io::Result<Bytes> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let len = i32::from_be_bytes(len);
        assert!(len >= 0, "negative response size");
        let mut body = vec![0u8; len as usize];
        self.stream.read_exact(&mut body)?;
        Ok(Bytes::from(body))
    }

    /// Reads and decodes the response to a request of `R` sent at `version` with `cid`.
    pub fn receive<R: Request>(&mut self, version: i16, cid: i32) -> R::Response {
        let frame = self.read_frame().unwrap();
        decode_response::<R>(frame, version, cid)
    }

    /// Sends a request and waits for its response.
    pub fn request<R: Request>(&mut self, version: i16, request: &R) -> R::Response {
        let cid = self.send(version, request).unwrap();
        self.receive::<R>(version, cid)
    }

    /// Reads one frame if one arrives within `wait`; `None` on a timeout. Panics on EOF.
    pub fn poll_frame(&mut self, wait: Duration) -> Option<Bytes> {
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let mut len = [0u8; 4];
        let got = match self.stream.peek(&mut len) {
            Ok(0) => panic!("connection closed"),
            Ok(_) => true,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
            Err(e) => panic!("read failed: {e}"),
        };
        self.stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        got.then(|| self.read_frame().unwrap())
    }

    /// Waits up to `wait`: `Some(true)` if a whole frame arrived (it is consumed), `Some(false)`
    /// if the broker closed the connection, `None` if nothing came.
    pub fn poll_frame_or_close(&mut self, wait: Duration) -> Option<bool> {
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let mut len = [0u8; 4];
        let result = match self.stream.peek(&mut len) {
            Ok(0) => Some(false),
            Ok(_) => {
                self.stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                Some(self.read_frame().is_ok())
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => None,
            Err(_) => Some(false),
        };
        self.stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        result
    }

    /// Whether the broker closed the connection: a read gets EOF or a reset within `wait`.
    /// Panics if the broker sends data instead.
    pub fn is_closed_by_peer(&mut self, wait: Duration) -> bool {
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let mut b = [0u8; 1];
        let closed = match self.stream.read(&mut b) {
            Ok(0) => true,
            Ok(_) => panic!("expected the connection to be closed, got data"),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
            Err(_) => true,
        };
        self.stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        closed
    }

    /// InitProducerId without a transactional id: `(producer id, epoch)`.
    pub fn init_producer_id(&mut self) -> (i64, i16) {
        let r = self.request(
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(-1)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        );
        assert_eq!(r.error_code, 0, "InitProducerId failed: {r:?}");
        (r.producer_id.0, r.producer_epoch)
    }

    /// Produces one batch to one partition with acks=-1 and returns the partition's answer.
    pub fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        records: Bytes,
    ) -> PartitionProduceResponse {
        let r = self.request(
            PRODUCE_VERSION,
            &produce_request(topic, partition, records, -1),
        );
        r.responses[0].partition_responses[0].clone()
    }

    /// Fetches one partition and returns its answer.
    pub fn fetch(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_wait_ms: i32,
        min_bytes: i32,
    ) -> PartitionData {
        let r = self.request(
            FETCH_VERSION,
            &fetch_request(topic, partition, offset, max_wait_ms, min_bytes),
        );
        r.responses[0].partitions[0].clone()
    }
}
