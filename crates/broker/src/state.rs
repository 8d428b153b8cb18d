//! The state shared by every connection of one broker.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::Notify;

use crate::authorizer::Authorizer;
use crate::cluster::{coordinator_partition, Cluster, CoordinatorKind};
use crate::config::BrokerConfig;
use crate::dynamic_config::DynamicConfigs;
use crate::error::{Error, Result};
use crate::faults::FaultState;
use crate::group::{GroupCoordinator, GroupSettings};
use crate::sasl::SaslUsers;
use crate::store::Store;
use crate::topics::Topics;
use crate::txn::TxnCoordinator;

/// Everything a request handler may touch. Lock order: `txns`, `topics`, `cluster`; the
/// group coordinator locks internally and may be called with any of them held; the dynamic
/// broker configs and the SASL users are locked alone.
#[derive(Debug)]
pub(crate) struct State {
    pub config: BrokerConfig,
    /// The nodes this broker serves as, with their addresses.
    cluster: Mutex<Cluster>,
    topics: Mutex<Topics>,
    txns: Mutex<TxnCoordinator>,
    pub groups: GroupCoordinator,
    /// Notified on every append and marker, to wake long-polling fetches.
    pub data_arrived: Notify,
    pub faults: FaultState,
    /// The SASL users (none: the listener does not use SASL).
    pub sasl_users: SaslUsers,
    /// The ACLs and whether they are enforced.
    pub authorizer: Authorizer,
    /// The data dir, if any.
    pub store: Option<Arc<Store>>,
    /// Dynamic broker configs set at run time (reported, not acted upon).
    broker_configs: Mutex<DynamicConfigs>,
}

impl State {
    /// The state of a broker serving as `nodes` (id, advertised host, port).
    /// With `store`, partition logs and metadata are written to its data dir (the caller
    /// recovers what it held, [`crate::store::recover`]).
    pub fn new(
        config: BrokerConfig,
        nodes: Vec<(i32, String, i32)>,
        store: Option<Arc<Store>>,
    ) -> Self {
        let groups = GroupCoordinator::new(GroupSettings {
            initial_rebalance_delay: config.group_initial_rebalance_delay,
            min_session_timeout: config.group_min_session_timeout,
            max_session_timeout: config.group_max_session_timeout,
        });
        let txns = TxnCoordinator::new(config.max_transaction_timeout).with_store(store.clone());
        let sasl_users = SaslUsers::new(&config.sasl_users);
        let authorizer = Authorizer::new(
            config.authorization_enabled(),
            &config.super_users,
            &config.acls,
        );
        Self {
            sasl_users,
            authorizer,
            cluster: Mutex::new(Cluster::new(nodes, config.failover_delay)),
            topics: Mutex::new(Topics::new(store.as_ref().map(|s| s.logs().clone()))),
            txns: Mutex::new(txns),
            groups,
            data_arrived: Notify::new(),
            faults: FaultState::default(),
            config,
            store,
            broker_configs: Mutex::new(DynamicConfigs::default()),
        }
    }

    /// Locks the dynamic broker configs.
    pub fn broker_configs(&self) -> MutexGuard<'_, DynamicConfigs> {
        self.broker_configs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Saves the metadata in the data dir (without one: nothing to do).
    pub fn persist(&self) -> std::io::Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let txns = self.txns();
        let topics = self.topics();
        store.save(&txns, &topics, &self.groups)
    }

    /// Locks the topics (a poisoned lock is recovered: handlers never leave it half-written).
    pub fn topics(&self) -> MutexGuard<'_, Topics> {
        self.topics.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Locks the transaction coordinator.
    pub fn txns(&self) -> MutexGuard<'_, TxnCoordinator> {
        self.txns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Locks the cluster's nodes and coordinators.
    pub fn cluster(&self) -> MutexGuard<'_, Cluster> {
        self.cluster.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates `name` with `partitions` partitions of `replication_factor` replicas
    /// (`None`: `default.replication.factor`), placed over the listed nodes.
    pub fn create_topic(
        &self,
        topics: &mut Topics,
        name: &str,
        partitions: i32,
        replication_factor: Option<i32>,
    ) -> Result<()> {
        if !(1..=crate::topics::MAX_PARTITIONS).contains(&partitions) {
            return Err(Error::InvalidPartitions(partitions));
        }
        let rf = replication_factor.unwrap_or(self.config.default_replication_factor);
        let placement = self
            .cluster()
            .place(partitions as usize, usize::try_from(rf).unwrap_or(0))
            .map_err(|available| Error::InvalidReplicationFactor {
                requested: rf,
                available,
            })?;
        topics.create(name, placement)?;
        if let Some(store) = &self.store {
            store.topics_changed();
        }
        Ok(())
    }

    /// Creates `name` with the default partition count if auto-creation is on.
    pub fn auto_create(&self, topics: &mut Topics, name: &str) -> bool {
        if !self.config.auto_create_topics || topics.get(name).is_some() {
            return topics.get(name).is_some();
        }
        match self.create_topic(topics, name, self.config.default_partitions, None) {
            Ok(()) => {
                tracing::info!(
                    topic = name,
                    partitions = self.config.default_partitions,
                    "auto-created topic"
                );
                true
            }
            Err(_) => false,
        }
    }

    /// The node coordinating `key`, or -1 while none can.
    pub fn coordinator(&self, kind: CoordinatorKind, key: &str) -> i32 {
        self.cluster().coordinator(kind, key)
    }

    /// Fences the stopped nodes whose failover delay passed (every stopped node with
    /// `force`): their partitions and coordinators move to live nodes. Returns the nodes.
    pub fn fail_over(&self, now: Instant, force: bool) -> Vec<i32> {
        let mut topics = self.topics();
        let mut cluster = self.cluster();
        let fenced = cluster.fence_due(now, force);
        if fenced.is_empty() {
            return fenced;
        }
        let moved_leaders = topics.update_replicas(|r| {
            fenced
                .iter()
                .fold(false, |changed, n| r.fence(*n) | changed)
        });
        let moved = cluster.update_coordinators(|r| {
            fenced
                .iter()
                .fold(false, |changed, n| r.fence(*n) | changed)
        });
        drop(cluster);
        drop(topics);
        self.groups_moved(now, &moved[CoordinatorKind::Group as usize]);
        tracing::info!(
            nodes = ?fenced,
            partitions = moved_leaders,
            group_coordinators = moved[0].len(),
            transaction_coordinators = moved[1].len(),
            "nodes fenced: leadership moved"
        );
        self.data_arrived.notify_waiters();
        fenced
    }

    /// Starts a stopped node; a fenced one rejoins the ISRs and leads what had no leader.
    /// Returns `false` for an unknown or running node.
    pub fn start_node(&self, id: i32) -> bool {
        let now = Instant::now();
        let mut topics = self.topics();
        let mut cluster = self.cluster();
        let Some(was_fenced) = cluster.start(id) else {
            return false;
        };
        if was_fenced {
            topics.update_replicas(|r| r.unfence(id));
            let moved = cluster.update_coordinators(|r| r.unfence(id));
            drop(cluster);
            drop(topics);
            self.groups_moved(now, &moved[CoordinatorKind::Group as usize]);
        }
        tracing::info!(node = id, "node started");
        true
    }

    /// Moves leadership back to each partition's preferred replica where it is in sync
    /// (Kafka's preferred leader election). Returns how many leaders moved.
    pub fn elect_preferred_leaders(&self) -> usize {
        let now = Instant::now();
        let mut topics = self.topics();
        let mut cluster = self.cluster();
        let changed = topics.update_replicas(|r| r.elect_preferred());
        let moved = cluster.update_coordinators(|r| r.elect_preferred());
        drop(cluster);
        drop(topics);
        self.groups_moved(now, &moved[CoordinatorKind::Group as usize]);
        changed + moved[0].len() + moved[1].len()
    }

    /// The groups of `partitions` have a new coordinator, which loads them as Kafka's
    /// does: every member's session starts again from now.
    fn groups_moved(&self, now: Instant, partitions: &[usize]) {
        if !partitions.is_empty() {
            self.groups.reload(now, |group| {
                partitions.contains(&coordinator_partition(group))
            });
        }
    }
}
