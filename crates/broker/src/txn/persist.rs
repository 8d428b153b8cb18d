//! The transaction coordinator in the data dir's `metadata.json`: the producer id counter
//! and every transactional id with its producer id, epoch, state, timeout and the partitions
//! and groups of its transaction.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{TxnCoordinator, TxnMetadata, TxnState};
use crate::group::GroupCoordinator;
use crate::topics::Topics;

/// One transactional id as saved.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TxnSnapshot {
    pub transactional_id: String,
    pub producer_id: i64,
    pub epoch: i16,
    pub last_epoch: i16,
    pub timeout_ms: u64,
    /// Kafka's name of the state (`Ongoing`, `PrepareCommit`, ...).
    pub state: String,
    pub partitions: Vec<(String, i32)>,
    pub groups: Vec<String>,
    /// When the open transaction started (ms since the epoch), -1 if none did.
    pub started_ms: i64,
}

/// What recovery did with the saved transactions.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Restored {
    /// Transactions left open: their timeout runs again from the restart.
    pub ongoing: usize,
    /// Decided ones whose markers recovery completed (PrepareCommit / PrepareAbort).
    pub completed: usize,
}

fn parse_state(name: &str) -> Option<TxnState> {
    [
        TxnState::Empty,
        TxnState::Ongoing,
        TxnState::PrepareCommit,
        TxnState::PrepareAbort,
        TxnState::CompleteCommit,
        TxnState::CompleteAbort,
    ]
    .into_iter()
    .find(|s| s.as_str() == name)
}

impl TxnCoordinator {
    /// The producer id counter and every transactional id, sorted.
    pub fn snapshot(&self) -> (i64, Vec<TxnSnapshot>) {
        let mut txns: Vec<TxnSnapshot> = self
            .txns
            .iter()
            .map(|(tid, m)| TxnSnapshot {
                transactional_id: tid.clone(),
                producer_id: m.producer_id,
                epoch: m.epoch,
                last_epoch: m.last_epoch,
                timeout_ms: u64::try_from(m.timeout.as_millis()).unwrap_or(u64::MAX),
                state: m.state.as_str().to_owned(),
                partitions: m.partitions.iter().cloned().collect(),
                groups: m.groups.iter().cloned().collect(),
                started_ms: m.started_ms,
            })
            .collect();
        txns.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        (self.next_producer_id, txns)
    }

    /// Loads saved transactional ids (an unknown state name is an error naming it). Open
    /// transactions restart their timeout from now, as Kafka's coordinator does when it
    /// loads its log; decided ones are completed: their markers are written where a
    /// partition still has the transaction open, their staged offsets completed.
    pub fn restore(
        &mut self,
        next_producer_id: i64,
        saved: Vec<TxnSnapshot>,
        topics: &mut Topics,
        groups: &GroupCoordinator,
    ) -> Result<Restored, String> {
        self.next_producer_id = self.next_producer_id.max(next_producer_id);
        let now = Instant::now();
        let mut restored = Restored::default();
        let mut prepared = Vec::new();
        for t in saved {
            let state = parse_state(&t.state).ok_or_else(|| {
                format!(
                    "transactional id {:?} has unknown state {:?}",
                    t.transactional_id, t.state
                )
            })?;
            match state {
                TxnState::Ongoing => restored.ongoing += 1,
                TxnState::PrepareCommit | TxnState::PrepareAbort => {
                    prepared.push(t.transactional_id.clone());
                }
                _ => {}
            }
            self.by_producer
                .insert(t.producer_id, t.transactional_id.clone());
            self.txns.insert(
                t.transactional_id,
                TxnMetadata {
                    producer_id: t.producer_id,
                    epoch: t.epoch,
                    last_epoch: t.last_epoch,
                    timeout: Duration::from_millis(t.timeout_ms),
                    state,
                    partitions: t.partitions.into_iter().collect::<BTreeSet<_>>(),
                    groups: t.groups.into_iter().collect(),
                    started: now,
                    started_ms: t.started_ms,
                },
            );
        }
        for tid in prepared {
            tracing::info!(transactional_id = %tid, "completing a transaction decided before the restart");
            self.finish(&tid, topics, groups);
            restored.completed += 1;
        }
        Ok(restored)
    }
}
