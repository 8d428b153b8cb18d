//! A pipeline whose brokers cannot be reached says so: a warning naming the bootstrap
//! servers and librdkafka's error while it retries, then `Error::Unreachable` from `run()`
//! after the start-up timeout, instead of retrying silently forever.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_eos_processor::{BoxError, Error, Input, Output, PipelineBuilder, Processor, RawBytes};

struct Nothing;

impl Processor for Nothing {
    type Input = Option<Vec<u8>>;
    async fn process(&self, _: Input<Option<Vec<u8>>>) -> Result<Vec<Output>, BoxError> {
        Ok(Vec::new())
    }
}

/// Captures what the tracing subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn an_unreachable_cluster_is_reported_and_run_fails_after_the_startup_timeout() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_env_filter("kafka_eos_processor=warn")
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let pipeline = PipelineBuilder::new()
        .bootstrap_servers("127.0.0.1:1")
        .group_id("unreachable")
        .input_topic("in")
        .startup_timeout(Duration::from_secs(3))
        .build(Nothing, RawBytes)
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // a generous bound on an error that must come, not a speed assertion
    let result = runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(120), pipeline.run()).await })
        .expect("run() kept retrying instead of failing");
    let err = result.unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
    assert!(matches!(&err, Error::Unreachable { bootstrap, .. } if bootstrap == "127.0.0.1:1"));
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");

    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(logs.contains("cannot reach the Kafka cluster"), "{logs}");
    assert!(logs.contains("127.0.0.1:1"), "{logs}");
}

#[test]
fn a_cancelled_pipeline_stops_quietly_while_waiting_for_the_cluster() {
    let pipeline = PipelineBuilder::new()
        .bootstrap_servers("127.0.0.1:1")
        .group_id("unreachable-cancelled")
        .input_topic("in")
        .build(Nothing, RawBytes)
        .unwrap();
    let token = pipeline.shutdown_token();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(async {
        let run = tokio::spawn(pipeline.run());
        tokio::time::sleep(Duration::from_millis(500)).await;
        token.cancel();
        tokio::time::timeout(Duration::from_secs(60), run).await
    });
    let result = result.expect("the pipeline did not stop").unwrap();
    assert!(result.is_ok(), "{result:?}");
}
