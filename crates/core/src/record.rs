//! An owned output record.

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;

/// A record to produce, owning its bytes (so a failed send can hand it back).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnedRecord {
    /// Destination topic.
    pub topic: String,
    /// Explicit partition; `None` lets the partitioner choose from the key.
    pub partition: Option<i32>,
    /// Record key.
    pub key: Option<Vec<u8>>,
    /// Record value.
    pub value: Option<Vec<u8>>,
    /// Record headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Explicit timestamp (ms since the epoch).
    pub timestamp: Option<i64>,
}

impl OwnedRecord {
    /// A record for `topic` with no key, value or headers.
    pub fn new(topic: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
            ..Self::default()
        }
    }

    /// Sets the key.
    pub fn key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the value.
    pub fn value(mut self, value: impl Into<Vec<u8>>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// Appends a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets an explicit partition.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets an explicit timestamp (ms since the epoch).
    pub fn timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Borrows this record as an rdkafka [`FutureRecord`].
    pub fn as_future_record(&self) -> FutureRecord<'_, [u8], [u8]> {
        let mut r = FutureRecord::to(&self.topic);
        if let Some(k) = &self.key {
            r = r.key(k.as_slice());
        }
        if let Some(v) = &self.value {
            r = r.payload(v.as_slice());
        }
        if let Some(p) = self.partition {
            r = r.partition(p);
        }
        if let Some(ts) = self.timestamp {
            r = r.timestamp(ts);
        }
        if !self.headers.is_empty() {
            let mut h = OwnedHeaders::new_with_capacity(self.headers.len());
            for (name, value) in &self.headers {
                h = h.insert(Header {
                    key: name,
                    value: Some(value.as_slice()),
                });
            }
            r = r.headers(h);
        }
        r
    }
}
