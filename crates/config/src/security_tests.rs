//! The security settings: rendering, validation, files, environment, and no secret printed.

use std::path::PathBuf;

use rdkafka::producer::BaseProducer;

use crate::*;

fn base() -> PipelineConfigBuilder {
    PipelineConfig::builder()
        .bootstrap_servers("127.0.0.1:9093")
        .group_id("orders")
        .input_topic("orders")
        .transactional_id("orders-0")
}

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kafka-eos-security-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn security_error(err: ConfigError, setting: &str, says: &str) {
    assert_eq!(err.key(), Some(setting), "{err}");
    assert!(
        err.to_string().contains(says),
        "{err:?} should say {says:?}"
    );
}

#[test]
fn sasl_ssl_scram_renders_for_both_clients_and_librdkafka_supports_it() {
    let ca = temp_file("ca.pem", "-----BEGIN CERTIFICATE-----\n");
    let cfg = base()
        .security(Security::sasl_ssl(Sasl::scram_sha_512("orders-app", "hunter2")).ca_location(&ca))
        .build()
        .unwrap();
    for client in [
        cfg.producer_config().unwrap(),
        cfg.consumer_config().unwrap(),
    ] {
        assert_eq!(client.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(client.get("sasl.mechanisms"), Some("SCRAM-SHA-512"));
        assert_eq!(client.get("sasl.username"), Some("orders-app"));
        assert_eq!(client.get("sasl.password"), Some("hunter2"));
        assert_eq!(client.get("ssl.ca.location"), ca.to_str());
        assert_eq!(
            client.get("ssl.endpoint.identification.algorithm"),
            Some("https")
        );
    }
    // librdkafka refuses to create a client whose mechanism or TLS it was built without
    let no_ca = base()
        .security(Security::sasl_ssl(Sasl::scram_sha_256("u", "p")))
        .build()
        .unwrap();
    let producer: Result<BaseProducer, _> = no_ca.producer_config().unwrap().create();
    assert!(producer.is_ok(), "{:?}", producer.err());
}

#[test]
fn secrets_appear_in_no_debug_output_serialization_or_error() {
    let cfg = base()
        .security(Security::sasl_ssl(Sasl::plain("orders-app", "hunter2")).key_password("k3y-pass"))
        .build();
    // a key password without a key is allowed by librdkafka, but the check below is on text
    let cfg = cfg.unwrap();
    let texts = [
        format!("{cfg:?}"),
        format!("{cfg:#?}"),
        format!("{:?}", cfg.producer_profile()),
        format!("{:?}", cfg.consumer_profile()),
        toml::to_string(&cfg).unwrap(),
    ];
    for text in &texts {
        for secret in ["hunter2", "k3y-pass"] {
            assert!(!text.contains(secret), "{secret} printed in {text}");
        }
    }
    assert!(texts[0].contains("orders-app"), "{}", texts[0]);
    // an error about an override that carries a secret
    let err = base()
        .security(Security::sasl_ssl(Sasl::plain("orders-app", "hunter2")))
        .producer_override("sasl.password", "hunter3")
        .build()
        .unwrap_err();
    assert!(!format!("{err} {err:?}").contains("hunter"), "{err:?}");
}

#[test]
fn settings_that_do_not_fit_together_are_refused_naming_the_setting() {
    let sasl = || Sasl::scram_sha_512("orders-app", "pw");
    let err = base()
        .security(Security::sasl_plaintext(sasl()))
        .build()
        .unwrap_err();
    security_error(err, "protocol", "unencrypted");
    let ok = base()
        .security(Security::sasl_plaintext(sasl()).allow_sasl_plaintext(true))
        .build()
        .unwrap();
    assert_eq!(
        ok.producer_config().unwrap().get("security.protocol"),
        Some("sasl_plaintext")
    );

    let err = base()
        .security(Security::sasl_ssl(Sasl::scram_sha_512("", "pw")))
        .build()
        .unwrap_err();
    security_error(err, "sasl_username", "SCRAM-SHA-512");
    let err = base()
        .security(Security::sasl_ssl(Sasl::scram_sha_256("orders-app", "")))
        .build()
        .unwrap_err();
    security_error(err, "sasl_password", "orders-app");

    let err = base()
        .security(Security::ssl().ca_location("/no/such/ca.pem"))
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::MissingFile {
                setting: "ssl_ca_location",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("/no/such/ca.pem"), "{err}");

    let cert = temp_file("client.pem", "cert");
    let mut only_cert = Security::ssl().client_certificate(&cert, &cert);
    only_cert = only_cert.ca_location(&cert);
    assert!(base().security(only_cert).build().is_ok());

    let err = base()
        .security(Security::sasl_ssl(sasl()))
        .producer_override("sasl.username", "other")
        .build()
        .unwrap_err();
    security_error(err, "protocol", "sasl.username");
}

#[test]
fn a_file_takes_secrets_inline_from_env_or_from_a_file() {
    let password = temp_file("password", "from-a-file\n");
    let toml = format!(
        r#"
bootstrap_servers = "b:9093"
group_id = "g"
input_topics = ["in"]
transactional_id = "g-0"
[security]
protocol = "sasl_ssl"
sasl_mechanism = "scram-sha-256"
sasl_username = "app"
sasl_password_file = "{}"
"#,
        password.display()
    );
    let cfg = PipelineConfig::from_toml_str(&toml).unwrap();
    let p = cfg.producer_config().unwrap();
    assert_eq!(p.get("sasl.password"), Some("from-a-file"));
    assert_eq!(p.get("sasl.mechanisms"), Some("SCRAM-SHA-256"));
    assert_eq!(cfg.security().protocol(), SecurityProtocol::SaslSsl);

    let var = "KAFKA_EOS_TEST_UNSET_PASSWORD_VARIABLE";
    let env = toml.replace(
        &format!("sasl_password_file = \"{}\"", password.display()),
        &format!("sasl_password_env = \"{var}\""),
    );
    let err = PipelineConfig::from_toml_str(&env).unwrap_err();
    assert!(
        matches!(&err, ConfigError::SecretUnavailable { setting: "sasl_password", from, .. } if from.contains(var)),
        "{err}"
    );

    let both = toml.replace("[security]", "[security]\nsasl_password = \"inline\"");
    let err = PipelineConfig::from_toml_str(&both).unwrap_err();
    assert!(err.to_string().contains("more than once"), "{err}");

    let gssapi = toml.replace("scram-sha-256", "GSSAPI");
    let err = PipelineConfig::from_toml_str(&gssapi).unwrap_err();
    assert!(err.to_string().contains("Kerberos"), "{err}");

    let typo = toml.replace("sasl_username", "sasl_user");
    assert!(PipelineConfig::from_toml_str(&typo).is_err());
}

#[test]
fn the_environment_sets_security_too() {
    let password = temp_file("env-password", "pw-in-file");
    let vars = [
        ("KAFKA_EOS_BOOTSTRAP_SERVERS", "b:9093"),
        ("KAFKA_EOS_GROUP_ID", "g"),
        ("KAFKA_EOS_INPUT_TOPICS", "in"),
        ("KAFKA_EOS_TRANSACTIONAL_ID", "g-0"),
        ("KAFKA_EOS_SECURITY_PROTOCOL", "SASL_SSL"),
        ("KAFKA_EOS_SASL_MECHANISM", "PLAIN"),
        ("KAFKA_EOS_SASL_USERNAME", "app"),
        ("KAFKA_EOS_SASL_PASSWORD_FILE", password.to_str().unwrap()),
        ("KAFKA_EOS_SSL_ENDPOINT_IDENTIFICATION", "false"),
    ];
    let cfg = PipelineConfig::from_env_vars(vars).unwrap();
    let c = cfg.consumer_config().unwrap();
    assert_eq!(c.get("sasl.password"), Some("pw-in-file"));
    assert_eq!(c.get("sasl.mechanisms"), Some("PLAIN"));
    assert_eq!(c.get("ssl.endpoint.identification.algorithm"), Some("none"));

    let mut missing = vars.to_vec();
    missing.retain(|(k, _)| !k.starts_with("KAFKA_EOS_SASL"));
    let err = PipelineConfig::from_env_vars(missing).unwrap_err();
    security_error(err, "sasl_mechanism", "SASL_SSL");
}
