//! SASL authentication of a connection, as Kafka's `SaslServerAuthenticator`: ApiVersions
//! and SaslHandshake first, then SaslAuthenticate rounds (or, after a v0 handshake, raw
//! size-prefixed tokens) until the mechanism completes; anything else before that closes
//! the connection. Mechanisms: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512. The SCRAM credentials
//! can be changed at run time (`credentials`: AlterUserScramCredentials).

mod credentials;
pub(crate) mod scram;

pub(crate) use credentials::ScramStore;
use std::collections::HashMap;
use std::fmt;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use scram::{ScramCredential, ScramHash, ScramServer, ScramStep};

/// The mechanisms enabled when users are configured, in the order the handshake lists them.
pub(crate) const MECHANISMS: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

/// The principal of unauthenticated (PLAINTEXT and SSL) connections.
pub(crate) const ANONYMOUS: &str = "User:ANONYMOUS";

/// A configured user. Its `Debug` output never shows the password.
#[derive(Clone)]
pub(crate) struct SaslUser {
    pub name: String,
    pub password: String,
}

impl fmt::Debug for SaslUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslUser")
            .field("name", &self.name)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// What the broker keeps per user: the password of a configured user (PLAIN), and the
/// SCRAM credential of each mechanism it has one for.
#[derive(Default)]
struct Secrets {
    password: Option<String>,
    scram_sha_256: Option<ScramCredential>,
    scram_sha_512: Option<ScramCredential>,
}

impl Secrets {
    fn scram(&self, hash: ScramHash) -> Option<&ScramCredential> {
        match hash {
            ScramHash::Sha256 => self.scram_sha_256.as_ref(),
            ScramHash::Sha512 => self.scram_sha_512.as_ref(),
        }
    }

    fn scram_mut(&mut self, hash: ScramHash) -> &mut Option<ScramCredential> {
        match hash {
            ScramHash::Sha256 => &mut self.scram_sha_256,
            ScramHash::Sha512 => &mut self.scram_sha_512,
        }
    }
}

/// The users SASL authenticates: the configured ones (password and SCRAM credentials
/// computed at start), and SCRAM credentials added, replaced or deleted at run time.
pub(crate) struct SaslUsers {
    /// Whether the listener requires SASL (users were configured): fixed at start.
    required: bool,
    users: RwLock<HashMap<String, Secrets>>,
}

impl fmt::Debug for SaslUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let users = self.read();
        let mut names: Vec<&String> = users.keys().collect();
        names.sort();
        f.debug_struct("SaslUsers")
            .field("required", &self.required)
            .field("names", &names)
            .finish()
    }
}

impl SaslUsers {
    pub(crate) fn new(users: &[SaslUser]) -> Self {
        let required = !users.is_empty();
        let users = users
            .iter()
            .map(|u| {
                let secrets = Secrets {
                    password: Some(u.password.clone()),
                    scram_sha_256: Some(ScramCredential::new(ScramHash::Sha256, &u.password)),
                    scram_sha_512: Some(ScramCredential::new(ScramHash::Sha512, &u.password)),
                };
                (u.name.clone(), secrets)
            })
            .collect();
        Self {
            required,
            users: RwLock::new(users),
        }
    }

    /// Reads the users (a poisoned lock is recovered: writers never leave it half-done).
    fn read(&self) -> RwLockReadGuard<'_, HashMap<String, Secrets>> {
        self.users.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Locks the users for a change.
    fn write(&self) -> RwLockWriteGuard<'_, HashMap<String, Secrets>> {
        self.users.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the listener requires SASL.
    pub(crate) fn required(&self) -> bool {
        self.required
    }

    fn scram(&self, hash: ScramHash, user: &str) -> Option<ScramCredential> {
        self.read().get(user).and_then(|s| s.scram(hash)).cloned()
    }

    /// PLAIN: `[authzid] NUL authcid NUL password`, with Kafka's error messages.
    fn plain(&self, token: &[u8]) -> Result<String, Failure> {
        let text = String::from_utf8_lossy(token);
        let mut parts = text.split('\u{0}');
        let (Some(authzid), Some(user), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Failure::Client(
                "Invalid SASL/PLAIN response: expected 3 tokens".to_owned(),
            ));
        };
        if user.is_empty() {
            return Err(Failure::Client(
                "Authentication failed: username not specified".to_owned(),
            ));
        }
        if password.is_empty() {
            return Err(Failure::Client(
                "Authentication failed: password not specified".to_owned(),
            ));
        }
        if !authzid.is_empty() && authzid != user {
            return Err(Failure::Client(
                "Authentication failed: Client requested an authorization id that is different from username"
                    .to_owned(),
            ));
        }
        match self.read().get(user) {
            Some(s) if s.password.as_deref() == Some(password) => Ok(user.to_owned()),
            _ => Err(Failure::Client(
                "Authentication failed: Invalid username or password".to_owned(),
            )),
        }
    }
}

/// Why authentication failed.
#[derive(Debug)]
enum Failure {
    /// A message Kafka sends to the client as is (its `SaslAuthenticationException`s).
    Client(String),
    /// Details that stay in the log; the client gets the generic "invalid credentials".
    Hidden(String),
}

/// One connection's authentication state and principal.
#[derive(Debug)]
pub(crate) struct Session {
    principal: String,
    host: String,
    stage: Stage,
}

#[derive(Debug)]
enum Stage {
    /// Requests are served as `principal`.
    Authenticated,
    /// Only ApiVersions and SaslHandshake are accepted.
    Handshake,
    /// SaslAuthenticate rounds (or raw tokens after a v0 handshake).
    Authenticate {
        mechanism: &'static str,
        raw: bool,
        exchange: Exchange,
    },
}

#[derive(Debug)]
enum Exchange {
    Plain,
    Scram(Box<ScramServer>),
}

/// The result of one authentication token.
#[derive(Debug)]
pub(crate) enum AuthStep {
    /// Send this token; more rounds follow.
    Continue(Vec<u8>),
    /// Authenticated: send this (possibly empty) final token.
    Done(Vec<u8>),
    /// Refused: send this message with SASL_AUTHENTICATION_FAILED and close.
    Failed(String),
}

impl Session {
    /// A new connection: anonymous and authenticated, or waiting for a SASL handshake.
    pub(crate) fn new(sasl_required: bool, host: String) -> Self {
        Self {
            principal: ANONYMOUS.to_owned(),
            host,
            stage: if sasl_required {
                Stage::Handshake
            } else {
                Stage::Authenticated
            },
        }
    }

    /// `User:<name>`, or `User:ANONYMOUS`.
    pub(crate) fn principal(&self) -> &str {
        &self.principal
    }

    /// The client's IP address.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    pub(crate) fn is_authenticated(&self) -> bool {
        matches!(self.stage, Stage::Authenticated)
    }

    /// Whether ApiVersions/SaslHandshake are what the authenticator expects now.
    pub(crate) fn awaits_handshake(&self) -> bool {
        matches!(self.stage, Stage::Handshake)
    }

    /// Whether SaslAuthenticate requests are what the authenticator expects now.
    pub(crate) fn awaits_authenticate(&self) -> bool {
        matches!(self.stage, Stage::Authenticate { raw: false, .. })
    }

    /// Whether the next frame is a raw SASL token (after a v0 handshake).
    pub(crate) fn awaits_raw_token(&self) -> bool {
        matches!(self.stage, Stage::Authenticate { raw: true, .. })
    }

    /// A SaslHandshake for `mechanism` at `version`: true when the mechanism is enabled.
    pub(crate) fn handshake(&mut self, mechanism: &str, version: i16) -> bool {
        let exchange = match mechanism {
            "PLAIN" => (MECHANISMS[0], Exchange::Plain),
            "SCRAM-SHA-256" => (
                MECHANISMS[1],
                Exchange::Scram(Box::new(ScramServer::new(ScramHash::Sha256))),
            ),
            "SCRAM-SHA-512" => (
                MECHANISMS[2],
                Exchange::Scram(Box::new(ScramServer::new(ScramHash::Sha512))),
            ),
            _ => return false,
        };
        tracing::debug!(mechanism, "SASL handshake");
        self.stage = Stage::Authenticate {
            mechanism: exchange.0,
            raw: version == 0,
            exchange: exchange.1,
        };
        true
    }

    /// Processes one client token.
    pub(crate) fn authenticate(&mut self, users: &SaslUsers, token: &[u8]) -> AuthStep {
        let Stage::Authenticate {
            mechanism,
            exchange,
            ..
        } = &mut self.stage
        else {
            return AuthStep::Failed("Unexpected SASL token".to_owned());
        };
        let mechanism = *mechanism;
        let result = match exchange {
            Exchange::Plain => users.plain(token).map(|user| (user, Vec::new(), true)),
            Exchange::Scram(server) => {
                let hash = if mechanism == MECHANISMS[1] {
                    ScramHash::Sha256
                } else {
                    ScramHash::Sha512
                };
                match server.step(token, |user| users.scram(hash, user)) {
                    Ok(ScramStep::Challenge(c)) => Ok((String::new(), c, false)),
                    Ok(ScramStep::Done { user, response }) => Ok((user, response, true)),
                    Err(e) => Err(Failure::Hidden(e.to_string())),
                }
            }
        };
        match result {
            Ok((_, challenge, false)) => AuthStep::Continue(challenge),
            Ok((user, response, true)) => {
                tracing::debug!(mechanism, user = %user, "SASL authentication succeeded");
                self.principal = format!("User:{user}");
                self.stage = Stage::Authenticated;
                AuthStep::Done(response)
            }
            Err(failure) => {
                let message = match failure {
                    Failure::Client(m) => m,
                    Failure::Hidden(detail) => {
                        tracing::debug!(mechanism, %detail, "SASL authentication failed");
                        format!(
                            "Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism}"
                        )
                    }
                };
                tracing::info!(mechanism, %message, "SASL authentication failed");
                AuthStep::Failed(message)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> SaslUsers {
        SaslUsers::new(&[SaslUser {
            name: "app".to_owned(),
            password: "secret".to_owned(),
        }])
    }

    #[test]
    fn plain_authenticates_and_records_the_principal() {
        let users = users();
        let mut s = Session::new(true, "h".to_owned());
        assert_eq!(s.principal(), ANONYMOUS);
        assert!(s.awaits_handshake());
        assert!(!s.handshake("GSSAPI", 1));
        assert!(s.handshake("PLAIN", 1));
        assert!(s.awaits_authenticate());
        assert!(matches!(
            s.authenticate(&users, b"\0app\0secret"),
            AuthStep::Done(_)
        ));
        assert!(s.is_authenticated());
        assert_eq!(s.principal(), "User:app");
    }

    #[test]
    fn plain_refuses_a_wrong_password_with_kafkas_message() {
        let mut s = Session::new(true, "h".to_owned());
        assert!(s.handshake("PLAIN", 0));
        assert!(s.awaits_raw_token());
        match s.authenticate(&users(), b"\0app\0nope") {
            AuthStep::Failed(m) => {
                assert_eq!(m, "Authentication failed: Invalid username or password")
            }
            other => panic!("{other:?}"),
        }
        assert!(!s.is_authenticated());
        assert!(!format!("{:?}", users()).contains("secret"));
    }

    #[test]
    fn scram_failures_hide_the_reason() {
        let mut s = Session::new(true, "h".to_owned());
        assert!(s.handshake("SCRAM-SHA-256", 1));
        match s.authenticate(&users(), b"n,,n=nobody,r=abc") {
            AuthStep::Failed(m) => assert_eq!(
                m,
                "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256"
            ),
            other => panic!("{other:?}"),
        }
    }
}
