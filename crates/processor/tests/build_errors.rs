//! `build()` rejects bad settings before connecting, each as `Error::Config` naming the
//! setting, whichever crate found it.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

use std::time::Duration;

use kafka_eos_processor::{
    Backoff, BoxError, Error, Input, Output, PipelineBuilder, Processor, RawBytes,
};

struct Nothing;

impl Processor for Nothing {
    type Input = Option<Vec<u8>>;
    async fn process(&self, _: Input<Option<Vec<u8>>>) -> Result<Vec<Output>, BoxError> {
        Ok(Vec::new())
    }
}

/// Nothing listens on port 1: a build that tried to connect would hang or fail differently.
fn base() -> PipelineBuilder {
    PipelineBuilder::new()
        .bootstrap_servers("127.0.0.1:1")
        .group_id("bad-config")
        .input_topic("in")
}

fn config_error(builder: PipelineBuilder) -> Error {
    let err = builder.build(Nothing, RawBytes).map(drop).unwrap_err();
    assert!(err.is_config(), "{err:?}");
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    err
}

#[test]
fn a_misspelt_librdkafka_property_fails_at_build_naming_it() {
    let err = config_error(base().producer_override("linger.mss", "5"));
    assert!(err.to_string().contains("linger.mss"), "{err}");
    let err = config_error(base().consumer_override("fetch.wait.max.mss", "5"));
    assert!(err.to_string().contains("fetch.wait.max.mss"), "{err}");
}

#[test]
fn a_bad_librdkafka_value_fails_at_build_naming_it() {
    let err = config_error(base().producer_override("linger.ms", "soon"));
    assert!(err.to_string().contains("linger.ms"), "{err}");
    assert!(err.to_string().contains("soon"), "{err}");
}

#[test]
fn zero_attempts_is_rejected() {
    let err = config_error(base().max_attempts(0));
    assert!(err.to_string().contains("max_attempts"), "{err}");
    assert!(base().max_attempts(1).build(Nothing, RawBytes).is_ok());
}

#[test]
fn a_bad_retry_schedule_is_rejected_naming_its_setting() {
    let second = Duration::from_secs(1);
    let cases = [
        (Backoff::new(second, second).multiplier(0.5), "multiplier"),
        (Backoff::new(second, second).jitter(2.0), "jitter"),
        (Backoff::new(second * 2, second), "retry_backoff"),
    ];
    for (schedule, setting) in cases {
        let err = config_error(base().retry_schedule(schedule));
        assert!(err.to_string().contains(setting), "{err}");
    }
    let err = config_error(base().retry_backoff(second * 2, second));
    assert!(err.to_string().contains("retry_backoff"), "{err}");
    let good = Backoff::new(second, second * 10)
        .multiplier(1.5)
        .jitter(0.3);
    assert!(base().retry_schedule(good).build(Nothing, RawBytes).is_ok());
}

#[test]
fn every_configuration_error_takes_the_same_route() {
    // found by the config crate
    config_error(PipelineBuilder::new().group_id("g").input_topic("in"));
    // found while making the transactional id (core): the same variant
    let err = config_error(
        PipelineBuilder::new()
            .bootstrap_servers("127.0.0.1:1")
            .group_id("")
            .input_topic("in"),
    );
    assert!(!err.is_fenced() && !err.is_decode() && !err.is_unreachable());
    config_error(base().app_name(""));
}

#[test]
fn unsafe_producer_settings_are_rejected_at_build() {
    let err = config_error(base().producer_override("acks", "1"));
    assert!(err.to_string().contains("acks"), "{err}");
    let err = config_error(base().consumer_override("enable.auto.commit", "true"));
    assert!(err.to_string().contains("enable.auto.commit"), "{err}");
}

#[test]
fn an_empty_bootstrap_is_rejected_at_build() {
    let err = config_error(
        PipelineBuilder::new()
            .bootstrap_servers("")
            .group_id("g")
            .input_topic("in"),
    );
    assert!(err.to_string().contains("bootstrap.servers"), "{err}");
}

#[test]
fn a_parking_topic_must_be_its_own_and_needs_exactly_once() {
    use kafka_eos_processor::config::Mode;
    use kafka_eos_processor::KeyPolicy;
    let err = config_error(base().parking_topic("in", KeyPolicy::Release));
    assert!(err.to_string().contains("parking_topic"), "{err}");
    let err = config_error(base().parking_topic("", KeyPolicy::Release));
    assert!(err.to_string().contains("parking_topic"), "{err}");
    let err = config_error(
        base()
            .mode(Mode::AtLeastOnce)
            .parking_topic("in-parked", KeyPolicy::Hold),
    );
    assert!(err.to_string().contains("exactly-once"), "{err}");
    assert!(base()
        .parking_topic("in-parked", KeyPolicy::Hold)
        .build(Nothing, RawBytes)
        .is_ok());
}
