//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs: topic configs here, broker
//! configs in `broker_configs`.

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::broker_configs::{self, Refusal};
use super::{sb, Api};
use crate::dynamic_config::Target;
use crate::state::State;
use crate::topic_config::{default_of, validate, TopicConfigs};

/// Config resource types (Kafka's `ConfigResource.Type`).
const TOPIC: i8 = 2;
const BROKER: i8 = 4;
/// Config sources.
const TOPIC_CONFIG: i8 = 1;
const DEFAULT_CONFIG: i8 = 5;
/// Config types.
pub(super) const BOOLEAN: i8 = 1;
pub(super) const STRING: i8 = 2;
pub(super) const INT: i8 = 3;
const LONG: i8 = 5;
const DOUBLE: i8 = 6;
const LIST: i8 = 7;
/// IncrementalAlterConfigs operations.
pub(super) const OP_SET: i8 = 0;
pub(super) const OP_DELETE: i8 = 1;
pub(super) const OP_APPEND: i8 = 2;
pub(super) const OP_SUBTRACT: i8 = 3;

impl Api for DescribeConfigsRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 1, max: 4 };
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

pub(super) fn entry(
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

/// The type Kafka reports for a topic config key.
fn config_type(key: &str) -> i8 {
    match key {
        "cleanup.policy"
        | "follower.replication.throttled.replicas"
        | "leader.replication.throttled.replicas" => LIST,
        "message.downconversion.enable"
        | "preallocate"
        | "remote.storage.enable"
        | "unclean.leader.election.enable" => BOOLEAN,
        "min.cleanable.dirty.ratio" => DOUBLE,
        "compression.type" | "message.format.version" | "message.timestamp.type" => STRING,
        "max.message.bytes"
        | "min.insync.replicas"
        | "segment.bytes"
        | "segment.index.bytes"
        | "index.interval.bytes"
        | "compression.gzip.level"
        | "compression.lz4.level"
        | "compression.zstd.level" => INT,
        _ => LONG,
    }
}

fn topic_configs(configs: &TopicConfigs, version: i16) -> Vec<DescribeConfigsResourceResult> {
    configs
        .describe()
        .map(|(k, v, explicit)| {
            let source = if explicit {
                TOPIC_CONFIG
            } else {
                DEFAULT_CONFIG
            };
            entry(k, v.to_owned(), source, config_type(k), version).with_read_only(false)
        })
        .collect()
}

/// Validates `(key, value)` entries of an AlterConfigs request (a missing value only needs
/// a known key); the first problem is Kafka's INVALID_CONFIG message.
fn check_all<'a>(
    entries: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Result<(), String> {
    for (k, v) in entries {
        if let Some(v) = v {
            validate(k, v)?;
        } else if default_of(k).is_none() {
            return Err(format!("Unknown topic config name: {k}"));
        }
    }
    Ok(())
}

pub(crate) fn describe_configs(
    state: &State,
    node: i32,
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
                TOPIC if state.topics().get(&name).is_some() => state
                    .topics()
                    .get(&name)
                    .map(|t| topic_configs(&t.configs, version))
                    .unwrap_or_default(),
                TOPIC => {
                    return result
                        .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                        .with_error_message(Some(sb(format!("Topic {name} does not exist"))))
                }
                BROKER => match broker_configs::target(state, node, &name, "Broker") {
                    Ok(target) => broker_configs::describe(state, target, version),
                    Err((code, message)) => {
                        return result
                            .with_error_code(code)
                            .with_error_message(message.map(sb))
                    }
                },
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

impl Api for AlterConfigsRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 2 };
    fn fail(&self, _version: i16, code: i16) -> AlterConfigsResponse {
        AlterConfigsResponse::default().with_responses(
            self.resources
                .iter()
                .map(|r| alter_result(r.resource_type, &r.resource_name, Err((code, None))))
                .collect(),
        )
    }
}

/// The per-resource answer of both alter APIs (two generated types with the same fields).
macro_rules! resource_response {
    ($ty:ty, $resource_type:expr, $name:expr, $outcome:expr) => {{
        let r = <$ty>::default()
            .with_resource_type($resource_type)
            .with_resource_name($name.clone());
        let outcome: Result<(), (i16, Option<String>)> = $outcome;
        match outcome {
            Ok(()) => r,
            Err((code, msg)) => r
                .with_error_code(code)
                .with_error_message(msg.map(|m| sb(&m))),
        }
    }};
}

fn alter_result(
    resource_type: i8,
    name: &StrBytes,
    outcome: Result<(), (i16, Option<String>)>,
) -> AlterConfigsResourceResponse {
    resource_response!(AlterConfigsResourceResponse, resource_type, name, outcome)
}

/// What an alter request's resource names.
enum Resource {
    /// A topic that exists.
    Topic,
    /// A broker's (or the cluster default's) dynamic configs.
    Broker(Target),
}

/// The checks common to both alter APIs: a topic that exists, or a broker of the cluster
/// (or "", the cluster default).
fn alter_target(
    state: &State,
    node: i32,
    resource_type: i8,
    name: &str,
) -> Result<Resource, Refusal> {
    match resource_type {
        TOPIC if state.topics().get(name).is_some() => Ok(Resource::Topic),
        TOPIC => Err((
            ResponseError::UnknownTopicOrPartition.code(),
            Some(format!("Topic {name} does not exist")),
        )),
        BROKER => broker_configs::target(state, node, name, "Node").map(Resource::Broker),
        _ => Err((
            ResponseError::InvalidRequest.code(),
            Some("unsupported resource type".to_owned()),
        )),
    }
}

pub(crate) fn alter_configs(
    state: &State,
    node: i32,
    req: AlterConfigsRequest,
    _version: i16,
) -> AlterConfigsResponse {
    let responses = req
        .resources
        .iter()
        .map(|r| {
            let name = r.resource_name.to_string();
            let outcome = alter_target(state, node, r.resource_type, &name).and_then(|target| {
                if let Resource::Broker(target) = target {
                    let configs: Vec<(&str, Option<&str>)> = r
                        .configs
                        .iter()
                        .map(|c| (c.name.as_str(), c.value.as_deref()))
                        .collect();
                    return broker_configs::alter(state, target, &configs, req.validate_only);
                }
                let entries = r
                    .configs
                    .iter()
                    .map(|c| (c.name.as_str(), c.value.as_deref()));
                check_all(entries).map_err(|m| (ResponseError::InvalidConfig.code(), Some(m)))?;
                if !req.validate_only {
                    let set = r
                        .configs
                        .iter()
                        .filter_map(|c| {
                            c.value
                                .as_ref()
                                .map(|v| (c.name.to_string(), v.to_string()))
                        })
                        .collect();
                    if let Some(t) = state.topics().get_mut(&name) {
                        t.configs.replace_all(set);
                    }
                }
                Ok(())
            });
            alter_result(r.resource_type, &r.resource_name, outcome)
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}

impl Api for IncrementalAlterConfigsRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 1 };
    fn fail(&self, _version: i16, code: i16) -> IncrementalAlterConfigsResponse {
        IncrementalAlterConfigsResponse::default().with_responses(
            self.resources
                .iter()
                .map(|r| incremental_result(r.resource_type, &r.resource_name, Err((code, None))))
                .collect(),
        )
    }
}

fn incremental_result(
    resource_type: i8,
    name: &StrBytes,
    outcome: Result<(), (i16, Option<String>)>,
) -> incremental_alter_configs_response::AlterConfigsResourceResponse {
    resource_response!(
        incremental_alter_configs_response::AlterConfigsResourceResponse,
        resource_type,
        name,
        outcome
    )
}

/// One incremental edit of a list or scalar config.
pub(super) fn edit(
    current: Option<&str>,
    default: &str,
    op: i8,
    value: Option<&str>,
) -> Result<Option<String>, String> {
    let list = |s: &str| -> Vec<String> {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()
    };
    match op {
        OP_SET => Ok(value.map(str::to_owned)),
        OP_DELETE => Ok(None),
        OP_APPEND | OP_SUBTRACT => {
            let mut items = list(current.unwrap_or(default));
            for v in list(value.unwrap_or_default()) {
                if op == OP_APPEND && !items.contains(&v) {
                    items.push(v);
                } else if op == OP_SUBTRACT {
                    items.retain(|i| *i != v);
                }
            }
            Ok(Some(items.join(",")))
        }
        _ => Err(format!("unknown config operation {op}")),
    }
}

pub(crate) fn incremental_alter_configs(
    state: &State,
    node: i32,
    req: IncrementalAlterConfigsRequest,
    _version: i16,
) -> IncrementalAlterConfigsResponse {
    let responses = req
        .resources
        .iter()
        .map(|r| {
            let name = r.resource_name.to_string();
            let outcome = alter_target(state, node, r.resource_type, &name).and_then(|target| {
                if let Resource::Broker(target) = target {
                    let ops: Vec<(&str, i8, Option<&str>)> = r
                        .configs
                        .iter()
                        .map(|c| (c.name.as_str(), c.config_operation, c.value.as_deref()))
                        .collect();
                    return broker_configs::incremental(state, target, &ops, req.validate_only);
                }
                let invalid = |m: String| (ResponseError::InvalidConfig.code(), Some(m));
                let mut topics = state.topics();
                let Some(topic) = topics.get_mut(&name) else {
                    return Err((ResponseError::UnknownTopicOrPartition.code(), None));
                };
                let mut next = topic.configs.clone();
                for c in &r.configs {
                    let key = c.name.as_str();
                    let default = default_of(key)
                        .ok_or_else(|| invalid(format!("Unknown topic config name: {key}")))?;
                    let list_op = matches!(c.config_operation, OP_APPEND | OP_SUBTRACT);
                    if list_op && config_type(key) != LIST {
                        return Err(invalid(format!(
                            "Config value append/subtract is not allowed for config key {key}"
                        )));
                    }
                    match edit(
                        next.get(key),
                        default,
                        c.config_operation,
                        c.value.as_deref(),
                    )
                    .map_err(invalid)?
                    {
                        Some(v) => {
                            validate(key, &v).map_err(invalid)?;
                            next.set(key, &v);
                        }
                        None => next.remove(key),
                    }
                }
                if !req.validate_only {
                    topic.configs = next;
                }
                Ok(())
            });
            incremental_result(r.resource_type, &r.resource_name, outcome)
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_edits_set_delete_append_and_subtract() {
        assert_eq!(
            edit(None, "delete", OP_SET, Some("compact")),
            Ok(Some("compact".into()))
        );
        assert_eq!(edit(Some("compact"), "delete", OP_DELETE, None), Ok(None));
        assert_eq!(
            edit(None, "delete", OP_APPEND, Some("compact")),
            Ok(Some("delete,compact".into()))
        );
        assert_eq!(
            edit(
                Some("delete,compact"),
                "delete",
                OP_SUBTRACT,
                Some("delete")
            ),
            Ok(Some("compact".into()))
        );
        assert!(edit(None, "delete", 9, None).is_err());
    }
}
