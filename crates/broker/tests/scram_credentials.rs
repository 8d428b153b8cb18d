//! DescribeUserScramCredentials and AlterUserScramCredentials (sent with the raw client:
//! rdkafka's AdminClient does not expose them) managing the credentials librdkafka clients
//! then authenticate with over SCRAM.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::raw::RawClient;
use kafka_eos_broker::protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_eos_broker::protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_eos_broker::protocol::messages::*;
use kafka_eos_broker::protocol::protocol::StrBytes;
use kafka_eos_broker::protocol::ResponseError;
use kafka_eos_broker::{BackgroundBroker, BrokerConfig};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;

const SHA_256: i8 = 1;
const SHA_512: i8 = 2;

/// Records the error codes librdkafka reports through the error callback.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Option<RDKafkaErrorCode>>>>);

impl ClientContext for Recorder {
    fn error(&self, error: KafkaError, _reason: &str) {
        self.0.lock().unwrap().push(error.rdkafka_error_code());
    }
}
impl ConsumerContext for Recorder {}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

/// A SASL_PLAINTEXT broker whose configured user is `admin`.
fn sasl_broker(config: BrokerConfig) -> BackgroundBroker {
    BackgroundBroker::start(config.sasl_user("admin", "admin-secret")).unwrap()
}

/// A raw connection authenticated with PLAIN as `user`.
fn login(addr: SocketAddr, user: &str, password: &str) -> RawClient {
    let mut c = RawClient::connect(addr);
    let r = c.request(
        1,
        &SaslHandshakeRequest::default().with_mechanism(s("PLAIN")),
    );
    assert_eq!(r.error_code, 0);
    let token = format!("\0{user}\0{password}").into_bytes();
    let r = c.request(
        2,
        &SaslAuthenticateRequest::default().with_auth_bytes(token.into()),
    );
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    c
}

/// An upsertion of `user`'s `password` as a client computes it: `Hi(password, salt, i)`.
fn upsertion(
    user: &str,
    mechanism: i8,
    password: &str,
    iterations: i32,
) -> ScramCredentialUpsertion {
    let salt = uuid::Uuid::new_v4().as_bytes().to_vec();
    let rounds = u32::try_from(iterations).unwrap();
    let salted = if mechanism == SHA_512 {
        pbkdf2::pbkdf2_hmac_array::<sha2::Sha512, 64>(password.as_bytes(), &salt, rounds).to_vec()
    } else {
        pbkdf2::pbkdf2_hmac_array::<sha2::Sha256, 32>(password.as_bytes(), &salt, rounds).to_vec()
    };
    ScramCredentialUpsertion::default()
        .with_name(s(user))
        .with_mechanism(mechanism)
        .with_iterations(iterations)
        .with_salt(salt.into())
        .with_salted_password(salted.into())
}

fn deletion(user: &str, mechanism: i8) -> ScramCredentialDeletion {
    ScramCredentialDeletion::default()
        .with_name(s(user))
        .with_mechanism(mechanism)
}

/// `(user, error code)` of each result of an AlterUserScramCredentials.
fn alter(
    c: &mut RawClient,
    deletions: Vec<ScramCredentialDeletion>,
    upsertions: Vec<ScramCredentialUpsertion>,
) -> Vec<(String, i16)> {
    let r = c.request(
        0,
        &AlterUserScramCredentialsRequest::default()
            .with_deletions(deletions)
            .with_upsertions(upsertions),
    );
    r.results
        .iter()
        .map(|r| (r.user.to_string(), r.error_code))
        .collect()
}

fn describe(c: &mut RawClient, users: &[&str]) -> DescribeUserScramCredentialsResponse {
    c.request(
        0,
        &DescribeUserScramCredentialsRequest::default().with_users(Some(
            users
                .iter()
                .map(|u| UserName::default().with_name(s(u)))
                .collect(),
        )),
    )
}

/// Whether a librdkafka client authenticates with SCRAM as `user`: it gets metadata, or
/// librdkafka reports an authentication error.
fn authenticates(broker: &BackgroundBroker, mechanism: &str, user: &str, password: &str) -> bool {
    let recorder = Recorder::default();
    let c: BaseConsumer<Recorder> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("broker.address.family", "v4")
        .set("security.protocol", broker.security_protocol().as_str())
        .set("sasl.mechanisms", mechanism)
        .set("sasl.username", user)
        .set("sasl.password", password)
        .create_with_context(recorder.clone())
        .unwrap();
    let deadline = Instant::now() + common::TIMEOUT;
    while Instant::now() < deadline {
        if c.fetch_metadata(None, Duration::from_millis(500)).is_ok() {
            return true;
        }
        let _ = c.poll(Duration::from_millis(10));
        let errors = recorder.0.lock().unwrap().clone();
        if errors.contains(&Some(RDKafkaErrorCode::Authentication)) {
            return false;
        }
    }
    panic!("neither metadata nor an authentication error for {user}");
}

#[test]
fn an_upserted_credential_authenticates_until_it_is_deleted() {
    let broker = sasl_broker(BrokerConfig::default());
    let mut admin = login(broker.local_addr(), "admin", "admin-secret");
    // unknown at first; the configured user has both mechanisms at 4096 iterations
    let r = describe(&mut admin, &["alice", "admin"]);
    assert_eq!(r.error_code, 0);
    assert_eq!(
        r.results[0].error_code,
        ResponseError::ResourceNotFound.code()
    );
    let admin_infos: Vec<(i8, i32)> = r.results[1]
        .credential_infos
        .iter()
        .map(|i| (i.mechanism, i.iterations))
        .collect();
    assert_eq!(admin_infos, [(SHA_256, 4096), (SHA_512, 4096)]);
    assert!(!authenticates(
        &broker,
        "SCRAM-SHA-256",
        "alice",
        "alice-secret"
    ));

    let r = alter(
        &mut admin,
        vec![],
        vec![upsertion("alice", SHA_256, "alice-secret", 10_000)],
    );
    assert_eq!(r, [("alice".to_owned(), 0)]);
    let r = describe(&mut admin, &["alice"]);
    assert_eq!(r.results[0].error_code, 0);
    assert_eq!(r.results[0].credential_infos.len(), 1);
    assert_eq!(r.results[0].credential_infos[0].mechanism, SHA_256);
    assert_eq!(r.results[0].credential_infos[0].iterations, 10_000);

    assert!(authenticates(
        &broker,
        "SCRAM-SHA-256",
        "alice",
        "alice-secret"
    ));
    assert!(!authenticates(&broker, "SCRAM-SHA-256", "alice", "wrong"));
    // only the mechanism upserted, and no PLAIN password
    assert!(!authenticates(
        &broker,
        "SCRAM-SHA-512",
        "alice",
        "alice-secret"
    ));
    assert!(!authenticates(&broker, "PLAIN", "alice", "alice-secret"));

    // a new password replaces the old one
    let r = alter(
        &mut admin,
        vec![],
        vec![upsertion("alice", SHA_256, "changed", 4096)],
    );
    assert_eq!(r, [("alice".to_owned(), 0)]);
    assert!(authenticates(&broker, "SCRAM-SHA-256", "alice", "changed"));
    assert!(!authenticates(
        &broker,
        "SCRAM-SHA-256",
        "alice",
        "alice-secret"
    ));

    let r = alter(&mut admin, vec![deletion("alice", SHA_256)], vec![]);
    assert_eq!(r, [("alice".to_owned(), 0)]);
    assert_eq!(
        describe(&mut admin, &["alice"]).results[0].error_code,
        ResponseError::ResourceNotFound.code()
    );
    assert!(!authenticates(&broker, "SCRAM-SHA-256", "alice", "changed"));
}

#[test]
fn bad_alterations_are_refused_with_kafkas_codes() {
    let broker = sasl_broker(BrokerConfig::default());
    let mut admin = login(broker.local_addr(), "admin", "admin-secret");
    let code = |e: ResponseError| e.code();
    let r = alter(
        &mut admin,
        vec![deletion("ghost", SHA_256)],
        vec![
            upsertion("twice", SHA_256, "p", 8192),
            upsertion("twice", SHA_512, "p", 8192),
            upsertion("mechanism", 3, "p", 8192),
            upsertion("few", SHA_256, "p", 4095),
            upsertion("many", SHA_512, "p", 16_385),
            upsertion("", SHA_256, "p", 8192),
        ],
    );
    let mut r = r;
    r.sort();
    let mut expected = vec![
        ("ghost".to_owned(), code(ResponseError::ResourceNotFound)),
        ("twice".to_owned(), code(ResponseError::DuplicateResource)),
        (
            "mechanism".to_owned(),
            code(ResponseError::UnsupportedSaslMechanism),
        ),
        (
            "few".to_owned(),
            code(ResponseError::UnacceptableCredential),
        ),
        (
            "many".to_owned(),
            code(ResponseError::UnacceptableCredential),
        ),
        (String::new(), code(ResponseError::UnacceptableCredential)),
    ];
    expected.sort();
    assert_eq!(r, expected);
    // nothing was stored
    let r = describe(&mut admin, &["twice", "twice"]);
    assert_eq!(r.results.len(), 1);
    assert_eq!(
        r.results[0].error_code,
        code(ResponseError::DuplicateResource)
    );
    for user in ["twice", "mechanism", "few", "many"] {
        let r = describe(&mut admin, &[user]);
        assert_eq!(
            r.results[0].error_code,
            code(ResponseError::ResourceNotFound),
            "{user}"
        );
    }
}

#[test]
fn with_an_authorizer_the_cluster_must_be_described_and_altered() {
    let broker = sasl_broker(
        BrokerConfig::default()
            .sasl_user("bob", "bob-secret")
            .super_user("admin"),
    );
    let mut bob = login(broker.local_addr(), "bob", "bob-secret");
    let denied = ResponseError::ClusterAuthorizationFailed.code();
    let r = describe(&mut bob, &["admin"]);
    assert_eq!(r.error_code, denied);
    assert_eq!(r.results[0].error_code, denied);
    let r = alter(&mut bob, vec![deletion("admin", SHA_256)], vec![]);
    assert_eq!(r, [("admin".to_owned(), denied)]);
    // the deletion did not happen; the super user may
    let mut admin = login(broker.local_addr(), "admin", "admin-secret");
    assert_eq!(
        describe(&mut admin, &["admin"]).results[0]
            .credential_infos
            .len(),
        2
    );
    let r = alter(&mut admin, vec![deletion("bob", SHA_512)], vec![]);
    assert_eq!(r, [("bob".to_owned(), 0)]);
    assert!(!authenticates(
        &broker,
        "SCRAM-SHA-512",
        "bob",
        "bob-secret"
    ));
    assert!(authenticates(&broker, "SCRAM-SHA-256", "bob", "bob-secret"));
}
