//! Records that cannot be decoded or keep failing: the policy, and the dead-letter record
//! written inside the transaction (the raw record, with the error and its source in headers).

use kafka_eos_core::OwnedRecord;
use rdkafka::message::{Headers, Message, OwnedMessage};

use crate::error::BoxError;

/// Header names written on dead-lettered records.
pub mod dlq_headers {
    /// The error message.
    pub const ERROR: &str = "kafka-eos.error";
    /// `decode` or `process`.
    pub const STAGE: &str = "kafka-eos.error.stage";
    /// Source topic.
    pub const TOPIC: &str = "kafka-eos.source.topic";
    /// Source partition (decimal).
    pub const PARTITION: &str = "kafka-eos.source.partition";
    /// Source offset (decimal).
    pub const OFFSET: &str = "kafka-eos.source.offset";
}

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

/// The headers of a consumed record, in order.
pub(crate) fn headers_of(msg: &OwnedMessage) -> Vec<(String, Vec<u8>)> {
    msg.headers()
        .map(|h| {
            h.iter()
                .map(|h| {
                    (
                        h.key.to_owned(),
                        h.value.map(<[u8]>::to_vec).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The dead-letter record of `msg`: its key, value and headers, plus the error and source.
pub(crate) fn dead_letter(
    msg: &OwnedMessage,
    topic: &str,
    stage: &str,
    error: &BoxError,
) -> OwnedRecord {
    let mut r = OwnedRecord::new(topic);
    r.key = msg.key().map(<[u8]>::to_vec);
    r.value = msg.payload().map(<[u8]>::to_vec);
    r.headers = headers_of(msg);
    r.headers
        .push((dlq_headers::ERROR.into(), error.to_string().into_bytes()));
    r.headers
        .push((dlq_headers::STAGE.into(), stage.as_bytes().to_vec()));
    r.headers
        .push((dlq_headers::TOPIC.into(), msg.topic().as_bytes().to_vec()));
    r.headers.push((
        dlq_headers::PARTITION.into(),
        msg.partition().to_string().into_bytes(),
    ));
    r.headers.push((
        dlq_headers::OFFSET.into(),
        msg.offset().to_string().into_bytes(),
    ));
    r
}
