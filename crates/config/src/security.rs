//! How clients reach a secured cluster: `security.protocol`, SASL (PLAIN, SCRAM-SHA-256/512,
//! OAUTHBEARER with an unsecured token) and TLS (CA, client certificate and key), typed and
//! checked before anything connects. librdkafka is built with TLS (a vendored OpenSSL) and
//! SASL PLAIN/SCRAM/OAUTHBEARER; GSSAPI (Kerberos) and OAUTHBEARER over OIDC (which needs
//! libcurl) are not built in.
//!
//! In a configuration file the settings are the `[security]` table; a secret may be given
//! inline, or from an environment variable (`..._env`) or a file (`..._file`):
//!
//! ```toml
//! [security]
//! protocol = "SASL_SSL"
//! sasl_mechanism = "SCRAM-SHA-512"
//! sasl_username = "orders-app"
//! sasl_password_env = "KAFKA_PASSWORD"   # or sasl_password_file = "/run/secrets/kafka"
//! ssl_ca_location = "/etc/kafka/ca.pem"  # omit to trust the system's CAs
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, Result};
use crate::secrets::{Secret, SecretSource};

/// `security.protocol`: whether connections use TLS, SASL, both or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SecurityProtocol {
    /// No TLS, no authentication (the default).
    #[default]
    Plaintext,
    /// TLS, no SASL (a client certificate may authenticate).
    Ssl,
    /// SASL without TLS: refused unless [`Security::allow_sasl_plaintext`] opts in.
    SaslPlaintext,
    /// SASL over TLS: what managed clusters (Confluent Cloud, MSK, Aiven) ask for.
    SaslSsl,
}

impl SecurityProtocol {
    /// The name Kafka uses (`SASL_SSL`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::Ssl => "SSL",
            Self::SaslPlaintext => "SASL_PLAINTEXT",
            Self::SaslSsl => "SASL_SSL",
        }
    }

    /// Whether connections use TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    /// Whether connections authenticate with SASL.
    pub fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SecurityProtocol {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Ok(Self::Plaintext),
            "SSL" => Ok(Self::Ssl),
            "SASL_PLAINTEXT" => Ok(Self::SaslPlaintext),
            "SASL_SSL" => Ok(Self::SaslSsl),
            _ => Err(ConfigError::invalid(
                "security.protocol",
                s,
                "expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
            )),
        }
    }
}

/// `sasl.mechanism`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaslMechanism {
    /// PLAIN: the password itself goes to the broker (use it over TLS only).
    Plain,
    /// SCRAM-SHA-256 (RFC 7677).
    ScramSha256,
    /// SCRAM-SHA-512.
    ScramSha512,
    /// OAUTHBEARER with librdkafka's unsecured JWT (`sasl.oauthbearer.config`), for
    /// development clusters; OIDC token endpoints need libcurl, which is not built in.
    OAuthBearer,
}

impl SaslMechanism {
    /// The name Kafka uses (`SCRAM-SHA-512`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
            Self::OAuthBearer => "OAUTHBEARER",
        }
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SaslMechanism {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_uppercase().replace('_', "-").as_str() {
            "PLAIN" => Ok(Self::Plain),
            "SCRAM-SHA-256" => Ok(Self::ScramSha256),
            "SCRAM-SHA-512" => Ok(Self::ScramSha512),
            "OAUTHBEARER" => Ok(Self::OAuthBearer),
            "GSSAPI" => Err(ConfigError::invalid(
                "sasl.mechanism",
                s,
                "GSSAPI (Kerberos) is not built into this librdkafka",
            )),
            _ => Err(ConfigError::invalid(
                "sasl.mechanism",
                s,
                "expected PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER",
            )),
        }
    }
}

/// SASL credentials: a mechanism, a user and a password (for OAUTHBEARER, the unsecured
/// token's `sasl.oauthbearer.config`, e.g. `principal=orders-app`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sasl {
    mechanism: SaslMechanism,
    username: String,
    password: SecretSource,
}

impl Sasl {
    /// Credentials for `mechanism`.
    pub fn new(
        mechanism: SaslMechanism,
        username: impl Into<String>,
        password: impl Into<SecretSource>,
    ) -> Self {
        Self {
            mechanism,
            username: username.into(),
            password: password.into(),
        }
    }

    /// SCRAM-SHA-512 credentials.
    pub fn scram_sha_512(username: impl Into<String>, password: impl Into<SecretSource>) -> Self {
        Self::new(SaslMechanism::ScramSha512, username, password)
    }

    /// SCRAM-SHA-256 credentials.
    pub fn scram_sha_256(username: impl Into<String>, password: impl Into<SecretSource>) -> Self {
        Self::new(SaslMechanism::ScramSha256, username, password)
    }

    /// PLAIN credentials.
    pub fn plain(username: impl Into<String>, password: impl Into<SecretSource>) -> Self {
        Self::new(SaslMechanism::Plain, username, password)
    }

    /// The mechanism.
    pub fn mechanism(&self) -> SaslMechanism {
        self.mechanism
    }

    /// The user (empty for OAUTHBEARER).
    pub fn username(&self) -> &str {
        &self.username
    }
}

/// How connections are secured; [`Security::default`] is plaintext and anonymous.
///
/// ```
/// use kafka_eos_config::{PipelineConfig, Sasl, Security};
///
/// let config = PipelineConfig::builder()
///     .bootstrap_servers("broker-1:9093")
///     .group_id("orders")
///     .input_topic("orders")
///     .transactional_id("orders-0")
///     .security(Security::sasl_ssl(Sasl::scram_sha_512("orders-app", "hunter2")))
///     .build()?;
/// let producer = config.producer_config()?;
/// assert_eq!(producer.get("security.protocol"), Some("sasl_ssl"));
/// assert_eq!(producer.get("sasl.mechanisms"), Some("SCRAM-SHA-512"));
/// assert!(!format!("{config:?}").contains("hunter2"));
/// # Ok::<(), kafka_eos_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "SecurityFile", into = "SecurityFile")]
pub struct Security {
    protocol: SecurityProtocol,
    sasl: Option<Sasl>,
    ca_location: Option<PathBuf>,
    certificate_location: Option<PathBuf>,
    key_location: Option<PathBuf>,
    key_password: Option<SecretSource>,
    endpoint_identification: bool,
    allow_sasl_plaintext: bool,
}

impl Security {
    /// TLS without SASL.
    pub fn ssl() -> Self {
        Self {
            protocol: SecurityProtocol::Ssl,
            endpoint_identification: true,
            ..Self::default()
        }
    }

    /// SASL over TLS.
    pub fn sasl_ssl(sasl: Sasl) -> Self {
        Self {
            sasl: Some(sasl),
            protocol: SecurityProtocol::SaslSsl,
            ..Self::ssl()
        }
    }

    /// SASL without TLS: credentials and data travel unencrypted, so building a
    /// configuration with it fails unless [`Security::allow_sasl_plaintext`] is set.
    pub fn sasl_plaintext(sasl: Sasl) -> Self {
        Self {
            protocol: SecurityProtocol::SaslPlaintext,
            sasl: Some(sasl),
            ..Self::default()
        }
    }

    /// The CA certificates (a PEM file) that sign the brokers' certificates; without it the
    /// system's trust store is used.
    pub fn ca_location(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_location = Some(path.into());
        self
    }

    /// A client certificate and its private key (PEM files), for brokers that authenticate
    /// clients by certificate (mutual TLS).
    pub fn client_certificate(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.certificate_location = Some(cert.into());
        self.key_location = Some(key.into());
        self
    }

    /// The password of an encrypted private key.
    pub fn key_password(mut self, password: impl Into<SecretSource>) -> Self {
        self.key_password = Some(password.into());
        self
    }

    /// Whether the broker's host name must match its certificate (default true over TLS).
    pub fn endpoint_identification(mut self, on: bool) -> Self {
        self.endpoint_identification = on;
        self
    }

    /// Opts in to SASL over plaintext (for a development cluster on a trusted network).
    pub fn allow_sasl_plaintext(mut self, allow: bool) -> Self {
        self.allow_sasl_plaintext = allow;
        self
    }

    /// The protocol.
    pub fn protocol(&self) -> SecurityProtocol {
        self.protocol
    }

    /// The SASL credentials, if any.
    pub fn sasl(&self) -> Option<&Sasl> {
        self.sasl.as_ref()
    }

    /// Checks that the settings fit together and that the files they name exist.
    pub fn validate(&self) -> Result<()> {
        let fail =
            |setting: &'static str, reason: String| Err(ConfigError::Security { setting, reason });
        let protocol = self.protocol;
        match (&self.sasl, protocol.uses_sasl()) {
            (None, true) => {
                return fail(
                    "sasl_mechanism",
                    format!("is required with protocol {protocol} (with its username and password)"),
                )
            }
            (Some(sasl), false) => {
                return fail(
                    "sasl_mechanism",
                    format!(
                        "{} is set but protocol {protocol} does not use SASL: set protocol = \"SASL_SSL\"",
                        sasl.mechanism
                    ),
                )
            }
            _ => {}
        }
        if protocol == SecurityProtocol::SaslPlaintext && !self.allow_sasl_plaintext {
            return fail(
                "protocol",
                "SASL_PLAINTEXT sends credentials and data unencrypted: use SASL_SSL, or set \
                 allow_sasl_plaintext = true for a trusted network"
                    .to_owned(),
            );
        }
        if let Some(sasl) = &self.sasl {
            if sasl.mechanism != SaslMechanism::OAuthBearer && sasl.username.trim().is_empty() {
                return fail(
                    "sasl_username",
                    format!("is required with SASL mechanism {}", sasl.mechanism),
                );
            }
            if let SecretSource::Value(v) = &sasl.password {
                if v.is_empty() {
                    return fail(
                        "sasl_password",
                        format!(
                            "is required with SASL mechanism {} (user {:?})",
                            sasl.mechanism, sasl.username
                        ),
                    );
                }
            }
        }
        let files = [
            ("ssl_ca_location", &self.ca_location),
            ("ssl_certificate_location", &self.certificate_location),
            ("ssl_key_location", &self.key_location),
        ];
        for (setting, path) in files {
            let Some(path) = path else { continue };
            if !protocol.uses_tls() {
                return fail(
                    setting,
                    format!("is set but protocol {protocol} does not use TLS: set protocol = \"SSL\" or \"SASL_SSL\""),
                );
            }
            if !Path::new(path).exists() {
                return Err(ConfigError::MissingFile {
                    setting,
                    path: path.clone(),
                });
            }
        }
        if self.certificate_location.is_some() != self.key_location.is_some() {
            return fail(
                "ssl_certificate_location",
                "and ssl_key_location go together: a client certificate needs its key".to_owned(),
            );
        }
        Ok(())
    }

    /// The librdkafka properties, with the secrets read (for a client, never for printing).
    pub fn properties(&self) -> Result<Vec<(&'static str, String)>> {
        let mut props = Vec::new();
        if self.protocol == SecurityProtocol::Plaintext {
            return Ok(props);
        }
        props.push((
            "security.protocol",
            self.protocol.as_str().to_ascii_lowercase(),
        ));
        if let Some(sasl) = &self.sasl {
            props.push(("sasl.mechanisms", sasl.mechanism.as_str().to_owned()));
            let secret = sasl.password.resolve("sasl_password")?;
            if sasl.mechanism == SaslMechanism::OAuthBearer {
                props.push(("enable.sasl.oauthbearer.unsecure.jwt", "true".to_owned()));
                props.push(("sasl.oauthbearer.config", secret.expose().to_owned()));
            } else {
                props.push(("sasl.username", sasl.username.clone()));
                props.push(("sasl.password", secret.expose().to_owned()));
            }
        }
        if self.protocol.uses_tls() {
            let path = |p: &PathBuf| p.display().to_string();
            if let Some(p) = &self.ca_location {
                props.push(("ssl.ca.location", path(p)));
            }
            if let Some(p) = &self.certificate_location {
                props.push(("ssl.certificate.location", path(p)));
            }
            if let Some(p) = &self.key_location {
                props.push(("ssl.key.location", path(p)));
            }
            if let Some(pw) = &self.key_password {
                let secret: Secret = pw.resolve("ssl_key_password")?;
                props.push(("ssl.key.password", secret.expose().to_owned()));
            }
            let algorithm = if self.endpoint_identification {
                "https"
            } else {
                "none"
            };
            props.push((
                "ssl.endpoint.identification.algorithm",
                algorithm.to_owned(),
            ));
        }
        Ok(props)
    }

    /// Validates, then sets the properties on `cfg`; an override of a property these
    /// settings own is refused (two sources for one setting).
    pub(crate) fn apply(
        &self,
        cfg: &mut rdkafka::ClientConfig,
        overrides: &std::collections::BTreeMap<String, String>,
    ) -> Result<()> {
        self.validate()?;
        for (key, value) in self.properties()? {
            if overrides.keys().any(|k| k.trim() == key) {
                return Err(ConfigError::Security {
                    setting: "protocol",
                    reason: format!(
                        "and the override `{key}` both set `{key}`: give it in the security settings only"
                    ),
                });
            }
            cfg.set(key, value);
        }
        Ok(())
    }

    /// The settings from the process environment: `KAFKA_EOS_SECURITY_PROTOCOL`,
    /// `KAFKA_EOS_SASL_MECHANISM`, `KAFKA_EOS_SASL_USERNAME`,
    /// `KAFKA_EOS_SASL_PASSWORD[_FILE]`, `KAFKA_EOS_SSL_CA_LOCATION`, ... (the table of
    /// [`crate::PipelineConfig::from_env_vars`]); plaintext when none is set. Validated.
    pub fn from_env() -> Result<Self> {
        Self::from_env_vars(std::env::vars())
    }

    /// As [`Security::from_env`], from `(name, value)` pairs.
    pub fn from_env_vars<I, K, V>(vars: I) -> Result<Self>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut file = SecurityFile::default();
        for (name, value) in vars {
            if let Some(field) = name.as_ref().strip_prefix(crate::ENV_PREFIX) {
                Self::set_env(&mut file, field, value.as_ref());
            }
        }
        let security = Self::try_from(file)?;
        security.validate()?;
        Ok(security)
    }

    /// Whether `name` (without the prefix) is a security setting's variable.
    pub(crate) fn is_env_setting(name: &str) -> bool {
        Self::set_env(&mut SecurityFile::default(), name, "")
    }

    /// Sets one setting by its environment name without the prefix (`SECURITY_PROTOCOL`,
    /// `SASL_MECHANISM`, ...); `false` if `name` is not a security setting.
    pub(crate) fn set_env(file: &mut SecurityFile, name: &str, value: &str) -> bool {
        let v = || Some(value.trim().to_owned());
        match name {
            "SECURITY_PROTOCOL" => file.protocol = v(),
            "SASL_MECHANISM" => file.sasl_mechanism = v(),
            "SASL_USERNAME" => file.sasl_username = v(),
            "SASL_PASSWORD" => file.sasl_password = Some(Secret::new(value)),
            "SASL_PASSWORD_FILE" => file.sasl_password_file = v().map(PathBuf::from),
            "SSL_CA_LOCATION" => file.ssl_ca_location = v().map(PathBuf::from),
            "SSL_CERTIFICATE_LOCATION" => file.ssl_certificate_location = v().map(PathBuf::from),
            "SSL_KEY_LOCATION" => file.ssl_key_location = v().map(PathBuf::from),
            "SSL_KEY_PASSWORD" => file.ssl_key_password = Some(Secret::new(value)),
            "SSL_KEY_PASSWORD_FILE" => file.ssl_key_password_file = v().map(PathBuf::from),
            "SSL_ENDPOINT_IDENTIFICATION" => {
                file.ssl_endpoint_identification = Some(!matches!(
                    value.trim().to_ascii_lowercase().as_str(),
                    "false" | "none" | "0" | "no"
                ))
            }
            "ALLOW_SASL_PLAINTEXT" => {
                file.allow_sasl_plaintext = Some(matches!(
                    value.trim().to_ascii_lowercase().as_str(),
                    "true" | "1" | "yes"
                ))
            }
            _ => return false,
        }
        true
    }
}

/// The `[security]` table of a configuration file, as written (secrets by value, variable or
/// file); turned into [`Security`] when loaded. Serializing writes no secret values.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecurityFile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sasl_mechanism: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sasl_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sasl_password: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sasl_password_env: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sasl_password_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ssl_ca_location: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ssl_certificate_location: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ssl_key_location: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ssl_key_password: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ssl_key_password_env: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ssl_key_password_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ssl_endpoint_identification: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) allow_sasl_plaintext: Option<bool>,
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

/// One secret from at most one of its three sources.
fn one_source(
    setting: &'static str,
    value: Option<Secret>,
    env: Option<String>,
    file: Option<PathBuf>,
) -> Result<Option<SecretSource>> {
    let sources = [
        value.map(SecretSource::Value),
        env.map(SecretSource::Env),
        file.map(SecretSource::File),
    ];
    let mut given = sources.into_iter().flatten();
    let first = given.next();
    if given.next().is_some() {
        return Err(ConfigError::Security {
            setting,
            reason: format!(
                "is given more than once: choose one of {setting}, {setting}_env, {setting}_file"
            ),
        });
    }
    Ok(first)
}

impl TryFrom<SecurityFile> for Security {
    type Error = ConfigError;
    fn try_from(f: SecurityFile) -> Result<Self> {
        let protocol = match &f.protocol {
            Some(p) => p.parse()?,
            None => SecurityProtocol::Plaintext,
        };
        let password = one_source(
            "sasl_password",
            f.sasl_password,
            f.sasl_password_env,
            f.sasl_password_file,
        )?;
        let sasl = match (&f.sasl_mechanism, &f.sasl_username, password) {
            (None, None, None) => None,
            (Some(m), user, password) => {
                let mechanism: SaslMechanism = m.parse()?;
                Some(Sasl {
                    mechanism,
                    username: user.clone().unwrap_or_default(),
                    password: password.unwrap_or(SecretSource::Value(Secret::default())),
                })
            }
            (None, _, _) => {
                return Err(ConfigError::Security {
                    setting: "sasl_mechanism",
                    reason: "is required with sasl_username or sasl_password (PLAIN, \
                             SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER)"
                        .to_owned(),
                })
            }
        };
        Ok(Self {
            protocol,
            sasl,
            ca_location: f.ssl_ca_location,
            certificate_location: f.ssl_certificate_location,
            key_location: f.ssl_key_location,
            key_password: one_source(
                "ssl_key_password",
                f.ssl_key_password,
                f.ssl_key_password_env,
                f.ssl_key_password_file,
            )?,
            endpoint_identification: f.ssl_endpoint_identification.unwrap_or(protocol.uses_tls()),
            allow_sasl_plaintext: f.allow_sasl_plaintext.unwrap_or(false),
        })
    }
}

/// A secret's source as the three optional fields of a file.
fn split(source: Option<SecretSource>) -> (Option<Secret>, Option<String>, Option<PathBuf>) {
    match source {
        Some(SecretSource::Value(v)) => (Some(v), None, None),
        Some(SecretSource::Env(e)) => (None, Some(e), None),
        Some(SecretSource::File(f)) => (None, None, Some(f)),
        None => (None, None, None),
    }
}

impl From<Security> for SecurityFile {
    fn from(s: Security) -> Self {
        let (sasl_password, sasl_password_env, sasl_password_file) =
            split(s.sasl.as_ref().map(|sasl| sasl.password.clone()));
        let (ssl_key_password, ssl_key_password_env, ssl_key_password_file) = split(s.key_password);
        Self {
            protocol: (s.protocol != SecurityProtocol::Plaintext)
                .then(|| s.protocol.as_str().to_owned()),
            sasl_mechanism: s.sasl.as_ref().map(|x| x.mechanism.as_str().to_owned()),
            sasl_username: s.sasl.map(|x| x.username),
            sasl_password,
            sasl_password_env,
            sasl_password_file,
            ssl_ca_location: s.ca_location,
            ssl_certificate_location: s.certificate_location,
            ssl_key_location: s.key_location,
            ssl_key_password,
            ssl_key_password_env,
            ssl_key_password_file,
            ssl_endpoint_identification: s.protocol.uses_tls().then_some(s.endpoint_identification),
            allow_sasl_plaintext: s.allow_sasl_plaintext.then_some(true),
        }
    }
}
