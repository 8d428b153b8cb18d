//! An owned output record.

use std::sync::Arc;

use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::BaseRecord;
use rdkafka::util::IntoOpaque;

/// A record to produce, owning its bytes (so a failed send can hand it back). The
/// processor's outputs are these (`kafka_eos_processor::Output`).
///
/// ```
/// use kafka_eos_core::OwnedRecord;
///
/// let out = OwnedRecord::new("fees", "order-1", "42")
///     .header("source", "orders")
///     .null_header("unset")
///     .partition(3) // overrides the key-based partitioner
///     .timestamp(1_700_000_000_000);
/// assert_eq!(out.partition, Some(3));
/// assert_eq!(out.headers[1], ("unset".to_string(), None));
///
/// let delete = OwnedRecord::tombstone("accounts", "account-9"); // null value
/// assert_eq!(delete.value, None);
///
/// let bare = OwnedRecord::to("audit").value("no key"); // built up field by field
/// assert_eq!(bare.key, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnedRecord {
    /// Destination topic: shared, so a processor that keeps its output topics as
    /// `Arc<str>` (or passes on its input's topic) names them without allocating (see
    /// [`IntoTopic`]).
    pub topic: Arc<str>,
    /// Destination partition. `None` (the default) lets the producer's partitioner choose
    /// from the key (keeping a key's records on one partition); `Some` overrides it.
    pub partition: Option<i32>,
    /// Record key (the partitioner uses it: keep a key's records on one partition).
    pub key: Option<Vec<u8>>,
    /// Record value; `None` writes a tombstone.
    pub value: Option<Vec<u8>>,
    /// Record headers, in order; `None` writes a null header value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Record timestamp (ms since the epoch). `None` (the default) lets the producer stamp
    /// the record with the time it is sent.
    pub timestamp: Option<i64>,
}

impl OwnedRecord {
    /// A record to `topic` with this key and value.
    pub fn new(topic: impl IntoTopic, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        Self::tombstone(topic, key).value(value)
    }

    /// A tombstone to `topic`: this key with a null value (on a compacted topic, the key's
    /// delete marker).
    pub fn tombstone(topic: impl IntoTopic, key: impl Into<Vec<u8>>) -> Self {
        Self::to(topic).key(key)
    }

    /// A record to `topic` with no key, value or headers.
    pub fn to(topic: impl IntoTopic) -> Self {
        Self {
            topic: topic.into_topic(),
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
        self.headers.push((name.into(), Some(value.into())));
        self
    }

    /// Appends a header with a null value.
    pub fn null_header(mut self, name: impl Into<String>) -> Self {
        self.headers.push((name.into(), None));
        self
    }

    /// Writes the record to this partition, overriding the key-based partitioner (it must
    /// be a partition of the topic: a send to one it does not have fails).
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Stamps the record with this timestamp (ms since the epoch) instead of the send time.
    pub fn timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp = Some(timestamp_ms);
        self
    }

    /// Copies a record read or reported by rdkafka: its topic, key, value and headers
    /// (nulls stay null), its timestamp, and its partition if it has one.
    pub fn from_message<M: Message>(m: &M) -> Self {
        OwnedRecord {
            topic: Arc::from(m.topic()),
            partition: (m.partition() >= 0).then(|| m.partition()),
            key: m.key().map(<[u8]>::to_vec),
            value: m.payload().map(<[u8]>::to_vec),
            headers: owned_headers(m),
            timestamp: m.timestamp().to_millis(),
        }
    }

    /// Borrows this record as an rdkafka [`BaseRecord`] carrying `opaque` to the
    /// producer's delivery report.
    pub fn as_base_record<D: IntoOpaque>(&self, opaque: D) -> BaseRecord<'_, [u8], [u8], D> {
        let mut r = BaseRecord::with_opaque_to(&self.topic, opaque);
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
                    value: value.as_deref(),
                });
            }
            r = r.headers(h);
        }
        r
    }
}

/// The headers of a record read or reported by rdkafka, in order, as owned pairs (a null
/// value stays `None`).
pub fn owned_headers<M: Message>(m: &M) -> Vec<(String, Option<Vec<u8>>)> {
    m.headers()
        .map(|h| {
            h.iter()
                .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                .collect()
        })
        .unwrap_or_default()
}

/// What names an [`OwnedRecord`]'s topic: `&str`, `String`, `&String`, `Arc<str>` (shared,
/// not copied: keep output topics as `Arc<str>` and records name them without allocating),
/// `&Arc<str>`, `Box<str>` and `Cow<str>`.
///
/// ```
/// use std::sync::Arc;
/// use kafka_eos_core::OwnedRecord;
///
/// let topic: Arc<str> = Arc::from("fees");
/// let out = OwnedRecord::new(&topic, "order-1", "42"); // no copy of the name
/// assert!(Arc::ptr_eq(&out.topic, &topic));
/// assert_eq!(&*OwnedRecord::to(String::from("audit")).topic, "audit");
/// ```
pub trait IntoTopic {
    /// The topic name, shared.
    fn into_topic(self) -> Arc<str>;
}

impl IntoTopic for Arc<str> {
    fn into_topic(self) -> Arc<str> {
        self
    }
}

impl IntoTopic for &Arc<str> {
    fn into_topic(self) -> Arc<str> {
        Arc::clone(self)
    }
}

impl IntoTopic for &str {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self)
    }
}

impl IntoTopic for String {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self)
    }
}

impl IntoTopic for &String {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self.as_str())
    }
}

impl IntoTopic for Box<str> {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self)
    }
}

impl IntoTopic for std::borrow::Cow<'_, str> {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self)
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::message::Headers;

    use super::*;

    #[test]
    fn a_message_is_copied_with_its_nulls_partition_and_timestamp() {
        use rdkafka::message::{OwnedMessage, Timestamp};
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "a",
                value: Some(&b"1"[..]),
            })
            .insert(Header::<&[u8]> {
                key: "null",
                value: None,
            });
        let m = OwnedMessage::new(
            None,
            Some(b"k".to_vec()),
            "t".into(),
            Timestamp::CreateTime(7),
            2,
            9,
            Some(headers),
        );
        let r = OwnedRecord::from_message(&m);
        assert_eq!(
            r,
            OwnedRecord::tombstone("t", "k")
                .header("a", "1")
                .null_header("null")
                .partition(2)
                .timestamp(7)
        );
        let unassigned = OwnedMessage::new(
            None,
            None,
            "t".into(),
            Timestamp::NotAvailable,
            -1,
            -1,
            None,
        );
        let r = OwnedRecord::from_message(&unassigned);
        assert_eq!((r.partition, r.timestamp, r.headers.len()), (None, None, 0));
    }

    #[test]
    fn tombstones_null_headers_partition_and_timestamp_reach_the_base_record() {
        let r = OwnedRecord::tombstone("t", "k")
            .header("a", "1")
            .null_header("b")
            .partition(2)
            .timestamp(1_234);
        let f = r.as_base_record(());
        assert_eq!(f.payload, None);
        assert_eq!(f.key, Some(&b"k"[..]));
        assert_eq!((f.partition, f.timestamp), (Some(2), Some(1_234)));
        let headers: Vec<_> = f
            .headers
            .as_ref()
            .map(|h| h.iter().map(|h| (h.key.to_owned(), h.value)).collect())
            .unwrap_or_default();
        assert_eq!(
            headers,
            [("a".to_owned(), Some(&b"1"[..])), ("b".to_owned(), None)]
        );
    }
}
