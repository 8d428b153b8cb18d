//! The state shared by every connection of one broker.

use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::authorizer::Authorizer;
use crate::config::BrokerConfig;
use crate::faults::FaultState;
use crate::group::{GroupCoordinator, GroupSettings};
use crate::sasl::SaslUsers;
use crate::topics::Topics;
use crate::txn::TxnCoordinator;

/// Everything a request handler may touch. Lock order: `txns` before `topics`; the group
/// coordinator locks internally and may be called with either held.
#[derive(Debug)]
pub(crate) struct State {
    pub config: BrokerConfig,
    /// The address clients are told to connect to.
    pub advertised_host: String,
    pub advertised_port: i32,
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
}

impl State {
    pub fn new(config: BrokerConfig, host: String, port: i32) -> Self {
        let groups = GroupCoordinator::new(GroupSettings {
            initial_rebalance_delay: config.group_initial_rebalance_delay,
            min_session_timeout: config.group_min_session_timeout,
            max_session_timeout: config.group_max_session_timeout,
        });
        let txns = TxnCoordinator::new(config.max_transaction_timeout);
        let sasl_users = SaslUsers::new(&config.sasl_users);
        let authorizer = Authorizer::new(
            config.authorization_enabled(),
            &config.super_users,
            &config.acls,
        );
        Self {
            sasl_users,
            authorizer,
            config,
            advertised_host: host,
            advertised_port: port,
            topics: Mutex::new(Topics::default()),
            txns: Mutex::new(txns),
            groups,
            data_arrived: Notify::new(),
            faults: FaultState::default(),
        }
    }

    /// Locks the topics (a poisoned lock is recovered: handlers never leave it half-written).
    pub fn topics(&self) -> MutexGuard<'_, Topics> {
        self.topics.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Locks the transaction coordinator.
    pub fn txns(&self) -> MutexGuard<'_, TxnCoordinator> {
        self.txns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates `name` with the default partition count if auto-creation is on.
    pub fn auto_create(&self, topics: &mut Topics, name: &str) -> bool {
        if !self.config.auto_create_topics || topics.get(name).is_some() {
            return topics.get(name).is_some();
        }
        match topics.create(name, self.config.default_partitions) {
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
}
