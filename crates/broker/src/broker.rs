//! [`EmbeddedBroker`]: start, topics, shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::acl::AclRule;
use crate::cluster::{coordinator_partition, CoordinatorKind};
use crate::config::BrokerConfig;
use crate::error::{Error, Result};
use crate::faults::Faults;
use crate::security::SecurityProtocol;
use crate::state::State;
use crate::txn::{TransactionCounts, TransactionInfo};

/// How often timeouts (sessions, rebalances, transactions) are checked.
const TICK: Duration = Duration::from_millis(50);

/// A Kafka-protocol broker (one node, or a cluster of [several](BrokerConfig::nodes))
/// running inside the current Tokio runtime.
///
/// It speaks the wire protocol librdkafka and other Kafka clients use, with faithful
/// transactions: commit/abort markers, the last stable offset, aborted-transaction lists
/// for read_committed readers, producer fencing and transaction timeouts.
///
/// ```no_run
/// # async fn demo() -> Result<(), kafka_eos_broker::Error> {
/// use kafka_eos_broker::{BrokerConfig, EmbeddedBroker};
/// let broker = EmbeddedBroker::start(BrokerConfig::default().default_partitions(4)).await?;
/// broker.create_topic("orders", 8)?;
/// println!("bootstrap.servers={}", broker.bootstrap_servers());
/// broker.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct EmbeddedBroker {
    state: Arc<State>,
    /// Each node's listening address, in node id order.
    addrs: Vec<SocketAddr>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl EmbeddedBroker {
    /// Starts a broker with default settings on a free port of 127.0.0.1.
    pub async fn start_default() -> Result<Self> {
        Self::start(BrokerConfig::default()).await
    }

    /// Binds the listeners (one per node) and starts serving. Must be called within a
    /// Tokio runtime.
    pub async fn start(config: BrokerConfig) -> Result<Self> {
        if !(1..=crate::topics::MAX_PARTITIONS).contains(&config.default_partitions) {
            return Err(Error::InvalidPartitions(config.default_partitions));
        }
        let tls = config.tls.as_ref().map(|t| t.acceptor()).transpose()?;
        let store = config
            .data_dir
            .as_deref()
            .map(|dir| crate::store::Store::open(dir, config.fsync))
            .transpose()?
            .map(Arc::new);
        let protocol = config.security_protocol();
        let mut listeners = Vec::with_capacity(config.nodes);
        for i in 0..config.nodes {
            let mut addr = config.addr;
            if addr.port() != 0 {
                let port =
                    u16::try_from(usize::from(addr.port()) + i).map_err(|_| Error::Bind {
                        addr,
                        source: std::io::Error::other("node ports run past 65535"),
                    })?;
                addr.set_port(port);
            }
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| Error::Bind { addr, source })?;
            let local = listener
                .local_addr()
                .map_err(|source| Error::Bind { addr, source })?;
            listeners.push((config.node_id + i as i32, listener, local));
        }
        let nodes = listeners
            .iter()
            .map(|(id, _, a)| (*id, a.ip().to_string(), i32::from(a.port())))
            .collect();
        let addrs: Vec<SocketAddr> = listeners.iter().map(|(_, _, a)| *a).collect();
        let state = Arc::new(State::new(config, nodes, store));
        crate::store::recover(&state)?;
        let shutdown = CancellationToken::new();
        let mut tasks = Vec::with_capacity(listeners.len() + 1);
        for (node, listener, addr) in listeners {
            tasks.push(tokio::spawn(crate::server::serve(
                crate::server::Listener {
                    node,
                    addr,
                    socket: listener,
                    tls: tls.clone(),
                },
                state.clone(),
                shutdown.clone(),
            )));
            tracing::info!(node, %addr, %protocol, "embedded Kafka broker listening");
        }
        tasks.push(tokio::spawn(tick(state.clone(), shutdown.clone())));
        Ok(Self {
            state,
            addrs,
            shutdown,
            tasks,
        })
    }

    /// The `bootstrap.servers` value for clients, e.g. `127.0.0.1:41234` (every node's
    /// address, comma-separated, for a broker with several [nodes](BrokerConfig::nodes)).
    pub fn bootstrap_servers(&self) -> String {
        self.addrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The `security.protocol` clients must use: `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or
    /// `SASL_SSL` (see [`BrokerConfig::tls`] and [`BrokerConfig::sasl_user`]).
    pub fn security_protocol(&self) -> SecurityProtocol {
        self.state.config.security_protocol()
    }

    /// The ACL rules in force (configured and created at run time, less deleted ones).
    pub fn acls(&self) -> Vec<AclRule> {
        self.state.authorizer.rules().clone()
    }

    /// The address the broker (its first node) listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// The node ids with their addresses.
    pub fn nodes(&self) -> Vec<(i32, SocketAddr)> {
        let first = self.state.config.node_id;
        (first..).zip(self.addrs.iter().copied()).collect()
    }

    /// Creates a topic with `partitions` partitions and the default replication factor.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        self.create_replicated_topic(
            name,
            partitions,
            self.state.config.default_replication_factor,
        )
    }

    /// Creates a topic with `partitions` partitions of `replicas` replicas each (at most
    /// the number of listed nodes).
    pub fn create_replicated_topic(
        &self,
        name: &str,
        partitions: i32,
        replicas: i32,
    ) -> Result<()> {
        {
            let mut topics = self.state.topics();
            self.state
                .create_topic(&mut topics, name, partitions, Some(replicas))?;
        }
        tracing::info!(topic = name, partitions, replicas, "created topic");
        self.save_metadata()
    }

    /// The nodes clients are told about (all but the failed-over ones), in id order.
    pub fn listed_nodes(&self) -> Vec<i32> {
        self.state.cluster().listed().map(|n| n.id).collect()
    }

    /// The leader of a partition (-1 while it has none), if the partition exists.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        self.state.topics().leader(topic, partition)
    }

    /// The replicas and in-sync replicas of a partition, if it exists.
    pub fn replicas(&self, topic: &str, partition: i32) -> Option<(Vec<i32>, Vec<i32>)> {
        self.state
            .topics()
            .replicas(topic, partition)
            .map(|r| (r.replicas.clone(), r.isr.clone()))
    }

    /// The node coordinating consumer group `group` (-1 while none can).
    pub fn group_coordinator(&self, group: &str) -> i32 {
        self.state.coordinator(CoordinatorKind::Group, group)
    }

    /// The state of consumer group `group` as Kafka names it (`Empty`, `PreparingRebalance`,
    /// `CompletingRebalance`, `Stable`), if the group exists.
    pub fn group_state(&self, group: &str) -> Option<&'static str> {
        self.state
            .groups
            .describe(&[group])
            .pop()
            .flatten()
            .map(|g| g.state.as_str())
    }

    /// The node coordinating transactional id `transactional_id` (-1 while none can).
    pub fn transaction_coordinator(&self, transactional_id: &str) -> i32 {
        self.state
            .coordinator(CoordinatorKind::Transaction, transactional_id)
    }

    /// Deletes a topic and its data.
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        {
            let mut txns = self.state.txns();
            self.state.topics().delete(name)?;
            txns.forget_topic(name);
        }
        self.save_metadata()
    }

    /// With a [data dir](BrokerConfig::data_dir), saves the metadata now (requests that
    /// change it save it themselves; so do this broker's own methods). Without one, does
    /// nothing. Takes the broker's locks only while it runs, never across an `.await`.
    pub fn save_metadata(&self) -> Result<()> {
        self.state.persist().map_err(|source| Error::File {
            path: self
                .state
                .store
                .as_ref()
                .map(|s| s.metadata_path())
                .unwrap_or_default(),
            source,
        })
    }

    /// The partition count of `name`, if it exists.
    pub fn partitions(&self, name: &str) -> Option<i32> {
        self.state
            .topics()
            .get(name)
            .map(|t| t.partitions.len() as i32)
    }

    /// The high watermark and last stable offset of a partition.
    pub fn offsets(&self, topic: &str, partition: i32) -> Result<(i64, i64)> {
        let topics = self.state.topics();
        let log = topics
            .partition(topic, partition)
            .ok_or_else(|| Error::UnknownTopic(format!("{topic}/{partition}")))?;
        Ok((log.high_watermark(), log.last_stable_offset()))
    }

    /// Every transactional id the coordinator knows, with its state.
    pub fn transactions(&self) -> Vec<TransactionInfo> {
        self.state.txns().list()
    }

    /// How many transactions were committed and aborted (by EndTxn, fencing or timeout).
    pub fn transaction_counts(&self) -> TransactionCounts {
        self.state.txns().counts()
    }

    /// The fault-injection handle of this broker.
    pub fn faults(&self) -> Faults {
        Faults {
            state: self.state.clone(),
        }
    }

    /// Stops accepting, closes every connection and waits for the broker's tasks.
    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    /// As [`shutdown`](Self::shutdown), through a reference (the broker serves nothing after).
    pub(crate) async fn stop(&mut self) {
        self.shutdown.cancel();
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        if let Err(e) = self.save_metadata() {
            tracing::error!(error = %e, "cannot save the metadata at shutdown");
        }
        tracing::info!(addrs = %self.bootstrap_servers(), "embedded Kafka broker stopped");
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Expires group sessions, rebalances and transactions.
async fn tick(state: Arc<State>, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        let now = Instant::now();
        let (multi, live) = {
            let cluster = state.cluster();
            (
                cluster.is_multi_node(),
                cluster.live_coordinators(CoordinatorKind::Group),
            )
        };
        let group_timers = !state.faults.group_timers_paused();
        if multi {
            state.fail_over(now, false);
            if group_timers {
                state
                    .groups
                    .tick_where(now, |g| live[coordinator_partition(g)]);
            }
        } else if group_timers {
            state.groups.tick(now);
        }
        let expired = {
            let mut txns = state.txns();
            let mut topics = state.topics();
            txns.expire(now, &mut topics, &state.groups)
        };
        if expired > 0 {
            state.data_arrived.notify_waiters();
        }
        let save = state
            .store
            .as_ref()
            .is_some_and(|s| expired > 0 || s.generations_changed(&state.groups));
        if save {
            if let Err(e) = state.persist() {
                tracing::error!(error = %e, "cannot save the metadata after expiring transactions or rebalancing");
            }
        }
    }
}
