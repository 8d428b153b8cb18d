//! Start-up: the pipeline waits until a broker of `bootstrap.servers` answers, warns while
//! none does (naming the servers and librdkafka's error), and gives up with
//! [`Error::Unreachable`] after the start-up timeout instead of retrying silently forever.
//! A refused password or a failed TLS handshake ends the wait at once
//! ([`Error::Authentication`], [`Error::Tls`]): waiting would not change the answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_eos_core::{Error as CoreError, Operation};
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use tokio_util::sync::CancellationToken;

use crate::context::SecurityFailure;
use crate::error::{Error, Result};
use kafka_eos_config::PipelineConfig;

/// The default start-up timeout.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one metadata probe may take.
const PROBE: Duration = Duration::from_secs(2);

/// How often the "cannot reach" warning repeats while the cluster stays unreachable.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Waits until the cluster answers a metadata request. `Ok(true)` once it does, `Ok(false)`
/// if `shutdown` was cancelled first, [`Error::Unreachable`] after `timeout`, and
/// [`Error::Authentication`] or [`Error::Tls`] as soon as `security_failure` reports one.
pub(crate) async fn await_cluster<C: ConsumerContext + 'static>(
    consumer: &Arc<StreamConsumer<C>>,
    config: &PipelineConfig,
    security_failure: impl Fn() -> Option<SecurityFailure>,
    timeout: Duration,
    shutdown: &CancellationToken,
) -> Result<bool> {
    let bootstrap = config.bootstrap_servers();
    let started = Instant::now();
    let mut last_warning: Option<Instant> = None;
    loop {
        let remaining = timeout.saturating_sub(started.elapsed());
        let probe = PROBE.min(remaining).max(Duration::from_millis(100));
        let c = Arc::clone(consumer);
        // the blocking call runs off the Tokio workers, and so does the drop of its clone
        let answer = tokio::select! {
            answer = tokio::task::spawn_blocking(move || c.fetch_metadata(None, probe).map(drop)) => answer,
            () = shutdown.cancelled() => return Ok(false),
        };
        let error = match answer {
            Ok(Ok(())) => {
                if last_warning.is_some() {
                    tracing::info!(bootstrap, "the Kafka cluster answers now");
                }
                return Ok(true);
            }
            Ok(Err(e)) => e,
            Err(source) => {
                return Err(Error::Core(CoreError::Blocking {
                    op: Operation::Consumer,
                    source,
                }))
            }
        };
        if let Some(failure) = security_failure() {
            return Err(security_error(config, failure));
        }
        let waited = started.elapsed();
        if waited >= timeout {
            return Err(Error::Unreachable {
                bootstrap: bootstrap.to_owned(),
                waited,
                source: error,
            });
        }
        if last_warning.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
            tracing::warn!(
                bootstrap,
                error = %error,
                waited_s = waited.as_secs(),
                gives_up_after_s = timeout.as_secs(),
                "cannot reach the Kafka cluster; retrying"
            );
            last_warning = Some(Instant::now());
        }
        // a refused connection fails at once: do not spin. Meanwhile serve the consumer's
        // queue: librdkafka's logs and errors (a refused password, a failed TLS handshake)
        // reach the context's callbacks only when it is polled (no subscription yet: no
        // record can arrive).
        let pause = Duration::from_millis(250).min(remaining);
        tokio::select! {
            _ = tokio::time::timeout(pause, consumer.recv()) => {}
            () = shutdown.cancelled() => return Ok(false),
        }
    }
}

/// The error for a security failure, naming the user and mechanism (never the password).
fn security_error(config: &PipelineConfig, failure: SecurityFailure) -> Error {
    let bootstrap = config.bootstrap_servers().to_owned();
    match (failure, config.security().sasl()) {
        (SecurityFailure::Authentication(reason), Some(sasl)) => Error::Authentication {
            bootstrap,
            mechanism: sasl.mechanism(),
            username: sasl.username().to_owned(),
            reason,
        },
        (SecurityFailure::Authentication(reason) | SecurityFailure::Tls(reason), _) => {
            Error::Tls { bootstrap, reason }
        }
    }
}
