//! ApiVersions, Metadata, DescribeCluster and FindCoordinator; topic admin: CreateTopics,
//! DeleteTopics and CreatePartitions.

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::{authorized, sb, Api};
use crate::error::Error;
use crate::state::State;
use crate::topic_config::{default_of, validate, TopicConfigs};
use crate::topics::{validate_name, Topics, MAX_PARTITIONS};

impl Api for ApiVersionsRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 3 };
    fn fail(&self, _version: i16, code: i16) -> ApiVersionsResponse {
        ApiVersionsResponse::default()
            .with_error_code(code)
            .with_api_keys(crate::dispatch::api_version_list())
    }
}

pub(crate) fn api_versions(_req: ApiVersionsRequest, _version: i16) -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(crate::dispatch::api_version_list())
}

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

fn topic_metadata(
    state: &State,
    topics: &Topics,
    name: &str,
    operations: i32,
) -> MetadataResponseTopic {
    let node = BrokerId(state.config.node_id);
    let base = MetadataResponseTopic::default()
        .with_name(Some(TopicName(sb(name))))
        .with_topic_authorized_operations(operations);
    if validate_name(name).is_err() {
        return base.with_error_code(ResponseError::InvalidTopicException.code());
    }
    let Some(topic) = topics.get(name) else {
        return base.with_error_code(ResponseError::UnknownTopicOrPartition.code());
    };
    let partitions = (0..topic.partitions.len() as i32)
        .map(|p| {
            MetadataResponsePartition::default()
                .with_partition_index(p)
                .with_leader_id(node)
                .with_leader_epoch(0)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
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
    // asked for from v8 (the cluster's only up to v10: DescribeCluster took it over)
    let topic_operations = authorized::reported(
        version >= 8 && req.include_topic_authorized_operations,
        authorized::TOPIC,
    );
    let cluster_operations = authorized::reported(
        (8..=10).contains(&version) && req.include_cluster_authorized_operations,
        authorized::CLUSTER,
    );
    let response_topics = match requested {
        None => topics
            .iter()
            .map(|(n, _)| n.clone())
            .collect::<Vec<_>>()
            .iter()
            .map(|n| topic_metadata(state, &topics, n, topic_operations))
            .collect(),
        Some(names) => names
            .iter()
            .map(|n| {
                if auto_create && validate_name(n).is_ok() {
                    state.auto_create(&mut topics, n);
                }
                topic_metadata(state, &topics, n, topic_operations)
            })
            .collect(),
    };
    let broker = MetadataResponseBroker::default()
        .with_node_id(BrokerId(state.config.node_id))
        .with_host(sb(&state.advertised_host))
        .with_port(state.advertised_port);
    MetadataResponse::default()
        .with_brokers(vec![broker])
        .with_cluster_id(if version >= 2 {
            Some(sb(&state.config.cluster_id))
        } else {
            None
        })
        .with_controller_id(BrokerId(state.config.node_id))
        .with_cluster_authorized_operations(cluster_operations)
        .with_topics(response_topics)
}

impl Api for CreateTopicsRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 2, max: 7 };
    fn fail(&self, _version: i16, code: i16) -> CreateTopicsResponse {
        CreateTopicsResponse::default().with_topics(
            self.topics
                .iter()
                .map(|t| {
                    CreatableTopicResult::default()
                        .with_name(t.name.clone())
                        .with_error_code(code)
                })
                .collect(),
        )
    }
}

pub(crate) fn create_topics(
    state: &State,
    req: CreateTopicsRequest,
    version: i16,
) -> CreateTopicsResponse {
    let mut topics = state.topics();
    let results = req
        .topics
        .iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let result = CreatableTopicResult::default().with_name(t.name.clone());
            let partitions = if t.num_partitions == -1 {
                if t.assignments.is_empty() {
                    state.config.default_partitions
                } else {
                    t.assignments.len() as i32
                }
            } else {
                t.num_partitions
            };
            let error = |e: ResponseError, msg: String| {
                let r = result.clone().with_error_code(e.code());
                if version >= 1 {
                    r.with_error_message(Some(sb(&msg)))
                } else {
                    r
                }
            };
            if let Err(e) = validate_name(&name) {
                return error(ResponseError::InvalidTopicException, e.to_string());
            }
            if topics.get(&name).is_some() {
                return error(
                    ResponseError::TopicAlreadyExists,
                    format!("Topic '{name}' already exists."),
                );
            }
            if !(1..=MAX_PARTITIONS).contains(&partitions) {
                return error(
                    ResponseError::InvalidPartitions,
                    format!("Number of partitions must be larger than 0 (got {partitions})."),
                );
            }
            if t.replication_factor != -1 && t.replication_factor != 1 {
                if t.replication_factor < 1 {
                    return error(
                        ResponseError::InvalidReplicationFactor,
                        "Replication factor must be larger than 0.".into(),
                    );
                }
                return error(
                    ResponseError::InvalidReplicationFactor,
                    format!(
                        "Replication factor: {} larger than available brokers: 1.",
                        t.replication_factor
                    ),
                );
            }
            for c in &t.configs {
                let checked = match &c.value {
                    Some(v) => validate(&c.name, v),
                    None => default_of(&c.name)
                        .map(|_| ())
                        .ok_or_else(|| format!("Unknown topic config name: {}", c.name)),
                };
                if let Err(msg) = checked {
                    return error(ResponseError::InvalidConfig, msg);
                }
            }
            if !req.validate_only {
                if let Err(e) = topics.create(&name, partitions) {
                    let code = match e {
                        Error::TopicExists(_) => ResponseError::TopicAlreadyExists,
                        Error::InvalidPartitions(_) => ResponseError::InvalidPartitions,
                        _ => ResponseError::InvalidTopicException,
                    };
                    return error(code, e.to_string());
                }
                if let Some(topic) = topics.get_mut(&name) {
                    for c in &t.configs {
                        if let Some(v) = &c.value {
                            topic.configs.set(&c.name, v);
                        }
                    }
                }
                tracing::info!(topic = %name, partitions, "created topic");
            }
            let id = topics.get(&name).map(|t| t.id).unwrap_or_default();
            let mut r = result.with_topic_id(id);
            if version >= 5 {
                let mut configs = TopicConfigs::default();
                for c in &t.configs {
                    if let Some(v) = &c.value {
                        configs.set(&c.name, v);
                    }
                }
                let described = configs
                    .describe()
                    .map(|(k, v, explicit)| {
                        CreatableTopicConfigs::default()
                            .with_name(sb(k))
                            .with_value(Some(sb(v)))
                            .with_config_source(if explicit { 1 } else { 5 })
                    })
                    .collect();
                r = r
                    .with_num_partitions(partitions)
                    .with_replication_factor(1)
                    .with_configs(Some(described));
            }
            r
        })
        .collect();
    CreateTopicsResponse::default().with_topics(results)
}

impl Api for DeleteTopicsRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 1, max: 5 };
    fn fail(&self, _version: i16, code: i16) -> DeleteTopicsResponse {
        DeleteTopicsResponse::default().with_responses(
            self.topic_names
                .iter()
                .map(|n| {
                    DeletableTopicResult::default()
                        .with_name(Some(n.clone()))
                        .with_error_code(code)
                })
                .collect(),
        )
    }
}

pub(crate) fn delete_topics(
    state: &State,
    req: DeleteTopicsRequest,
    _version: i16,
) -> DeleteTopicsResponse {
    let mut txns = state.txns();
    let mut topics = state.topics();
    let responses = req
        .topic_names
        .iter()
        .map(|name| {
            let n = name.0.to_string();
            let r = DeletableTopicResult::default().with_name(Some(name.clone()));
            match topics.delete(&n) {
                Ok(_) => {
                    txns.forget_topic(&n);
                    tracing::info!(topic = %n, "deleted topic");
                    r
                }
                Err(_) => r.with_error_code(ResponseError::UnknownTopicOrPartition.code()),
            }
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}

impl Api for CreatePartitionsRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 3 };
    fn fail(&self, _version: i16, code: i16) -> CreatePartitionsResponse {
        CreatePartitionsResponse::default().with_results(
            self.topics
                .iter()
                .map(|t| {
                    CreatePartitionsTopicResult::default()
                        .with_name(t.name.clone())
                        .with_error_code(code)
                })
                .collect(),
        )
    }
}

pub(crate) fn create_partitions(
    state: &State,
    req: CreatePartitionsRequest,
    _version: i16,
) -> CreatePartitionsResponse {
    let mut topics = state.topics();
    let results = req
        .topics
        .iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let r = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            let Some(current) = topics.get(&name).map(|t| t.partitions.len() as i32) else {
                return r.with_error_code(ResponseError::UnknownTopicOrPartition.code());
            };
            if t.count <= current {
                let msg = format!("Topic currently has {current} partitions, which is higher than or equal to the requested {}.", t.count);
                return r
                    .with_error_code(ResponseError::InvalidPartitions.code())
                    .with_error_message(Some(sb(&msg)));
            }
            if req.validate_only {
                return r;
            }
            match topics.add_partitions(&name, t.count) {
                Ok(()) => {
                    tracing::info!(topic = %name, partitions = t.count, "added partitions");
                    r
                }
                Err(e) => r
                    .with_error_code(ResponseError::InvalidPartitions.code())
                    .with_error_message(Some(sb(e.to_string()))),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
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

pub(crate) fn find_coordinator(
    state: &State,
    req: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let node = BrokerId(state.config.node_id);
    let host = sb(&state.advertised_host);
    let port = state.advertised_port;
    // key types: 0 group, 1 transaction
    let valid_type = req.key_type == 0 || req.key_type == 1;
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .iter()
            .map(|k| {
                let c = Coordinator::default().with_key(k.clone());
                if !valid_type || (k.is_empty() && req.key_type == 1) {
                    c.with_error_code(ResponseError::InvalidRequest.code())
                        .with_node_id(BrokerId(-1))
                        .with_port(-1)
                } else {
                    c.with_node_id(node).with_host(host.clone()).with_port(port)
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    if !valid_type {
        return FindCoordinatorResponse::default()
            .with_error_code(ResponseError::InvalidRequest.code())
            .with_node_id(BrokerId(-1))
            .with_port(-1);
    }
    FindCoordinatorResponse::default()
        .with_node_id(node)
        .with_host(host)
        .with_port(port)
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
    let r = DescribeClusterResponse::default()
        .with_cluster_id(sb(&state.config.cluster_id))
        .with_controller_id(BrokerId(state.config.node_id))
        .with_cluster_authorized_operations(authorized::reported(
            req.include_cluster_authorized_operations,
            authorized::CLUSTER,
        ));
    // endpoint type 1 = brokers, 2 = controllers (KIP-919); this node is both
    let r = if version >= 1 {
        r.with_endpoint_type(req.endpoint_type)
    } else {
        r
    };
    r.with_brokers(vec![DescribeClusterBroker::default()
        .with_broker_id(BrokerId(state.config.node_id))
        .with_host(sb(&state.advertised_host))
        .with_port(state.advertised_port)])
}
