//! Where the pipeline's metrics go: the application's [`metrics`] recorder, or the
//! pipeline's own Prometheus endpoint ([`PipelineBuilder::metrics_addr`]).
//!
//! The endpoint renders with `metrics-exporter-prometheus` (its recorder and its text
//! format, never written here) and answers `GET /metrics` over a plain TCP listener bound
//! by the pipeline: that crate's own HTTP listener reports a bind failure as a string and
//! keeps an upkeep task running after the pipeline stops, while this one fails with the
//! [`std::io::Error`] ([`Error::MetricsEndpoint`]) and stops with the pipeline.
//!
//! [`PipelineBuilder::metrics_addr`]: crate::PipelineBuilder::metrics_addr

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kafka_eos_core::metric_names::{COMMIT_LATENCY, LABEL_GROUP};
use kafka_eos_core::Metrics;
use metrics::{Label, Recorder};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::consumer_lag::ConsumerLag;
use crate::error::{Error, Result};

/// Buckets of the commit-latency histogram, in seconds.
pub const COMMIT_LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How often the endpoint's histogram storage is drained when nobody scrapes it.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);
/// A scrape must send its request within this time.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest request head read.
const MAX_REQUEST: usize = 8 * 1024;

/// The recorder the pipeline's handles are registered with.
#[derive(Clone)]
pub(crate) enum MetricsTarget {
    /// The application's global recorder (a no-op if it installed none).
    Global,
    /// The pipeline's Prometheus endpoint.
    Endpoint(Arc<PrometheusRecorder>),
}

impl std::fmt::Debug for MetricsTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MetricsTarget::Global => "Global",
            MetricsTarget::Endpoint(_) => "Endpoint",
        })
    }
}

impl MetricsTarget {
    /// Runs `f` with the recorder.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&dyn Recorder) -> T) -> T {
        match self {
            MetricsTarget::Global => metrics::with_recorder(f),
            MetricsTarget::Endpoint(recorder) => f(recorder.as_ref()),
        }
    }

    /// The labels every metric of the pipeline of `group` carries.
    pub(crate) fn labels(group: &str) -> Vec<Label> {
        vec![Label::new(LABEL_GROUP, group.to_owned())]
    }
}

/// The pipeline's metrics, published while it runs; stops serving when dropped.
#[derive(Debug)]
pub(crate) struct MetricsEndpoint {
    target: MetricsTarget,
    tasks: Vec<JoinHandle<()>>,
}

impl MetricsEndpoint {
    /// Publishes `metrics` and the consumer `lag` (labelled with `group`): to the endpoint
    /// at `addr` when given (bound here: a failure is [`Error::MetricsEndpoint`]), else to
    /// the global recorder.
    pub(crate) async fn start(
        addr: Option<SocketAddr>,
        metrics: &Metrics,
        lag: &ConsumerLag,
        group: &str,
    ) -> Result<Self> {
        let endpoint = Self::serve(addr, metrics, group).await?;
        lag.publish(endpoint.target.clone(), MetricsTarget::labels(group));
        Ok(endpoint)
    }

    /// Publishes the hot keys' gauges where the other metrics go.
    pub(crate) fn publish_hot_keys(&self, hot_keys: &crate::hot_keys::HotKeyMonitor, group: &str) {
        hot_keys.publish(self.target.clone(), MetricsTarget::labels(group));
    }

    async fn serve(addr: Option<SocketAddr>, metrics: &Metrics, group: &str) -> Result<Self> {
        let labels = MetricsTarget::labels(group);
        let Some(addr) = addr else {
            let target = MetricsTarget::Global;
            target.with(|r| metrics.publish(r, &labels));
            return Ok(MetricsEndpoint {
                target,
                tasks: Vec::new(),
            });
        };
        let failed = |source| Error::MetricsEndpoint { addr, source };
        let listener = TcpListener::bind(addr).await.map_err(failed)?;
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(COMMIT_LATENCY.into()),
                &COMMIT_LATENCY_BUCKETS,
            )
            .map_err(|e| failed(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))?
            .build_recorder();
        let handle = recorder.handle();
        let recorder = Arc::new(recorder);
        metrics.publish(recorder.as_ref(), &labels);
        let bound = listener.local_addr().unwrap_or(addr);
        tracing::info!(url = %format!("http://{bound}/metrics"), "serving metrics");
        let upkeep = handle.clone();
        let tasks = vec![
            tokio::spawn(serve(listener, handle)),
            tokio::spawn(async move {
                let mut every = tokio::time::interval(UPKEEP_EVERY);
                loop {
                    every.tick().await;
                    upkeep.run_upkeep();
                }
            }),
        ];
        Ok(MetricsEndpoint {
            target: MetricsTarget::Endpoint(recorder),
            tasks,
        })
    }
}

impl Drop for MetricsEndpoint {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Accepts scrapes until aborted, each on its own task.
async fn serve(listener: TcpListener, handle: PrometheusHandle) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let handle = handle.clone();
                tokio::spawn(async move {
                    if let Err(e) = answer(stream, &handle).await {
                        tracing::debug!(error = %e, "metrics scrape failed");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics endpoint: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Reads one request head and answers it (HTTP/1.1, then closes the connection):
/// `GET /metrics` (or `/`) the rendered metrics, another path 404, another method 405.
async fn answer(mut stream: TcpStream, handle: &PrometheusHandle) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(())
    };
    tokio::time::timeout(REQUEST_TIMEOUT, read)
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|b| *b == b' ');
    let (method, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let path = path.split(|b| *b == b'?').next().unwrap_or_default();
    let (status, body) = match (method, path) {
        (b"GET" | b"HEAD", b"/metrics" | b"/") => ("200 OK", handle.render()),
        (b"GET" | b"HEAD", _) => ("404 Not Found", "not found: try /metrics\n".to_owned()),
        _ => ("405 Method Not Allowed", "only GET\n".to_owned()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    if method != b"HEAD" {
        stream.write_all(body.as_bytes()).await?;
    }
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(addr: SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serves_the_published_metrics() {
        let metrics = Metrics::new();
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        // port 0 for the test only: read the bound port back from the listener
        let probe = std::net::TcpListener::bind(addr).unwrap();
        let addr = probe.local_addr().unwrap();
        drop(probe);
        let endpoint = MetricsEndpoint::start(Some(addr), &metrics, &ConsumerLag::default(), "g")
            .await
            .unwrap();
        metrics.record_in(42, 0);
        metrics.record_commit(Duration::from_millis(3));
        let page = get(addr, "GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n").await;
        assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
        assert!(
            page.contains("kafka_eos_records_in_total{group=\"g\"} 42"),
            "{page}"
        );
        assert!(
            page.contains("kafka_eos_commit_latency_seconds_bucket{group=\"g\",le=\"0.005\"} 1"),
            "{page}"
        );
        assert!(get(addr, "GET /x HTTP/1.1\r\n\r\n")
            .await
            .starts_with("HTTP/1.1 404"));
        assert!(get(addr, "POST /metrics HTTP/1.1\r\n\r\n")
            .await
            .starts_with("HTTP/1.1 405"));
        drop(endpoint);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "stops with the pipeline"
        );
    }

    #[tokio::test]
    async fn an_address_in_use_is_a_clear_error() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = MetricsEndpoint::start(Some(addr), &Metrics::new(), &ConsumerLag::default(), "g")
            .await
            .unwrap_err();
        assert!(err.is_metrics_endpoint(), "{err:?}");
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
    }
}
