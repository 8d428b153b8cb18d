use std::time::Duration;

use crate::*;

fn base() -> PipelineConfigBuilder {
    PipelineConfig::builder()
        .bootstrap_servers("127.0.0.1:9092")
        .group_id("orders-enricher")
        .input_topic("orders")
        .transactional_id("orders-enricher-0")
}

fn assert_unsafe(err: ConfigError, want_key: &str, want_value: &str) {
    match err {
        ConfigError::Unsafe { key, value, reason } => {
            assert_eq!(key, want_key);
            assert_eq!(value, want_value);
            assert!(!reason.is_empty());
        }
        other => panic!("expected Unsafe for {want_key}, got {other:?}"),
    }
}

#[test]
fn renders_transactional_producer() {
    let cfg = base().build().unwrap();
    let p = cfg.producer_config().unwrap();
    assert_eq!(p.get("bootstrap.servers"), Some("127.0.0.1:9092"));
    assert_eq!(p.get("enable.idempotence"), Some("true"));
    assert_eq!(p.get("acks"), Some("all"));
    assert_eq!(p.get("max.in.flight.requests.per.connection"), Some("1"));
    assert_eq!(p.get("retries"), Some("2147483647"));
    assert_eq!(p.get("transactional.id"), Some("orders-enricher-0"));
    assert_eq!(p.get("transaction.timeout.ms"), Some("60000"));
    assert_eq!(p.get("delivery.timeout.ms"), None);
    assert_eq!(p.get("group.id"), None);
    assert_eq!(
        p.get("partitioner"),
        Some("murmur2_random"),
        "as Java's clients"
    );
}

#[test]
fn the_partitioner_may_be_chosen_and_a_bad_one_is_rejected() {
    let p = base()
        .producer_override("partitioner", "consistent_random")
        .build()
        .unwrap()
        .producer_config()
        .unwrap();
    assert_eq!(p.get("partitioner"), Some("consistent_random"));
    let err = base()
        .producer_override("partitioner", "by-merchant")
        .build()
        .and_then(|c| c.producer_config().map(drop))
        .unwrap_err();
    assert!(err.to_string().contains("partitioner"), "{err}");
}

#[test]
fn renders_consumer() {
    let cfg = base()
        .session_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let c = cfg.consumer_config().unwrap();
    assert_eq!(c.get("bootstrap.servers"), Some("127.0.0.1:9092"));
    assert_eq!(c.get("group.id"), Some("orders-enricher"));
    assert_eq!(c.get("isolation.level"), Some("read_committed"));
    assert_eq!(c.get("enable.auto.commit"), Some("false"));
    assert_eq!(c.get("enable.auto.offset.store"), Some("false"));
    assert_eq!(c.get("auto.offset.reset"), Some("earliest"));
    assert_eq!(c.get("session.timeout.ms"), Some("10000"));
    assert_eq!(c.get("fetch.queue.backoff.ms"), Some("20"));
    assert_eq!(c.get("transactional.id"), None);
    let tuned = base()
        .consumer_override("fetch.queue.backoff.ms", "100")
        .build()
        .unwrap();
    assert_eq!(
        tuned
            .consumer_config()
            .unwrap()
            .get("fetch.queue.backoff.ms"),
        Some("100"),
        "a user override wins"
    );
}

#[test]
fn at_least_once_producer_is_idempotent_not_transactional() {
    let cfg = base().mode(Mode::AtLeastOnce).build().unwrap();
    let p = cfg.producer_config().unwrap();
    assert_eq!(p.get("enable.idempotence"), Some("true"));
    assert_eq!(p.get("acks"), Some("all"));
    assert_eq!(p.get("transactional.id"), None);
    assert_eq!(p.get("transaction.timeout.ms"), None);
}

#[test]
fn idempotent_profile_render() {
    let p = ProducerProfile::idempotent("b:1")
        .max_in_flight(5)
        .delivery_timeout(Duration::from_secs(30))
        .render()
        .unwrap();
    assert_eq!(p.get("max.in.flight.requests.per.connection"), Some("5"));
    assert_eq!(p.get("delivery.timeout.ms"), Some("30000"));
    assert_eq!(p.get("transactional.id"), None);
}

#[test]
fn allowed_overrides_are_applied() {
    let cfg = base()
        .producer_override("linger.ms", "5")
        .producer_override("acks", "-1")
        .producer_override("max.in.flight.requests.per.connection", "5")
        .consumer_override("fetch.min.bytes", "10")
        .consumer_override("isolation.level", "read_committed")
        .build()
        .unwrap();
    let p = cfg.producer_config().unwrap();
    assert_eq!(p.get("linger.ms"), Some("5"));
    assert_eq!(p.get("acks"), Some("-1"));
    assert_eq!(p.get("max.in.flight.requests.per.connection"), Some("5"));
    let c = cfg.consumer_config().unwrap();
    assert_eq!(c.get("fetch.min.bytes"), Some("10"));
}

#[test]
fn rejects_acks_one() {
    assert_unsafe(
        base().producer_override("acks", "1").build().unwrap_err(),
        "acks",
        "1",
    );
    assert_unsafe(
        base()
            .producer_override("request.required.acks", "0")
            .build()
            .unwrap_err(),
        "request.required.acks",
        "0",
    );
}

#[test]
fn rejects_idempotence_off() {
    assert_unsafe(
        base()
            .producer_override("enable.idempotence", "false")
            .build()
            .unwrap_err(),
        "enable.idempotence",
        "false",
    );
}

#[test]
fn rejects_in_flight_over_five() {
    assert_unsafe(
        base()
            .producer_override("max.in.flight.requests.per.connection", "6")
            .build()
            .unwrap_err(),
        "max.in.flight.requests.per.connection",
        "6",
    );
    assert_unsafe(
        base().max_in_flight(6).build().unwrap_err(),
        "max.in.flight.requests.per.connection",
        "6",
    );
    assert!(base().max_in_flight(5).build().is_ok());
    assert!(matches!(
        ProducerProfile::idempotent("b:1").max_in_flight(0).render(),
        Err(ConfigError::Invalid { .. })
    ));
}

#[test]
fn rejects_zero_retries() {
    assert_unsafe(
        base()
            .producer_override("retries", "0")
            .build()
            .unwrap_err(),
        "retries",
        "0",
    );
}

#[test]
fn rejects_auto_commit_in_exactly_once() {
    assert_unsafe(
        base()
            .consumer_override("enable.auto.commit", "true")
            .build()
            .unwrap_err(),
        "enable.auto.commit",
        "true",
    );
    // Allowed in at-least-once: only explicitly stored offsets are committed.
    assert!(base()
        .mode(Mode::AtLeastOnce)
        .consumer_override("enable.auto.commit", "true")
        .build()
        .is_ok());
}

#[test]
fn rejects_auto_offset_store() {
    assert_unsafe(
        base()
            .mode(Mode::AtLeastOnce)
            .consumer_override("enable.auto.offset.store", "true")
            .build()
            .unwrap_err(),
        "enable.auto.offset.store",
        "true",
    );
}

#[test]
fn rejects_cooperative_rebalancing_and_accepts_eager_assignors() {
    assert_unsafe(
        base()
            .consumer_override("partition.assignment.strategy", "cooperative-sticky")
            .build()
            .unwrap_err(),
        "partition.assignment.strategy",
        "cooperative-sticky",
    );
    assert!(base()
        .consumer_override("partition.assignment.strategy", "range,roundrobin")
        .build()
        .is_ok());
}

#[test]
fn rejects_read_uncommitted_in_exactly_once() {
    assert_unsafe(
        base()
            .consumer_override("isolation.level", "read_uncommitted")
            .build()
            .unwrap_err(),
        "isolation.level",
        "read_uncommitted",
    );
    assert!(base()
        .mode(Mode::AtLeastOnce)
        .consumer_override("isolation.level", "read_uncommitted")
        .build()
        .is_ok());
}

#[test]
fn rejects_transaction_timeout_shorter_than_commit_interval() {
    assert_unsafe(
        base()
            .commit_interval(Duration::from_secs(10))
            .transaction_timeout(Duration::from_secs(5))
            .build()
            .unwrap_err(),
        "transaction.timeout.ms",
        "5000",
    );
    assert_unsafe(
        base()
            .commit_interval(Duration::from_secs(10))
            .producer_override("transaction.timeout.ms", "2000")
            .build()
            .unwrap_err(),
        "transaction.timeout.ms",
        "2000",
    );
}

#[test]
fn rejects_delivery_timeout_above_transaction_timeout() {
    let err = base()
        .transaction_timeout(Duration::from_secs(10))
        .delivery_timeout(Duration::from_secs(20))
        .build()
        .unwrap_err();
    assert_eq!(err.key(), Some("delivery.timeout.ms"));
}

#[test]
fn rejects_managed_keys_as_overrides() {
    for (k, v) in [("bootstrap.servers", "x:1"), ("transactional.id", "other")] {
        let err = base().producer_override(k, v).build().unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { .. }), "{k}: {err:?}");
        assert_eq!(err.key(), Some(k));
    }
    let err = base()
        .consumer_override("group.id", "g2")
        .build()
        .unwrap_err();
    assert_eq!(err.key(), Some("group.id"));
}

#[test]
fn rejects_bad_boolean() {
    let err = base()
        .consumer_override("enable.auto.commit", "maybe")
        .build()
        .unwrap_err();
    assert!(matches!(err, ConfigError::Invalid { .. }));
}

#[test]
fn missing_required_fields() {
    let missing = |b: PipelineConfigBuilder| match b.build() {
        Err(ConfigError::Missing { field }) => field,
        other => panic!("expected Missing, got {other:?}"),
    };
    assert_eq!(missing(base().bootstrap_servers("")), "bootstrap_servers");
    assert_eq!(missing(base().bootstrap_servers("  ")), "bootstrap_servers");
    assert_eq!(missing(base().group_id("")), "group_id");
    assert_eq!(
        missing(base().input_topics(Vec::<String>::new())),
        "input_topics"
    );
    assert_eq!(missing(base().input_topics([""])), "input_topics");
    assert_eq!(
        missing(
            PipelineConfig::builder()
                .bootstrap_servers("b:1")
                .group_id("g")
                .input_topic("t")
        ),
        "transactional_id"
    );
    // At-least-once needs no transactional id.
    assert!(PipelineConfig::builder()
        .bootstrap_servers("b:1")
        .group_id("g")
        .input_topic("t")
        .mode(Mode::AtLeastOnce)
        .build()
        .is_ok());
}

#[test]
fn zero_commit_settings_invalid() {
    assert_eq!(
        base()
            .commit_interval(Duration::ZERO)
            .build()
            .unwrap_err()
            .key(),
        Some("commit_interval_ms")
    );
    assert_eq!(
        base().commit_max_records(0).build().unwrap_err().key(),
        Some("commit_max_records")
    );
}

#[test]
fn consumer_profile_rejects_empty_group() {
    assert!(matches!(
        ConsumerProfile::new("b:1", " ").render(),
        Err(ConfigError::Missing { field: "group_id" })
    ));
}

#[test]
fn loads_toml() {
    let cfg = PipelineConfig::from_toml_str(
        r#"
bootstrap_servers = "k1:9092,k2:9092"
group_id = "g"
input_topics = ["a", "b"]
transactional_id = "g-0"
mode = "exactly_once"
commit_interval_ms = 250
commit_max_records = 50
auto_offset_reset = "latest"
max_in_flight = 3

[producer_overrides]
"linger.ms" = 5
"compression.type" = "lz4"

[consumer_overrides]
"check.crcs" = true
"#,
    )
    .unwrap();
    assert_eq!(cfg.input_topics(), ["a", "b"]);
    assert_eq!(cfg.commit_interval(), Duration::from_millis(250));
    assert_eq!(cfg.commit_max_records(), 50);
    let p = cfg.producer_config().unwrap();
    assert_eq!(p.get("linger.ms"), Some("5"));
    assert_eq!(p.get("compression.type"), Some("lz4"));
    assert_eq!(p.get("max.in.flight.requests.per.connection"), Some("3"));
    let c = cfg.consumer_config().unwrap();
    assert_eq!(c.get("auto.offset.reset"), Some("latest"));
    assert_eq!(c.get("check.crcs"), Some("true"));
}

#[test]
fn toml_rejections() {
    let err = PipelineConfig::from_toml_str(
        r#"
bootstrap_servers = "k:9092"
group_id = "g"
input_topics = ["a"]
transactional_id = "g-0"
[consumer_overrides]
"enable.auto.commit" = true
"#,
    )
    .unwrap_err();
    assert_unsafe(err, "enable.auto.commit", "true");

    let err = PipelineConfig::from_toml_str("group_id = \"g\"\ninput_topics=[\"a\"]").unwrap_err();
    assert!(matches!(
        err,
        ConfigError::Missing {
            field: "bootstrap_servers"
        }
    ));
    let err = PipelineConfig::from_toml_str("nonsense_field = 1").unwrap_err();
    assert!(matches!(err, ConfigError::Toml(_)));
}

#[test]
fn loads_yaml() {
    let cfg = PipelineConfig::from_yaml_str(
        r#"
bootstrap_servers: "k:9092"
group_id: g
input_topics: [a]
mode: at_least_once
producer_overrides:
  linger.ms: 10
"#,
    )
    .unwrap();
    assert_eq!(cfg.mode(), Mode::AtLeastOnce);
    assert_eq!(cfg.producer_config().unwrap().get("linger.ms"), Some("10"));
    let err = PipelineConfig::from_yaml_str(
        "bootstrap_servers: k\ngroup_id: g\ninput_topics: [a]\ntransactional_id: t\nproducer_overrides:\n  enable.idempotence: false\n",
    )
    .unwrap_err();
    assert_unsafe(err, "enable.idempotence", "false");
}

#[test]
fn loads_file_by_extension() {
    let dir = std::env::temp_dir().join(format!("kafka-eos-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let toml_path = dir.join("p.toml");
    std::fs::write(
        &toml_path,
        "bootstrap_servers='k:1'\ngroup_id='g'\ninput_topics=['a']\ntransactional_id='t'\n",
    )
    .unwrap();
    assert_eq!(
        PipelineConfig::from_file(&toml_path).unwrap().group_id(),
        "g"
    );
    let yml = dir.join("p.yml");
    std::fs::write(
        &yml,
        "bootstrap_servers: k:1\ngroup_id: g2\ninput_topics: [a]\ntransactional_id: t\n",
    )
    .unwrap();
    assert_eq!(PipelineConfig::from_file(&yml).unwrap().group_id(), "g2");
    assert!(matches!(
        PipelineConfig::from_file(dir.join("p.ini")),
        Err(ConfigError::UnsupportedFormat { .. })
    ));
    assert!(matches!(
        PipelineConfig::from_file(dir.join("missing.toml")),
        Err(ConfigError::Io { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn loads_env() {
    let vars = [
        ("KAFKA_EOS_BOOTSTRAP_SERVERS", "k:9092"),
        ("KAFKA_EOS_GROUP_ID", "g"),
        ("KAFKA_EOS_INPUT_TOPICS", "a, b"),
        ("KAFKA_EOS_TRANSACTIONAL_ID", "g-1"),
        ("KAFKA_EOS_COMMIT_INTERVAL_MS", "500"),
        ("KAFKA_EOS_COMMIT_MAX_RECORDS", "7"),
        ("KAFKA_EOS_MAX_IN_FLIGHT", "2"),
        ("KAFKA_EOS_PRODUCER__LINGER_MS", "3"),
        ("KAFKA_EOS_CONSUMER__FETCH_MAX_BYTES", "1000"),
        ("PATH", "/usr/bin"),
    ];
    let cfg = PipelineConfig::from_env_vars(vars).unwrap();
    assert_eq!(cfg.input_topics(), ["a", "b"]);
    assert_eq!(cfg.transactional_id(), Some("g-1"));
    assert_eq!(cfg.commit_interval(), Duration::from_millis(500));
    assert_eq!(cfg.commit_max_records(), 7);
    let p = cfg.producer_config().unwrap();
    assert_eq!(p.get("linger.ms"), Some("3"));
    assert_eq!(p.get("max.in.flight.requests.per.connection"), Some("2"));
    assert_eq!(
        cfg.consumer_config().unwrap().get("fetch.max.bytes"),
        Some("1000")
    );
}

#[test]
fn env_rejections() {
    let err = PipelineConfig::from_env_vars([
        ("KAFKA_EOS_BOOTSTRAP_SERVERS", "k:9092"),
        ("KAFKA_EOS_GROUP_ID", "g"),
        ("KAFKA_EOS_INPUT_TOPICS", "a"),
        ("KAFKA_EOS_TRANSACTIONAL_ID", "g-1"),
        ("KAFKA_EOS_PRODUCER__ACKS", "1"),
    ])
    .unwrap_err();
    assert_unsafe(err, "acks", "1");

    let err =
        PipelineConfig::from_env_vars([("KAFKA_EOS_COMMIT_INTERVAL_MS", "soon")]).unwrap_err();
    assert_eq!(err.key(), Some("KAFKA_EOS_COMMIT_INTERVAL_MS"));

    let err = PipelineConfig::from_env_vars([("KAFKA_EOS_MODE", "maybe_once")]).unwrap_err();
    assert_eq!(err.key(), Some("mode"));

    let err = PipelineConfig::from_env_vars(Vec::<(String, String)>::new()).unwrap_err();
    assert!(matches!(
        err,
        ConfigError::Missing {
            field: "bootstrap_servers"
        }
    ));
}

#[test]
fn error_messages_name_key_value_reason() {
    let err = base().producer_override("acks", "1").build().unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("acks=1"), "{msg}");
    assert!(msg.contains("all"), "{msg}");
    assert!(err.is_unsafe());
}

#[test]
fn mode_parsing() {
    assert_eq!("exactly-once".parse::<Mode>().unwrap(), Mode::ExactlyOnce);
    assert_eq!("AT_LEAST_ONCE".parse::<Mode>().unwrap(), Mode::AtLeastOnce);
    assert!("x".parse::<Mode>().is_err());
    assert_eq!(
        "largest".parse::<AutoOffsetReset>().unwrap(),
        AutoOffsetReset::Latest
    );
}

#[test]
fn into_builder_revalidates() {
    let cfg = base().build().unwrap();
    let err = cfg
        .into_builder()
        .consumer_override("isolation.level", "read_uncommitted")
        .build()
        .unwrap_err();
    assert_eq!(err.key(), Some("isolation.level"));
}

#[test]
fn secrets_never_appear_in_debug_output_or_errors() {
    let secrets = ["hunter2-pw", "oauth-s3cr3t", "k3y-pw"];
    let builder = base()
        .producer_override("sasl.password", secrets[0])
        .producer_override("sasl.oauthbearer.client.secret", secrets[1])
        .consumer_override("ssl.key.password", secrets[2])
        .consumer_override("sasl.username", "app-user");
    let mut printed = vec![format!("{builder:?}")];
    match builder.build() {
        Ok(cfg) => {
            printed.push(format!("{cfg:?}"));
            printed.push(format!("{:?}", cfg.producer_profile()));
            printed.push(format!("{:?}", cfg.consumer_profile()));
            for e in [cfg.producer_config().err(), cfg.consumer_config().err()]
                .into_iter()
                .flatten()
            {
                printed.push(format!("{e} {e:?}"));
            }
        }
        Err(e) => printed.push(format!("{e} {e:?}")),
    }
    // an invalid value of a secret property: the error names the property, not the value
    let bad = ConfigError::invalid("sasl.password", "hunter2-pw", "too short");
    printed.push(format!("{bad} {bad:?}"));
    let unsafe_setting = ConfigError::unsafe_setting("ssl.key.password", "k3y-pw", "no");
    printed.push(format!("{unsafe_setting} {unsafe_setting:?}"));
    for text in &printed {
        for secret in secrets {
            assert!(!text.contains(secret), "{secret} printed in {text}");
        }
    }
    assert!(
        printed[0].contains("app-user"),
        "other settings still print: {}",
        printed[0]
    );
    assert!(printed.iter().any(|t| t.contains(crate::REDACTED)));
}
