//! The one error type of this crate.

use std::path::PathBuf;

/// `Result` with [`ConfigError`] as the default error type.
pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

/// Everything that can go wrong while building, loading or validating settings.
///
/// Every variant names what was wrong, so a rejected configuration can be fixed
/// without reading the source code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting (typed field or free-form override) would break a delivery guarantee.
    #[error("unsafe setting `{key}={value}`: {reason}")]
    Unsafe {
        /// The librdkafka property (or typed field) name.
        key: String,
        /// The rejected value.
        value: String,
        /// Why the value breaks a guarantee.
        reason: String,
    },
    /// A required setting is missing or empty.
    #[error("missing required setting `{field}` ({})", describe_field(field))]
    Missing {
        /// The name of the missing field.
        field: &'static str,
    },
    /// A setting has a value that cannot be used (not a guarantee problem).
    #[error("invalid value `{value}` for `{field}`: {reason}")]
    Invalid {
        /// The field or property name.
        field: String,
        /// The rejected value.
        value: String,
        /// Why the value is invalid.
        reason: String,
    },
    /// The security settings do not fit together (a mechanism without credentials, SASL
    /// settings over a protocol without SASL, SASL over plaintext without the opt-in, ...).
    #[error("security setting `{setting}` {reason}")]
    Security {
        /// The setting (as in the `[security]` table of a configuration file).
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A certificate, key or CA file named by a security setting does not exist.
    #[error("security setting `{setting}` names {}, which does not exist", path.display())]
    MissingFile {
        /// The setting.
        setting: &'static str,
        /// The path given.
        path: PathBuf,
    },
    /// A secret given as an environment variable or a file could not be read.
    #[error("cannot read the secret `{setting}` from {from}: {reason}")]
    SecretUnavailable {
        /// The setting.
        setting: &'static str,
        /// The variable or file it was to come from.
        from: String,
        /// Why it could not be read.
        reason: String,
    },
    /// A configuration file could not be read.
    #[error("cannot read configuration file {}: {source}", path.display())]
    Io {
        /// The file that was being read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A TOML document could not be parsed.
    #[error("invalid TOML configuration: {0}")]
    Toml(#[from] toml::de::Error),
    /// A YAML document could not be parsed.
    #[error("invalid YAML configuration: {0}")]
    Yaml(#[from] serde_yaml::Error),
    /// The configuration file has an extension that is neither TOML nor YAML.
    #[error("unsupported configuration file format {}: expected .toml, .yaml or .yml", path.display())]
    UnsupportedFormat {
        /// The offending path.
        path: PathBuf,
    },
}

impl ConfigError {
    pub(crate) fn unsafe_setting(
        key: impl Into<String>,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        let key = key.into();
        let value = crate::secrets::shown(&key, &value.into()).to_owned();
        Self::Unsafe {
            key,
            value,
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid(
        field: impl Into<String>,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        let field = field.into();
        let value = crate::secrets::shown(&field, &value.into()).to_owned();
        Self::Invalid {
            field,
            value,
            reason: reason.into(),
        }
    }

    /// `true` when the error is a rejected unsafe setting ([`ConfigError::Unsafe`]).
    pub fn is_unsafe(&self) -> bool {
        matches!(self, Self::Unsafe { .. })
    }

    /// The property or field the error is about, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Unsafe { key, .. } => Some(key),
            Self::Missing { field } => Some(field),
            Self::Invalid { field, .. } => Some(field),
            Self::Security { setting, .. }
            | Self::MissingFile { setting, .. }
            | Self::SecretUnavailable { setting, .. } => Some(setting),
            _ => None,
        }
    }
}

/// The Kafka property (and environment variable) behind a builder field, for error messages.
fn describe_field(field: &str) -> &'static str {
    match field {
        "bootstrap_servers" => {
            "Kafka property `bootstrap.servers`, env KAFKA_EOS_BOOTSTRAP_SERVERS"
        }
        "group_id" => "Kafka property `group.id`, env KAFKA_EOS_GROUP_ID",
        "transactional_id" => "Kafka property `transactional.id`, env KAFKA_EOS_TRANSACTIONAL_ID",
        "input_topics" => "the topics to consume, env KAFKA_EOS_INPUT_TOPICS",
        _ => "see the builder method of the same name",
    }
}
