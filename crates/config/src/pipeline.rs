//! The top-level settings of one pipeline, from code, a file or the environment.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rdkafka::ClientConfig;
use serde::{Deserialize, Deserializer, Serialize};

use crate::consumer::{ConsumerProfile, DEFAULT_SESSION_TIMEOUT_MS};
use crate::error::{ConfigError, Result};
use crate::guard::MAX_IN_FLIGHT_LIMIT;
use crate::mode::{AutoOffsetReset, Mode};
use crate::producer::{duration_ms, ProducerProfile, DEFAULT_TRANSACTION_TIMEOUT_MS};
use crate::secrets::Redacted;
use crate::security::Security;

/// Prefix of every environment variable read by [`PipelineConfig::from_env`].
pub const ENV_PREFIX: &str = "KAFKA_EOS_";

/// Default commit interval in milliseconds.
pub const DEFAULT_COMMIT_INTERVAL_MS: u64 = 100;

/// Default number of records after which a transaction is committed.
pub const DEFAULT_COMMIT_MAX_RECORDS: usize = 1_000;

/// Validated settings of one read-process-write pipeline.
///
/// Build it in code with [`PipelineConfig::builder`], or load it from a TOML/YAML file
/// ([`PipelineConfig::from_file`], [`PipelineConfig::from_toml_str`],
/// [`PipelineConfig::from_yaml_str`]) or from environment variables
/// ([`PipelineConfig::from_env`]). Every path ends in the same validation. Bootstrap
/// servers have no default: they must always be given.
///
/// A TOML file looks like:
///
/// ```toml
/// bootstrap_servers = "broker-1:9092,broker-2:9092"
/// group_id = "orders-enricher"
/// input_topics = ["orders"]
/// transactional_id = "orders-enricher-0"
/// mode = "exactly_once"          # or "at_least_once"
/// commit_interval_ms = 100
/// commit_max_records = 1000
/// transaction_timeout_ms = 60000
/// session_timeout_ms = 45000
/// auto_offset_reset = "earliest" # or "latest"
/// max_in_flight = 1              # 1..=5
/// # delivery_timeout_ms = 30000
///
/// [producer_overrides]
/// "linger.ms" = 5
///
/// [consumer_overrides]
/// "fetch.min.bytes" = 1
///
/// [security]                     # omit for plaintext; see `Security`
/// protocol = "SASL_SSL"
/// sasl_mechanism = "SCRAM-SHA-512"
/// sasl_username = "orders-enricher"
/// sasl_password_env = "KAFKA_PASSWORD"  # or sasl_password_file, or sasl_password
/// ```
///
/// ```
/// use kafka_eos_config::{Mode, PipelineConfig};
/// use std::time::Duration;
///
/// let config = PipelineConfig::builder()
///     .bootstrap_servers("localhost:9092")
///     .group_id("orders-enricher")
///     .input_topic("orders")
///     .transactional_id("orders-enricher-0")
///     .commit_interval(Duration::from_millis(200))
///     .mode(Mode::ExactlyOnce)
///     .build()?;
/// let producer = config.producer_config()?;
/// assert_eq!(producer.get("enable.idempotence"), Some("true"));
/// # Ok::<(), kafka_eos_config::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    bootstrap_servers: String,
    group_id: String,
    input_topics: Vec<String>,
    transactional_id: Option<String>,
    mode: Mode,
    commit_interval_ms: u64,
    commit_max_records: usize,
    transaction_timeout_ms: u64,
    session_timeout_ms: u64,
    auto_offset_reset: AutoOffsetReset,
    max_in_flight: u32,
    delivery_timeout_ms: Option<u64>,
    #[serde(deserialize_with = "scalar_map")]
    producer_overrides: BTreeMap<String, String>,
    #[serde(deserialize_with = "scalar_map")]
    consumer_overrides: BTreeMap<String, String>,
    security: Security,
}

impl std::fmt::Debug for PipelineConfig {
    /// Secret overrides (passwords, keys) print as `***`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineConfig")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("group_id", &self.group_id)
            .field("input_topics", &self.input_topics)
            .field("transactional_id", &self.transactional_id)
            .field("mode", &self.mode)
            .field("commit_interval_ms", &self.commit_interval_ms)
            .field("commit_max_records", &self.commit_max_records)
            .field("transaction_timeout_ms", &self.transaction_timeout_ms)
            .field("session_timeout_ms", &self.session_timeout_ms)
            .field("auto_offset_reset", &self.auto_offset_reset)
            .field("max_in_flight", &self.max_in_flight)
            .field("delivery_timeout_ms", &self.delivery_timeout_ms)
            .field("producer_overrides", &Redacted(&self.producer_overrides))
            .field("consumer_overrides", &Redacted(&self.consumer_overrides))
            .field("security", &self.security)
            .finish()
    }
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            bootstrap_servers: String::new(),
            group_id: String::new(),
            input_topics: Vec::new(),
            transactional_id: None,
            mode: Mode::ExactlyOnce,
            commit_interval_ms: DEFAULT_COMMIT_INTERVAL_MS,
            commit_max_records: DEFAULT_COMMIT_MAX_RECORDS,
            transaction_timeout_ms: DEFAULT_TRANSACTION_TIMEOUT_MS,
            session_timeout_ms: DEFAULT_SESSION_TIMEOUT_MS,
            auto_offset_reset: AutoOffsetReset::Earliest,
            max_in_flight: 1,
            delivery_timeout_ms: None,
            producer_overrides: BTreeMap::new(),
            consumer_overrides: BTreeMap::new(),
            security: Security::default(),
        }
    }
}

impl PipelineConfig {
    /// Starts a by-value builder; finish with [`PipelineConfigBuilder::build`].
    pub fn builder() -> PipelineConfigBuilder {
        PipelineConfigBuilder {
            inner: PipelineConfig::default(),
        }
    }

    /// Parses and validates a TOML document.
    pub fn from_toml_str(s: &str) -> Result<Self> {
        let cfg: PipelineConfig = toml::from_str(s)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses and validates a YAML document.
    pub fn from_yaml_str(s: &str) -> Result<Self> {
        let cfg: PipelineConfig = serde_yaml::from_str(s)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads a `.toml`, `.yaml` or `.yml` file and validates it.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let read = || {
            std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
                path: path.to_path_buf(),
                source,
            })
        };
        match ext.as_deref() {
            Some("toml") => Self::from_toml_str(&read()?),
            Some("yaml" | "yml") => Self::from_yaml_str(&read()?),
            _ => Err(ConfigError::UnsupportedFormat {
                path: path.to_path_buf(),
            }),
        }
    }

    /// Reads the settings from the process environment (see
    /// [`PipelineConfig::from_env_vars`] for the variables).
    pub fn from_env() -> Result<Self> {
        Self::from_env_vars(std::env::vars())
    }

    /// Reads the settings from `(name, value)` pairs shaped like environment variables.
    ///
    /// | variable | field |
    /// |---|---|
    /// | `KAFKA_EOS_BOOTSTRAP_SERVERS` | bootstrap servers, comma separated (required) |
    /// | `KAFKA_EOS_GROUP_ID` | consumer group (required) |
    /// | `KAFKA_EOS_INPUT_TOPICS` | input topics, comma separated (required) |
    /// | `KAFKA_EOS_TRANSACTIONAL_ID` | transactional id (required in exactly-once mode) |
    /// | `KAFKA_EOS_MODE` | `exactly_once` (default) or `at_least_once` |
    /// | `KAFKA_EOS_COMMIT_INTERVAL_MS` | commit every T ms (default 100) |
    /// | `KAFKA_EOS_COMMIT_MAX_RECORDS` | commit every N records (default 1000) |
    /// | `KAFKA_EOS_TRANSACTION_TIMEOUT_MS` | `transaction.timeout.ms` (default 60000) |
    /// | `KAFKA_EOS_SESSION_TIMEOUT_MS` | `session.timeout.ms` (default 45000) |
    /// | `KAFKA_EOS_AUTO_OFFSET_RESET` | `earliest` (default) or `latest` |
    /// | `KAFKA_EOS_MAX_IN_FLIGHT` | `max.in.flight.requests.per.connection`, 1..=5 (default 1) |
    /// | `KAFKA_EOS_DELIVERY_TIMEOUT_MS` | `delivery.timeout.ms` |
    /// | `KAFKA_EOS_PRODUCER__<KEY>` | producer override; `<KEY>` lower-cased, `_` becomes `.` (`KAFKA_EOS_PRODUCER__LINGER_MS=5` is `linger.ms=5`) |
    /// | `KAFKA_EOS_CONSUMER__<KEY>` | consumer override, same rule |
    /// | `KAFKA_EOS_SECURITY_PROTOCOL` | `PLAINTEXT` (default), `SSL`, `SASL_PLAINTEXT`, `SASL_SSL` |
    /// | `KAFKA_EOS_SASL_MECHANISM` | `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`, `OAUTHBEARER` |
    /// | `KAFKA_EOS_SASL_USERNAME` | SASL user |
    /// | `KAFKA_EOS_SASL_PASSWORD` / `KAFKA_EOS_SASL_PASSWORD_FILE` | SASL password, or a file holding it |
    /// | `KAFKA_EOS_SSL_CA_LOCATION` | CA certificates (PEM) |
    /// | `KAFKA_EOS_SSL_CERTIFICATE_LOCATION`, `KAFKA_EOS_SSL_KEY_LOCATION` | client certificate and key (PEM) |
    /// | `KAFKA_EOS_SSL_KEY_PASSWORD` / `KAFKA_EOS_SSL_KEY_PASSWORD_FILE` | the key's password |
    /// | `KAFKA_EOS_SSL_ENDPOINT_IDENTIFICATION` | `false` to skip the host name check |
    /// | `KAFKA_EOS_ALLOW_SASL_PLAINTEXT` | `true` to allow `SASL_PLAINTEXT` |
    ///
    /// Other variables are ignored.
    pub fn from_env_vars<I, K, V>(vars: I) -> Result<Self>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut cfg = PipelineConfig::default();
        let mut security = Vec::new();
        for (name, value) in vars {
            let name = name.as_ref();
            let value = value.as_ref();
            let Some(field) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if let Some(key) = field.strip_prefix("PRODUCER__") {
                cfg.producer_overrides
                    .insert(env_key(key), value.to_owned());
                continue;
            }
            if let Some(key) = field.strip_prefix("CONSUMER__") {
                cfg.consumer_overrides
                    .insert(env_key(key), value.to_owned());
                continue;
            }
            if Security::is_env_setting(field) {
                security.push((name.to_owned(), value.to_owned()));
                continue;
            }
            match field {
                "BOOTSTRAP_SERVERS" => cfg.bootstrap_servers = value.trim().to_owned(),
                "GROUP_ID" => cfg.group_id = value.trim().to_owned(),
                "INPUT_TOPICS" => {
                    cfg.input_topics = value
                        .split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned)
                        .collect();
                }
                "TRANSACTIONAL_ID" => cfg.transactional_id = Some(value.trim().to_owned()),
                "MODE" => cfg.mode = value.parse()?,
                "COMMIT_INTERVAL_MS" => cfg.commit_interval_ms = env_num(name, value)?,
                "COMMIT_MAX_RECORDS" => cfg.commit_max_records = env_num(name, value)?,
                "TRANSACTION_TIMEOUT_MS" => cfg.transaction_timeout_ms = env_num(name, value)?,
                "SESSION_TIMEOUT_MS" => cfg.session_timeout_ms = env_num(name, value)?,
                "AUTO_OFFSET_RESET" => cfg.auto_offset_reset = value.parse()?,
                "MAX_IN_FLIGHT" => cfg.max_in_flight = env_num(name, value)?,
                "DELIVERY_TIMEOUT_MS" => cfg.delivery_timeout_ms = Some(env_num(name, value)?),
                _ => {}
            }
        }
        cfg.security = Security::from_env_vars(security)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks every field and every override; called by all constructors.
    pub fn validate(&self) -> Result<()> {
        if self.bootstrap_servers.trim().is_empty() {
            return Err(ConfigError::Missing {
                field: "bootstrap_servers",
            });
        }
        if self.group_id.trim().is_empty() {
            return Err(ConfigError::Missing { field: "group_id" });
        }
        if self.input_topics.is_empty() || self.input_topics.iter().any(|t| t.trim().is_empty()) {
            return Err(ConfigError::Missing {
                field: "input_topics",
            });
        }
        if self.mode.is_exactly_once()
            && self
                .transactional_id
                .as_deref()
                .is_none_or(|t| t.trim().is_empty())
        {
            return Err(ConfigError::Missing {
                field: "transactional_id",
            });
        }
        if self.commit_interval_ms == 0 {
            return Err(ConfigError::invalid(
                "commit_interval_ms",
                "0",
                "must be positive",
            ));
        }
        if self.commit_max_records == 0 {
            return Err(ConfigError::invalid(
                "commit_max_records",
                "0",
                "must be positive",
            ));
        }
        if self.max_in_flight > MAX_IN_FLIGHT_LIMIT {
            return Err(ConfigError::unsafe_setting(
                "max.in.flight.requests.per.connection",
                self.max_in_flight.to_string(),
                format!(
                    "the idempotent producer keeps per-partition ordering with at most {MAX_IN_FLIGHT_LIMIT} requests in flight"
                ),
            ));
        }
        self.producer_profile().validate()?;
        self.consumer_profile().validate()?;
        self.security.validate()?;
        crate::librdkafka::check(&self.producer_config()?)?;
        crate::librdkafka::check(&self.consumer_config()?)
    }

    /// The producer profile: transactional in exactly-once mode, idempotent otherwise.
    pub fn producer_profile(&self) -> ProducerProfile {
        let mut p = ProducerProfile::idempotent(self.bootstrap_servers.clone())
            .max_in_flight(self.max_in_flight)
            .commit_interval(Duration::from_millis(self.commit_interval_ms))
            .transaction_timeout(Duration::from_millis(self.transaction_timeout_ms))
            .overrides(self.producer_overrides.clone())
            .security(self.security.clone());
        if let Some(ms) = self.delivery_timeout_ms {
            p = p.delivery_timeout(Duration::from_millis(ms));
        }
        if self.mode.is_exactly_once() {
            if let Some(id) = &self.transactional_id {
                p = p.transactional(id.clone());
            }
        }
        p
    }

    /// The consumer profile.
    pub fn consumer_profile(&self) -> ConsumerProfile {
        ConsumerProfile::new(self.bootstrap_servers.clone(), self.group_id.clone())
            .mode(self.mode)
            .auto_offset_reset(self.auto_offset_reset)
            .session_timeout(Duration::from_millis(self.session_timeout_ms))
            .overrides(self.consumer_overrides.clone())
            .security(self.security.clone())
    }

    /// Renders the producer's rdkafka configuration.
    pub fn producer_config(&self) -> Result<ClientConfig> {
        self.producer_profile().render()
    }

    /// Renders the consumer's rdkafka configuration.
    pub fn consumer_config(&self) -> Result<ClientConfig> {
        self.consumer_profile().render()
    }

    /// Bootstrap servers (comma separated).
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }

    /// Consumer group id.
    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// Input topics.
    pub fn input_topics(&self) -> &[String] {
        &self.input_topics
    }

    /// Transactional id (always `Some` in exactly-once mode).
    pub fn transactional_id(&self) -> Option<&str> {
        self.transactional_id.as_deref()
    }

    /// Delivery mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Commit at least this often.
    pub fn commit_interval(&self) -> Duration {
        Duration::from_millis(self.commit_interval_ms)
    }

    /// Commit after at most this many records.
    pub fn commit_max_records(&self) -> usize {
        self.commit_max_records
    }

    /// `transaction.timeout.ms`.
    pub fn transaction_timeout(&self) -> Duration {
        Duration::from_millis(self.transaction_timeout_ms)
    }

    /// `session.timeout.ms`.
    pub fn session_timeout(&self) -> Duration {
        Duration::from_millis(self.session_timeout_ms)
    }

    /// `auto.offset.reset`.
    pub fn auto_offset_reset(&self) -> AutoOffsetReset {
        self.auto_offset_reset
    }

    /// `max.in.flight.requests.per.connection`.
    pub fn max_in_flight(&self) -> u32 {
        self.max_in_flight
    }

    /// Producer overrides as given.
    pub fn producer_overrides(&self) -> &BTreeMap<String, String> {
        &self.producer_overrides
    }

    /// Consumer overrides as given.
    pub fn consumer_overrides(&self) -> &BTreeMap<String, String> {
        &self.consumer_overrides
    }

    /// How connections are secured.
    pub fn security(&self) -> &Security {
        &self.security
    }

    /// A by-value builder starting from these settings (to change a field and re-validate).
    pub fn into_builder(self) -> PipelineConfigBuilder {
        PipelineConfigBuilder { inner: self }
    }
}

/// By-value builder of a [`PipelineConfig`]; [`PipelineConfigBuilder::build`] validates.
#[derive(Debug, Clone)]
#[must_use = "call .build() to get a PipelineConfig"]
pub struct PipelineConfigBuilder {
    inner: PipelineConfig,
}

impl PipelineConfigBuilder {
    /// Bootstrap servers, comma separated (required).
    pub fn bootstrap_servers(mut self, servers: impl Into<String>) -> Self {
        self.inner.bootstrap_servers = servers.into();
        self
    }

    /// Consumer group id (required).
    pub fn group_id(mut self, group: impl Into<String>) -> Self {
        self.inner.group_id = group.into();
        self
    }

    /// Adds one input topic.
    pub fn input_topic(mut self, topic: impl Into<String>) -> Self {
        self.inner.input_topics.push(topic.into());
        self
    }

    /// Replaces the input topics.
    pub fn input_topics<T: Into<String>>(mut self, topics: impl IntoIterator<Item = T>) -> Self {
        self.inner.input_topics = topics.into_iter().map(Into::into).collect();
        self
    }

    /// The stable transactional id (required in exactly-once mode).
    pub fn transactional_id(mut self, id: impl Into<String>) -> Self {
        self.inner.transactional_id = Some(id.into());
        self
    }

    /// Delivery mode (default exactly-once).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.inner.mode = mode;
        self
    }

    /// Commit at least this often (default 100 ms).
    pub fn commit_interval(mut self, interval: Duration) -> Self {
        self.inner.commit_interval_ms = duration_ms(interval);
        self
    }

    /// Commit after at most this many records (default 1000).
    pub fn commit_max_records(mut self, n: usize) -> Self {
        self.inner.commit_max_records = n;
        self
    }

    /// `transaction.timeout.ms` (default 60 s); must be longer than the commit interval.
    pub fn transaction_timeout(mut self, timeout: Duration) -> Self {
        self.inner.transaction_timeout_ms = duration_ms(timeout);
        self
    }

    /// `session.timeout.ms` (default 45 s).
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.inner.session_timeout_ms = duration_ms(timeout);
        self
    }

    /// `auto.offset.reset` (default earliest).
    pub fn auto_offset_reset(mut self, reset: AutoOffsetReset) -> Self {
        self.inner.auto_offset_reset = reset;
        self
    }

    /// `max.in.flight.requests.per.connection`, 1..=5 (default 1).
    pub fn max_in_flight(mut self, n: u32) -> Self {
        self.inner.max_in_flight = n;
        self
    }

    /// `delivery.timeout.ms`.
    pub fn delivery_timeout(mut self, timeout: Duration) -> Self {
        self.inner.delivery_timeout_ms = Some(duration_ms(timeout));
        self
    }

    /// Adds a free-form producer property (checked by `build`).
    pub fn producer_override(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.inner
            .producer_overrides
            .insert(key.into(), value.into());
        self
    }

    /// Adds a free-form consumer property (checked by `build`).
    pub fn consumer_override(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.inner
            .consumer_overrides
            .insert(key.into(), value.into());
        self
    }

    /// How connections are secured: TLS, SASL (default plaintext, anonymous).
    pub fn security(mut self, security: Security) -> Self {
        self.inner.security = security;
        self
    }

    /// Validates and returns the settings.
    pub fn build(self) -> Result<PipelineConfig> {
        self.inner.validate()?;
        Ok(self.inner)
    }
}

fn env_key(key: &str) -> String {
    key.to_ascii_lowercase().replace('_', ".")
}

fn env_num<T: std::str::FromStr>(name: &str, value: &str) -> Result<T> {
    value
        .trim()
        .parse()
        .map_err(|_| ConfigError::invalid(name, value, "expected a non-negative integer"))
}

/// Accepts strings, integers, floats and booleans as override values.
fn scalar_map<'de, D>(d: D) -> std::result::Result<BTreeMap<String, String>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Bool(bool),
        Int(i64),
        Float(f64),
        Str(String),
    }
    let raw = BTreeMap::<String, Scalar>::deserialize(d)?;
    Ok(raw
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Scalar::Bool(b) => b.to_string(),
                Scalar::Int(i) => i.to_string(),
                Scalar::Float(f) => f.to_string(),
                Scalar::Str(s) => s,
            };
            (k, v)
        })
        .collect())
}
