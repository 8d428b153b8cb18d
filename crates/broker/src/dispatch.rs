//! Request routing: the header, the API versions we advertise, fault hooks, decoding with
//! `kafka-protocol` and encoding the response at the request's version.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, VersionRange};
use kafka_protocol::ResponseError;

use crate::authorizer::Access;
use crate::handlers::guard::Guarded;
use crate::handlers::routing::{Here, Routed};
use crate::handlers::{self, Api};
use crate::sasl::{AuthStep, Session};
use crate::state::State;

/// What the connection does after a request.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Write this response frame (without the size prefix).
    Respond(BytesMut),
    /// Produce with acks=0: no response.
    NoResponse,
    /// The request is not acceptable: close the connection (Kafka does for unparseable
    /// requests, unknown API keys and unsupported versions other than ApiVersions).
    Close(String),
    /// Write this response, then close the connection (failed SASL authentication).
    RespondAndClose(BytesMut, String),
}

/// One advertised API: its key and the versions its handler implements
/// ([`Api::SUPPORTED_VERSIONS`]).
const fn api<R: Api>() -> (i16, VersionRange) {
    (R::KEY, R::SUPPORTED_VERSIONS)
}

/// The APIs this broker implements, in the order ApiVersions lists them: advertised, and
/// every other version refused before a handler runs. `tests/api_versions.rs` sends every
/// advertised version of each and checks it is answered.
const SUPPORTED: &[(i16, VersionRange)] = &[
    api::<ProduceRequest>(),
    api::<FetchRequest>(),
    api::<ListOffsetsRequest>(),
    api::<MetadataRequest>(),
    api::<OffsetCommitRequest>(),
    api::<OffsetFetchRequest>(),
    api::<FindCoordinatorRequest>(),
    api::<JoinGroupRequest>(),
    api::<HeartbeatRequest>(),
    api::<LeaveGroupRequest>(),
    api::<SyncGroupRequest>(),
    api::<DescribeGroupsRequest>(),
    api::<ListGroupsRequest>(),
    api::<ApiVersionsRequest>(),
    api::<CreateTopicsRequest>(),
    api::<DeleteTopicsRequest>(),
    api::<DeleteGroupsRequest>(),
    api::<InitProducerIdRequest>(),
    api::<OffsetForLeaderEpochRequest>(),
    api::<AddPartitionsToTxnRequest>(),
    api::<AddOffsetsToTxnRequest>(),
    api::<EndTxnRequest>(),
    api::<TxnOffsetCommitRequest>(),
    api::<CreatePartitionsRequest>(),
    api::<DescribeConfigsRequest>(),
    api::<AlterConfigsRequest>(),
    api::<IncrementalAlterConfigsRequest>(),
    api::<DeleteRecordsRequest>(),
    api::<DescribeClusterRequest>(),
    api::<OffsetDeleteRequest>(),
    api::<ListTransactionsRequest>(),
    api::<DescribeTransactionsRequest>(),
    api::<DescribeProducersRequest>(),
    api::<SaslHandshakeRequest>(),
    api::<SaslAuthenticateRequest>(),
    api::<DescribeAclsRequest>(),
    api::<CreateAclsRequest>(),
    api::<DeleteAclsRequest>(),
    api::<DescribeUserScramCredentialsRequest>(),
    api::<AlterUserScramCredentialsRequest>(),
];

/// The advertised version range of `key`.
fn supported(key: ApiKey) -> Option<VersionRange> {
    SUPPORTED
        .iter()
        .find(|(k, _)| *k == key as i16)
        .map(|(_, versions)| *versions)
}

/// The ApiVersions list.
pub(crate) fn api_version_list() -> Vec<ApiVersion> {
    SUPPORTED
        .iter()
        .map(|(key, versions)| {
            ApiVersion::default()
                .with_api_key(*key)
                .with_min_version(versions.min)
                .with_max_version(versions.max)
        })
        .collect()
}

fn encode_response<R: Encodable>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    response: &R,
) -> Outcome {
    // ApiVersions responses always use header v0 (KIP-511).
    let header_version = if key == ApiKey::ApiVersions {
        0
    } else {
        key.response_header_version(version)
    };
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    // sized once (a fetch response would grow through every power of two up to megabytes),
    // from the process's spare buffers (given back once written)
    let size = header.compute_size(header_version).unwrap_or(0)
        + response.compute_size(version).unwrap_or(0);
    let mut buf = crate::buffers::take(size);
    if let Err(e) = header.encode(&mut buf, header_version) {
        return Outcome::Close(format!(
            "cannot encode {key:?} v{version} response header: {e}"
        ));
    }
    match response.encode(&mut buf, version) {
        Ok(()) => Outcome::Respond(buf),
        Err(e) => {
            tracing::error!(api = ?key, version, error = %e, "cannot encode response");
            Outcome::Close(format!("cannot encode {key:?} v{version} response: {e}"))
        }
    }
}

/// ApiVersions at a version we do not know: answer v0 with UNSUPPORTED_VERSION and our
/// ranges, so the client can pick a version (KIP-511).
fn unsupported_api_versions(correlation_id: i32) -> Outcome {
    let response = ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(api_version_list());
    encode_response(ApiKey::ApiVersions, 0, correlation_id, &response)
}

/// What every request of one connection is routed with.
struct Cx<'a> {
    state: &'a State,
    access: &'a Access<'a>,
    here: Option<Here<'a>>,
    key: ApiKey,
    version: i16,
    cid: i32,
}

/// Decodes, applies faults, authorizes ([`Guarded`]), routes ([`Routed`]: answers what
/// another node coordinates or leads), runs the handler and encodes.
macro_rules! route {
    ($cx:expr, $body:expr, $req:ty, |$r:ident| $handler:expr) => {{
        let cx: &Cx<'_> = $cx;
        let (key, version, cid) = (cx.key, cx.version, cx.cid);
        let state: &State = cx.state;
        #[allow(unused_mut)]
        let mut $r = match <$req as Decodable>::decode(&mut $body, version) {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Close(format!("malformed {:?} v{} request: {e}", key, version))
            }
        };
        if let Some(code) = state.faults.take_error(key as i16) {
            tracing::debug!(api = ?key, code, "answering with an injected error");
            let response = <$req as Api>::fail(&$r, version, code);
            return encode_response(key, version, cid, &response);
        }
        let access: &Access = cx.access;
        let mut refused = None;
        if access.enabled() {
            if let Some(response) = <$req as Guarded>::refuse(&$r, access, state, version) {
                return encode_response(key, version, cid, &response);
            }
            refused = <$req as Guarded>::restrict(&mut $r, access, state, version);
        }
        let here: Option<Here<'_>> = cx.here;
        let mut elsewhere = None;
        if let Some(here) = here {
            if here.misrouted(&$r) {
                let code = ResponseError::NotCoordinator.code();
                return encode_response(key, version, cid, &$r.fail(version, code));
            }
            elsewhere = here.not_led(&mut $r);
        }
        #[allow(unused_mut)]
        let mut response = $handler;
        if access.enabled() {
            <$req as Guarded>::finish(&mut response, access);
            if let Some(refused) = refused {
                <$req as Guarded>::merge(&mut response, refused, version);
            }
        }
        if let Some(here) = here {
            <$req as Routed>::only_coordinated(&mut response, &|k, key| here.coordinates(k, key));
            if let Some(elsewhere) = elsewhere {
                <$req as Routed>::merge(&mut response, elsewhere, version);
            }
        }
        let outcome = encode_response(key, version, cid, &response);
        <$req as Api>::recycle(response);
        outcome
    }};
}

/// The response, then `Some(reason)`: close after it.
fn respond_then<R: Encodable>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    response: &R,
    close: Option<String>,
) -> Outcome {
    match (
        encode_response(key, version, correlation_id, response),
        close,
    ) {
        (Outcome::Respond(bytes), Some(reason)) => Outcome::RespondAndClose(bytes, reason),
        (outcome, _) => outcome,
    }
}

/// A request on a connection that has not completed SASL authentication: the handshake
/// and authenticate exchange, ApiVersions (returns `None`: answer it as usual), or —
/// anything else, as Kafka's `SaslServerAuthenticator` — close.
fn unauthenticated(
    state: &State,
    session: &mut Session,
    key: ApiKey,
    v: i16,
    cid: i32,
    frame: &mut Bytes,
) -> Option<Outcome> {
    match key {
        ApiKey::ApiVersions if session.awaits_handshake() => None,
        ApiKey::SaslHandshake if session.awaits_handshake() => {
            let r = match SaslHandshakeRequest::decode(frame, v) {
                Ok(r) => r,
                Err(e) => return Some(Outcome::Close(format!("malformed SaslHandshake: {e}"))),
            };
            let (response, close) = handlers::sasl::handshake(session, &state.sasl_users, r, v);
            Some(respond_then(key, v, cid, &response, close))
        }
        ApiKey::SaslAuthenticate if session.awaits_authenticate() => {
            let r = match SaslAuthenticateRequest::decode(frame, v) {
                Ok(r) => r,
                Err(e) => return Some(Outcome::Close(format!("malformed SaslAuthenticate: {e}"))),
            };
            let (response, close) = handlers::sasl::authenticate(session, &state.sasl_users, r, v);
            Some(respond_then(key, v, cid, &response, close))
        }
        _ => {
            let stage = if session.awaits_handshake() {
                "handshake"
            } else {
                "authentication"
            };
            Some(Outcome::Close(format!(
                "Unexpected Kafka request of type {key:?} during SASL {stage}."
            )))
        }
    }
}

/// Handles one request frame (its response delayed by an injected response latency).
pub(crate) async fn handle(
    state: &State,
    node: i32,
    frame: Bytes,
    session: &mut Session,
) -> Outcome {
    // after a v0 SaslHandshake the client sends raw SASL tokens, not Kafka requests
    if session.awaits_raw_token() {
        return match session.authenticate(&state.sasl_users, &frame) {
            AuthStep::Continue(token) | AuthStep::Done(token) => {
                Outcome::Respond(BytesMut::from(&token[..]))
            }
            AuthStep::Failed(message) => Outcome::Close(message),
        };
    }
    let raw_key = match frame.get(..2) {
        Some(&[hi, lo]) => Some(i16::from_be_bytes([hi, lo])),
        _ => None,
    };
    let delay = raw_key.and_then(|k| state.faults.response_latency(k));
    let outcome = answer(state, node, frame, session).await;
    let outcome = save_before_answering(state, raw_key, outcome);
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    outcome
}

/// With a data dir, saves the metadata a request of `raw_key` changed before its answer
/// goes out (its partition log writes happened in the handler). A save that fails closes
/// the connection instead of answering: the client retries (departure: Kafka would answer
/// the failed write's error code).
fn save_before_answering(state: &State, raw_key: Option<i16>, outcome: Outcome) -> Outcome {
    let (Some(store), Some(key)) = (&state.store, raw_key.and_then(|k| ApiKey::try_from(k).ok()))
    else {
        return outcome;
    };
    if matches!(outcome, Outcome::Close(_)) || !store.must_save(key, &state.groups) {
        return outcome;
    }
    match state.persist() {
        Ok(()) => outcome,
        Err(e) => {
            tracing::error!(api = ?key, error = %e, "cannot save the broker metadata");
            Outcome::Close(format!(
                "cannot save the broker metadata after {key:?}: {e}"
            ))
        }
    }
}

/// Answers one request frame.
async fn answer(state: &State, node: i32, mut frame: Bytes, session: &mut Session) -> Outcome {
    if frame.len() < 8 {
        return Outcome::Close(format!("truncated request header ({} bytes)", frame.len()));
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let Ok(key) = ApiKey::try_from(raw_key) else {
        return Outcome::Close(format!("unknown API key {raw_key}"));
    };
    let Some(VersionRange { min, max }) = supported(key) else {
        return Outcome::Close(format!("unsupported API {key:?}"));
    };
    if version < min || version > max {
        if key == ApiKey::ApiVersions {
            return unsupported_api_versions(correlation_id);
        }
        return Outcome::Close(format!(
            "unsupported version {version} of {key:?} (supported {min}-{max})"
        ));
    }
    let header = match RequestHeader::decode(&mut frame, key.request_header_version(version)) {
        Ok(h) => h,
        Err(e) => return Outcome::Close(format!("malformed request header: {e}")),
    };
    if !session.is_authenticated() {
        if let Some(outcome) =
            unauthenticated(state, session, key, version, correlation_id, &mut frame)
        {
            return outcome;
        }
    }
    if let Some(delay) = state.faults.latency(raw_key) {
        tokio::time::sleep(delay).await;
    }
    let session: &Session = session;
    let client_host = session.host();
    let access = Access {
        authorizer: &state.authorizer,
        principal: session.principal(),
        host: session.host(),
    };
    let client_id = header
        .client_id
        .as_ref()
        .map(|c| c.to_string())
        .unwrap_or_default();
    let v = version;
    let cid = correlation_id;
    let here = Here::of(state, node);
    let cx = Cx {
        state,
        access: &access,
        here,
        key,
        version,
        cid,
    };
    match key {
        ApiKey::ApiVersions => {
            route!(&cx, frame, ApiVersionsRequest, |r| {
                handlers::admin::api_versions(r, v)
            })
        }
        ApiKey::Metadata => {
            route!(&cx, frame, MetadataRequest, |r| {
                handlers::metadata::metadata(state, r, v)
            })
        }
        ApiKey::CreateTopics => {
            route!(&cx, frame, CreateTopicsRequest, |r| {
                handlers::admin::create_topics(state, r, v)
            })
        }
        ApiKey::DeleteTopics => {
            route!(&cx, frame, DeleteTopicsRequest, |r| {
                handlers::admin::delete_topics(state, r, v)
            })
        }
        ApiKey::FindCoordinator => {
            route!(&cx, frame, FindCoordinatorRequest, |r| {
                handlers::metadata::find_coordinator(state, r, v)
            })
        }
        ApiKey::Produce => {
            let mut r = match ProduceRequest::decode(&mut frame, v) {
                Ok(r) => r,
                Err(e) => return Outcome::Close(format!("malformed Produce v{v} request: {e}")),
            };
            let acks = r.acks;
            let reply = |response: &ProduceResponse| {
                if acks == 0 {
                    Outcome::NoResponse
                } else {
                    encode_response(key, v, cid, response)
                }
            };
            if let Some(code) = state.faults.take_error(raw_key) {
                return reply(&r.fail(v, code));
            }
            let mut refused = None;
            if access.enabled() {
                if let Some(response) = r.refuse(&access, state, v) {
                    return reply(&response);
                }
                refused = r.restrict(&access, state, v);
            }
            let elsewhere = here.and_then(|h| h.not_led(&mut r));
            let mut response = handlers::produce::produce(state, r, v);
            if let Some(refused) = refused {
                <ProduceRequest as Guarded>::merge(&mut response, refused, v);
            }
            if let Some(elsewhere) = elsewhere {
                <ProduceRequest as Routed>::merge(&mut response, elsewhere, v);
            }
            reply(&response)
        }
        ApiKey::Fetch => {
            route!(&cx, frame, FetchRequest, |r| {
                handlers::fetch::fetch(state, r, v).await
            })
        }
        ApiKey::ListOffsets => {
            route!(&cx, frame, ListOffsetsRequest, |r| {
                handlers::offsets::list_offsets(state, r, v)
            })
        }
        ApiKey::OffsetForLeaderEpoch => {
            route!(&cx, frame, OffsetForLeaderEpochRequest, |r| {
                handlers::offsets::offset_for_leader_epoch(state, r, v)
            })
        }
        ApiKey::InitProducerId => {
            route!(&cx, frame, InitProducerIdRequest, |r| {
                handlers::txn::init_producer_id(state, r, v)
            })
        }
        ApiKey::AddPartitionsToTxn => {
            route!(&cx, frame, AddPartitionsToTxnRequest, |r| {
                handlers::txn::add_partitions_to_txn(state, r, v)
            })
        }
        ApiKey::AddOffsetsToTxn => {
            route!(&cx, frame, AddOffsetsToTxnRequest, |r| {
                handlers::txn::add_offsets_to_txn(state, r, v)
            })
        }
        ApiKey::EndTxn => {
            route!(&cx, frame, EndTxnRequest, |r| {
                handlers::txn::end_txn(state, r, v)
            })
        }
        ApiKey::TxnOffsetCommit => {
            route!(&cx, frame, TxnOffsetCommitRequest, |r| {
                handlers::txn::txn_offset_commit(state, r, v)
            })
        }
        ApiKey::JoinGroup => {
            route!(&cx, frame, JoinGroupRequest, |r| {
                handlers::group::join_group(&state.groups, r, v, &client_id, client_host).await
            })
        }
        ApiKey::SyncGroup => {
            route!(&cx, frame, SyncGroupRequest, |r| {
                handlers::group::sync_group(&state.groups, r, v).await
            })
        }
        ApiKey::Heartbeat => {
            route!(&cx, frame, HeartbeatRequest, |r| {
                handlers::group::heartbeat(&state.groups, r, v)
            })
        }
        ApiKey::LeaveGroup => {
            route!(&cx, frame, LeaveGroupRequest, |r| {
                handlers::group::leave_group(&state.groups, r, v)
            })
        }
        ApiKey::DescribeGroups => {
            route!(&cx, frame, DescribeGroupsRequest, |r| {
                handlers::group::describe_groups(&state.groups, r, v)
            })
        }
        ApiKey::ListGroups => {
            route!(&cx, frame, ListGroupsRequest, |r| {
                handlers::group::list_groups(&state.groups, r, v)
            })
        }
        ApiKey::DeleteGroups => {
            route!(&cx, frame, DeleteGroupsRequest, |r| {
                handlers::group::delete_groups(&state.groups, r, v)
            })
        }
        ApiKey::OffsetCommit => {
            route!(&cx, frame, OffsetCommitRequest, |r| {
                handlers::group_offsets::offset_commit(state, r, v)
            })
        }
        ApiKey::OffsetFetch => {
            route!(&cx, frame, OffsetFetchRequest, |r| {
                handlers::group_offsets::offset_fetch(&state.groups, r, v)
            })
        }
        ApiKey::CreatePartitions => {
            route!(&cx, frame, CreatePartitionsRequest, |r| {
                handlers::partitions::create_partitions(state, r, v)
            })
        }
        ApiKey::DescribeConfigs => {
            route!(&cx, frame, DescribeConfigsRequest, |r| {
                handlers::configs::describe_configs(state, node, r, v)
            })
        }
        ApiKey::AlterConfigs => {
            route!(&cx, frame, AlterConfigsRequest, |r| {
                handlers::configs::alter_configs(state, node, r, v)
            })
        }
        ApiKey::IncrementalAlterConfigs => {
            route!(&cx, frame, IncrementalAlterConfigsRequest, |r| {
                handlers::configs::incremental_alter_configs(state, node, r, v)
            })
        }
        ApiKey::DeleteRecords => {
            route!(&cx, frame, DeleteRecordsRequest, |r| {
                handlers::records::delete_records(state, r, v)
            })
        }
        ApiKey::DescribeCluster => {
            route!(&cx, frame, DescribeClusterRequest, |r| {
                handlers::metadata::describe_cluster(state, r, v)
            })
        }
        ApiKey::OffsetDelete => {
            route!(&cx, frame, OffsetDeleteRequest, |r| {
                handlers::group_offsets::offset_delete(&state.groups, r, v)
            })
        }
        ApiKey::ListTransactions => {
            route!(&cx, frame, ListTransactionsRequest, |r| {
                handlers::txn::list_transactions(state, r, v)
            })
        }
        ApiKey::DescribeTransactions => {
            route!(&cx, frame, DescribeTransactionsRequest, |r| {
                handlers::txn::describe_transactions(state, r, v)
            })
        }
        ApiKey::DescribeProducers => {
            route!(&cx, frame, DescribeProducersRequest, |r| {
                handlers::txn::describe_producers(state, r, v)
            })
        }
        ApiKey::SaslHandshake => {
            route!(&cx, frame, SaslHandshakeRequest, |r| {
                handlers::sasl::handshake_after_authentication(&state.sasl_users, r, v)
            })
        }
        ApiKey::SaslAuthenticate => {
            route!(&cx, frame, SaslAuthenticateRequest, |r| {
                handlers::sasl::authenticate_after_authentication(r, v)
            })
        }
        ApiKey::CreateAcls => {
            route!(&cx, frame, CreateAclsRequest, |r| {
                handlers::acls::create_acls(state, r, v)
            })
        }
        ApiKey::DescribeAcls => {
            route!(&cx, frame, DescribeAclsRequest, |r| {
                handlers::acls::describe_acls(state, r, v)
            })
        }
        ApiKey::DeleteAcls => {
            route!(&cx, frame, DeleteAclsRequest, |r| {
                handlers::acls::delete_acls(state, r, v)
            })
        }
        ApiKey::DescribeUserScramCredentials => {
            route!(&cx, frame, DescribeUserScramCredentialsRequest, |r| {
                handlers::scram_credentials::describe_user_scram_credentials(
                    &state.sasl_users,
                    r,
                    v,
                )
            })
        }
        ApiKey::AlterUserScramCredentials => {
            route!(&cx, frame, AlterUserScramCredentialsRequest, |r| {
                handlers::scram_credentials::alter_user_scram_credentials(&state.sasl_users, r, v)
            })
        }
        _ => Outcome::Close(format!("unsupported API {key:?}")),
    }
}
