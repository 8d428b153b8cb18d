//! Header names kafka-eos writes on records: on a dead letter, the error and where the
//! record came from (written by the processor's `ErrorPolicy::DeadLetter`, read by
//! `kafka-eos dlq replay`), and on a record replayed from a dead letter, which one
//! ([`REPLAYED_FROM`]). Every name starts with [`RESERVED_PREFIX`].
//!
//! ```
//! use kafka_eos_core::dlq_headers;
//!
//! assert_eq!(dlq_headers::TOPIC, "kafka-eos.source.topic");
//! assert!(dlq_headers::ERROR.starts_with(dlq_headers::RESERVED_PREFIX));
//! ```

/// Prefix of every header kafka-eos adds: a replayed record carries none of its dead
/// letter's, only [`REPLAYED_FROM`].
pub const RESERVED_PREFIX: &str = "kafka-eos.";

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
/// How many times the record was tried before it was dead-lettered (decimal; 1 for a
/// record that could not be decoded).
pub const ATTEMPTS: &str = "kafka-eos.attempts";
/// When its first attempt failed (ms since the epoch, decimal).
pub const FIRST_FAILURE: &str = "kafka-eos.failure.first";
/// When its last attempt failed (ms since the epoch, decimal).
pub const LAST_FAILURE: &str = "kafka-eos.failure.last";

/// On a record replayed from a dead letter: the dead letter, as `DLQ/partition/offset`.
pub const REPLAYED_FROM: &str = "kafka-eos.replayed-from";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_reserved() {
        for name in [
            ERROR,
            STAGE,
            TOPIC,
            PARTITION,
            OFFSET,
            ATTEMPTS,
            FIRST_FAILURE,
            LAST_FAILURE,
            REPLAYED_FROM,
        ] {
            assert!(name.starts_with(RESERVED_PREFIX), "{name}");
            assert!(name.len() > RESERVED_PREFIX.len(), "{name}");
        }
    }
}
