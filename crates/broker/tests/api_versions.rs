//! The versions ApiVersions advertises are the versions the handlers answer: every
//! advertised version of every API gets a decodable response to a minimal request, and the
//! versions just outside each range are refused.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

mod common;

use std::time::Duration;

use bytes::Buf;
use common::broker;
use common::raw::RawClient;
use kafka_eos_broker::protocol::messages::*;
use kafka_eos_broker::protocol::protocol::{Decodable, Request};
use kafka_eos_broker::protocol::ResponseError;

const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// The advertised `(api key, min, max)` list.
fn advertised(c: &mut RawClient) -> Vec<(ApiKey, i16, i16)> {
    let r = c.request(3, &ApiVersionsRequest::default());
    assert_eq!(r.error_code, 0);
    r.api_keys
        .iter()
        .map(|k| {
            let key = ApiKey::try_from(k.api_key)
                .unwrap_or_else(|_| panic!("unknown API key {} advertised", k.api_key));
            (key, k.min_version, k.max_version)
        })
        .collect()
}

/// Sends `request` at `version` and checks that the answer is a whole response of that
/// version to it.
fn answered<R: Request>(c: &mut RawClient, key: ApiKey, version: i16, request: &R) {
    let cid = c
        .send(version, request)
        .unwrap_or_else(|e| panic!("{key:?} v{version}: cannot send: {e}"));
    let mut frame = c
        .read_frame()
        .unwrap_or_else(|e| panic!("{key:?} v{version} is advertised but not answered: {e}"));
    let header_version = if key == ApiKey::ApiVersions {
        0
    } else {
        key.response_header_version(version)
    };
    let header = ResponseHeader::decode(&mut frame, header_version)
        .unwrap_or_else(|e| panic!("{key:?} v{version}: bad response header: {e}"));
    assert_eq!(header.correlation_id, cid, "{key:?} v{version}");
    R::Response::decode(&mut frame, version)
        .unwrap_or_else(|e| panic!("{key:?} v{version}: undecodable response: {e}"));
    assert_eq!(frame.remaining(), 0, "{key:?} v{version}: trailing bytes");
}

/// Sends a minimal valid request of `key` at `version` (kafka-protocol's defaults, plus
/// what makes the broker answer at once) and checks the answer.
fn check(c: &mut RawClient, key: ApiKey, version: i16) {
    let v = version;
    match key {
        ApiKey::Produce => answered(c, key, v, &ProduceRequest::default().with_acks(-1)),
        ApiKey::Fetch => answered(c, key, v, &FetchRequest::default()),
        ApiKey::ListOffsets => answered(c, key, v, &ListOffsetsRequest::default()),
        ApiKey::Metadata => answered(c, key, v, &MetadataRequest::default()),
        ApiKey::OffsetCommit => answered(c, key, v, &OffsetCommitRequest::default()),
        ApiKey::OffsetFetch => answered(c, key, v, &OffsetFetchRequest::default()),
        ApiKey::FindCoordinator => answered(c, key, v, &FindCoordinatorRequest::default()),
        ApiKey::JoinGroup => answered(c, key, v, &JoinGroupRequest::default()),
        ApiKey::Heartbeat => answered(c, key, v, &HeartbeatRequest::default()),
        ApiKey::LeaveGroup => answered(c, key, v, &LeaveGroupRequest::default()),
        ApiKey::SyncGroup => answered(c, key, v, &SyncGroupRequest::default()),
        ApiKey::DescribeGroups => answered(c, key, v, &DescribeGroupsRequest::default()),
        ApiKey::ListGroups => answered(c, key, v, &ListGroupsRequest::default()),
        ApiKey::ApiVersions => answered(c, key, v, &ApiVersionsRequest::default()),
        ApiKey::CreateTopics => answered(c, key, v, &CreateTopicsRequest::default()),
        ApiKey::DeleteTopics => answered(c, key, v, &DeleteTopicsRequest::default()),
        ApiKey::DeleteGroups => answered(c, key, v, &DeleteGroupsRequest::default()),
        ApiKey::InitProducerId => answered(c, key, v, &InitProducerIdRequest::default()),
        ApiKey::OffsetForLeaderEpoch => {
            answered(c, key, v, &OffsetForLeaderEpochRequest::default())
        }
        ApiKey::AddPartitionsToTxn => answered(c, key, v, &AddPartitionsToTxnRequest::default()),
        ApiKey::AddOffsetsToTxn => answered(c, key, v, &AddOffsetsToTxnRequest::default()),
        ApiKey::EndTxn => answered(c, key, v, &EndTxnRequest::default()),
        ApiKey::TxnOffsetCommit => answered(c, key, v, &TxnOffsetCommitRequest::default()),
        ApiKey::CreatePartitions => answered(c, key, v, &CreatePartitionsRequest::default()),
        ApiKey::DescribeConfigs => answered(c, key, v, &DescribeConfigsRequest::default()),
        ApiKey::AlterConfigs => answered(c, key, v, &AlterConfigsRequest::default()),
        ApiKey::IncrementalAlterConfigs => {
            answered(c, key, v, &IncrementalAlterConfigsRequest::default())
        }
        ApiKey::DeleteRecords => answered(c, key, v, &DeleteRecordsRequest::default()),
        ApiKey::DescribeCluster => answered(c, key, v, &DescribeClusterRequest::default()),
        ApiKey::OffsetDelete => answered(c, key, v, &OffsetDeleteRequest::default()),
        ApiKey::ListTransactions => answered(c, key, v, &ListTransactionsRequest::default()),
        ApiKey::DescribeTransactions => {
            answered(c, key, v, &DescribeTransactionsRequest::default())
        }
        ApiKey::DescribeProducers => answered(c, key, v, &DescribeProducersRequest::default()),
        other => panic!("{other:?} is advertised: give this test a minimal request for it"),
    }
}

/// A request frame of `key` at `version` with header v1 fields and no body: the broker
/// looks at the version before it reads anything else.
fn header_only(key: ApiKey, version: i16) -> Vec<u8> {
    let mut body = vec![];
    body.extend_from_slice(&(key as i16).to_be_bytes());
    body.extend_from_slice(&version.to_be_bytes());
    body.extend_from_slice(&7i32.to_be_bytes());
    body.extend_from_slice(&[0xff, 0xff]); // null client id
    body
}

/// Whether the broker refuses `key` at `version`: it closes the connection, or for
/// ApiVersions answers v0 with UNSUPPORTED_VERSION (KIP-511).
fn refused(broker: &kafka_eos_broker::BackgroundBroker, key: ApiKey, version: i16) -> bool {
    let mut c = RawClient::connect(broker.local_addr());
    c.write_frame(&header_only(key, version)).unwrap();
    if key == ApiKey::ApiVersions {
        let mut frame = c.read_frame().unwrap();
        ResponseHeader::decode(&mut frame, 0).unwrap();
        let r = ApiVersionsResponse::decode(&mut frame, 0).unwrap();
        r.error_code == ResponseError::UnsupportedVersion.code()
    } else {
        c.is_closed_by_peer(CLOSE_WAIT)
    }
}

#[test]
fn every_advertised_version_is_answered() {
    let broker = broker();
    let mut c = RawClient::connect(broker.local_addr());
    let apis = advertised(&mut c);
    assert!(apis.len() > 30, "{apis:?}");
    for (key, min, max) in apis {
        assert!(min <= max, "{key:?} advertises {min}-{max}");
        for version in min..=max {
            check(&mut c, key, version);
        }
    }
}

#[test]
fn versions_outside_the_advertised_ranges_are_refused() {
    let broker = broker();
    let apis = advertised(&mut RawClient::connect(broker.local_addr()));
    for (key, min, max) in apis {
        assert!(refused(&broker, key, max + 1), "{key:?} v{}", max + 1);
        if min > 0 {
            assert!(refused(&broker, key, min - 1), "{key:?} v{}", min - 1);
        }
    }
}
