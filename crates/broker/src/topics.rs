//! The topics of the broker and their partition logs.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::log::PartitionLog;
use crate::replicas::Replicas;
use crate::store::LogDir;
use crate::topic_config::TopicConfigs;

/// Kafka's limit on topic name length.
const MAX_NAME_LEN: usize = 249;
/// The largest partition count accepted.
pub(crate) const MAX_PARTITIONS: i32 = 10_000;

/// One topic.
#[derive(Debug)]
pub(crate) struct Topic {
    pub id: uuid::Uuid,
    pub partitions: Vec<PartitionLog>,
    /// The replicas of each partition, by index (as `partitions`).
    pub replicas: Vec<Replicas>,
    pub configs: TopicConfigs,
}

/// All topics, by name.
#[derive(Debug, Default)]
pub(crate) struct Topics {
    topics: BTreeMap<String, Topic>,
    /// Where partition logs are written (with a data dir).
    log_dir: Option<LogDir>,
}

/// Checks a topic name as Kafka's `Topic.validate` does.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "the name is empty"
    } else if name == "." || name == ".." {
        "'.' and '..' are not allowed"
    } else if name.len() > MAX_NAME_LEN {
        "the name is longer than 249 characters"
    } else if !name
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || c == b'-')
    {
        "only ASCII letters, digits, '.', '_' and '-' are allowed"
    } else {
        return Ok(());
    };
    Err(Error::InvalidTopic {
        name: name.to_owned(),
        reason,
    })
}

impl Topics {
    /// No topics; their partition logs written to `log_dir`, if any.
    pub fn new(log_dir: Option<LogDir>) -> Self {
        Self {
            topics: BTreeMap::new(),
            log_dir,
        }
    }

    /// Partition logs `range` of topic `name`: new files with a data dir.
    fn new_logs(&self, name: &str, range: std::ops::Range<usize>) -> Result<Vec<PartitionLog>> {
        let Some(dir) = &self.log_dir else {
            return Ok(range.map(|_| PartitionLog::default()).collect());
        };
        range
            .map(|p| {
                dir.create(name, p)
                    .map(PartitionLog::with_segment)
                    .map_err(|source| Error::File {
                        path: dir.path(name, p),
                        source,
                    })
            })
            .collect()
    }

    /// Adds a topic recovered from the data dir.
    pub fn insert(&mut self, name: String, topic: Topic) {
        self.topics.insert(name, topic);
    }

    /// Creates `name` with one partition per replica list in `placement`.
    pub fn create(&mut self, name: &str, placement: Vec<Vec<i32>>) -> Result<()> {
        validate_name(name)?;
        let partitions = i32::try_from(placement.len()).unwrap_or(i32::MAX);
        if !(1..=MAX_PARTITIONS).contains(&partitions) {
            return Err(Error::InvalidPartitions(partitions));
        }
        if self.topics.contains_key(name) {
            return Err(Error::TopicExists(name.to_owned()));
        }
        let logs = self.new_logs(name, 0..placement.len())?;
        self.topics.insert(
            name.to_owned(),
            Topic {
                id: uuid::Uuid::new_v4(),
                partitions: logs,
                replicas: placement.into_iter().map(Replicas::new).collect(),
                configs: TopicConfigs::default(),
            },
        );
        Ok(())
    }

    pub fn delete(&mut self, name: &str) -> Result<Topic> {
        let topic = self
            .topics
            .remove(name)
            .ok_or_else(|| Error::UnknownTopic(name.to_owned()))?;
        if let Some(dir) = &self.log_dir {
            dir.remove(name, topic.partitions.len());
        }
        Ok(topic)
    }

    /// Grows `name` by one partition per replica list in `placement` (Kafka never shrinks
    /// a topic).
    pub fn add_partitions(&mut self, name: &str, placement: Vec<Vec<i32>>) -> Result<()> {
        let old = self
            .topics
            .get(name)
            .ok_or_else(|| Error::UnknownTopic(name.to_owned()))?
            .partitions
            .len();
        let count = old + placement.len();
        if placement.is_empty() || count > MAX_PARTITIONS as usize {
            return Err(Error::InvalidPartitions(
                i32::try_from(count).unwrap_or(i32::MAX),
            ));
        }
        let logs = self.new_logs(name, old..count)?;
        let Some(topic) = self.topics.get_mut(name) else {
            return Err(Error::UnknownTopic(name.to_owned()));
        };
        topic.partitions.extend(logs);
        topic
            .replicas
            .extend(placement.into_iter().map(Replicas::new));
        Ok(())
    }

    /// The replicas of a partition.
    pub fn replicas(&self, name: &str, partition: i32) -> Option<&Replicas> {
        let p = usize::try_from(partition).ok()?;
        self.topics.get(name)?.replicas.get(p)
    }

    /// The leader of a partition, if the partition exists.
    pub fn leader(&self, name: &str, partition: i32) -> Option<i32> {
        self.replicas(name, partition).map(|r| r.leader)
    }

    /// Applies `f` to every partition's replicas; where it changes the leader, a new
    /// leader epoch begins at the log's end. Returns how many leaders changed.
    pub fn update_replicas(&mut self, mut f: impl FnMut(&mut Replicas) -> bool) -> usize {
        let mut changed = 0;
        for topic in self.topics.values_mut() {
            for (replicas, log) in topic.replicas.iter_mut().zip(topic.partitions.iter_mut()) {
                if f(replicas) {
                    log.begin_leader_epoch();
                    changed += 1;
                }
            }
        }
        changed
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Topic> {
        self.topics.get_mut(name)
    }

    pub fn get(&self, name: &str) -> Option<&Topic> {
        self.topics.get(name)
    }

    pub fn partition(&self, name: &str, partition: i32) -> Option<&PartitionLog> {
        let p = usize::try_from(partition).ok()?;
        self.topics.get(name)?.partitions.get(p)
    }

    pub fn partition_mut(&mut self, name: &str, partition: i32) -> Option<&mut PartitionLog> {
        let p = usize::try_from(partition).ok()?;
        self.topics.get_mut(name)?.partitions.get_mut(p)
    }

    pub fn exists(&self, name: &str, partition: i32) -> bool {
        self.partition(name, partition).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Topic)> {
        self.topics.iter()
    }

    pub fn by_id(&self, id: uuid::Uuid) -> Option<&str> {
        self.topics
            .iter()
            .find(|(_, t)| t.id == id)
            .map(|(n, _)| n.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated_like_kafka() {
        assert!(validate_name("orders.v1_x-2").is_ok());
        for bad in ["", ".", "..", "a b", "ä", &"x".repeat(250)] {
            assert!(
                matches!(validate_name(bad), Err(Error::InvalidTopic { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn create_and_delete() {
        let mut t = Topics::default();
        t.create("a", vec![vec![1]; 3]).unwrap();
        assert!(matches!(
            t.create("a", vec![vec![1]; 3]),
            Err(Error::TopicExists(_))
        ));
        assert!(matches!(
            t.create("b", vec![]),
            Err(Error::InvalidPartitions(0))
        ));
        assert!(t.exists("a", 2) && !t.exists("a", 3) && !t.exists("a", -1));
        t.delete("a").unwrap();
        assert!(matches!(t.delete("a"), Err(Error::UnknownTopic(_))));
    }
}
