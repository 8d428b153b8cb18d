//! Unit tests of `broker_configs`.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

use kafka_protocol::messages::{
    alter_configs_request as ac, describe_configs_request as dc,
    incremental_alter_configs_request as iac, AlterConfigsRequest, DescribeConfigsRequest,
    IncrementalAlterConfigsRequest,
};

use super::*;
use crate::config::BrokerConfig;
use crate::handlers::configs::{alter_configs, describe_configs, incremental_alter_configs};
use crate::handlers::sb;

const BROKER: i8 = 4;

/// An error message; the alter APIs send "" (not null) without an error.
fn message(m: &Option<kafka_protocol::protocol::StrBytes>) -> Option<String> {
    m.as_ref().map(|m| m.to_string()).filter(|m| !m.is_empty())
}
const KEY: &str = "sasl.kerberos.min.time.before.relogin";

fn state() -> State {
    let nodes = (1..=2)
        .map(|id| (id, "127.0.0.1".to_owned(), 9090 + id))
        .collect();
    State::new(BrokerConfig::default().nodes(2), nodes, None)
}

fn set(
    state: &State,
    name: &str,
    key: &str,
    value: &str,
    validate_only: bool,
) -> (i16, Option<String>) {
    let req = IncrementalAlterConfigsRequest::default()
        .with_resources(vec![iac::AlterConfigsResource::default()
            .with_resource_type(BROKER)
            .with_resource_name(sb(name))
            .with_configs(vec![iac::AlterableConfig::default()
                .with_name(sb(key))
                .with_config_operation(OP_SET)
                .with_value(Some(sb(value)))])])
        .with_validate_only(validate_only);
    let r = incremental_alter_configs(state, 1, req, 1);
    let r = &r.responses[0];
    (r.error_code, message(&r.error_message))
}

/// `(value, source)` of `key` as DescribeConfigs reports it for broker `name`.
fn described(state: &State, name: &str, key: &str) -> Option<(String, i8)> {
    let req = DescribeConfigsRequest::default().with_resources(vec![
        dc::DescribeConfigsResource::default()
            .with_resource_type(BROKER)
            .with_resource_name(sb(name))
            .with_configuration_keys(None),
    ]);
    let r = describe_configs(state, 1, req, 4);
    assert_eq!(
        r.results[0].error_code, 0,
        "{:?}",
        r.results[0].error_message
    );
    r.results[0]
        .configs
        .iter()
        .find(|c| c.name.as_str() == key)
        .map(|c| {
            (
                c.value.as_ref().map(|v| v.to_string()).unwrap_or_default(),
                c.config_source,
            )
        })
}

#[test]
fn per_broker_configs_are_reported_as_dynamic_broker_configs() {
    let state = state();
    assert_eq!(set(&state, "2", KEY, "58000", false), (0, None));
    assert_eq!(
        described(&state, "2", KEY),
        Some(("58000".to_owned(), DYNAMIC_BROKER_CONFIG))
    );
    assert_eq!(described(&state, "1", KEY), None);
    // static configs keep their source until overridden
    assert_eq!(
        described(&state, "2", "num.partitions").map(|(_, s)| s),
        Some(STATIC_BROKER_CONFIG)
    );
    assert_eq!(set(&state, "2", "num.partitions", "7", false), (0, None));
    assert_eq!(
        described(&state, "2", "num.partitions"),
        Some(("7".to_owned(), DYNAMIC_BROKER_CONFIG))
    );
    // validate_only keeps nothing
    assert_eq!(set(&state, "1", KEY, "1", true), (0, None));
    assert_eq!(described(&state, "1", KEY), None);
}

#[test]
fn cluster_defaults_apply_to_every_broker_below_per_broker_configs() {
    let state = state();
    assert_eq!(set(&state, "", KEY, "60000", false), (0, None));
    let default = Some(("60000".to_owned(), DYNAMIC_DEFAULT_BROKER_CONFIG));
    assert_eq!(described(&state, "", KEY), default);
    assert_eq!(described(&state, "1", KEY), default);
    assert_eq!(set(&state, "1", KEY, "1000", false), (0, None));
    assert_eq!(
        described(&state, "1", KEY),
        Some(("1000".to_owned(), DYNAMIC_BROKER_CONFIG))
    );
    assert_eq!(described(&state, "2", KEY), default);
}

#[test]
fn unknown_brokers_and_bad_entries_are_refused_as_kafka() {
    let state = state();
    let invalid = ResponseError::InvalidRequest.code();
    assert_eq!(
        set(&state, "7", KEY, "1", false),
        (
            invalid,
            Some("Unexpected broker id, expected 1, but received 7".into())
        )
    );
    assert_eq!(
        set(&state, "x", KEY, "1", false),
        (
            invalid,
            Some("Node id must be an integer, but it is: x".into())
        )
    );
    let req = DescribeConfigsRequest::default().with_resources(vec![
        dc::DescribeConfigsResource::default()
            .with_resource_type(BROKER)
            .with_resource_name(sb("7")),
    ]);
    let r = describe_configs(&state, 1, req, 4);
    assert_eq!(r.results[0].error_code, invalid);
    assert_eq!(
        r.results[0].error_message.as_deref(),
        Some("Unexpected broker id, expected 1 or empty string, but received 7")
    );
    // AlterConfigs: a null value, a key named twice
    let alter = |configs: Vec<(&str, Option<&str>)>| {
        let req =
            AlterConfigsRequest::default().with_resources(vec![ac::AlterConfigsResource::default(
            )
            .with_resource_type(BROKER)
            .with_resource_name(sb("1"))
            .with_configs(
                configs
                    .into_iter()
                    .map(|(k, v)| {
                        ac::AlterableConfig::default()
                            .with_name(sb(k))
                            .with_value(v.map(sb))
                    })
                    .collect(),
            )]);
        let r = alter_configs(&state, 1, req, 1);
        (
            r.responses[0].error_code,
            message(&r.responses[0].error_message),
        )
    };
    assert_eq!(
        alter(vec![(KEY, None)]),
        (
            invalid,
            Some(format!("Null value not supported for : {KEY}"))
        )
    );
    assert_eq!(
        alter(vec![(KEY, Some("1")), (KEY, Some("2"))]),
        (invalid, Some("Error due to duplicate config keys".into()))
    );
    // AlterConfigs replaces the broker's dynamic configs as a whole
    assert_eq!(set(&state, "1", "other", "x", false), (0, None));
    assert_eq!(alter(vec![(KEY, Some("58000"))]), (0, None));
    assert_eq!(described(&state, "1", "other"), None);
    assert_eq!(
        described(&state, "1", KEY),
        Some(("58000".to_owned(), DYNAMIC_BROKER_CONFIG))
    );
}
