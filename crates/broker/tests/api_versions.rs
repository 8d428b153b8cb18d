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
    let _response = response_to(c, key, version, request);
}

/// [`answered`], and the response.
fn response_to<R: Request>(
    c: &mut RawClient,
    key: ApiKey,
    version: i16,
    request: &R,
) -> R::Response {
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
    let response = R::Response::decode(&mut frame, version)
        .unwrap_or_else(|e| panic!("{key:?} v{version}: undecodable response: {e}"));
    assert_eq!(frame.remaining(), 0, "{key:?} v{version}: trailing bytes");
    response
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
        // without SASL (and after authentication) Kafka answers ILLEGAL_SASL_STATE
        ApiKey::SaslHandshake => {
            let r = response_to(c, key, v, &SaslHandshakeRequest::default());
            assert_eq!(r.error_code, ResponseError::IllegalSaslState.code(), "v{v}");
        }
        ApiKey::SaslAuthenticate => {
            let r = response_to(c, key, v, &SaslAuthenticateRequest::default());
            assert_eq!(r.error_code, ResponseError::IllegalSaslState.code(), "v{v}");
        }
        // without an authorizer Kafka answers SECURITY_DISABLED
        ApiKey::DescribeAcls => {
            let r = response_to(c, key, v, &DescribeAclsRequest::default());
            assert_eq!(r.error_code, ResponseError::SecurityDisabled.code(), "v{v}");
        }
        ApiKey::CreateAcls => answered(c, key, v, &CreateAclsRequest::default()),
        ApiKey::DeleteAcls => answered(c, key, v, &DeleteAclsRequest::default()),
        ApiKey::DescribeUserScramCredentials => {
            answered(c, key, v, &DescribeUserScramCredentialsRequest::default())
        }
        ApiKey::AlterUserScramCredentials => {
            answered(c, key, v, &AlterUserScramCredentialsRequest::default())
        }
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

/// Requests that name things: topic `wire` (2 partitions, one record in partition 0),
/// group `wire-group`, transactional id `wire-txn`.
mod representative {
    use super::*;
    use kafka_eos_broker::protocol::messages::{
        add_partitions_to_txn_request as apt, alter_configs_request as ac,
        create_partitions_request as cp, create_topics_request as ct, delete_records_request as dr,
        describe_configs_request as dc, describe_producers_request as dp,
        incremental_alter_configs_request as iac, leave_group_request as lg,
        list_offsets_request as lo, metadata_request as md, offset_commit_request as oc,
        offset_delete_request as od, offset_fetch_request as of,
        offset_for_leader_epoch_request as ofle, txn_offset_commit_request as toc,
    };
    use kafka_eos_broker::protocol::protocol::StrBytes;

    /// Kafka's operations (`AclOperation` codes) a topic, the cluster and a group support,
    /// as bit sets: READ 3, WRITE 4, CREATE 5, DELETE 6, ALTER 7, DESCRIBE 8, CLUSTER_ACTION
    /// 9, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11, IDEMPOTENT_WRITE 12.
    const TOPIC_OPERATIONS: i32 = bits(&[3, 4, 5, 6, 7, 8, 10, 11]);
    const CLUSTER_OPERATIONS: i32 = bits(&[5, 7, 8, 9, 10, 11, 12]);
    const GROUP_OPERATIONS: i32 = bits(&[3, 6, 8]);

    const fn bits(ops: &[i32]) -> i32 {
        let mut set = 0;
        let mut i = 0;
        while i < ops.len() {
            set |= 1 << ops[i];
            i += 1;
        }
        set
    }

    const TOPIC: &str = "wire";
    const GROUP: &str = "wire-group";
    const TXN: &str = "wire-txn";

    fn s(v: &str) -> StrBytes {
        StrBytes::from_string(v.to_owned())
    }
    fn topic() -> TopicName {
        TopicName(s(TOPIC))
    }
    pub(super) fn group() -> GroupId {
        GroupId(s(GROUP))
    }

    /// The request of `key` at `v` naming the topic, the group and the transactional id
    /// where it has fields for them, setting only fields that exist at `v`; `None` where
    /// the minimal request says as much (or a named one would wait, as JoinGroup).
    pub(super) fn check(c: &mut RawClient, key: ApiKey, v: i16) -> bool {
        match key {
            ApiKey::Produce => answered(
                c,
                key,
                v,
                &common::raw::produce_request(
                    TOPIC,
                    0,
                    common::raw::batch(
                        &[common::raw::Rec::value("w")],
                        common::raw::ProducerFields::NONE,
                    ),
                    -1,
                ),
            ),
            ApiKey::Fetch => answered(c, key, v, &common::raw::fetch_request(TOPIC, 0, 0, 0, 0)),
            ApiKey::ListOffsets => {
                let r = ListOffsetsRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_topics(vec![lo::ListOffsetsTopic::default()
                        .with_name(topic())
                        .with_partitions(vec![
                            lo::ListOffsetsPartition::default()
                                .with_partition_index(0)
                                .with_timestamp(-1),
                            lo::ListOffsetsPartition::default()
                                .with_partition_index(1)
                                .with_timestamp(-2),
                            lo::ListOffsetsPartition::default()
                                .with_partition_index(9)
                                .with_timestamp(-1),
                        ])]);
                let r = if v >= 2 { r.with_isolation_level(1) } else { r };
                answered(c, key, v, &r);
            }
            ApiKey::Metadata => {
                let t = md::MetadataRequestTopic::default().with_name(Some(topic()));
                let r = MetadataRequest::default().with_topics(Some(vec![t]));
                let r = if v >= 8 {
                    r.with_include_topic_authorized_operations(true)
                } else {
                    r
                };
                let r = if (8..=10).contains(&v) {
                    r.with_include_cluster_authorized_operations(true)
                } else {
                    r
                };
                let response = response_to(c, key, v, &r);
                // without an authorizer Kafka reports every operation the resource supports
                if v >= 8 {
                    assert_eq!(
                        response.topics[0].topic_authorized_operations, TOPIC_OPERATIONS,
                        "v{v}"
                    );
                }
                if (8..=10).contains(&v) {
                    assert_eq!(
                        response.cluster_authorized_operations, CLUSTER_OPERATIONS,
                        "v{v}"
                    );
                }
                let all = MetadataRequest::default().with_topics(if v == 0 {
                    Some(vec![])
                } else {
                    None
                });
                answered(c, key, v, &all);
            }
            ApiKey::OffsetCommit => {
                let p = oc::OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(1)
                    .with_committed_metadata(Some(s("m")));
                let r = OffsetCommitRequest::default()
                    .with_group_id(group())
                    .with_generation_id_or_member_epoch(-1)
                    .with_topics(vec![oc::OffsetCommitRequestTopic::default()
                        .with_name(topic())
                        .with_partitions(vec![p])]);
                answered(c, key, v, &r);
            }
            ApiKey::OffsetFetch => {
                let r = if v >= 8 {
                    OffsetFetchRequest::default()
                        .with_groups(vec![of::OffsetFetchRequestGroup::default()
                            .with_group_id(group())
                            .with_topics(Some(vec![of::OffsetFetchRequestTopics::default()
                                .with_name(topic())
                                .with_partition_indexes(vec![0, 1])]))])
                        .with_require_stable(true)
                } else {
                    let r = OffsetFetchRequest::default()
                        .with_group_id(group())
                        .with_topics(Some(vec![of::OffsetFetchRequestTopic::default()
                            .with_name(topic())
                            .with_partition_indexes(vec![0, 1])]));
                    if v >= 7 {
                        r.with_require_stable(true)
                    } else {
                        r
                    }
                };
                answered(c, key, v, &r);
            }
            ApiKey::FindCoordinator => {
                let r = if v >= 4 {
                    FindCoordinatorRequest::default().with_coordinator_keys(vec![s(GROUP)])
                } else {
                    FindCoordinatorRequest::default().with_key(s(GROUP))
                };
                answered(c, key, v, &r);
                let txn = if v >= 4 {
                    FindCoordinatorRequest::default()
                        .with_key_type(1)
                        .with_coordinator_keys(vec![s(TXN)])
                } else if v >= 1 {
                    FindCoordinatorRequest::default()
                        .with_key_type(1)
                        .with_key(s(TXN))
                } else {
                    return true;
                };
                answered(c, key, v, &txn);
            }
            ApiKey::LeaveGroup => {
                let r = if v >= 3 {
                    LeaveGroupRequest::default()
                        .with_group_id(group())
                        .with_members(vec![lg::MemberIdentity::default().with_member_id(s("m"))])
                } else {
                    LeaveGroupRequest::default()
                        .with_group_id(group())
                        .with_member_id(s("m"))
                };
                answered(c, key, v, &r);
            }
            ApiKey::DescribeGroups => {
                let r = DescribeGroupsRequest::default().with_groups(vec![group()]);
                let r = if v >= 3 {
                    r.with_include_authorized_operations(true)
                } else {
                    r
                };
                let response = response_to(c, key, v, &r);
                if v >= 3 {
                    assert_eq!(
                        response.groups[0].authorized_operations, GROUP_OPERATIONS,
                        "v{v}"
                    );
                }
            }
            ApiKey::ListGroups => {
                let r = if v >= 4 {
                    ListGroupsRequest::default().with_states_filter(vec![s("Stable"), s("Empty")])
                } else {
                    ListGroupsRequest::default()
                };
                let r = if v >= 5 {
                    r.with_types_filter(vec![s("classic")])
                } else {
                    r
                };
                answered(c, key, v, &r);
            }
            ApiKey::CreateTopics => {
                let t = ct::CreatableTopic::default()
                    .with_name(TopicName(s(&format!("wire-created-{v}"))))
                    .with_num_partitions(1)
                    .with_replication_factor(1)
                    .with_configs(vec![ct::CreatableTopicConfig::default()
                        .with_name(s("retention.ms"))
                        .with_value(Some(s("60000")))]);
                let existing = ct::CreatableTopic::default()
                    .with_name(topic())
                    .with_num_partitions(2)
                    .with_replication_factor(1);
                let r = CreateTopicsRequest::default()
                    .with_topics(vec![t, existing])
                    .with_timeout_ms(5_000);
                answered(c, key, v, &r);
            }
            ApiKey::DeleteTopics => {
                let r = DeleteTopicsRequest::default()
                    .with_topic_names(vec![TopicName(s(&format!("wire-absent-{v}")))])
                    .with_timeout_ms(5_000);
                answered(c, key, v, &r);
            }
            ApiKey::DeleteGroups => answered(
                c,
                key,
                v,
                &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("wire-absent"))]),
            ),
            ApiKey::InitProducerId => answered(
                c,
                key,
                v,
                &InitProducerIdRequest::default()
                    .with_transactional_id(Some(TransactionalId(s(TXN))))
                    .with_transaction_timeout_ms(60_000),
            ),
            ApiKey::OffsetForLeaderEpoch => {
                let r = OffsetForLeaderEpochRequest::default().with_topics(vec![
                    ofle::OffsetForLeaderTopic::default()
                        .with_topic(topic())
                        .with_partitions(vec![
                            ofle::OffsetForLeaderPartition::default()
                                .with_partition(0)
                                .with_leader_epoch(0),
                            ofle::OffsetForLeaderPartition::default()
                                .with_partition(9)
                                .with_leader_epoch(0),
                        ]),
                ]);
                let r = if v >= 3 {
                    r.with_replica_id(BrokerId(-1))
                } else {
                    r
                };
                answered(c, key, v, &r);
            }
            ApiKey::AddPartitionsToTxn => {
                let r = AddPartitionsToTxnRequest::default()
                    .with_v3_and_below_transactional_id(TransactionalId(s(TXN)))
                    .with_v3_and_below_producer_id(ProducerId(424_242))
                    .with_v3_and_below_producer_epoch(0)
                    .with_v3_and_below_topics(vec![apt::AddPartitionsToTxnTopic::default()
                        .with_name(topic())
                        .with_partitions(vec![0, 1])]);
                answered(c, key, v, &r);
            }
            ApiKey::TxnOffsetCommit => {
                let p = toc::TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(1)
                    .with_committed_metadata(Some(s("m")));
                let r = TxnOffsetCommitRequest::default()
                    .with_transactional_id(TransactionalId(s(TXN)))
                    .with_group_id(group())
                    .with_producer_id(ProducerId(424_242))
                    .with_producer_epoch(0)
                    .with_topics(vec![toc::TxnOffsetCommitRequestTopic::default()
                        .with_name(topic())
                        .with_partitions(vec![p])]);
                let r = if v >= 3 {
                    r.with_generation_id(-1).with_member_id(s(""))
                } else {
                    r
                };
                answered(c, key, v, &r);
            }
            ApiKey::CreatePartitions => answered(
                c,
                key,
                v,
                &CreatePartitionsRequest::default()
                    .with_topics(vec![cp::CreatePartitionsTopic::default()
                        .with_name(topic())
                        .with_count(3)])
                    .with_timeout_ms(5_000)
                    .with_validate_only(true),
            ),
            ApiKey::DescribeConfigs => {
                let r = DescribeConfigsRequest::default().with_resources(vec![
                    dc::DescribeConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(s(TOPIC)),
                    dc::DescribeConfigsResource::default()
                        .with_resource_type(4)
                        .with_resource_name(s("0")),
                ]);
                let r = if v >= 1 {
                    r.with_include_synonyms(true)
                } else {
                    r
                };
                let r = if v >= 3 {
                    r.with_include_documentation(true)
                } else {
                    r
                };
                answered(c, key, v, &r);
            }
            ApiKey::AlterConfigs => answered(
                c,
                key,
                v,
                &AlterConfigsRequest::default()
                    .with_resources(vec![ac::AlterConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(s(TOPIC))
                        .with_configs(vec![ac::AlterableConfig::default()
                            .with_name(s("retention.ms"))
                            .with_value(Some(s("60000")))])])
                    .with_validate_only(true),
            ),
            ApiKey::IncrementalAlterConfigs => answered(
                c,
                key,
                v,
                &IncrementalAlterConfigsRequest::default()
                    .with_resources(vec![iac::AlterConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(s(TOPIC))
                        .with_configs(vec![iac::AlterableConfig::default()
                            .with_name(s("retention.ms"))
                            .with_config_operation(0)
                            .with_value(Some(s("60000")))])])
                    .with_validate_only(true),
            ),
            ApiKey::DeleteRecords => answered(
                c,
                key,
                v,
                &DeleteRecordsRequest::default()
                    .with_topics(vec![dr::DeleteRecordsTopic::default()
                        .with_name(topic())
                        .with_partitions(vec![dr::DeleteRecordsPartition::default()
                            .with_partition_index(1)
                            .with_offset(0)])])
                    .with_timeout_ms(5_000),
            ),
            ApiKey::DescribeCluster => {
                let r = DescribeClusterRequest::default()
                    .with_include_cluster_authorized_operations(true);
                let r = if v >= 1 { r.with_endpoint_type(1) } else { r };
                let response = response_to(c, key, v, &r);
                assert_eq!(
                    response.cluster_authorized_operations, CLUSTER_OPERATIONS,
                    "v{v}"
                );
            }
            ApiKey::OffsetDelete => answered(
                c,
                key,
                v,
                &OffsetDeleteRequest::default()
                    .with_group_id(group())
                    .with_topics(vec![od::OffsetDeleteRequestTopic::default()
                        .with_name(topic())
                        .with_partitions(vec![
                            od::OffsetDeleteRequestPartition::default().with_partition_index(1)
                        ])]),
            ),
            ApiKey::ListTransactions => {
                let r = ListTransactionsRequest::default().with_state_filters(vec![s("Ongoing")]);
                let r = if v >= 1 {
                    r.with_duration_filter(-1)
                } else {
                    r
                };
                answered(c, key, v, &r);
            }
            ApiKey::DescribeTransactions => answered(
                c,
                key,
                v,
                &DescribeTransactionsRequest::default()
                    .with_transactional_ids(vec![TransactionalId(s(TXN))]),
            ),
            ApiKey::DescribeProducers => answered(
                c,
                key,
                v,
                &DescribeProducersRequest::default().with_topics(vec![dp::TopicRequest::default()
                    .with_name(topic())
                    .with_partition_indexes(vec![0, 1, 9])]),
            ),
            _ => return false,
        }
        true
    }
}

/// Every advertised version of every API answers a request that names a topic, a group
/// and a transactional id (where it has fields for them) with a response that encodes at
/// that version: a field set outside its versions would close the connection instead.
/// The requests round-trip too: each is encoded at its version before it is sent.
#[test]
fn every_advertised_version_answers_a_request_that_names_things() {
    let broker = broker();
    answers_requests_that_name_things(&broker, broker.local_addr(), 1, None);
}

/// As above on a cluster of three nodes with one failed over: leaders, replicas, offline
/// replicas and leader epochs in the answers, and the requests this node neither leads
/// nor coordinates answered with NOT_LEADER_OR_FOLLOWER or NOT_COORDINATOR.
#[test]
fn every_advertised_version_is_answered_by_a_node_of_a_cluster() {
    let broker = kafka_eos_broker::BackgroundBroker::start(
        kafka_eos_broker::BrokerConfig::default().nodes(3),
    )
    .unwrap();
    // the node coordinating the group the requests name (its answers are checked), and
    // another node to fail over
    let nodes = broker.nodes();
    let here = broker.group_coordinator(&representative::group().0);
    let addr = nodes.iter().find(|(id, _)| *id == here).unwrap().1;
    let other = nodes.iter().find(|(id, _)| *id != here).unwrap().0;
    answers_requests_that_name_things(&broker, addr, 3, Some(other));
}

/// Creates `wire` (2 partitions, `replicas` each) through `addr`, fails `fail_over` over,
/// and sends every advertised version of every API to `addr`.
fn answers_requests_that_name_things(
    broker: &kafka_eos_broker::BackgroundBroker,
    addr: std::net::SocketAddr,
    replicas: i16,
    fail_over: Option<i32>,
) {
    let mut c = RawClient::connect(addr);
    // topic `wire` with two partitions (a record in partition 0)
    let create = CreateTopicsRequest::default()
        .with_topics(vec![create_topics_request::CreatableTopic::default()
            .with_name(TopicName(
                kafka_eos_broker::protocol::protocol::StrBytes::from_static_str("wire"),
            ))
            .with_num_partitions(2)
            .with_replication_factor(replicas)])
        .with_timeout_ms(5_000);
    let created = c.request(5, &create);
    assert_eq!(created.topics[0].error_code, 0);
    if let Some(node) = fail_over {
        broker.faults().stop_node(node).unwrap();
        assert_eq!(broker.faults().fail_over_now(), vec![node]);
    }
    let mut named = 0;
    for (key, min, max) in advertised(&mut c) {
        for version in min..=max {
            if representative::check(&mut c, key, version) {
                named += 1;
            } else {
                check(&mut c, key, version);
            }
        }
    }
    assert!(
        named > 120,
        "{named} versions answered a request that names things"
    );
}
