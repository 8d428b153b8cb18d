//! [`Cluster`]: where tests run — the embedded broker, or an external cluster.

use std::time::Duration;

use kafka_eos_broker::{BackgroundBroker, BrokerConfig, EmbeddedBroker, Faults};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::types::RDKafkaErrorCode;

use crate::error::{Error, Result};
use crate::io::unblock;

/// The environment variable that points the suites at an external cluster.
pub const BOOTSTRAP_ENV: &str = "KAFKA_BOOTSTRAP_SERVERS";

/// With the `testcontainers` feature: set to `1` to make [`Cluster::from_env`] start Apache
/// Kafka in Docker when `KAFKA_BOOTSTRAP_SERVERS` is not set.
pub const TESTCONTAINERS_ENV: &str = "KAFKA_EOS_TESTCONTAINERS";

/// A Kafka cluster for a test: an embedded broker (default), an external cluster, or (with
/// the `testcontainers` feature) Apache Kafka in a container.
#[derive(Debug)]
pub struct Cluster {
    embedded: Option<BackgroundBroker>,
    bootstrap: String,
    #[cfg(feature = "testcontainers")]
    _container: Option<testcontainers::Container<testcontainers_modules::kafka::apache::Kafka>>,
}

impl Cluster {
    /// An external cluster when `KAFKA_BOOTSTRAP_SERVERS` is set; else, with the
    /// `testcontainers` feature and `KAFKA_EOS_TESTCONTAINERS=1`, Apache Kafka in Docker;
    /// else an embedded broker.
    pub fn from_env() -> Result<Self> {
        match std::env::var(BOOTSTRAP_ENV) {
            Ok(servers) if !servers.trim().is_empty() => Ok(Self::external(servers)),
            #[cfg(feature = "testcontainers")]
            _ if std::env::var(TESTCONTAINERS_ENV).is_ok_and(|v| v == "1") => Self::apache_kafka(),
            _ => Self::embedded(),
        }
    }

    /// Apache Kafka (single KRaft node) in Docker, configured for transactions on one node.
    #[cfg(feature = "testcontainers")]
    pub fn apache_kafka() -> Result<Self> {
        use testcontainers::runners::SyncRunner;
        use testcontainers::ImageExt;
        use testcontainers_modules::kafka::apache::{Kafka, KAFKA_PORT};
        let container = Kafka::default()
            .with_env_var("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
            .with_env_var("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
            .with_env_var("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
            .start()?;
        let port = container.get_host_port_ipv4(KAFKA_PORT)?;
        Ok(Self {
            embedded: None,
            bootstrap: format!("127.0.0.1:{port}"),
            _container: Some(container),
        })
    }

    /// A new embedded broker on a free port.
    pub fn embedded() -> Result<Self> {
        Self::embedded_with(BrokerConfig::default())
    }

    /// A new embedded broker with `config`.
    pub fn embedded_with(config: BrokerConfig) -> Result<Self> {
        let broker = BackgroundBroker::start(config)?;
        let bootstrap = broker.bootstrap_servers();
        Ok(Self {
            embedded: Some(broker),
            bootstrap,
            #[cfg(feature = "testcontainers")]
            _container: None,
        })
    }

    /// An external cluster at `bootstrap_servers`.
    pub fn external(bootstrap_servers: impl Into<String>) -> Self {
        Self {
            embedded: None,
            bootstrap: bootstrap_servers.into(),
            #[cfg(feature = "testcontainers")]
            _container: None,
        }
    }

    /// The `bootstrap.servers` value.
    pub fn bootstrap_servers(&self) -> String {
        self.bootstrap.clone()
    }

    /// The embedded broker, if this is one.
    pub fn embedded_broker(&self) -> Option<&EmbeddedBroker> {
        self.embedded.as_deref()
    }

    /// Fault injection, on an embedded broker only.
    pub fn faults(&self) -> Option<Faults> {
        self.embedded.as_ref().map(|b| b.faults())
    }

    /// A topic name unique to this run (external clusters outlive tests).
    pub fn unique_topic(&self, prefix: &str) -> String {
        format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
    }

    /// Creates a topic (replication factor 1 on the embedded broker, the cluster's default elsewhere).
    ///
    /// On an external cluster this blocks the calling thread until the cluster answers: in
    /// async code use [`Cluster::create_topic_async`].
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        match &self.embedded {
            Some(b) => Ok(b.create_topic(name, partitions)?),
            None => create_external_topic(&self.bootstrap, name, partitions),
        }
    }

    /// [`Cluster::create_topic`] without blocking the runtime (an external cluster's admin
    /// call runs on Tokio's blocking pool; the embedded broker creates it in memory at once).
    /// Works on any runtime flavour, the current-thread one included.
    pub async fn create_topic_async(&self, name: &str, partitions: i32) -> Result<()> {
        if let Some(b) = &self.embedded {
            return Ok(b.create_topic(name, partitions)?);
        }
        let (bootstrap, name) = (self.bootstrap.clone(), name.to_owned());
        unblock(move || create_external_topic(&bootstrap, &name, partitions)).await
    }
}

/// Creates a topic on an external cluster with an admin client; an existing topic is fine.
/// Blocks the calling thread.
fn create_external_topic(bootstrap: &str, name: &str, partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(-1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = futures::executor::block_on(admin.create_topics([&topic], &opts))?;
    for r in results {
        if let Err((topic, code)) = r {
            if code != RDKafkaErrorCode::TopicAlreadyExists {
                return Err(Error::CreateTopic { topic, code });
            }
        }
    }
    Ok(())
}
