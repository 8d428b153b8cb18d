//! What clients learn about the cluster: Metadata (nodes, partition leaders, replicas,
//! in-sync and offline replicas, leader epochs), DescribeCluster and FindCoordinator.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::{authorized, sb, Api};
use crate::cluster::{Cluster, CoordinatorKind, Liveness};
use crate::replicas::NO_LEADER;
use crate::state::State;
use crate::topics::{validate_name, Topics};

impl Api for MetadataRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 12 };
    fn fail(&self, _version: i16, code: i16) -> MetadataResponse {
        let topics = self
            .topics
            .iter()
            .flatten()
            .map(|t| {
                MetadataResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_error_code(code)
            })
            .collect();
        MetadataResponse::default()
            .with_topics(topics)
            .with_controller_id(BrokerId(-1))
    }
}

fn ids(nodes: &[i32]) -> Vec<BrokerId> {
    nodes.iter().copied().map(BrokerId).collect()
}

fn topic_metadata(
    cluster: &Cluster,
    topics: &Topics,
    name: &str,
    operations: i32,
    version: i16,
) -> MetadataResponseTopic {
    let base = MetadataResponseTopic::default()
        .with_name(Some(TopicName(sb(name))))
        .with_topic_authorized_operations(operations);
    if validate_name(name).is_err() {
        return base.with_error_code(ResponseError::InvalidTopicException.code());
    }
    let Some(topic) = topics.get(name) else {
        return base.with_error_code(ResponseError::UnknownTopicOrPartition.code());
    };
    let fenced = |n: &i32| {
        cluster
            .node(*n)
            .is_none_or(|node| node.liveness == Liveness::Fenced)
    };
    let partitions = topic
        .replicas
        .iter()
        .zip(&topic.partitions)
        .enumerate()
        .map(|(p, (r, log))| {
            let offline: Vec<i32> = r.replicas.iter().copied().filter(fenced).collect();
            let m = MetadataResponsePartition::default()
                .with_partition_index(p as i32)
                .with_leader_id(BrokerId(r.leader))
                .with_leader_epoch(if version >= 7 {
                    log.epochs().current()
                } else {
                    -1
                })
                .with_replica_nodes(ids(&r.replicas))
                .with_isr_nodes(ids(&r.isr))
                .with_offline_replicas(if version >= 5 {
                    ids(&offline)
                } else {
                    Vec::new()
                });
            if r.leader == NO_LEADER {
                m.with_error_code(ResponseError::LeaderNotAvailable.code())
            } else {
                m
            }
        })
        .collect();
    base.with_topic_id(topic.id).with_partitions(partitions)
}

pub(crate) fn metadata(state: &State, req: MetadataRequest, version: i16) -> MetadataResponse {
    let mut topics = state.topics();
    // v0: an empty list means all topics; v1+: null means all, empty means none.
    let requested: Option<Vec<String>> = match &req.topics {
        None => None,
        Some(list) if list.is_empty() && version == 0 => None,
        Some(list) => Some(
            list.iter()
                .map(|t| match &t.name {
                    Some(n) => n.0.to_string(),
                    None => topics.by_id(t.topic_id).unwrap_or_default().to_owned(),
                })
                .collect(),
        ),
    };
    let auto_create = version < 4 || req.allow_auto_topic_creation;
    if let Some(names) = &requested {
        if auto_create {
            for n in names.iter().filter(|n| validate_name(n).is_ok()) {
                state.auto_create(&mut topics, n);
            }
        }
    }
    // asked for from v8 (the cluster's only up to v10: DescribeCluster took it over)
    let topic_operations = authorized::reported(
        version >= 8 && req.include_topic_authorized_operations,
        authorized::TOPIC,
    );
    let cluster_operations = authorized::reported(
        (8..=10).contains(&version) && req.include_cluster_authorized_operations,
        authorized::CLUSTER,
    );
    let cluster = state.cluster();
    let names: Vec<String> =
        requested.unwrap_or_else(|| topics.iter().map(|(n, _)| n.clone()).collect());
    let response_topics = names
        .iter()
        .map(|n| topic_metadata(&cluster, &topics, n, topic_operations, version))
        .collect();
    let brokers = cluster
        .listed()
        .map(|n| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(n.id))
                .with_host(sb(&n.host))
                .with_port(n.port)
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(if version >= 2 {
            Some(sb(&state.config.cluster_id))
        } else {
            None
        })
        .with_controller_id(BrokerId(cluster.controller()))
        .with_cluster_authorized_operations(cluster_operations)
        .with_topics(response_topics)
}

impl Api for FindCoordinatorRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 4 };
    fn fail(&self, version: i16, code: i16) -> FindCoordinatorResponse {
        if version >= 4 {
            FindCoordinatorResponse::default().with_coordinators(
                self.coordinator_keys
                    .iter()
                    .map(|k| {
                        Coordinator::default()
                            .with_key(k.clone())
                            .with_node_id(BrokerId(-1))
                            .with_port(-1)
                            .with_error_code(code)
                    })
                    .collect(),
            )
        } else {
            FindCoordinatorResponse::default()
                .with_error_code(code)
                .with_node_id(BrokerId(-1))
                .with_port(-1)
        }
    }
}

/// The coordinator of `key`: (node, host, port), or COORDINATOR_NOT_AVAILABLE while its
/// partition has no leader.
fn locate(cluster: &Cluster, kind: CoordinatorKind, key: &str) -> Result<(i32, String, i32), i16> {
    cluster
        .node(cluster.coordinator(kind, key))
        .map(|n| (n.id, n.host.clone(), n.port))
        .ok_or(ResponseError::CoordinatorNotAvailable.code())
}

pub(crate) fn find_coordinator(
    state: &State,
    req: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let kind = match req.key_type {
        0 => Some(CoordinatorKind::Group),
        1 => Some(CoordinatorKind::Transaction),
        _ => None,
    };
    let invalid = ResponseError::InvalidRequest.code();
    let cluster = state.cluster();
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .iter()
            .map(|k| {
                let c = Coordinator::default().with_key(k.clone());
                let found = match kind {
                    Some(CoordinatorKind::Transaction) if k.is_empty() => Err(invalid),
                    Some(kind) => locate(&cluster, kind, k),
                    None => Err(invalid),
                };
                match found {
                    Ok((node, host, port)) => c
                        .with_node_id(BrokerId(node))
                        .with_host(sb(host))
                        .with_port(port),
                    Err(code) => c
                        .with_error_code(code)
                        .with_node_id(BrokerId(-1))
                        .with_port(-1),
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    match kind.map_or(Err(invalid), |kind| locate(&cluster, kind, &req.key)) {
        Ok((node, host, port)) => FindCoordinatorResponse::default()
            .with_node_id(BrokerId(node))
            .with_host(sb(host))
            .with_port(port),
        Err(code) => FindCoordinatorResponse::default()
            .with_error_code(code)
            .with_node_id(BrokerId(-1))
            .with_port(-1),
    }
}

impl Api for DescribeClusterRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 1 };
    fn fail(&self, _version: i16, code: i16) -> DescribeClusterResponse {
        DescribeClusterResponse::default()
            .with_error_code(code)
            .with_controller_id(BrokerId(-1))
    }
}

pub(crate) fn describe_cluster(
    state: &State,
    req: DescribeClusterRequest,
    version: i16,
) -> DescribeClusterResponse {
    let cluster = state.cluster();
    let r = DescribeClusterResponse::default()
        .with_cluster_id(sb(&state.config.cluster_id))
        .with_controller_id(BrokerId(cluster.controller()))
        .with_cluster_authorized_operations(authorized::reported(
            req.include_cluster_authorized_operations,
            authorized::CLUSTER,
        ));
    // endpoint type 1 = brokers, 2 = controllers (KIP-919); every node is both
    let r = if version >= 1 {
        r.with_endpoint_type(req.endpoint_type)
    } else {
        r
    };
    r.with_brokers(
        cluster
            .listed()
            .map(|n| {
                DescribeClusterBroker::default()
                    .with_broker_id(BrokerId(n.id))
                    .with_host(sb(&n.host))
                    .with_port(n.port)
            })
            .collect(),
    )
}
