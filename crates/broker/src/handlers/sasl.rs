//! SaslHandshake and SaslAuthenticate: the authentication exchange before a SASL
//! connection is authenticated, and Kafka's ILLEGAL_SASL_STATE answers after it (or on a
//! listener without SASL).

use kafka_protocol::messages::*;
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::{sb, Api};
use crate::sasl::{AuthStep, SaslUsers, Session, MECHANISMS};

impl Api for SaslHandshakeRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 1 };
    fn fail(&self, _version: i16, code: i16) -> SaslHandshakeResponse {
        SaslHandshakeResponse::default().with_error_code(code)
    }
}

impl Api for SaslAuthenticateRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 2 };
    fn fail(&self, _version: i16, code: i16) -> SaslAuthenticateResponse {
        SaslAuthenticateResponse::default().with_error_code(code)
    }
}

/// The enabled mechanisms, as the handshake lists them.
fn mechanisms(users: &SaslUsers) -> Vec<kafka_protocol::protocol::StrBytes> {
    if users.required() {
        MECHANISMS.iter().map(|m| sb(*m)).collect()
    } else {
        Vec::new()
    }
}

/// A handshake on an authenticated connection (Kafka's `KafkaApis`).
pub(crate) fn handshake_after_authentication(
    users: &SaslUsers,
    _req: SaslHandshakeRequest,
    _version: i16,
) -> SaslHandshakeResponse {
    SaslHandshakeResponse::default()
        .with_error_code(ResponseError::IllegalSaslState.code())
        .with_mechanisms(mechanisms(users))
}

/// An authenticate request on an authenticated connection (Kafka's `KafkaApis`).
pub(crate) fn authenticate_after_authentication(
    _req: SaslAuthenticateRequest,
    _version: i16,
) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(ResponseError::IllegalSaslState.code())
        .with_error_message(Some(sb(
            "SaslAuthenticate request received after successful authentication",
        )))
}

/// The handshake: the response, and `Some(reason)` when the connection closes after it.
pub(crate) fn handshake(
    session: &mut Session,
    users: &SaslUsers,
    req: SaslHandshakeRequest,
    version: i16,
) -> (SaslHandshakeResponse, Option<String>) {
    let response = SaslHandshakeResponse::default().with_mechanisms(mechanisms(users));
    if session.handshake(&req.mechanism, version) {
        (response, None)
    } else {
        (
            response.with_error_code(ResponseError::UnsupportedSaslMechanism.code()),
            Some(format!("Unsupported SASL mechanism {}", &*req.mechanism)),
        )
    }
}

/// One SaslAuthenticate round: the response, and `Some(reason)` when the connection closes
/// after it (authentication failed).
pub(crate) fn authenticate(
    session: &mut Session,
    users: &SaslUsers,
    req: SaslAuthenticateRequest,
    _version: i16,
) -> (SaslAuthenticateResponse, Option<String>) {
    match session.authenticate(users, &req.auth_bytes) {
        AuthStep::Continue(token) | AuthStep::Done(token) => (
            SaslAuthenticateResponse::default().with_auth_bytes(token.into()),
            None,
        ),
        AuthStep::Failed(message) => (
            SaslAuthenticateResponse::default()
                .with_error_code(ResponseError::SaslAuthenticationFailed.code())
                .with_error_message(Some(sb(message.clone()))),
            Some(message),
        ),
    }
}
