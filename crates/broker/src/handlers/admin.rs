//! ApiVersions; topic admin: CreateTopics and DeleteTopics (CreatePartitions: `partitions`).

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::{sb, Api};
use crate::error::Error;
use crate::state::State;
use crate::topic_config::{default_of, validate, TopicConfigs};
use crate::topics::{validate_name, MAX_PARTITIONS};

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

/// The replicas of a new topic's partitions: its manual assignment, checked as Kafka
/// checks it, or placed over the listed nodes with its (or the default) replication factor.
fn placement(state: &State, t: &CreatableTopic) -> Result<Vec<Vec<i32>>, (ResponseError, String)> {
    let cluster = &mut state.cluster();
    if !t.assignments.is_empty() {
        if t.num_partitions != -1 || t.replication_factor != -1 {
            return Err((
                ResponseError::InvalidRequest,
                "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".into(),
            ));
        }
        let mut sorted: Vec<_> = t.assignments.iter().collect();
        sorted.sort_by_key(|a| a.partition_index);
        let replicas: Vec<Vec<i32>> = sorted
            .iter()
            .map(|a| a.broker_ids.iter().map(|b| b.0).collect())
            .collect();
        let rf = replicas[0].len();
        let valid = sorted
            .iter()
            .enumerate()
            .all(|(i, a)| a.partition_index == i as i32)
            && replicas.iter().all(|r| {
                let mut unique = r.clone();
                unique.sort_unstable();
                unique.dedup();
                !r.is_empty() && r.len() == rf && unique.len() == rf && cluster.all_listed(r)
            });
        if !valid {
            return Err((
                ResponseError::InvalidReplicaAssignment,
                "Replica assignments must name consecutive partitions from 0, each with the same number of distinct, live brokers.".into(),
            ));
        }
        return Ok(replicas);
    }
    let partitions = if t.num_partitions == -1 {
        state.config.default_partitions
    } else {
        t.num_partitions
    };
    let rf = match t.replication_factor {
        -1 => state.config.default_replication_factor,
        rf => i32::from(rf),
    };
    if rf < 1 {
        return Err((
            ResponseError::InvalidReplicationFactor,
            "Replication factor must be larger than 0.".into(),
        ));
    }
    cluster
        .place(partitions.max(0) as usize, rf as usize)
        .map_err(|available| {
            (
                ResponseError::InvalidReplicationFactor,
                format!("Replication factor: {rf} larger than available brokers: {available}."),
            )
        })
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
            let placement = match placement(state, t) {
                Ok(p) => p,
                Err((code, msg)) => return error(code, msg),
            };
            let replication_factor = placement.first().map_or(0, |r| r.len() as i16);
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
                if let Err(e) = topics.create(&name, placement) {
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
                    .with_replication_factor(replication_factor)
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
