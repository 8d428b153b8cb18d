//! TLS, SASL and ACLs with real librdkafka clients (and a raw client for the ACL admin APIs,
//! which rdkafka's AdminClient does not expose).
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::raw::RawClient;
use common::{read_all, send, TIMEOUT};
use kafka_eos_broker::protocol::messages::*;
use kafka_eos_broker::protocol::protocol::StrBytes;
use kafka_eos_broker::protocol::ResponseError;
use kafka_eos_broker::{
    AclOperation, AclRule, BackgroundBroker, BrokerConfig, ResourceType, SecurityProtocol,
    TestCertificates,
};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Message};

/// An error librdkafka reported: its code and text.
type Reported = (Option<RDKafkaErrorCode>, String);

/// Records the errors librdkafka reports through the error callback.
#[derive(Clone, Default)]
struct Recorder {
    errors: Arc<Mutex<Vec<Reported>>>,
    deliveries: Arc<Mutex<Vec<Result<(), KafkaError>>>>,
}

impl ClientContext for Recorder {
    fn error(&self, error: KafkaError, reason: &str) {
        self.errors
            .lock()
            .unwrap()
            .push((error.rdkafka_error_code(), format!("{error}: {reason}")));
    }
}
impl ConsumerContext for Recorder {}
impl ProducerContext for Recorder {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        self.deliveries
            .lock()
            .unwrap()
            .push(result.as_ref().map(|_| ()).map_err(|(e, _)| e.clone()));
    }
}

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);
impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("kafka-eos-security-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn generate() -> TestCertificates {
    TestCertificates::generate(&["localhost", "127.0.0.1"]).unwrap()
}

/// Client settings for `broker`: its protocol, the CA, and SASL credentials.
fn client(
    broker: &BackgroundBroker,
    ca: Option<&PathBuf>,
    sasl: Option<(&str, &str, &str)>,
) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", broker.bootstrap_servers())
        .set("broker.address.family", "v4")
        .set("security.protocol", broker.security_protocol().as_str());
    if let Some(ca) = ca {
        c.set("ssl.ca.location", ca.to_str().unwrap());
    }
    if let Some((mechanism, user, password)) = sasl {
        c.set("sasl.mechanisms", mechanism)
            .set("sasl.username", user)
            .set("sasl.password", password);
    }
    c
}

fn with(mut c: ClientConfig, extra: &[(&str, &str)]) -> ClientConfig {
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c
}

fn reader(c: ClientConfig) -> BaseConsumer {
    with(
        c,
        &[
            ("group.id", &format!("reader-{}", uuid::Uuid::new_v4())),
            ("isolation.level", "read_committed"),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
            ("fetch.wait.max.ms", "100"),
        ],
    )
    .create()
    .unwrap()
}

#[test]
fn tls_produce_and_consume() {
    let certs = generate();
    let dir = TempDir::new();
    let ca = dir.0.join("ca.pem");
    certs.write_ca(&ca).unwrap();
    let broker = BackgroundBroker::start(BrokerConfig::default().tls(certs.identity())).unwrap();
    assert_eq!(broker.security_protocol(), SecurityProtocol::Ssl);
    broker.create_topic("tls", 1).unwrap();
    let p: BaseProducer = with(
        client(&broker, Some(&ca), None),
        &[("enable.idempotence", "true")],
    )
    .create()
    .unwrap();
    for i in 0..3 {
        send(&p, "tls", 0, &format!("k{i}"), &format!("v{i}"));
    }
    p.flush(TIMEOUT).unwrap();
    let c = reader(client(&broker, Some(&ca), None));
    let read = read_all(&c, "tls", 1, Some(3), Duration::from_millis(300));
    let values: Vec<&str> = read.iter().map(|r| r.value.as_str()).collect();
    assert_eq!(values, ["v0", "v1", "v2"]);
}

#[test]
fn a_client_trusting_another_ca_cannot_connect() {
    let certs = generate();
    let other = generate();
    let dir = TempDir::new();
    let ca = dir.0.join("other-ca.pem");
    other.write_ca(&ca).unwrap();
    let broker = BackgroundBroker::start(BrokerConfig::default().tls(certs.identity())).unwrap();
    let recorder = Recorder::default();
    let c: BaseConsumer<Recorder> = with(client(&broker, Some(&ca), None), &[("group.id", "g")])
        .create_with_context(recorder.clone())
        .unwrap();
    assert!(c.fetch_metadata(None, Duration::from_secs(3)).is_err());
    let deadline = Instant::now() + Duration::from_secs(10);
    let found = loop {
        let _ = c.poll(Duration::from_millis(100));
        let errors = recorder.errors.lock().unwrap().clone();
        if let Some(e) = errors
            .iter()
            .find(|(_, m)| m.contains("certificate verify failed"))
        {
            break Some(e.clone());
        }
        if Instant::now() > deadline {
            break None;
        }
    };
    assert!(
        found.is_some(),
        "no certificate verification error in {:?}",
        recorder.errors.lock().unwrap()
    );
}

/// Transactional produce (one committed, one aborted transaction) and a read_committed read
/// over SASL with `mechanism`.
fn sasl_round_trip(tls: bool, mechanism: &str) {
    let certs = generate();
    let dir = TempDir::new();
    let ca = dir.0.join("ca.pem");
    certs.write_ca(&ca).unwrap();
    let mut config = BrokerConfig::default()
        .sasl_user("alice", "alice-secret")
        .sasl_user("bob", "bob-secret");
    if tls {
        config = config.tls(certs.identity());
    }
    let broker = BackgroundBroker::start(config).unwrap();
    let expected = if tls {
        SecurityProtocol::SaslSsl
    } else {
        SecurityProtocol::SaslPlaintext
    };
    assert_eq!(broker.security_protocol(), expected);
    let topic = format!("sasl-{}", mechanism.to_lowercase());
    broker.create_topic(&topic, 1).unwrap();
    let ca = tls.then_some(&ca);
    let creds = Some((mechanism, "alice", "alice-secret"));
    let txn_id = format!("txn-{mechanism}");
    let p: BaseProducer = with(
        client(&broker, ca, creds),
        &[
            ("transactional.id", txn_id.as_str()),
            ("enable.idempotence", "true"),
        ],
    )
    .create()
    .unwrap();
    p.init_transactions(TIMEOUT)
        .unwrap_or_else(|e| panic!("{mechanism} tls={tls}: init_transactions: {e}"));
    p.begin_transaction().unwrap();
    send(&p, &topic, 0, "k", "committed-1");
    send(&p, &topic, 0, "k", "committed-2");
    p.commit_transaction(TIMEOUT).unwrap();
    p.begin_transaction().unwrap();
    send(&p, &topic, 0, "k", "aborted");
    p.flush(TIMEOUT).unwrap();
    p.abort_transaction(TIMEOUT).unwrap();
    let c = reader(client(&broker, ca, Some((mechanism, "bob", "bob-secret"))));
    let read = read_all(&c, &topic, 1, Some(2), Duration::from_millis(500));
    let values: Vec<&str> = read.iter().map(|r| r.value.as_str()).collect();
    assert_eq!(
        values,
        ["committed-1", "committed-2"],
        "{mechanism} tls={tls}"
    );
    assert_eq!(broker.transaction_counts().committed, 1);
}

#[test]
fn sasl_ssl_with_every_mechanism() {
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] {
        sasl_round_trip(true, mechanism);
    }
}

#[test]
fn sasl_plaintext_with_every_mechanism() {
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] {
        sasl_round_trip(false, mechanism);
    }
}

/// The first authentication error librdkafka reports for `user`/`password`, and how long it took.
fn authentication_error(mechanism: &str, user: &str, password: &str) -> (String, Duration) {
    let broker =
        BackgroundBroker::start(BrokerConfig::default().sasl_user("alice", "right")).unwrap();
    let recorder = Recorder::default();
    let c: BaseConsumer<Recorder> = with(
        client(&broker, None, Some((mechanism, user, password))),
        &[("group.id", "g")],
    )
    .create_with_context(recorder.clone())
    .unwrap();
    let start = Instant::now();
    assert!(c.fetch_metadata(None, Duration::from_secs(3)).is_err());
    loop {
        let _ = c.poll(Duration::from_millis(50));
        let errors = recorder.errors.lock().unwrap().clone();
        if let Some((_, m)) = errors
            .iter()
            .find(|(code, _)| *code == Some(RDKafkaErrorCode::Authentication))
        {
            return (m.clone(), start.elapsed());
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no authentication error: {errors:?}"
        );
    }
}

#[test]
fn a_wrong_password_fails_authentication_quickly() {
    let (message, took) = authentication_error("SCRAM-SHA-256", "alice", "wrong");
    assert!(
        message.contains(
            "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256"
        ),
        "{message}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    let (message, _) = authentication_error("SCRAM-SHA-512", "mallory", "right");
    assert!(message.contains("invalid credentials"), "{message}");
    let (message, _) = authentication_error("PLAIN", "alice", "wrong");
    assert!(
        message.contains("Authentication failed: Invalid username or password"),
        "{message}"
    );
}

#[test]
fn only_api_versions_and_the_handshake_precede_authentication() {
    let broker = BackgroundBroker::start(BrokerConfig::default().sasl_user("alice", "x")).unwrap();
    let mut c = RawClient::connect(broker.local_addr());
    let versions = c.request(3, &ApiVersionsRequest::default());
    assert!(versions.api_keys.iter().any(|k| k.api_key == 36));
    let r = c.request(
        1,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("GSSAPI")),
    );
    assert_eq!(r.error_code, ResponseError::UnsupportedSaslMechanism.code());
    let names: Vec<&str> = r.mechanisms.iter().map(|m| &**m).collect();
    assert_eq!(names, ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]);
    assert!(c.is_closed_by_peer(Duration::from_secs(5)));

    let mut c = RawClient::connect(broker.local_addr());
    c.send(9, &MetadataRequest::default()).unwrap();
    assert!(c.is_closed_by_peer(Duration::from_secs(5)));

    // PLAIN through SaslAuthenticate, then Metadata is served
    let mut c = RawClient::connect(broker.local_addr());
    let r = c.request(
        1,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
    );
    assert_eq!(r.error_code, 0);
    let r = c.request(
        2,
        &SaslAuthenticateRequest::default().with_auth_bytes(b"\0alice\0x".to_vec().into()),
    );
    assert_eq!(r.error_code, 0);
    let m = c.request(9, &MetadataRequest::default());
    assert_eq!(m.brokers.len(), 1);
    let again = c.request(1, &SaslHandshakeRequest::default());
    assert_eq!(again.error_code, ResponseError::IllegalSaslState.code());
}

/// A SASL_PLAINTEXT broker with ACLs: `writer` writes `orders` and owns transactional ids
/// `tx-*`; `reader` reads `orders` with groups `readers-*`; `nobody` has nothing.
fn acl_broker() -> BackgroundBroker {
    let config = BrokerConfig::default()
        .sasl_user("writer", "w")
        .sasl_user("reader", "r")
        .sasl_user("nobody", "n")
        .sasl_user("admin", "a")
        .super_user("admin")
        .acl(AclRule::allow(
            "User:writer",
            ResourceType::Topic,
            "orders",
            AclOperation::Write,
        ))
        .acl(
            AclRule::allow(
                "User:writer",
                ResourceType::TransactionalId,
                "tx-",
                AclOperation::Write,
            )
            .prefixed(),
        )
        .acl("User:reader:topic:orders:read".parse().unwrap())
        .acl("User:reader:group:readers-*:read".parse().unwrap());
    let broker = BackgroundBroker::start(config).unwrap();
    broker.create_topic("orders", 1).unwrap();
    broker
}

fn plain(broker: &BackgroundBroker, user: &str, password: &str) -> ClientConfig {
    client(broker, None, Some(("PLAIN", user, password)))
}

#[test]
fn producing_needs_topic_write() {
    let broker = acl_broker();
    let deliveries = |user: &str, password: &str| {
        let recorder = Recorder::default();
        let p: BaseProducer<Recorder> = with(
            plain(&broker, user, password),
            &[
                ("enable.idempotence", "false"),
                ("message.timeout.ms", "5000"),
            ],
        )
        .create_with_context(recorder.clone())
        .unwrap();
        p.send(BaseRecord::to("orders").key("k").payload("v").partition(0))
            .map_err(|(e, _)| e)
            .unwrap();
        let _ = p.flush(Duration::from_secs(10));
        let d = recorder.deliveries.lock().unwrap().clone();
        d
    };
    let refused = deliveries("nobody", "n");
    assert_eq!(
        refused,
        vec![Err(KafkaError::MessageProduction(
            RDKafkaErrorCode::TopicAuthorizationFailed
        ))]
    );
    let allowed = deliveries("writer", "w");
    assert_eq!(allowed, vec![Ok(())]);
    assert_eq!(broker.offsets("orders", 0).unwrap().0, 1);
}

#[test]
fn transactions_need_the_transactional_id() {
    let broker = acl_broker();
    let producer = |txn: &str| -> BaseProducer {
        with(
            plain(&broker, "writer", "w"),
            &[("transactional.id", txn), ("enable.idempotence", "true")],
        )
        .create()
        .unwrap()
    };
    let refused = producer("other-txn")
        .init_transactions(TIMEOUT)
        .unwrap_err();
    assert_eq!(
        refused.rdkafka_error_code(),
        Some(RDKafkaErrorCode::TransactionalIdAuthorizationFailed),
        "{refused}"
    );
    let p = producer("tx-1");
    p.init_transactions(TIMEOUT).unwrap();
    p.begin_transaction().unwrap();
    send(&p, "orders", 0, "k", "v");
    p.commit_transaction(TIMEOUT).unwrap();
    assert_eq!(broker.transaction_counts().committed, 1);
}

#[test]
fn consuming_in_a_group_needs_group_read() {
    let broker = acl_broker();
    let consumer = |group: &str| -> BaseConsumer {
        with(
            plain(&broker, "reader", "r"),
            &[
                ("group.id", group),
                ("enable.auto.commit", "false"),
                ("auto.offset.reset", "earliest"),
            ],
        )
        .create()
        .unwrap()
    };
    let refused = consumer("others");
    refused.subscribe(&["orders"]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let error = loop {
        if let Some(Err(e)) = refused.poll(Duration::from_millis(100)) {
            break e;
        }
        assert!(Instant::now() < deadline, "no group authorization error");
    };
    assert_eq!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::GroupAuthorizationFailed),
        "{error}"
    );

    // the permitted group reads and commits
    let p: BaseProducer = plain(&broker, "writer", "w").create().unwrap();
    send(&p, "orders", 0, "k", "hello");
    p.flush(TIMEOUT).unwrap();
    let allowed = consumer("readers-1");
    allowed.subscribe(&["orders"]).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let message = loop {
        match allowed.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => break m.detach(),
            Some(Err(e)) => panic!("{e}"),
            None => assert!(Instant::now() < deadline, "nothing consumed"),
        }
    };
    assert_eq!(message.payload(), Some(&b"hello"[..]));
    allowed
        .commit_consumer_state(rdkafka::consumer::CommitMode::Sync)
        .unwrap();
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

#[test]
fn acls_are_created_described_and_deleted_at_run_time() {
    // plaintext connections are User:ANONYMOUS: make it the super user
    let broker = BackgroundBroker::start(BrokerConfig::default().super_user("ANONYMOUS")).unwrap();
    let mut c = RawClient::connect(broker.local_addr());
    let creation = create_acls_request::AclCreation::default()
        .with_resource_type(ResourceType::Topic.code())
        .with_resource_name(s("orders-"))
        .with_resource_pattern_type(4)
        .with_principal(s("User:app"))
        .with_host(s("*"))
        .with_operation(AclOperation::Write.code())
        .with_permission_type(3);
    let bad = creation.clone().with_operation(1); // ANY is not an operation to grant
    let r = c.request(
        3,
        &CreateAclsRequest::default().with_creations(vec![creation, bad]),
    );
    assert_eq!(r.results[0].error_code, 0);
    assert_eq!(
        r.results[1].error_code,
        ResponseError::InvalidRequest.code()
    );
    assert_eq!(
        broker.acls(),
        vec![AclRule::allow(
            "User:app",
            ResourceType::Topic,
            "orders-",
            AclOperation::Write
        )
        .prefixed()]
    );

    let describe = |c: &mut RawClient, pattern: i8, name: Option<&str>| {
        c.request(
            3,
            &DescribeAclsRequest::default()
                .with_resource_type_filter(1)
                .with_resource_name_filter(name.map(s))
                .with_principal_filter(None)
                .with_host_filter(None)
                .with_pattern_type_filter(pattern)
                .with_operation(1)
                .with_permission_type(1),
        )
    };
    let all = describe(&mut c, 1, None);
    assert_eq!(all.error_code, 0);
    assert_eq!(all.resources.len(), 1);
    assert_eq!(&*all.resources[0].resource_name, "orders-");
    assert_eq!(&*all.resources[0].acls[0].principal, "User:app");
    // MATCH finds the prefixed rule covering a concrete name; LITERAL does not
    assert_eq!(describe(&mut c, 2, Some("orders-eu")).resources.len(), 1);
    assert_eq!(describe(&mut c, 3, Some("orders-eu")).resources.len(), 0);

    let deleted = c.request(
        3,
        &DeleteAclsRequest::default().with_filters(vec![
            delete_acls_request::DeleteAclsFilter::default()
                .with_resource_type_filter(1)
                .with_pattern_type_filter(1)
                .with_resource_name_filter(None)
                .with_principal_filter(Some(s("User:app")))
                .with_host_filter(None)
                .with_operation(1)
                .with_permission_type(1),
        ]),
    );
    assert_eq!(deleted.filter_results[0].matching_acls.len(), 1);
    assert!(describe(&mut c, 1, None).resources.is_empty());
    assert!(broker.acls().is_empty());
}

#[test]
fn without_cluster_permissions_acls_and_topics_are_refused() {
    let broker = BackgroundBroker::start(
        BrokerConfig::default()
            .acl("User:ANONYMOUS:topic:visible:read".parse().unwrap())
            .auto_create_topics(false),
    )
    .unwrap();
    broker.create_topic("visible", 1).unwrap();
    broker.create_topic("hidden", 1).unwrap();
    let mut c = RawClient::connect(broker.local_addr());
    let r = c.request(
        3,
        &DescribeAclsRequest::default().with_resource_type_filter(1),
    );
    assert_eq!(
        r.error_code,
        ResponseError::ClusterAuthorizationFailed.code()
    );

    // Metadata: a named topic without DESCRIBE is refused, a listing omits it
    let topic = |n: &str| {
        metadata_request::MetadataRequestTopic::default().with_name(Some(TopicName(s(n))))
    };
    let named = c.request(
        9,
        &MetadataRequest::default()
            .with_topics(Some(vec![topic("visible"), topic("hidden")]))
            .with_include_topic_authorized_operations(true),
    );
    let codes: Vec<(String, i16, i32)> = named
        .topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().unwrap().to_string(),
                t.error_code,
                t.topic_authorized_operations,
            )
        })
        .collect();
    let read_describe = (1 << 3) | (1 << 8);
    assert!(
        codes.contains(&("visible".to_owned(), 0, read_describe)),
        "{codes:?}"
    );
    assert!(
        codes
            .iter()
            .any(|(n, code, _)| n == "hidden"
                && *code == ResponseError::TopicAuthorizationFailed.code()),
        "{codes:?}"
    );
    let all = c.request(9, &MetadataRequest::default().with_topics(None));
    let names: Vec<String> = all
        .topics
        .iter()
        .map(|t| t.name.as_ref().unwrap().to_string())
        .collect();
    assert_eq!(names, ["visible"]);
}
