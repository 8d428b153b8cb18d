//! [`Collector`]: a background `read_committed` reader that collects everything written to
//! some topics while a pipeline runs, so a test or the demo can watch its progress.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::message::Message;

use crate::error::Result;
use crate::io::Record;

type Store = Arc<Mutex<HashMap<String, Vec<Record>>>>;

/// Reads the topics from the start with `isolation.level=read_committed` until stopped, on a
/// thread of its own (it never blocks the caller).
#[derive(Debug)]
pub struct Collector {
    store: Store,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Collector {
    /// Starts reading every partition of `topics`.
    pub fn start(bootstrap: &str, topics: &[&str]) -> Result<Self> {
        Self::start_with(&crate::io::client_config(bootstrap), topics)
    }

    /// [`Collector::start`] with `base` client settings (bootstrap servers, and a secured
    /// cluster's security properties).
    pub fn start_with(base: &rdkafka::ClientConfig, topics: &[&str]) -> Result<Self> {
        let consumer = crate::io::committed_reader_with(base, topics)?;
        let store: Store = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (store, stop) = (store.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match consumer.poll(Duration::from_millis(100)) {
                        Some(Ok(m)) => {
                            let r = Record::from_message(&m);
                            if let Ok(mut s) = store.lock() {
                                s.entry(m.topic().to_owned()).or_default().push(r);
                            }
                        }
                        Some(Err(e)) => tracing::warn!(error = %e, "collector poll error"),
                        None => {}
                    }
                }
            })
        };
        Ok(Self {
            store,
            stop,
            thread: Some(thread),
        })
    }

    /// Records read so far from `topic`.
    pub fn count_of(&self, topic: &str) -> usize {
        self.store
            .lock()
            .map(|s| s.get(topic).map_or(0, Vec::len))
            .unwrap_or(0)
    }

    /// Stops reading; returns what was read from `a` and from `b`.
    pub fn stop(mut self, a: &str, b: &str) -> (Vec<Record>, Vec<Record>) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let mut s = self
            .store
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default();
        (
            s.remove(a).unwrap_or_default(),
            s.remove(b).unwrap_or_default(),
        )
    }
}
