//! BROKER config resources of DescribeConfigs, AlterConfigs and IncrementalAlterConfigs:
//! the broker's own (static) configs, and dynamic ones (KIP-226) set per broker or as the
//! cluster-wide default (resource name ""), kept and reported as Kafka reports them
//! (`ConfigAdminManager`, `ConfigHelper`) without being acted upon.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_configs_response::DescribeConfigsResourceResult;
use kafka_protocol::ResponseError;

use super::configs::{
    edit, entry, BOOLEAN, INT, OP_APPEND, OP_DELETE, OP_SET, OP_SUBTRACT, STRING,
};
use crate::dynamic_config::Target;
use crate::state::State;

/// Config sources (Kafka's `DescribeConfigsResponse.ConfigSource`).
const DYNAMIC_BROKER_CONFIG: i8 = 2;
const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
const STATIC_BROKER_CONFIG: i8 = 4;

/// A refused resource: the error code and Kafka's message.
pub(super) type Refusal = (i16, Option<String>);

fn invalid_request(message: String) -> Refusal {
    (ResponseError::InvalidRequest.code(), Some(message))
}

/// The broker (or, for "", the cluster default) a resource names, received by `node`:
/// Kafka's messages for a name that is not a number (`word`: "Broker" when describing,
/// "Node" when altering) and for an unknown broker id. Any node of this cluster answers
/// for every other (they share one state).
pub(super) fn target(state: &State, node: i32, name: &str, word: &str) -> Result<Target, Refusal> {
    if name.is_empty() {
        return Ok(None);
    }
    let Ok(id) = name.parse::<i32>() else {
        return Err(invalid_request(format!(
            "{word} id must be an integer, but it is: {name}"
        )));
    };
    if state.cluster().node(id).is_none() {
        let or_empty = if word == "Broker" {
            " or empty string"
        } else {
            ""
        };
        return Err(invalid_request(format!(
            "Unexpected broker id, expected {node}{or_empty}, but received {name}"
        )));
    }
    Ok(Some(id))
}

/// The broker's static configs: `(name, value, type)`.
fn static_configs(state: &State) -> Vec<(&'static str, String, i8)> {
    let c = &state.config;
    let ms = |d: std::time::Duration| d.as_millis().to_string();
    vec![
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
            ms(c.group_initial_rebalance_delay),
            INT,
        ),
        (
            "group.min.session.timeout.ms",
            ms(c.group_min_session_timeout),
            INT,
        ),
        (
            "group.max.session.timeout.ms",
            ms(c.group_max_session_timeout),
            INT,
        ),
        (
            "transaction.max.timeout.ms",
            ms(c.max_transaction_timeout),
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
}

/// DescribeConfigs of a broker: its static configs, each overridden by a dynamic
/// per-broker config (DYNAMIC_BROKER_CONFIG) or else a cluster default
/// (DYNAMIC_DEFAULT_BROKER_CONFIG), then the dynamic configs it has no static value for.
/// For "" (the cluster default), only the dynamic defaults, as Kafka.
pub(super) fn describe(
    state: &State,
    target: Target,
    version: i16,
) -> Vec<DescribeConfigsResourceResult> {
    let (per_broker, defaults) = {
        let dynamic = state.broker_configs();
        (
            target.map(|id| dynamic.get(Some(id))).unwrap_or_default(),
            dynamic.get(None),
        )
    };
    let dynamic = |name: &str| -> Option<(String, i8)> {
        per_broker
            .get(name)
            .map(|v| (v.clone(), DYNAMIC_BROKER_CONFIG))
            .or_else(|| {
                defaults
                    .get(name)
                    .map(|v| (v.clone(), DYNAMIC_DEFAULT_BROKER_CONFIG))
            })
    };
    let dynamic_entry = |name: &str, value: String, source: i8, kind: i8| {
        entry(name, value, source, kind, version).with_read_only(false)
    };
    if target.is_none() {
        return defaults
            .iter()
            .map(|(k, v)| dynamic_entry(k, v.clone(), DYNAMIC_DEFAULT_BROKER_CONFIG, STRING))
            .collect();
    }
    let statics = static_configs(state);
    let mut described: Vec<DescribeConfigsResourceResult> = statics
        .iter()
        .map(|(name, value, kind)| match dynamic(name) {
            Some((value, source)) => dynamic_entry(name, value, source, *kind),
            None => entry(name, value.clone(), STATIC_BROKER_CONFIG, *kind, version),
        })
        .collect();
    let mut extra: BTreeMap<&str, (String, i8)> = BTreeMap::new();
    for name in defaults.keys().chain(per_broker.keys()) {
        if !statics.iter().any(|(s, _, _)| s == name) {
            if let Some(found) = dynamic(name) {
                extra.insert(name, found);
            }
        }
    }
    described.extend(
        extra
            .into_iter()
            .map(|(name, (value, source))| dynamic_entry(name, value, source, STRING)),
    );
    described
}

/// Kafka's preprocessing of a BROKER resource: no config named twice, no null value
/// (except for a DELETE).
fn check_entries<'a>(
    entries: impl Iterator<Item = (&'a str, Option<&'a str>, bool)>,
) -> Result<(), Refusal> {
    let mut seen = Vec::new();
    let mut nulls = Vec::new();
    for (name, value, delete) in entries {
        if seen.contains(&name) {
            return Err(invalid_request("Error due to duplicate config keys".into()));
        }
        seen.push(name);
        if value.is_none() && !delete {
            nulls.push(name);
        }
    }
    if !nulls.is_empty() {
        return Err(invalid_request(format!(
            "Null value not supported for : {}",
            nulls.join(", ")
        )));
    }
    Ok(())
}

/// AlterConfigs of a BROKER resource: its dynamic configs become exactly `configs`.
pub(super) fn alter(
    state: &State,
    target: Target,
    configs: &[(&str, Option<&str>)],
    validate_only: bool,
) -> Result<(), Refusal> {
    check_entries(configs.iter().map(|(k, v)| (*k, *v, false)))?;
    if !validate_only {
        let set = configs
            .iter()
            .filter_map(|(k, v)| v.map(|v| ((*k).to_owned(), v.to_owned())))
            .collect();
        state.broker_configs().set(target, set);
        tracing::info!(broker = ?target, "dynamic broker configs replaced");
    }
    Ok(())
}

/// IncrementalAlterConfigs of a BROKER resource: `(name, operation, value)` edits of its
/// dynamic configs.
pub(super) fn incremental(
    state: &State,
    target: Target,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> Result<(), Refusal> {
    check_entries(ops.iter().map(|(k, op, v)| (*k, *v, *op == OP_DELETE)))?;
    let mut dynamic = state.broker_configs();
    let mut next = dynamic.get(target);
    for (name, op, value) in ops {
        if !matches!(*op, OP_SET | OP_DELETE | OP_APPEND | OP_SUBTRACT) {
            return Err(invalid_request(format!("Unknown operations type {op}")));
        }
        match edit(next.get(*name).map(String::as_str), "", *op, *value).map_err(invalid_request)? {
            Some(v) => {
                next.insert((*name).to_owned(), v);
            }
            None => {
                next.remove(*name);
            }
        }
    }
    if !validate_only {
        dynamic.set(target, next);
        tracing::info!(broker = ?target, "dynamic broker configs changed");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
