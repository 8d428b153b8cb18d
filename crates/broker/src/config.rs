//! Settings of an [`EmbeddedBroker`](crate::EmbeddedBroker).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Settings of an embedded broker, built by value.
///
/// ```
/// use kafka_eos_broker::BrokerConfig;
/// let config = BrokerConfig::default()
///     .port(0)
///     .default_partitions(8)
///     .auto_create_topics(true);
/// assert_eq!(config.default_partitions_value(), 8);
/// ```
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub(crate) addr: SocketAddr,
    pub(crate) node_id: i32,
    pub(crate) default_partitions: i32,
    pub(crate) auto_create_topics: bool,
    pub(crate) max_request_bytes: usize,
    pub(crate) group_initial_rebalance_delay: Duration,
    pub(crate) group_min_session_timeout: Duration,
    pub(crate) group_max_session_timeout: Duration,
    pub(crate) max_transaction_timeout: Duration,
    pub(crate) cluster_id: String,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            node_id: 1,
            default_partitions: 1,
            auto_create_topics: true,
            max_request_bytes: 100 * 1024 * 1024,
            group_initial_rebalance_delay: Duration::ZERO,
            group_min_session_timeout: Duration::from_millis(1_000),
            group_max_session_timeout: Duration::from_secs(300),
            max_transaction_timeout: Duration::from_secs(900),
            cluster_id: "kafka-eos-embedded".to_owned(),
        }
    }
}

impl BrokerConfig {
    /// The port to listen on, on 127.0.0.1 (0 picks a free port).
    pub fn port(mut self, port: u16) -> Self {
        self.addr.set_port(port);
        self
    }

    /// The full address to listen on (default `127.0.0.1:0`).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// The partition count of topics created without an explicit count (default 1).
    pub fn default_partitions(mut self, partitions: i32) -> Self {
        self.default_partitions = partitions;
        self
    }

    /// The configured default partition count.
    pub fn default_partitions_value(&self) -> i32 {
        self.default_partitions
    }

    /// Whether Metadata and Produce requests create unknown topics (default true, as
    /// `auto.create.topics.enable` in Apache Kafka).
    pub fn auto_create_topics(mut self, enabled: bool) -> Self {
        self.auto_create_topics = enabled;
        self
    }

    /// The largest request frame accepted (default 100 MiB, as `socket.request.max.bytes`).
    pub fn max_request_bytes(mut self, bytes: usize) -> Self {
        self.max_request_bytes = bytes;
        self
    }

    /// `group.initial.rebalance.delay.ms` (default 0 here; Apache Kafka's default is 3 s).
    pub fn group_initial_rebalance_delay(mut self, delay: Duration) -> Self {
        self.group_initial_rebalance_delay = delay;
        self
    }

    /// `group.min.session.timeout.ms` and `group.max.session.timeout.ms` (defaults 1 s and 300 s).
    pub fn group_session_timeout_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.group_min_session_timeout = min;
        self.group_max_session_timeout = max;
        self
    }

    /// `transaction.max.timeout.ms` (default 900 s): a producer asking for more gets
    /// `INVALID_TRANSACTION_TIMEOUT`.
    pub fn max_transaction_timeout(mut self, timeout: Duration) -> Self {
        self.max_transaction_timeout = timeout;
        self
    }

    /// The node id the broker reports (default 1).
    pub fn node_id(mut self, id: i32) -> Self {
        self.node_id = id;
        self
    }
}
