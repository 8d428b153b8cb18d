//! The groups in the data dir's `metadata.json`: committed offsets, offsets staged by open
//! transactions, and each group's generation, so that a group restarted from it continues
//! past its old generations (a zombie of one never matches). Members are not saved: after
//! a restart they rejoin, as after a coordinator move.

use serde::{Deserialize, Serialize};

use super::offsets::CommittedOffset;
use super::state::Group;
use super::GroupCoordinator;

/// One group as saved.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct GroupSnapshot {
    pub id: String,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub offsets: Vec<SavedOffset>,
    /// Offsets staged by each producer id's open transaction.
    pub staged: Vec<(i64, Vec<SavedOffset>)>,
}

/// One committed or staged offset.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SavedOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
    /// Its position in the virtual offsets log (orders commits against staged ones).
    pub seq: u64,
}

fn save<'a>(
    offsets: impl Iterator<Item = (&'a (String, i32), &'a CommittedOffset)>,
) -> Vec<SavedOffset> {
    offsets
        .map(|((topic, partition), c)| SavedOffset {
            topic: topic.clone(),
            partition: *partition,
            offset: c.offset,
            leader_epoch: c.leader_epoch,
            metadata: c.metadata.clone(),
            commit_timestamp_ms: c.commit_timestamp_ms,
            seq: c.seq,
        })
        .collect()
}

fn load(
    saved: Vec<SavedOffset>,
    max_seq: &mut u64,
) -> impl Iterator<Item = ((String, i32), CommittedOffset)> + '_ {
    saved.into_iter().map(move |o| {
        *max_seq = (*max_seq).max(o.seq);
        (
            (o.topic, o.partition),
            CommittedOffset {
                offset: o.offset,
                leader_epoch: o.leader_epoch,
                metadata: o.metadata,
                commit_timestamp_ms: o.commit_timestamp_ms,
                seq: o.seq,
            },
        )
    })
}

impl GroupCoordinator {
    /// Every group, sorted by id.
    pub(crate) fn snapshot(&self) -> Vec<GroupSnapshot> {
        let inner = self.lock();
        let mut groups: Vec<GroupSnapshot> = inner
            .groups
            .values()
            .map(|g| {
                let mut staged: Vec<(i64, Vec<SavedOffset>)> = g
                    .pending_txn
                    .iter()
                    .map(|(pid, offsets)| (*pid, save(offsets.iter())))
                    .collect();
                staged.sort_by_key(|(pid, _)| *pid);
                GroupSnapshot {
                    id: g.id.clone(),
                    generation: g.generation,
                    protocol_type: g.protocol_type.clone(),
                    offsets: save(g.offsets.iter()),
                    staged,
                }
            })
            .collect();
        groups.sort_by(|a, b| a.id.cmp(&b.id));
        groups
    }

    /// Loads saved groups: empty, at their saved generation, with their offsets.
    pub(crate) fn restore(&self, saved: Vec<GroupSnapshot>) {
        let mut inner = self.lock();
        let mut max_seq = inner.commit_seq;
        for s in saved {
            let mut group = Group::new(&s.id);
            group.generation = s.generation;
            group.protocol_type = s.protocol_type;
            group.offsets = load(s.offsets, &mut max_seq).collect();
            for (pid, offsets) in s.staged {
                let staged = load(offsets, &mut max_seq).collect();
                group.pending_txn.insert(pid, staged);
            }
            inner.groups.insert(s.id, group);
        }
        inner.commit_seq = max_seq;
    }

    /// A fingerprint of the groups' generations (changes when a rebalance completes, a
    /// group empties, or a group comes or goes): the data dir saves them when it moves.
    pub(crate) fn generations(&self) -> u64 {
        let inner = self.lock();
        // generations only grow, so their sum moves with any of them
        let sum = inner.groups.values().fold(0u64, |acc, g| {
            acc.wrapping_add(u64::from(g.generation.unsigned_abs()))
        });
        sum.wrapping_add((inner.groups.len() as u64) << 40)
    }
}
