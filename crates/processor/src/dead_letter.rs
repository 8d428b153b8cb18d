//! Records that cannot be decoded or keep failing: the policy, and the dead-letter record
//! written inside the transaction (the raw record, with the error and its source in headers).

use kafka_eos_core::{dlq_headers, OwnedRecord};

use crate::batch::Polled;
use crate::error::BoxError;

/// What happens to a record that cannot be decoded, or that the processor still fails
/// on after `max_attempts`. A record is never silently dropped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ErrorPolicy {
    /// Abort the open transaction and stop the pipeline with an error naming the record
    /// (topic, partition, offset).
    #[default]
    Stop,
    /// Write the raw record (key, value, original headers) to this topic inside the same
    /// transaction, with the error in [`dlq_headers`], and go on.
    DeadLetter(String),
}

/// The dead-letter record of `msg`: its key, value and headers as they were read (a null
/// value or header value stays null), plus the error and source.
pub(crate) fn dead_letter(msg: &Polled, topic: &str, stage: &str, error: &BoxError) -> OwnedRecord {
    let mut r = OwnedRecord::to(topic);
    r.key = msg.key.as_deref().map(<[u8]>::to_vec);
    r.value = msg.value.clone();
    r.headers = msg
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), value.as_deref().map(<[u8]>::to_vec)))
        .collect();
    r.header(dlq_headers::ERROR, error.to_string())
        .header(dlq_headers::STAGE, stage)
        .header(dlq_headers::TOPIC, msg.topic.as_bytes())
        .header(dlq_headers::PARTITION, msg.partition.to_string())
        .header(dlq_headers::OFFSET, msg.offset.to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;

    use super::*;

    #[test]
    fn a_dead_letter_keeps_a_null_value_and_null_headers() {
        let msg = Polled {
            topic: Arc::from("in"),
            partition: 2,
            offset: 9,
            timestamp: None,
            key: Some(Bytes::from_static(b"k")),
            value: None,
            headers: vec![
                ("a".into(), Some(Bytes::from_static(b"1"))),
                ("null".into(), None),
            ],
        };
        let error: BoxError = "boom".into();
        let r = dead_letter(&msg, "dlq", "process", &error);
        assert_eq!(r.topic, "dlq");
        assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(r.value, None);
        let text = |v: &str| Some(v.as_bytes().to_vec());
        assert_eq!(
            r.headers,
            [
                ("a".into(), text("1")),
                ("null".into(), None),
                (dlq_headers::ERROR.into(), text("boom")),
                (dlq_headers::STAGE.into(), text("process")),
                (dlq_headers::TOPIC.into(), text("in")),
                (dlq_headers::PARTITION.into(), text("2")),
                (dlq_headers::OFFSET.into(), text("9")),
            ]
        );
    }
}
