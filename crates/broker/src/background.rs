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
    broker: EmbeddedBroker,
    /// `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
}

/// Runs `f` here, or on a helper thread when this thread is inside a Tokio runtime (where
/// blocking on another runtime is not allowed), and returns its result.
fn outside_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|scope| match scope.spawn(f).join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

impl BackgroundBroker {
    /// Starts a broker on a new two-thread runtime. Callable from synchronous code and from
    /// within a Tokio runtime (the start then blocks the calling thread briefly).
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
        let broker = match outside_runtime(|| runtime.block_on(EmbeddedBroker::start(config))) {
            Ok(b) => b,
            Err(e) => {
                runtime.shutdown_background();
                return Err(e);
            }
        };
        Ok(Self {
            broker,
            runtime: Some(runtime),
        })
    }
}

impl Deref for BackgroundBroker {
    type Target = EmbeddedBroker;
    fn deref(&self) -> &EmbeddedBroker {
        &self.broker
    }
}

impl Drop for BackgroundBroker {
    fn drop(&mut self) {
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        let broker = &mut self.broker;
        outside_runtime(|| runtime.block_on(broker.stop()));
        // dropping a runtime blocks, which a runtime thread may not do
        runtime.shutdown_background();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_and_stops_from_plain_code() {
        let b = BackgroundBroker::start(BrokerConfig::default()).unwrap();
        b.create_topic("t", 2).unwrap();
        drop(b);
    }

    #[tokio::test]
    async fn starts_and_stops_inside_a_tokio_runtime() {
        let b = BackgroundBroker::start(BrokerConfig::default()).unwrap();
        b.create_topic("t", 2).unwrap();
        assert_eq!(b.partitions("t"), Some(2));
        drop(b);
    }
}
