//! Settings of an [`EmbeddedBroker`](crate::EmbeddedBroker).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::acl::AclRule;
use crate::sasl::SaslUser;
use crate::security::SecurityProtocol;
use crate::tls::TlsIdentity;

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
    pub(crate) nodes: usize,
    pub(crate) failover_delay: Duration,
    pub(crate) default_partitions: i32,
    pub(crate) default_replication_factor: i32,
    pub(crate) auto_create_topics: bool,
    pub(crate) max_request_bytes: usize,
    pub(crate) group_initial_rebalance_delay: Duration,
    pub(crate) group_min_session_timeout: Duration,
    pub(crate) group_max_session_timeout: Duration,
    pub(crate) max_transaction_timeout: Duration,
    pub(crate) cluster_id: String,
    pub(crate) tls: Option<TlsIdentity>,
    pub(crate) sasl_users: Vec<SaslUser>,
    pub(crate) acls: Vec<AclRule>,
    pub(crate) super_users: Vec<String>,
    pub(crate) authorization: Option<bool>,
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) fsync: FsyncPolicy,
}

/// When a broker with a [data dir](BrokerConfig::data_dir) asks the operating system to
/// flush its files to the disk (`fsync`).
///
/// Either way every write reaches the operating system before the request is answered, so
/// what was acknowledged survives a crash (even a `SIGKILL`) of the broker's process; only
/// a crash of the machine (power loss, kernel panic) can lose what the page cache held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum FsyncPolicy {
    /// Never fsync (the default): rely on the page cache, as Kafka's defaults do
    /// (`flush.messages` and `flush.ms` unlimited; Kafka relies on replication for power
    /// loss, which one process cannot offer). Survives a process crash, not a power loss.
    #[default]
    Never,
    /// Fsync each log append, each transaction marker and each metadata snapshot before
    /// answering: survives a power loss, at the cost of a disk flush per request.
    Always,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            node_id: 1,
            nodes: 1,
            failover_delay: Duration::from_secs(9),
            default_partitions: 1,
            default_replication_factor: 1,
            auto_create_topics: true,
            max_request_bytes: 100 * 1024 * 1024,
            group_initial_rebalance_delay: Duration::ZERO,
            group_min_session_timeout: Duration::from_millis(1_000),
            group_max_session_timeout: Duration::from_secs(300),
            max_transaction_timeout: Duration::from_secs(900),
            cluster_id: "kafka-eos-embedded".to_owned(),
            tls: None,
            sasl_users: Vec::new(),
            acls: Vec::new(),
            super_users: Vec::new(),
            authorization: None,
            data_dir: None,
            fsync: FsyncPolicy::Never,
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

    /// The node id the broker reports (default 1); with [`nodes`](Self::nodes), the id of
    /// the first node (the others follow it).
    pub fn node_id(mut self, id: i32) -> Self {
        self.node_id = id;
        self
    }

    /// Serves as a cluster of `count` nodes (default 1, at least 1): one listener each,
    /// node ids from [`node_id`](Self::node_id) up, one shared state. Partitions' replicas
    /// and leaders and the group and transaction coordinators are spread over the nodes as
    /// Kafka spreads them, and a request sent to a node that does not lead the partition
    /// or coordinate the group or transactional id gets Kafka's NOT_LEADER_OR_FOLLOWER or
    /// NOT_COORDINATOR. With a fixed [`port`](Self::port) `p`, the nodes listen on `p`,
    /// `p+1`, ...; with port 0 each picks a free port. Stop and start nodes with
    /// [`Faults::stop_node`](crate::Faults::stop_node) and
    /// [`Faults::start_node`](crate::Faults::start_node).
    pub fn nodes(mut self, count: usize) -> Self {
        self.nodes = count.max(1);
        self
    }

    /// How long a stopped node keeps its leadership and coordinators before they move to
    /// live nodes (default 9 s, as Kafka's `broker.session.timeout.ms`; zero: at once, as a
    /// controlled shutdown).
    pub fn failover_delay(mut self, delay: Duration) -> Self {
        self.failover_delay = delay;
        self
    }

    /// `default.replication.factor`: the replicas of topics created without one (default
    /// 1, as in Kafka); at most [`nodes`](Self::nodes).
    pub fn default_replication_factor(mut self, replicas: i32) -> Self {
        self.default_replication_factor = replicas;
        self
    }

    /// The configured node count.
    pub fn nodes_value(&self) -> usize {
        self.nodes
    }

    /// Serves TLS with this identity (`security.protocol=SSL`, or `SASL_SSL` with
    /// [`sasl_user`](Self::sasl_user)). Default: plaintext. A client that fails the TLS
    /// handshake is disconnected (logged at debug). See [`TestCertificates`](crate::TestCertificates).
    pub fn tls(mut self, identity: TlsIdentity) -> Self {
        self.tls = Some(identity);
        self
    }

    /// Adds a SASL user (repeatable; a repeated name keeps the last password). With any user
    /// the listener requires SASL (`SASL_PLAINTEXT`, or `SASL_SSL` with [`tls`](Self::tls))
    /// with the mechanisms PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512, and connections act as
    /// principal `User:<name>`; without, they are `User:ANONYMOUS`. The password is kept
    /// for PLAIN and as salted SCRAM credentials (4096 iterations); it never appears in
    /// `Debug` output. SCRAM credentials (of these or other users) can also be changed at
    /// run time with AlterUserScramCredentials; such changes are not kept in a data dir.
    pub fn sasl_user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        let name = name.into();
        self.sasl_users.retain(|u| u.name != name);
        self.sasl_users.push(SaslUser {
            name,
            password: password.into(),
        });
        self
    }

    /// Adds an ACL rule (repeatable). Adding a rule turns the authorizer on unless
    /// [`authorization(false)`](Self::authorization) says otherwise.
    pub fn acl(mut self, rule: AclRule) -> Self {
        self.acls.push(rule);
        self
    }

    /// Makes `name` (`app` or `User:app`) a super user, allowed everything (Kafka's
    /// `super.users`). Turns the authorizer on unless [`authorization(false)`](Self::authorization).
    pub fn super_user(mut self, name: impl Into<String>) -> Self {
        self.super_users.push(name.into());
        self
    }

    /// Turns the authorizer on or off. Default: on when any [`acl`](Self::acl) or
    /// [`super_user`](Self::super_user) is set, off otherwise. When on, a request is allowed
    /// only by a matching Allow rule without a matching Deny (as Kafka with
    /// `allow.everyone.if.no.acl.found=false`); refused parts are answered with Kafka's
    /// authorization errors (TOPIC_/GROUP_/CLUSTER_/TRANSACTIONAL_ID_AUTHORIZATION_FAILED).
    /// Rules can also be managed at run time with CreateAcls, DescribeAcls and DeleteAcls
    /// (which need cluster ALTER, DESCRIBE and ALTER).
    pub fn authorization(mut self, enabled: bool) -> Self {
        self.authorization = Some(enabled);
        self
    }

    /// Keeps the broker's data in `dir` (created if missing) so that it survives a restart
    /// of the process, a crash included: record batches (one append-only file per
    /// partition, `logs/<topic>-<partition>.log`), and in `metadata.json` the topics with
    /// their configs, the transaction coordinator (producer ids, transactional ids and their
    /// transactions), committed group offsets and group generations. A broker started on
    /// the same dir recovers them (see the crate docs, "Durable logs"). Default: none, all
    /// in memory, no file touched.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// When the [data dir](Self::data_dir)'s files are flushed to the disk (default
    /// [`FsyncPolicy::Never`]). Without a data dir it has no effect.
    pub fn fsync(mut self, policy: FsyncPolicy) -> Self {
        self.fsync = policy;
        self
    }

    /// Whether the authorizer is on with these settings.
    pub fn authorization_enabled(&self) -> bool {
        self.authorization
            .unwrap_or(!self.acls.is_empty() || !self.super_users.is_empty())
    }

    /// The security protocol clients must use with these settings.
    pub fn security_protocol(&self) -> SecurityProtocol {
        SecurityProtocol::new(self.tls.is_some(), !self.sasl_users.is_empty())
    }
}
