//! [`EmbeddedBroker`]: start, topics, shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::acl::AclRule;
use crate::config::BrokerConfig;
use crate::error::{Error, Result};
use crate::faults::Faults;
use crate::security::SecurityProtocol;
use crate::state::State;
use crate::txn::{TransactionCounts, TransactionInfo};

/// How often timeouts (sessions, rebalances, transactions) are checked.
const TICK: Duration = Duration::from_millis(50);

/// A single-node Kafka-protocol broker running inside the current Tokio runtime.
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
    addr: SocketAddr,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl EmbeddedBroker {
    /// Starts a broker with default settings on a free port of 127.0.0.1.
    pub async fn start_default() -> Result<Self> {
        Self::start(BrokerConfig::default()).await
    }

    /// Binds the listener and starts serving. Must be called within a Tokio runtime.
    pub async fn start(config: BrokerConfig) -> Result<Self> {
        if !(1..=crate::topics::MAX_PARTITIONS).contains(&config.default_partitions) {
            return Err(Error::InvalidPartitions(config.default_partitions));
        }
        let tls = config.tls.as_ref().map(|t| t.acceptor()).transpose()?;
        let protocol = config.security_protocol();
        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|source| Error::Bind {
                addr: config.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.addr,
            source,
        })?;
        let state = Arc::new(State::new(
            config,
            addr.ip().to_string(),
            i32::from(addr.port()),
        ));
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(crate::server::serve(
            listener,
            tls,
            state.clone(),
            shutdown.clone(),
        ));
        let ticker = tokio::spawn(tick(state.clone(), shutdown.clone()));
        tracing::info!(%addr, %protocol, "embedded Kafka broker listening");
        Ok(Self {
            state,
            addr,
            shutdown,
            tasks: vec![server, ticker],
        })
    }

    /// The `bootstrap.servers` value for clients, e.g. `127.0.0.1:41234`.
    pub fn bootstrap_servers(&self) -> String {
        self.addr.to_string()
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

    /// The address the broker listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Creates a topic with `partitions` partitions.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        self.state.topics().create(name, partitions)?;
        tracing::info!(topic = name, partitions, "created topic");
        Ok(())
    }

    /// Deletes a topic and its data.
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        let mut txns = self.state.txns();
        self.state.topics().delete(name)?;
        txns.forget_topic(name);
        Ok(())
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
        tracing::info!(addr = %self.addr, "embedded Kafka broker stopped");
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
        state.groups.tick(now);
        let expired = {
            let mut txns = state.txns();
            let mut topics = state.topics();
            txns.expire(now, &mut topics, &state.groups)
        };
        if expired > 0 {
            state.data_arrived.notify_waiters();
        }
    }
}
