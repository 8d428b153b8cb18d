//! [`BackgroundBroker`]: an embedded broker on its own Tokio runtime, for synchronous code
//! (tests with blocking clients, tools) and for processes that want the broker isolated
//! from their own runtime.

use std::ops::Deref;

use crate::broker::EmbeddedBroker;
use crate::config::BrokerConfig;
use crate::error::{Error, Result};

/// An [`EmbeddedBroker`] that owns the runtime it runs on. Dereferences to the broker;
/// dropping it stops the broker.
///
/// ```
/// use kafka_eos_broker::{BackgroundBroker, BrokerConfig};
/// let broker = BackgroundBroker::start(BrokerConfig::default())?;
/// broker.create_topic("orders", 3)?;
/// assert_eq!(broker.partitions("orders"), Some(3));
/// # Ok::<(), kafka_eos_broker::Error>(())
/// ```
#[derive(Debug)]
pub struct BackgroundBroker {
    broker: Option<EmbeddedBroker>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl BackgroundBroker {
    /// Starts a broker on a new two-thread runtime. Must not be called from within a runtime.
    pub fn start(config: BrokerConfig) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kafka-eos-broker")
            .enable_all()
            .build()
            .map_err(|source| Error::Bind {
                addr: config.addr,
                source,
            })?;
        let broker = runtime.block_on(EmbeddedBroker::start(config))?;
        Ok(Self {
            broker: Some(broker),
            runtime: Some(runtime),
        })
    }
}

impl Deref for BackgroundBroker {
    type Target = EmbeddedBroker;
    fn deref(&self) -> &EmbeddedBroker {
        // Both are Some until drop.
        match &self.broker {
            Some(b) => b,
            None => unreachable_broker(),
        }
    }
}

#[cold]
fn unreachable_broker() -> ! {
    // `broker` is only taken in `drop`, after which no `deref` can happen.
    std::process::abort()
}

impl Drop for BackgroundBroker {
    fn drop(&mut self) {
        if let (Some(broker), Some(runtime)) = (self.broker.take(), self.runtime.take()) {
            runtime.block_on(broker.shutdown());
            runtime.shutdown_background();
        }
    }
}
