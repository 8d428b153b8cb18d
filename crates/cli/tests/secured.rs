//! The command against a secured cluster: the embedded broker over TLS + SASL/SCRAM, the
//! security given by the `KAFKA_EOS_*` variables pipelines read (the password from a file).

use std::process::Command;

use kafka_eos_broker::{BrokerConfig, TestCertificates};
use kafka_eos_testkit::{client_config, write_records_with, Cluster, Record};

#[test]
fn lag_reads_a_secured_cluster_with_the_security_variables() {
    let certs = TestCertificates::generate(&["localhost", "127.0.0.1"]).unwrap();
    let dir = std::env::temp_dir().join(format!("kafka-eos-cli-secured-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, password) = (dir.join("ca.pem"), dir.join("password"));
    certs.write_ca(&ca).unwrap();
    std::fs::write(&password, "cli-secret-8d2f\n").unwrap();
    let cluster = Cluster::embedded_with(
        BrokerConfig::default()
            .tls(certs.identity())
            .sasl_user("ops", "cli-secret-8d2f"),
    )
    .unwrap();
    let bootstrap = cluster.bootstrap_servers();
    cluster.create_topic("secured-lag", 3).unwrap();
    let mut writer = client_config(&bootstrap);
    writer
        .set("security.protocol", "sasl_ssl")
        .set("sasl.mechanisms", "SCRAM-SHA-256")
        .set("sasl.username", "ops")
        .set("sasl.password", "cli-secret-8d2f")
        .set("ssl.ca.location", ca.to_str().unwrap());
    let records: Vec<Record> = (0..30).map(|i| Record::new(format!("k{i}"), "v")).collect();
    write_records_with(&writer, "secured-lag", &records).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_kafka-eos"))
        .args([
            "lag",
            "--bootstrap",
            &bootstrap,
            "--group",
            "nobody",
            "--topic",
            "secured-lag",
            "--json",
        ])
        .env("KAFKA_EOS_SECURITY_PROTOCOL", "SASL_SSL")
        .env("KAFKA_EOS_SASL_MECHANISM", "SCRAM-SHA-256")
        .env("KAFKA_EOS_SASL_USERNAME", "ops")
        .env("KAFKA_EOS_SASL_PASSWORD_FILE", &password)
        .env("KAFKA_EOS_SSL_CA_LOCATION", &ca)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let sample: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(sample["total_lag"], 30, "{stdout}");
    assert!(!stdout.contains("cli-secret") && !stderr.contains("cli-secret"));

    // a variable that names a missing file is refused before connecting, naming it
    let out = Command::new(env!("CARGO_BIN_EXE_kafka-eos"))
        .args([
            "lag",
            "--bootstrap",
            &bootstrap,
            "--group",
            "g",
            "--topic",
            "secured-lag",
        ])
        .env("KAFKA_EOS_SECURITY_PROTOCOL", "SASL_SSL")
        .env("KAFKA_EOS_SASL_MECHANISM", "SCRAM-SHA-256")
        .env("KAFKA_EOS_SASL_USERNAME", "ops")
        .env("KAFKA_EOS_SASL_PASSWORD_FILE", dir.join("missing"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("missing") && stderr.contains("sasl_password"),
        "{stderr}"
    );

    let help = Command::new(env!("CARGO_BIN_EXE_kafka-eos"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("KAFKA_EOS_SASL_PASSWORD_FILE"));
}
