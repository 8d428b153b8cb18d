//! One dead letter as read from the dead-letter topic, where it goes, and the record
//! replayed from it (pure: no Kafka calls).

use kafka_eos_core::dlq_headers::{self, REPLAYED_FROM, RESERVED_PREFIX};
use kafka_eos_core::OwnedRecord;
use rdkafka::message::Message;

use crate::error::CliError;

/// A dead letter as read from the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The dead-letter topic.
    pub dlq: String,
    /// Its partition in the dead-letter topic.
    pub partition: i32,
    /// Its offset in the dead-letter topic.
    pub offset: i64,
    /// The key (`None`: a null key).
    pub key: Option<Vec<u8>>,
    /// The value (`None`: a tombstone).
    pub value: Option<Vec<u8>>,
    /// Every header as read, in order (`None`: a null header value).
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl DeadLetter {
    /// Copies a record read from `dlq`.
    pub fn from_message<M: Message>(dlq: &str, m: &M) -> Self {
        let headers = kafka_eos_core::owned_headers(m);
        Self {
            dlq: dlq.to_owned(),
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            value: m.payload().map(<[u8]>::to_vec),
            headers,
        }
    }

    /// `DLQ/partition/offset`: where this dead letter is.
    pub fn position(&self) -> String {
        format!("{}/{}/{}", self.dlq, self.partition, self.offset)
    }

    /// The first header `name` as UTF-8 text (`None`: absent, null or not UTF-8).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// `kafka-eos.source.topic`.
    pub fn source_topic(&self) -> Option<&str> {
        self.header(dlq_headers::TOPIC).filter(|t| !t.is_empty())
    }

    /// `kafka-eos.source.partition`.
    pub fn source_partition(&self) -> Option<i32> {
        self.header(dlq_headers::PARTITION)?.parse().ok()
    }

    /// `kafka-eos.source.offset`.
    pub fn source_offset(&self) -> Option<i64> {
        self.header(dlq_headers::OFFSET)?.parse().ok()
    }

    /// `kafka-eos.error`.
    pub fn error(&self) -> Option<&str> {
        self.header(dlq_headers::ERROR)
    }

    /// The original headers: every header but the `kafka-eos.*` ones, in order.
    pub fn original_headers(&self) -> impl Iterator<Item = &(String, Option<Vec<u8>>)> {
        self.headers
            .iter()
            .filter(|(k, _)| !k.starts_with(RESERVED_PREFIX))
    }

    /// The partition to replay it to in `topic` (with `partitions` partitions): its source
    /// partition when `topic` is its source topic, so the record goes back next to its
    /// key's other records whichever partitioner wrote them; else `None` (the producer's
    /// partitioner picks from the key).
    pub fn replay_partition(&self, topic: &str, partitions: i32) -> Option<i32> {
        if self.source_topic() != Some(topic) {
            return None;
        }
        self.source_partition()
            .filter(|p| (0..partitions).contains(p))
    }

    /// One line for a listing: where it is, where it came from, where it goes, its key,
    /// whether it is a tombstone, and its error.
    pub fn describe(&self, decision: &Decision) -> String {
        let or_unknown = |v: Option<String>| v.unwrap_or_else(|| "?".to_owned());
        let source = match self.source_topic() {
            Some(t) => format!(
                "{t}/{}/{}",
                or_unknown(self.source_partition().map(|p| p.to_string())),
                or_unknown(self.source_offset().map(|o| o.to_string()))
            ),
            None => "(no source topic)".to_owned(),
        };
        let target = match decision {
            Decision::Replay { topic } => format!("-> {topic}"),
            Decision::Skip => "skipped (other source topic)".to_owned(),
        };
        let key = self.key.as_deref().map_or_else(
            || "null".to_owned(),
            |k| format!("{:?}", String::from_utf8_lossy(k)),
        );
        let tombstone = if self.value.is_none() {
            " (tombstone)"
        } else {
            ""
        };
        format!(
            "{} from {source} {target}: key {key}{tombstone}, error {:?}",
            self.position(),
            self.error().unwrap_or("-")
        )
    }

    /// The headers of the record replayed from it: the original ones, then
    /// [`REPLAYED_FROM`].
    pub fn replay_headers(&self) -> Vec<(String, Option<Vec<u8>>)> {
        let mut headers: Vec<_> = self.original_headers().cloned().collect();
        headers.push((REPLAYED_FROM.to_owned(), Some(self.position().into_bytes())));
        headers
    }

    /// The record replayed from it to `topic` (`partition`: `None` lets the producer's
    /// partitioner pick from the key): its key, its value (a tombstone stays one) and
    /// [`replay_headers`](Self::replay_headers).
    pub fn replay_record(&self, topic: &str, partition: Option<i32>) -> OwnedRecord {
        OwnedRecord {
            topic: topic.into(),
            partition,
            key: self.key.clone(),
            value: self.value.clone(),
            headers: self.replay_headers(),
            timestamp: None,
        }
    }
}

/// What happens to a dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Replayed to this topic.
    Replay {
        /// The topic written to.
        topic: String,
    },
    /// Passed over: `--source-topic` names another topic.
    Skip,
}

/// Where `letter` goes: `to` if given, else its source topic; skipped if `only_from` names
/// another source topic. A dead letter without a source topic fails when that is needed
/// (no `to`, or a `only_from` filter): never guessed, never skipped silently.
pub fn decide(
    letter: &DeadLetter,
    to: Option<&str>,
    only_from: Option<&str>,
) -> Result<Decision, CliError> {
    let source = letter.source_topic();
    let no_source = || CliError::NoSourceTopic {
        dlq: letter.dlq.clone(),
        partition: letter.partition,
        offset: letter.offset,
    };
    if let Some(wanted) = only_from {
        if source.ok_or_else(no_source)? != wanted {
            return Ok(Decision::Skip);
        }
    }
    let topic = match (to, source) {
        (Some(to), _) => to,
        (None, Some(source)) => source,
        (None, None) => return Err(no_source()),
    };
    Ok(Decision::Replay {
        topic: topic.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: &str) -> Option<Vec<u8>> {
        Some(v.as_bytes().to_vec())
    }

    fn letter(source: Option<&str>) -> DeadLetter {
        let mut headers = vec![
            ("trace".to_owned(), text("t-1")),
            ("unset".to_owned(), None),
            (dlq_headers::ERROR.to_owned(), text("boom")),
            (dlq_headers::STAGE.to_owned(), text("process")),
            (REPLAYED_FROM.to_owned(), text("older/0/1")),
        ];
        if let Some(s) = source {
            headers.push((dlq_headers::TOPIC.to_owned(), text(s)));
        }
        headers.push((dlq_headers::PARTITION.to_owned(), text("3")));
        headers.push((dlq_headers::OFFSET.to_owned(), text("41")));
        DeadLetter {
            dlq: "orders-dlq".into(),
            partition: 1,
            offset: 7,
            key: Some(b"k".to_vec()),
            value: None,
            headers,
        }
    }

    #[test]
    fn reads_the_source_and_keeps_only_the_original_headers() {
        let l = letter(Some("orders"));
        assert_eq!(l.source_topic(), Some("orders"));
        assert_eq!(
            (l.source_partition(), l.source_offset()),
            (Some(3), Some(41))
        );
        assert_eq!(l.error(), Some("boom"));
        assert_eq!(l.position(), "orders-dlq/1/7");
        assert_eq!(l.replay_partition("orders", 4), Some(3));
        assert_eq!(l.replay_partition("orders", 3), None); // fewer partitions now
        assert_eq!(l.replay_partition("fixed", 4), None); // --to: the partitioner's pick
        assert_eq!(
            l.describe(&Decision::Replay {
                topic: "orders".into()
            }),
            "orders-dlq/1/7 from orders/3/41 -> orders: key \"k\" (tombstone), error \"boom\""
        );
        let kept: Vec<_> = l.original_headers().cloned().collect();
        assert_eq!(
            kept,
            [
                ("trace".to_owned(), text("t-1")),
                ("unset".to_owned(), None)
            ]
        );
        let replayed = l.replay_record("orders", Some(3));
        assert_eq!(
            (replayed.partition, &replayed.key, &replayed.value),
            (Some(3), &l.key, &None)
        );
        assert_eq!(
            replayed.headers,
            [
                ("trace".to_owned(), text("t-1")),
                ("unset".to_owned(), None),
                (REPLAYED_FROM.to_owned(), text("orders-dlq/1/7")),
            ]
        );
    }

    #[test]
    fn decides_the_target_or_fails_naming_the_record() {
        let l = letter(Some("orders"));
        let replay = |t: &str| Decision::Replay { topic: t.into() };
        assert_eq!(decide(&l, None, None).unwrap(), replay("orders"));
        assert_eq!(decide(&l, Some("fixed"), None).unwrap(), replay("fixed"));
        assert_eq!(decide(&l, None, Some("orders")).unwrap(), replay("orders"));
        assert_eq!(decide(&l, None, Some("payments")).unwrap(), Decision::Skip);

        let orphan = letter(None);
        assert_eq!(
            decide(&orphan, Some("fixed"), None).unwrap(),
            replay("fixed")
        );
        for (to, only) in [(None, None), (Some("fixed"), Some("orders"))] {
            let err = decide(&orphan, to, only).unwrap_err();
            assert!(matches!(
                err,
                CliError::NoSourceTopic {
                    partition: 1,
                    offset: 7,
                    ..
                }
            ));
            assert!(err.to_string().contains("orders-dlq/1/7"), "{err}");
        }
    }
}
