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

/// A dead-lettered record's attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct History {
    pub attempts: u32,
    /// When the first attempt failed (ms since the epoch).
    pub first_failure_ms: i64,
    /// When the last attempt failed (ms since the epoch).
    pub last_failure_ms: i64,
}

impl History {
    /// One attempt, failed at `at_ms`.
    pub(crate) fn once(at_ms: i64) -> Self {
        History {
            attempts: 1,
            first_failure_ms: at_ms,
            last_failure_ms: at_ms,
        }
    }
}

/// The dead-letter record of `msg`: its key, value and headers as they were read (a null
/// value or header value stays null), plus the error, its attempts and the source.
pub(crate) fn dead_letter(
    msg: &Polled,
    topic: &str,
    stage: &str,
    error: &BoxError,
    history: History,
) -> OwnedRecord {
    let mut r = OwnedRecord::to(topic);
    r.key = msg.key.as_deref().map(<[u8]>::to_vec);
    r.value = msg.value.as_deref().map(<[u8]>::to_vec);
    r.headers = msg.owned_headers();
    r.header(dlq_headers::ERROR, error.to_string())
        .header(dlq_headers::STAGE, stage)
        .header(dlq_headers::TOPIC, msg.topic.as_bytes())
        .header(dlq_headers::PARTITION, msg.partition.to_string())
        .header(dlq_headers::OFFSET, msg.offset.to_string())
        .header(dlq_headers::ATTEMPTS, history.attempts.to_string())
        .header(
            dlq_headers::FIRST_FAILURE,
            history.first_failure_ms.to_string(),
        )
        .header(
            dlq_headers::LAST_FAILURE,
            history.last_failure_ms.to_string(),
        )
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
        let history = History {
            attempts: 3,
            first_failure_ms: 1_000,
            last_failure_ms: 1_250,
        };
        let r = dead_letter(&msg, "dlq", "process", &error, history);
        assert_eq!(&*r.topic, "dlq");
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
                (dlq_headers::ATTEMPTS.into(), text("3")),
                (dlq_headers::FIRST_FAILURE.into(), text("1000")),
                (dlq_headers::LAST_FAILURE.into(), text("1250")),
            ]
        );
    }
}
