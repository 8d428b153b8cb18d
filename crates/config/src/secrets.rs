//! Secret settings are never printed: librdkafka properties that hold a password, a token,
//! a client secret or a private key show as `***` in `Debug` output and in error messages,
//! and a [`Secret`] prints as `***` wherever it is formatted. A secret in a configuration
//! file may be given inline, or taken from an environment variable or a file
//! ([`SecretSource`]), read when the client settings are rendered.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Serialize, Serializer};

use crate::error::{ConfigError, Result};

/// What a secret value prints as.
pub const REDACTED: &str = "***";

/// Whether the librdkafka property `key` holds a secret (a password, a client secret, an
/// OAUTHBEARER configuration or a private key).
///
/// ```
/// use kafka_eos_config::is_secret;
///
/// assert!(is_secret("sasl.password"));
/// assert!(is_secret("ssl.key.pem"));
/// assert!(!is_secret("sasl.username"));
/// ```
pub fn is_secret(key: &str) -> bool {
    let key = key.trim().to_ascii_lowercase();
    key.contains("password")
        || key.contains("secret")
        || key.starts_with("sasl.oauthbearer.config")
        || key == "ssl.key.pem"
        || key == "ssl_key"
        || key.ends_with("private.key")
}

/// `value`, or [`REDACTED`] when `key` holds a secret.
pub(crate) fn shown<'a>(key: &str, value: &'a str) -> &'a str {
    if is_secret(key) {
        REDACTED
    } else {
        value
    }
}

/// Formats a map of librdkafka overrides with secret values redacted.
pub(crate) struct Redacted<'a>(pub &'a BTreeMap<String, String>);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, shown(k, v))))
            .finish()
    }
}

/// A password, token or key: `Debug`, `Display` and `Serialize` print [`REDACTED`]; only
/// [`Secret::expose`] gives the value (to hand it to librdkafka).
///
/// ```
/// use kafka_eos_config::Secret;
///
/// let password = Secret::new("hunter2");
/// assert_eq!(format!("{password} {password:?}"), "*** ***");
/// assert_eq!(password.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself: only for handing it to a client, never for printing.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    /// Serializes as [`REDACTED`]: a serialized configuration never carries a secret.
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// Where a secret comes from: the value itself, an environment variable, or a file (its
/// contents without the trailing newline, as mounted by Kubernetes or Docker secrets).
/// Variables and files are read when the client settings are rendered (at build time, for
/// validation, and whenever a client is created).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The value, given inline.
    Value(Secret),
    /// The value of this environment variable.
    Env(String),
    /// The contents of this file.
    File(PathBuf),
}

impl SecretSource {
    /// Reads the secret; `setting` names it in errors ([`ConfigError::SecretUnavailable`]).
    pub fn resolve(&self, setting: &'static str) -> Result<Secret> {
        let unavailable = |from: String, reason: String| ConfigError::SecretUnavailable {
            setting,
            from,
            reason,
        };
        let secret = match self {
            Self::Value(s) => s.clone(),
            Self::Env(var) => match std::env::var(var) {
                Ok(v) => Secret::new(v),
                Err(e) => {
                    return Err(unavailable(
                        format!("environment variable {var}"),
                        e.to_string(),
                    ))
                }
            },
            Self::File(path) => match std::fs::read_to_string(path) {
                Ok(v) => Secret::new(v.trim_end_matches(['\n', '\r'])),
                Err(e) => {
                    return Err(unavailable(
                        format!("file {}", path.display()),
                        e.to_string(),
                    ))
                }
            },
        };
        if secret.is_empty() {
            return Err(ConfigError::Security {
                setting,
                reason: "is empty".to_owned(),
            });
        }
        Ok(secret)
    }
}

impl From<Secret> for SecretSource {
    fn from(value: Secret) -> Self {
        Self::Value(value)
    }
}

impl From<&str> for SecretSource {
    fn from(value: &str) -> Self {
        Self::Value(Secret::new(value))
    }
}

impl From<String> for SecretSource {
    fn from(value: String) -> Self {
        Self::Value(Secret::new(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_prints_redacted_everywhere_but_expose() {
        let s = Secret::new("hunter2");
        for text in [
            format!("{s}"),
            format!("{s:?}"),
            format!("{:#?}", Some(&s)),
            serde_json_like(&s),
        ] {
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.contains(REDACTED), "{text}");
        }
        assert_eq!(s.expose(), "hunter2");
    }

    fn serde_json_like(s: &Secret) -> String {
        toml::to_string(&BTreeMap::from([("password", s)])).unwrap()
    }

    #[test]
    fn sources_resolve_from_value_env_and_file_and_name_what_failed() {
        assert_eq!(
            SecretSource::from("pw")
                .resolve("sasl_password")
                .unwrap()
                .expose(),
            "pw"
        );
        let dir = std::env::temp_dir().join(format!("kafka-eos-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("password");
        std::fs::write(&file, "from-file\n").unwrap();
        let got = SecretSource::File(file.clone())
            .resolve("sasl_password")
            .unwrap();
        assert_eq!(got.expose(), "from-file");
        let missing = SecretSource::File(dir.join("nope"))
            .resolve("sasl_password")
            .unwrap_err();
        assert!(
            matches!(
                &missing,
                ConfigError::SecretUnavailable {
                    setting: "sasl_password",
                    ..
                }
            ),
            "{missing}"
        );
        assert!(missing.to_string().contains("nope"), "{missing}");
        let var = "KAFKA_EOS_TEST_SECRET_SOURCE_UNSET_VARIABLE";
        let err = SecretSource::Env(var.to_owned())
            .resolve("sasl_password")
            .unwrap_err();
        assert!(err.to_string().contains(var), "{err}");
        let empty = SecretSource::from("").resolve("sasl_password").unwrap_err();
        assert!(empty.to_string().contains("empty"), "{empty}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn secret_values_are_redacted_and_others_shown() {
        let mut m = BTreeMap::new();
        m.insert("sasl.password".to_owned(), "hunter2".to_owned());
        m.insert(
            "sasl.oauthbearer.client.secret".to_owned(),
            "s3cr3t".to_owned(),
        );
        m.insert("ssl.key.password".to_owned(), "k3y".to_owned());
        m.insert("sasl.username".to_owned(), "app".to_owned());
        let text = format!("{:?}", Redacted(&m));
        for secret in ["hunter2", "s3cr3t", "k3y"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(text.contains("\"app\""), "{text}");
        assert_eq!(text.matches(REDACTED).count(), 3, "{text}");
    }
}
