//! Secret settings are never printed: librdkafka properties that hold a password, a token,
//! a client secret or a private key show as `***` in `Debug` output and in error messages.

use std::collections::BTreeMap;
use std::fmt;

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

#[cfg(test)]
mod tests {
    use super::*;

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
