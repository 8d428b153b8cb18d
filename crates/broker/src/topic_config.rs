//! Topic configurations: the keys Kafka knows, their defaults here, validation, and the
//! one this broker acts on (`message.timestamp.type=LogAppendTime`).

use std::collections::BTreeMap;

/// Kafka's topic-level configuration keys (`TopicConfig`), with the default this broker
/// reports. Retention, compaction and segment settings are stored and reported but not
/// enforced: data stays in memory until the topic is deleted.
pub(crate) const TOPIC_CONFIGS: &[(&str, &str)] = &[
    ("cleanup.policy", "delete"),
    ("compression.gzip.level", "-1"),
    ("compression.lz4.level", "9"),
    ("compression.type", "producer"),
    ("compression.zstd.level", "3"),
    ("delete.retention.ms", "86400000"),
    ("file.delete.delay.ms", "60000"),
    ("flush.messages", "9223372036854775807"),
    ("flush.ms", "9223372036854775807"),
    ("follower.replication.throttled.replicas", ""),
    ("index.interval.bytes", "4096"),
    ("leader.replication.throttled.replicas", ""),
    ("local.retention.bytes", "-2"),
    ("local.retention.ms", "-2"),
    ("max.compaction.lag.ms", "9223372036854775807"),
    ("max.message.bytes", "1048588"),
    ("message.downconversion.enable", "true"),
    ("message.format.version", "3.0-IV1"),
    ("message.timestamp.after.max.ms", "9223372036854775807"),
    ("message.timestamp.before.max.ms", "9223372036854775807"),
    ("message.timestamp.difference.max.ms", "9223372036854775807"),
    ("message.timestamp.type", "CreateTime"),
    ("min.cleanable.dirty.ratio", "0.5"),
    ("min.compaction.lag.ms", "0"),
    ("min.insync.replicas", "1"),
    ("preallocate", "false"),
    ("remote.storage.enable", "false"),
    ("retention.bytes", "-1"),
    ("retention.ms", "604800000"),
    ("segment.bytes", "1073741824"),
    ("segment.index.bytes", "10485760"),
    ("segment.jitter.ms", "0"),
    ("segment.ms", "604800000"),
    ("unclean.leader.election.enable", "false"),
];

/// The default of a topic config key, if Kafka knows the key.
pub(crate) fn default_of(key: &str) -> Option<&'static str> {
    TOPIC_CONFIGS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| *v)
}

/// Checks one topic config entry as Kafka's `LogConfig.validate` would for the keys whose
/// values matter here; the message is Kafka's INVALID_CONFIG text.
pub(crate) fn validate(key: &str, value: &str) -> Result<(), String> {
    if default_of(key).is_none() {
        return Err(format!("Unknown topic config name: {key}"));
    }
    let ok = match key {
        "message.timestamp.type" => matches!(value, "CreateTime" | "LogAppendTime"),
        "cleanup.policy" => value
            .split(',')
            .all(|p| matches!(p.trim(), "delete" | "compact")),
        "compression.type" => matches!(
            value,
            "uncompressed" | "zstd" | "lz4" | "snappy" | "gzip" | "producer"
        ),
        "max.message.bytes" | "min.insync.replicas" => value.parse::<i32>().is_ok_and(|v| v >= 0),
        "retention.ms" | "retention.bytes" | "segment.ms" => value.parse::<i64>().is_ok(),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("Invalid value {value} for configuration {key}"))
    }
}

/// The configs set on one topic (only the keys given explicitly).
#[derive(Debug, Clone, Default)]
pub(crate) struct TopicConfigs {
    set: BTreeMap<String, String>,
}

impl TopicConfigs {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.set.get(key).map(String::as_str)
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.set.insert(key.to_owned(), value.to_owned());
    }

    pub fn remove(&mut self, key: &str) {
        self.set.remove(key);
    }

    /// The entries set on the topic.
    pub fn entries(&self) -> &BTreeMap<String, String> {
        &self.set
    }

    pub fn replace_all(&mut self, entries: BTreeMap<String, String>) {
        self.set = entries;
    }

    /// Every known key with its value and whether it was set on the topic.
    pub fn describe(&self) -> impl Iterator<Item = (&str, &str, bool)> {
        TOPIC_CONFIGS
            .iter()
            .map(|(k, default)| match self.set.get(*k) {
                Some(v) => (*k, v.as_str(), true),
                None => (*k, *default, false),
            })
    }

    /// `max.message.bytes`: the largest record batch the topic accepts.
    pub fn max_message_bytes(&self) -> usize {
        self.get("max.message.bytes")
            .or_else(|| default_of("max.message.bytes"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_048_588)
    }

    /// Whether the broker stamps batches with its own clock (`LogAppendTime`).
    /// `cleanup.policy` has `compact` (records need keys).
    pub fn compacted(&self) -> bool {
        self.get("cleanup.policy")
            .is_some_and(|p| p.split(',').any(|p| p.trim() == "compact"))
    }

    /// `message.timestamp.type=LogAppendTime`.
    pub fn log_append_time(&self) -> bool {
        self.get("message.timestamp.type") == Some("LogAppendTime")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_bad_values_are_rejected() {
        assert!(validate("retention.ms", "1000").is_ok());
        assert!(validate("no.such.key", "1").is_err());
        assert!(validate("message.timestamp.type", "Sometime").is_err());
        assert!(validate("cleanup.policy", "compact,delete").is_ok());
        let mut c = TopicConfigs::default();
        c.set("message.timestamp.type", "LogAppendTime");
        assert!(c.log_append_time());
        let set: Vec<_> = c.describe().filter(|(_, _, explicit)| *explicit).collect();
        assert_eq!(set, [("message.timestamp.type", "LogAppendTime", true)]);
    }
}
