//! Dynamic broker configs (KIP-226) set with AlterConfigs / IncrementalAlterConfigs on a
//! BROKER resource: per broker, or the cluster-wide default (resource name ""). They are
//! kept and reported by DescribeConfigs, as Kafka reports them, but not acted upon: the
//! broker's behaviour comes from its [`BrokerConfig`](crate::BrokerConfig). Not saved in
//! the data dir.

use std::collections::{BTreeMap, HashMap};

/// Whose dynamic configs: one broker's, or the cluster-wide default.
pub(crate) type Target = Option<i32>;

/// The dynamic broker configs of the cluster.
#[derive(Debug, Default)]
pub(crate) struct DynamicConfigs {
    per_broker: HashMap<i32, BTreeMap<String, String>>,
    default: BTreeMap<String, String>,
}

impl DynamicConfigs {
    /// The configs set for `target`.
    pub(crate) fn get(&self, target: Target) -> BTreeMap<String, String> {
        match target {
            Some(id) => self.per_broker.get(&id).cloned().unwrap_or_default(),
            None => self.default.clone(),
        }
    }

    /// Replaces the configs of `target` (an empty map removes them all).
    pub(crate) fn set(&mut self, target: Target, configs: BTreeMap<String, String>) {
        match target {
            Some(id) if configs.is_empty() => {
                self.per_broker.remove(&id);
            }
            Some(id) => {
                self.per_broker.insert(id, configs);
            }
            None => self.default = configs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_broker_and_default_configs_are_kept_apart() {
        let mut c = DynamicConfigs::default();
        let one = BTreeMap::from([("a".to_owned(), "1".to_owned())]);
        c.set(Some(1), one.clone());
        c.set(None, BTreeMap::from([("b".to_owned(), "2".to_owned())]));
        assert_eq!(c.get(Some(1)), one);
        assert!(c.get(Some(2)).is_empty());
        assert_eq!(c.get(None).get("b").map(String::as_str), Some("2"));
        c.set(Some(1), BTreeMap::new());
        assert!(c.get(Some(1)).is_empty());
    }
}
