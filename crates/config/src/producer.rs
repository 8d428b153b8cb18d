//! Producer profiles: idempotent, and transactional on top of it.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;

use crate::error::{ConfigError, Result};
use crate::guard::{self, GuardContext, MAX_IN_FLIGHT_LIMIT};
use crate::mode::Mode;
use crate::secrets::Redacted;
use crate::security::Security;

/// Default `transaction.timeout.ms` (librdkafka's default).
pub const DEFAULT_TRANSACTION_TIMEOUT_MS: u64 = 60_000;

/// `retries` as rendered: unbounded, so `delivery.timeout.ms` is the only bound.
pub const UNBOUNDED_RETRIES: &str = "2147483647";

/// `partitioner` as rendered unless overridden: murmur2 for keyed records, as Kafka's Java
/// clients do (librdkafka's default, CRC32-based `consistent_random`, puts keys on other
/// partitions than a Java service writing the same keys would), random for records without
/// a key. Override `partitioner` for another of librdkafka's (validated at build).
pub const DEFAULT_PARTITIONER: &str = "murmur2_random";

/// Settings of a safe producer, rendered to an rdkafka [`ClientConfig`].
///
/// [`ProducerProfile::idempotent`] renders `enable.idempotence=true`, `acks=all`,
/// `max.in.flight.requests.per.connection=1` (up to 5 allowed) and unbounded retries
/// within `delivery.timeout.ms`, and partitions keyed records as Kafka's Java clients do
/// ([`DEFAULT_PARTITIONER`]). [`ProducerProfile::transactional`] adds
/// `transactional.id` and `transaction.timeout.ms`.
///
/// ```
/// use kafka_eos_config::ProducerProfile;
/// use std::time::Duration;
///
/// let cfg = ProducerProfile::idempotent("localhost:9092")
///     .transactional("orders-enricher-0")
///     .transaction_timeout(Duration::from_secs(30))
///     .set("linger.ms", "5")
///     .render()?;
/// assert_eq!(cfg.get("acks"), Some("all"));
/// assert_eq!(cfg.get("transactional.id"), Some("orders-enricher-0"));
/// # Ok::<(), kafka_eos_config::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ProducerProfile {
    bootstrap_servers: String,
    max_in_flight: u32,
    delivery_timeout_ms: Option<u64>,
    transactional_id: Option<String>,
    transaction_timeout_ms: u64,
    commit_interval_ms: Option<u64>,
    overrides: BTreeMap<String, String>,
    security: Security,
}

impl std::fmt::Debug for ProducerProfile {
    /// Secret overrides (passwords, keys) print as `***`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerProfile")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("max_in_flight", &self.max_in_flight)
            .field("delivery_timeout_ms", &self.delivery_timeout_ms)
            .field("transactional_id", &self.transactional_id)
            .field("transaction_timeout_ms", &self.transaction_timeout_ms)
            .field("commit_interval_ms", &self.commit_interval_ms)
            .field("overrides", &Redacted(&self.overrides))
            .field("security", &self.security)
            .finish()
    }
}

impl ProducerProfile {
    /// An idempotent (non-transactional) producer for the given bootstrap servers.
    pub fn idempotent(bootstrap_servers: impl Into<String>) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.into(),
            max_in_flight: 1,
            delivery_timeout_ms: None,
            transactional_id: None,
            transaction_timeout_ms: DEFAULT_TRANSACTION_TIMEOUT_MS,
            commit_interval_ms: None,
            overrides: BTreeMap::new(),
            security: Security::default(),
        }
    }

    /// Makes the producer transactional with this stable `transactional.id`.
    pub fn transactional(mut self, transactional_id: impl Into<String>) -> Self {
        self.transactional_id = Some(transactional_id.into());
        self
    }

    /// Sets `transaction.timeout.ms` (default 60 s).
    pub fn transaction_timeout(mut self, timeout: Duration) -> Self {
        self.transaction_timeout_ms = duration_ms(timeout);
        self
    }

    /// Sets `max.in.flight.requests.per.connection` (1 by default, at most 5).
    pub fn max_in_flight(mut self, n: u32) -> Self {
        self.max_in_flight = n;
        self
    }

    /// Sets `delivery.timeout.ms`. Unset, librdkafka uses the transaction timeout for a
    /// transactional producer and 300 s otherwise.
    pub fn delivery_timeout(mut self, timeout: Duration) -> Self {
        self.delivery_timeout_ms = Some(duration_ms(timeout));
        self
    }

    /// The commit interval of the pipeline using this producer: the transaction timeout
    /// must be longer.
    pub fn commit_interval(mut self, interval: Duration) -> Self {
        self.commit_interval_ms = Some(duration_ms(interval));
        self
    }

    /// Adds a free-form librdkafka property; checked by [`ProducerProfile::render`].
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.overrides.insert(key.into(), value.into());
        self
    }

    /// Adds several free-form librdkafka properties.
    pub fn overrides<K, V>(mut self, overrides: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.overrides
            .extend(overrides.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// The `transactional.id`, if transactional.
    pub fn transactional_id(&self) -> Option<&str> {
        self.transactional_id.as_deref()
    }

    /// The transaction timeout.
    pub fn transaction_timeout_value(&self) -> Duration {
        Duration::from_millis(self.transaction_timeout_ms)
    }

    fn context(&self) -> GuardContext {
        GuardContext {
            mode: if self.transactional_id.is_some() {
                Mode::ExactlyOnce
            } else {
                Mode::AtLeastOnce
            },
            transactional: self.transactional_id.is_some(),
            commit_interval_ms: self.commit_interval_ms,
        }
    }

    /// How connections are secured (TLS, SASL); plaintext by default.
    pub fn security(mut self, security: Security) -> Self {
        self.security = security;
        self
    }

    /// Checks every typed setting and override.
    pub fn validate(&self) -> Result<()> {
        if self.bootstrap_servers.trim().is_empty() {
            return Err(ConfigError::Missing {
                field: "bootstrap_servers",
            });
        }
        if let Some(id) = &self.transactional_id {
            if id.trim().is_empty() {
                return Err(ConfigError::Missing {
                    field: "transactional_id",
                });
            }
        }
        if self.max_in_flight == 0 {
            return Err(ConfigError::invalid(
                "max.in.flight.requests.per.connection",
                "0",
                "must be at least 1",
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
        let ctx = self.context();
        if ctx.transactional {
            guard::check_transaction_timeout(
                "transaction.timeout.ms",
                self.transaction_timeout_ms,
                ctx,
            )?;
            if let Some(delivery) = self.delivery_timeout_ms {
                if delivery > self.transaction_timeout_ms {
                    return Err(ConfigError::invalid(
                        "delivery.timeout.ms",
                        delivery.to_string(),
                        format!(
                            "must not exceed transaction.timeout.ms ({} ms)",
                            self.transaction_timeout_ms
                        ),
                    ));
                }
            }
        }
        for (k, v) in &self.overrides {
            guard::check_producer_override(k, v, ctx)?;
        }
        Ok(())
    }

    /// Validates, then renders the rdkafka client configuration.
    pub fn render(&self) -> Result<ClientConfig> {
        self.validate()?;
        let mut cfg = ClientConfig::new();
        cfg.set("bootstrap.servers", self.bootstrap_servers.trim())
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set(
                "max.in.flight.requests.per.connection",
                self.max_in_flight.to_string(),
            )
            .set("retries", UNBOUNDED_RETRIES)
            .set("partitioner", DEFAULT_PARTITIONER);
        if let Some(ms) = self.delivery_timeout_ms {
            cfg.set("delivery.timeout.ms", ms.to_string());
        }
        if let Some(id) = &self.transactional_id {
            cfg.set("transactional.id", id.trim()).set(
                "transaction.timeout.ms",
                self.transaction_timeout_ms.to_string(),
            );
        }
        self.security.apply(&mut cfg, &self.overrides)?;
        for (k, v) in &self.overrides {
            cfg.set(k.trim(), v.trim());
        }
        Ok(cfg)
    }
}

pub(crate) fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
