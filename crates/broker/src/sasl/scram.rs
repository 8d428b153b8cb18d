//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), server side: credentials salted
//! with a random salt and 4096 iterations (Kafka's minimum and the `kafka-configs` default),
//! and the two-round exchange.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256, Sha512};

/// Iterations of the stored credentials.
pub(crate) const ITERATIONS: u32 = 4096;

/// The iterations a credential may have (Kafka: the mechanisms' minimum, 4096, up to
/// `ScramControlManager.MAX_ITERATIONS`).
pub(crate) const MIN_ITERATIONS: i32 = 4096;
pub(crate) const MAX_ITERATIONS: i32 = 16384;

/// The hash function of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScramHash {
    Sha256,
    Sha512,
}

impl ScramHash {
    /// Both mechanisms, in the order Kafka numbers them.
    pub(crate) const ALL: [Self; 2] = [Self::Sha256, Self::Sha512];

    /// The mechanism of Kafka's `ScramMechanism` type (1: SCRAM-SHA-256, 2: SCRAM-SHA-512).
    pub(crate) fn from_type(mechanism: i8) -> Option<Self> {
        match mechanism {
            1 => Some(Self::Sha256),
            2 => Some(Self::Sha512),
            _ => None,
        }
    }

    /// Kafka's `ScramMechanism` type of this mechanism.
    pub(crate) fn type_id(self) -> i8 {
        match self {
            Self::Sha256 => 1,
            Self::Sha512 => 2,
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length: `new_from_slice` cannot fail.
        match self {
            Self::Sha256 => Hmac::<Sha256>::new_from_slice(key)
                .map(|m| m.chain_update(data).finalize().into_bytes().to_vec())
                .unwrap_or_default(),
            Self::Sha512 => Hmac::<Sha512>::new_from_slice(key)
                .map(|m| m.chain_update(data).finalize().into_bytes().to_vec())
                .unwrap_or_default(),
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn salted_password(self, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Self::Sha256 => {
                pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password.as_bytes(), salt, iterations)
                    .to_vec()
            }
            Self::Sha512 => {
                pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(password.as_bytes(), salt, iterations)
                    .to_vec()
            }
        }
    }
}

/// What the server stores for a user: never the password.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ScramCredential {
    salt: Vec<u8>,
    iterations: u32,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl std::fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScramCredential(<redacted>)")
    }
}

impl ScramCredential {
    /// A credential with a fresh random salt.
    pub(crate) fn new(hash: ScramHash, password: &str) -> Self {
        let mut salt = vec![0u8; 32];
        rand::thread_rng().fill_bytes(&mut salt);
        Self::with_salt(hash, password, salt, ITERATIONS)
    }

    fn with_salt(hash: ScramHash, password: &str, salt: Vec<u8>, iterations: u32) -> Self {
        let salted = hash.salted_password(password, &salt, iterations);
        Self::from_salted_password(hash, salt, &salted, iterations)
    }

    /// The credential of a salted password (`Hi(password, salt, iterations)`, computed by
    /// the client), as Kafka's AlterUserScramCredentials upsertion stores it.
    pub(crate) fn from_salted_password(
        hash: ScramHash,
        salt: Vec<u8>,
        salted: &[u8],
        iterations: u32,
    ) -> Self {
        let client_key = hash.hmac(salted, b"Client Key");
        Self {
            stored_key: hash.hash(&client_key),
            server_key: hash.hmac(salted, b"Server Key"),
            salt,
            iterations,
        }
    }

    /// The iteration count.
    pub(crate) fn iterations(&self) -> u32 {
        self.iterations
    }
}

/// Why an exchange failed (logged; the client only learns that the credentials are invalid).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ScramError {
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    #[error("unknown user")]
    UnknownUser,
    #[error("channel binding is not supported")]
    ChannelBinding,
    #[error("authorization id differs from the user name")]
    AuthorizationId,
    #[error("nonce mismatch")]
    Nonce,
    #[error("invalid client proof")]
    Proof,
    #[error("unexpected message after the exchange")]
    Finished,
}

/// The server side of one exchange.
#[derive(Debug)]
pub(crate) struct ScramServer {
    hash: ScramHash,
    stage: Stage,
}

#[derive(Debug)]
enum Stage {
    First,
    Final {
        user: String,
        credential: ScramCredential,
        gs2_header: String,
        nonce: String,
        client_first_bare: String,
        server_first: String,
    },
    Done,
}

/// One server answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ScramStep {
    /// Send this challenge and wait for the client's next message.
    Challenge(Vec<u8>),
    /// Authenticated as this user: send the final message.
    Done { user: String, response: Vec<u8> },
}

impl ScramServer {
    pub(crate) fn new(hash: ScramHash) -> Self {
        Self {
            hash,
            stage: Stage::First,
        }
    }

    /// Processes one client message; `lookup` finds a user's credential.
    pub(crate) fn step(
        &mut self,
        message: &[u8],
        lookup: impl Fn(&str) -> Option<ScramCredential>,
    ) -> Result<ScramStep, ScramError> {
        let mut nonce = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut nonce);
        self.step_with_nonce(message, lookup, &B64.encode(nonce))
    }

    fn step_with_nonce(
        &mut self,
        message: &[u8],
        lookup: impl Fn(&str) -> Option<ScramCredential>,
        server_nonce: &str,
    ) -> Result<ScramStep, ScramError> {
        let message =
            std::str::from_utf8(message).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::First => {
                let (stage, challenge) = self.first(message, lookup, server_nonce)?;
                self.stage = stage;
                Ok(ScramStep::Challenge(challenge))
            }
            Stage::Final {
                user,
                credential,
                gs2_header,
                nonce,
                client_first_bare,
                server_first,
            } => {
                // c=<base64 gs2 header>,r=<nonce>[,extensions],p=<proof>
                let (without_proof, proof) = message
                    .rsplit_once(",p=")
                    .ok_or(ScramError::Malformed("no proof"))?;
                let mut parts = without_proof.split(',');
                let binding = attribute(parts.next(), 'c')?;
                if B64.decode(binding).ok().as_deref() != Some(gs2_header.as_bytes()) {
                    return Err(ScramError::ChannelBinding);
                }
                if attribute(parts.next(), 'r')? != nonce {
                    return Err(ScramError::Nonce);
                }
                let proof = B64
                    .decode(proof)
                    .map_err(|_| ScramError::Malformed("proof is not base64"))?;
                let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
                let signature = self
                    .hash
                    .hmac(&credential.stored_key, auth_message.as_bytes());
                if proof.len() != signature.len() {
                    return Err(ScramError::Proof);
                }
                let client_key: Vec<u8> =
                    proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
                if self.hash.hash(&client_key) != credential.stored_key {
                    return Err(ScramError::Proof);
                }
                let server_signature = self
                    .hash
                    .hmac(&credential.server_key, auth_message.as_bytes());
                Ok(ScramStep::Done {
                    user,
                    response: format!("v={}", B64.encode(server_signature)).into_bytes(),
                })
            }
            Stage::Done => Err(ScramError::Finished),
        }
    }

    /// client-first-message: gs2-header (`n,,` or `y,,`, optionally `a=<authzid>`) then
    /// `n=<user>,r=<client nonce>[,extensions]`.
    fn first(
        &self,
        message: &str,
        lookup: impl Fn(&str) -> Option<ScramCredential>,
        server_nonce: &str,
    ) -> Result<(Stage, Vec<u8>), ScramError> {
        let mut fields = message.splitn(3, ',');
        let cbind = fields.next().ok_or(ScramError::Malformed("empty"))?;
        let authzid = fields
            .next()
            .ok_or(ScramError::Malformed("no gs2 header"))?;
        let bare = fields.next().ok_or(ScramError::Malformed("no user"))?;
        if cbind != "n" && cbind != "y" {
            return Err(ScramError::ChannelBinding);
        }
        let mut parts = bare.split(',');
        let user = decode_name(attribute(parts.next(), 'n')?)?;
        let client_nonce = attribute(parts.next(), 'r')?;
        if client_nonce.is_empty() {
            return Err(ScramError::Malformed("empty nonce"));
        }
        if !authzid.is_empty()
            && authzid.strip_prefix("a=").map(decode_name) != Some(Ok(user.clone()))
        {
            return Err(ScramError::AuthorizationId);
        }
        let credential = lookup(&user).ok_or(ScramError::UnknownUser)?;
        let nonce = format!("{client_nonce}{server_nonce}");
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&credential.salt),
            credential.iterations
        );
        let challenge = server_first.clone().into_bytes();
        Ok((
            Stage::Final {
                user,
                credential,
                gs2_header: format!("{cbind},{authzid},"),
                nonce,
                client_first_bare: bare.to_owned(),
                server_first,
            },
            challenge,
        ))
    }
}

/// The value of `<name>=<value>`.
fn attribute(field: Option<&str>, name: char) -> Result<&str, ScramError> {
    field
        .and_then(|f| f.strip_prefix(name))
        .and_then(|f| f.strip_prefix('='))
        .ok_or(ScramError::Malformed("missing attribute"))
}

/// A saslname: `=2C` is `,` and `=3D` is `=`; any other `=` is malformed.
fn decode_name(name: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(ScramError::Malformed("bad escape in user name")),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3.
    #[test]
    fn rfc7677_sha256_test_vector() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let credential = ScramCredential::with_salt(ScramHash::Sha256, "pencil", salt, 4096);
        let lookup = |u: &str| (u == "user").then(|| credential.clone());
        let mut server = ScramServer::new(ScramHash::Sha256);
        let first = server
            .step_with_nonce(
                b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
                lookup,
                "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
            )
            .unwrap();
        assert_eq!(
            first,
            ScramStep::Challenge(
                b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
                    .to_vec()
            )
        );
        let last = server
            .step_with_nonce(
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                lookup,
                "unused",
            )
            .unwrap();
        assert_eq!(
            last,
            ScramStep::Done {
                user: "user".to_owned(),
                response: b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec()
            }
        );
        assert_eq!(server.step(b"again", lookup), Err(ScramError::Finished));
    }

    #[test]
    fn a_wrong_proof_and_an_unknown_user_fail() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let credential = ScramCredential::with_salt(ScramHash::Sha256, "not-pencil", salt, 4096);
        let lookup = |u: &str| (u == "user").then(|| credential.clone());
        let mut server = ScramServer::new(ScramHash::Sha256);
        server
            .step_with_nonce(
                b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
                lookup,
                "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
            )
            .unwrap();
        let last = server.step_with_nonce(
            b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            lookup,
            "unused",
        );
        assert_eq!(last, Err(ScramError::Proof));
        let mut server = ScramServer::new(ScramHash::Sha512);
        assert_eq!(
            server.step(b"n,,n=nobody,r=abc", lookup),
            Err(ScramError::UnknownUser)
        );
    }

    #[test]
    fn names_are_unescaped_and_random_salts_differ() {
        assert_eq!(decode_name("a=2Cb=3Dc").unwrap(), "a,b=c");
        assert!(decode_name("a=4").is_err());
        let a = ScramCredential::new(ScramHash::Sha512, "p");
        let b = ScramCredential::new(ScramHash::Sha512, "p");
        assert_ne!(a.salt, b.salt);
        assert_eq!(a.iterations, 4096);
        assert_eq!(a.stored_key.len(), 64);
    }
}
