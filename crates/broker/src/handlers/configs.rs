//! CreatePartitions and DescribeConfigs: the admin calls clients make around topics.

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::*;
use kafka_protocol::ResponseError;

use super::{sb, Api};
use crate::state::State;

/// Config resource types (Kafka's `ConfigResource.Type`).
const TOPIC: i8 = 2;
const BROKER: i8 = 4;
/// Config sources.
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;
/// Config types.
const BOOLEAN: i8 = 1;
const STRING: i8 = 2;
const INT: i8 = 3;
const LONG: i8 = 5;

impl Api for CreatePartitionsRequest {
    type Response = CreatePartitionsResponse;
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
                    .with_error_message(Some(sb(&e.to_string()))),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}

impl Api for DescribeConfigsRequest {
    type Response = DescribeConfigsResponse;
    fn fail(&self, _version: i16, code: i16) -> DescribeConfigsResponse {
        DescribeConfigsResponse::default().with_results(
            self.resources
                .iter()
                .map(|r| {
                    DescribeConfigsResult::default()
                        .with_resource_type(r.resource_type)
                        .with_resource_name(r.resource_name.clone())
                        .with_error_code(code)
                })
                .collect(),
        )
    }
}

fn entry(
    name: &str,
    value: String,
    source: i8,
    kind: i8,
    version: i16,
) -> DescribeConfigsResourceResult {
    let r = DescribeConfigsResourceResult::default()
        .with_name(sb(name))
        .with_value(Some(sb(&value)))
        .with_read_only(true)
        .with_config_source(if version >= 1 { source } else { -1 });
    if version >= 3 {
        r.with_config_type(kind)
    } else {
        r
    }
}

fn topic_configs(version: i16) -> Vec<DescribeConfigsResourceResult> {
    [
        ("cleanup.policy", "delete", STRING),
        ("compression.type", "producer", STRING),
        ("max.message.bytes", "1048588", INT),
        ("message.timestamp.type", "CreateTime", STRING),
        ("min.insync.replicas", "1", INT),
        ("retention.bytes", "-1", LONG),
        ("retention.ms", "-1", LONG),
        ("segment.bytes", "1073741824", INT),
    ]
    .into_iter()
    .map(|(k, v, t)| entry(k, v.to_owned(), DEFAULT_CONFIG, t, version))
    .collect()
}

fn broker_configs(state: &State, version: i16) -> Vec<DescribeConfigsResourceResult> {
    let c = &state.config;
    [
        ("broker.id", c.node_id.to_string(), INT),
        (
            "auto.create.topics.enable",
            c.auto_create_topics.to_string(),
            BOOLEAN,
        ),
        ("num.partitions", c.default_partitions.to_string(), INT),
        (
            "socket.request.max.bytes",
            c.max_request_bytes.to_string(),
            INT,
        ),
        (
            "group.initial.rebalance.delay.ms",
            c.group_initial_rebalance_delay.as_millis().to_string(),
            INT,
        ),
        (
            "group.min.session.timeout.ms",
            c.group_min_session_timeout.as_millis().to_string(),
            INT,
        ),
        (
            "group.max.session.timeout.ms",
            c.group_max_session_timeout.as_millis().to_string(),
            INT,
        ),
        (
            "transaction.max.timeout.ms",
            c.max_transaction_timeout.as_millis().to_string(),
            INT,
        ),
        ("offsets.topic.replication.factor", "1".to_owned(), INT),
        (
            "transaction.state.log.replication.factor",
            "1".to_owned(),
            INT,
        ),
        ("transaction.state.log.min.isr", "1".to_owned(), INT),
        ("min.insync.replicas", "1".to_owned(), INT),
    ]
    .into_iter()
    .map(|(k, v, t)| entry(k, v, STATIC_BROKER_CONFIG, t, version))
    .collect()
}

pub(crate) fn describe_configs(
    state: &State,
    req: DescribeConfigsRequest,
    version: i16,
) -> DescribeConfigsResponse {
    let results = req
        .resources
        .iter()
        .map(|r| {
            let name = r.resource_name.to_string();
            let result = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            let configs = match r.resource_type {
                TOPIC if state.topics().get(&name).is_some() => topic_configs(version),
                TOPIC => {
                    return result
                        .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                        .with_error_message(Some(sb(&format!("Topic {name} does not exist"))))
                }
                BROKER if name.is_empty() || name == state.config.node_id.to_string() => {
                    broker_configs(state, version)
                }
                BROKER => {
                    return result
                        .with_error_code(ResponseError::InvalidRequest.code())
                        .with_error_message(Some(sb(&format!("Unexpected broker id {name}"))))
                }
                _ => {
                    return result
                        .with_error_code(ResponseError::InvalidRequest.code())
                        .with_error_message(Some(sb("unsupported resource type")))
                }
            };
            let configs = match &r.configuration_keys {
                Some(keys) => configs
                    .into_iter()
                    .filter(|c| keys.contains(&c.name))
                    .collect(),
                None => configs,
            };
            result.with_configs(configs)
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}
