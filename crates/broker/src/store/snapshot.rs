//! `metadata.json`: what the partition logs do not hold. Topics (id, replica placement,
//! configs, each partition's log start offset), the transaction coordinator (the producer
//! id counter and every transactional id with its transaction), and the groups (committed
//! and staged transactional offsets, generations).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::group::{GroupCoordinator, GroupSnapshot};
use crate::topics::Topics;
use crate::txn::{TxnCoordinator, TxnSnapshot};

/// The format version this broker writes and reads.
pub(super) const VERSION: u32 = 1;

/// The whole metadata file.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Snapshot {
    pub version: u32,
    pub topics: Vec<TopicSnapshot>,
    pub next_producer_id: i64,
    pub transactions: Vec<TxnSnapshot>,
    pub groups: Vec<GroupSnapshot>,
}

/// One topic.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct TopicSnapshot {
    pub name: String,
    /// The topic id (a UUID).
    pub id: String,
    /// The replicas of each partition (the first is the preferred leader).
    pub replicas: Vec<Vec<i32>>,
    /// The configs set on the topic.
    pub configs: BTreeMap<String, String>,
    /// Each partition's log start offset (moved by DeleteRecords).
    pub log_start_offsets: Vec<i64>,
}

impl Snapshot {
    /// The snapshot of the broker's current state.
    pub fn build(txns: &TxnCoordinator, topics: &Topics, groups: &GroupCoordinator) -> Self {
        let (next_producer_id, transactions) = txns.snapshot();
        Self {
            version: VERSION,
            topics: topics
                .iter()
                .map(|(name, t)| TopicSnapshot {
                    name: name.clone(),
                    id: t.id.to_string(),
                    replicas: t.replicas.iter().map(|r| r.replicas.clone()).collect(),
                    configs: t.configs.entries().clone(),
                    log_start_offsets: t.partitions.iter().map(|p| p.log_start_offset()).collect(),
                })
                .collect(),
            next_producer_id,
            transactions,
            groups: groups.snapshot(),
        }
    }
}
