//! Security suite: the pipeline against the embedded broker with TLS, SASL/SCRAM and ACLs.
//! Exactly once over TLS + SCRAM (a read_committed reader, itself over TLS + SCRAM, checks
//! the output); a wrong password and an untrusted certificate stop the pipeline at start-up
//! with errors that say so; a principal without a grant stops it with a classified fatal
//! error naming the resource; and no secret appears in the formatted config, the errors or
//! the logs of these runs.
//!
//! The broker is always the embedded one, started here with its listener secured (a
//! cluster given by `KAFKA_BOOTSTRAP_SERVERS` has its own users and certificates).

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use kafka_eos_broker::{AclOperation, AclRule, BrokerConfig, ResourceType, TestCertificates};
use kafka_eos_demo::orders::{result_of, OrderEvent};
use kafka_eos_integration_tests::order_records;
use kafka_eos_processor::config::{ClientConfig, Sasl, Security};
use kafka_eos_processor::core::ErrorKind;
use kafka_eos_processor::{
    BoxError, Error, Input, JsonCodec, Output, Pipeline, PipelineBuilder, Processor,
};
use kafka_eos_testkit::{
    check_exactly_once, read_committed_with, write_records_with, Cluster, Record,
};

const APP_PASSWORD: &str = "app-secret-7c1e";
const ADMIN_PASSWORD: &str = "admin-secret-93fa";
const WRONG_PASSWORD: &str = "wrong-secret-51bd";
const SECRETS: [&str; 3] = [APP_PASSWORD, ADMIN_PASSWORD, WRONG_PASSWORD];

/// Everything the tests of this binary log, at debug level, to scan for secrets.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug")
            .with_ansi(false)
            .with_writer(move || Capture(sink.clone()))
            .try_init();
        buffer
    })
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "a secret appears in {what}: {text}");
    }
}

/// A TLS + SASL broker with users `app` and `admin` (a super user when ACLs are on), its
/// CA written to a file, and the admin's client settings.
struct Secured {
    cluster: Cluster,
    ca: PathBuf,
    admin: ClientConfig,
}

fn secured(acls: &[AclRule]) -> Secured {
    logs();
    let certs = TestCertificates::generate(&["localhost", "127.0.0.1"]).unwrap();
    let dir = std::env::temp_dir().join(format!("kafka-eos-security-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    certs.write_ca(&ca).unwrap();
    let mut config = BrokerConfig::default()
        .default_partitions(4)
        .tls(certs.identity())
        .sasl_user("app", APP_PASSWORD)
        .sasl_user("admin", ADMIN_PASSWORD);
    if !acls.is_empty() {
        config = config.super_user("admin");
        for rule in acls {
            config = config.acl(rule.clone());
        }
    }
    let cluster = Cluster::embedded_with(config).unwrap();
    let admin = client(
        &cluster,
        Security::sasl_ssl(Sasl::scram_sha_512("admin", ADMIN_PASSWORD)).ca_location(&ca),
    );
    Secured { cluster, ca, admin }
}

fn uuid_like() -> String {
    format!(
        "{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// Client settings for `security` on `cluster`.
fn client(cluster: &Cluster, security: Security) -> ClientConfig {
    let mut config = kafka_eos_testkit::client_config(&cluster.bootstrap_servers());
    for (key, value) in security.properties().unwrap() {
        config.set(key, value);
    }
    config
}

struct Results {
    output: String,
}

impl Processor for Results {
    type Input = OrderEvent;
    async fn process(&self, input: Input<OrderEvent>) -> Result<Vec<Output>, BoxError> {
        let (key, value) = result_of(&input.value);
        Ok(vec![Output::new(&self.output, key, value)])
    }
}

fn pipeline(
    s: &Secured,
    security: Security,
    input: &str,
    output: &str,
    group: &str,
) -> Pipeline<Results, JsonCodec<OrderEvent>> {
    PipelineBuilder::new()
        .bootstrap_servers(s.cluster.bootstrap_servers())
        .group_id(group)
        .input_topic(input)
        .transactional_id(format!("{group}-0"))
        .security(security)
        .startup_timeout(Duration::from_secs(60))
        .commit_every_records(500)
        .build(
            Results {
                output: output.to_owned(),
            },
            JsonCodec::new(),
        )
        .unwrap()
}

fn app(s: &Secured, password: &str) -> Security {
    Security::sasl_ssl(Sasl::scram_sha_512("app", password)).ca_location(&s.ca)
}

/// Runs `pipeline` until it returns or 45 s pass (a hang fails the test).
async fn run_to_end(pipeline: Pipeline<Results, JsonCodec<OrderEvent>>) -> Result<(), Error> {
    let token = pipeline.shutdown_token();
    match tokio::time::timeout(Duration::from_secs(45), pipeline.run()).await {
        Ok(result) => result,
        Err(_) => {
            token.cancel();
            let logged = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
            let tail = &logged[logged.len().saturating_sub(4000)..];
            panic!("the pipeline neither failed nor stopped within 45 s; logs: {tail}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_over_tls_and_scram_runs_exactly_once_and_prints_no_secret() {
    let s = secured(&[]);
    let (input, output) = ("orders-in", "order-results");
    s.cluster.create_topic(input, 4).unwrap();
    s.cluster.create_topic(output, 4).unwrap();
    let (_, records, expected) = order_records(2_500, 11);
    let admin = s.admin.clone();
    let to_write = records.clone();
    tokio::task::spawn_blocking(move || write_records_with(&admin, input, &to_write))
        .await
        .unwrap()
        .unwrap();

    let security = app(&s, APP_PASSWORD);
    let p = pipeline(&s, security.clone(), input, output, "secure-orders");
    let formatted = format!("{:?} {:#?}", p.config(), security);
    let metrics = p.metrics();
    let token = p.shutdown_token();
    let run = tokio::spawn(p.run());
    let admin = s.admin.clone();
    let n = expected.len();
    let got: Vec<Record> = tokio::task::spawn_blocking(move || {
        read_committed_with(&admin, &[output], n, Duration::from_millis(500))
    })
    .await
    .unwrap()
    .unwrap();
    token.cancel();
    run.await.unwrap().unwrap();

    let report = check_exactly_once(&expected, &got);
    assert!(report.is_exactly_once(), "{report}");
    assert!(metrics.snapshot().commits > 0);
    assert_no_secret("the formatted config", &formatted);
    assert!(formatted.contains("app"), "{formatted}");
    let logged = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
    assert!(!logged.is_empty(), "the run logged nothing at debug level");
    assert_no_secret("the logs", &logged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_fails_fast_naming_the_mechanism_and_the_user() {
    let s = secured(&[]);
    s.cluster.create_topic("wrong-in", 1).unwrap();
    let p = pipeline(
        &s,
        app(&s, WRONG_PASSWORD),
        "wrong-in",
        "wrong-out",
        "wrong",
    );
    let err = run_to_end(p).await.unwrap_err();
    assert!(matches!(err, Error::Authentication { .. }), "{err:?}");
    assert!(err.is_security(), "{err}");
    let text = format!("{err} {err:?}");
    assert!(text.contains("SCRAM-SHA-512"), "{text}");
    assert!(text.contains("`app`"), "{text}");
    assert_no_secret("the error", &text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_the_client_does_not_trust_is_reported_as_such() {
    let s = secured(&[]);
    s.cluster.create_topic("untrusted-in", 1).unwrap();
    let other = TestCertificates::generate(&["localhost", "127.0.0.1"]).unwrap();
    let other_ca = s.ca.with_file_name("other-ca.pem");
    other.write_ca(&other_ca).unwrap();
    let security =
        Security::sasl_ssl(Sasl::scram_sha_512("app", APP_PASSWORD)).ca_location(&other_ca);
    let p = pipeline(&s, security, "untrusted-in", "untrusted-out", "untrusted");
    let err = run_to_end(p).await.unwrap_err();
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    assert!(
        err.to_string().contains("certificate verify failed"),
        "{err}"
    );
}

/// The grants a pipeline needs, but for `missing`.
fn grants_but(missing: &str, input: &str, output: &str, group: &str) -> Vec<AclRule> {
    let allow = |t, name: &str, op| AclRule::allow("User:app", t, name, op);
    let all = [
        (
            "input",
            allow(ResourceType::Topic, input, AclOperation::Read),
        ),
        (
            "output",
            allow(ResourceType::Topic, output, AclOperation::Write),
        ),
        (
            "group",
            allow(ResourceType::Group, group, AclOperation::Read),
        ),
        (
            "transactional-id",
            allow(
                ResourceType::TransactionalId,
                &format!("{group}-0"),
                AclOperation::Write,
            ),
        ),
    ];
    all.into_iter()
        .filter(|(name, _)| *name != missing)
        .map(|(_, rule)| rule)
        .collect()
}

/// Runs a pipeline whose grants lack `missing`; returns its error.
async fn denied(missing: &str) -> (Error, String, String) {
    let (input, output, group) = (
        format!("denied-{missing}-in"),
        format!("denied-{missing}-out"),
        format!("denied-{missing}"),
    );
    let s = secured(&grants_but(missing, &input, &output, &group));
    s.cluster.create_topic(&input, 2).unwrap();
    s.cluster.create_topic(&output, 2).unwrap();
    let (_, records, _) = order_records(50, 3);
    let admin = s.admin.clone();
    let topic = input.clone();
    tokio::task::spawn_blocking(move || write_records_with(&admin, &topic, &records))
        .await
        .unwrap()
        .unwrap();
    let p = pipeline(&s, app(&s, APP_PASSWORD), &input, &output, &group);
    let err = run_to_end(p).await.unwrap_err();
    (err, output, group)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_write_on_the_output_topic_stops_with_a_fatal_error_naming_it() {
    let (err, output, _) = denied("output").await;
    assert_eq!(err.kind(), Some(ErrorKind::Fatal), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&output), "{text}");
    assert!(text.to_lowercase().contains("authoriz"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_grant_on_the_transactional_id_stops_with_a_fatal_error_naming_it() {
    let (err, _, group) = denied("transactional-id").await;
    assert_eq!(err.kind(), Some(ErrorKind::Fatal), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&format!("{group}-0")), "{text}");
    assert!(text.to_lowercase().contains("authoriz"), "{text}");
}
