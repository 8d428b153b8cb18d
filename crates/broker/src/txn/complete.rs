//! Completing transactions: EndTxn, fencing and timeouts decide, markers follow. With a data
//! dir the decision is saved first, so a crash between the two is completed at recovery.

use std::time::Instant;

use super::{TxnCoordinator, TxnError, TxnState};
use crate::batch::Marker;
use crate::clock::now_ms;
use crate::group::GroupCoordinator;
use crate::topics::Topics;

impl TxnCoordinator {
    /// Decides `tid`'s open transaction: with `bump` (fencing, timeout) the epoch is raised
    /// first and the markers carry it. With a data dir the decision (PrepareCommit or
    /// PrepareAbort, with the group offsets the transaction staged) is saved before any
    /// marker is written; if it cannot be, nothing changes.
    pub(super) fn complete(
        &mut self,
        tid: &str,
        marker: Marker,
        bump: bool,
        topics: &mut Topics,
        groups: &GroupCoordinator,
    ) -> Result<(), TxnError> {
        let Some(meta) = self.txns.get_mut(tid) else {
            return Ok(());
        };
        let before = (meta.epoch, meta.last_epoch, meta.state);
        if bump {
            meta.last_epoch = meta.epoch;
            meta.epoch = meta.epoch.saturating_add(1);
        }
        meta.state = match marker {
            Marker::Commit => TxnState::PrepareCommit,
            Marker::Abort => TxnState::PrepareAbort,
        };
        if let Some(store) = self.store.clone() {
            if let Err(e) = store.save(self, topics, groups) {
                tracing::error!(transactional_id = tid, error = %e, "cannot save the transaction's decision: it stays open");
                if let Some(meta) = self.txns.get_mut(tid) {
                    (meta.epoch, meta.last_epoch, meta.state) = before;
                }
                return Err(TxnError::Storage);
            }
        }
        self.finish(tid, topics, groups);
        tracing::debug!(
            transactional_id = tid,
            ?marker,
            bump,
            "transaction completed"
        );
        Ok(())
    }

    /// Writes the markers of `tid`'s prepared transaction where a partition still has it
    /// open and completes its staged offsets (visible on commit, dropped on abort).
    pub(super) fn finish(&mut self, tid: &str, topics: &mut Topics, groups: &GroupCoordinator) {
        let Some(meta) = self.txns.get_mut(tid) else {
            return;
        };
        let marker = match meta.state {
            TxnState::PrepareCommit => Marker::Commit,
            TxnState::PrepareAbort => Marker::Abort,
            _ => return,
        };
        let ts = now_ms();
        for (topic, partition) in &meta.partitions {
            if let Some(log) = topics.partition_mut(topic, *partition) {
                if log.has_open_txn(meta.producer_id) {
                    log.write_marker(meta.producer_id, meta.epoch, marker, ts);
                }
            }
        }
        for group in &meta.groups {
            groups.complete_txn(group, meta.producer_id, marker == Marker::Commit);
        }
        meta.partitions.clear();
        meta.groups.clear();
        meta.state = match marker {
            Marker::Commit => TxnState::CompleteCommit,
            Marker::Abort => TxnState::CompleteAbort,
        };
    }

    /// Aborts (and fences) every transaction open longer than its timeout. Returns how many.
    pub fn expire(
        &mut self,
        now: Instant,
        topics: &mut Topics,
        groups: &GroupCoordinator,
    ) -> usize {
        let cap = self.timeout_override;
        let expired: Vec<String> = self
            .txns
            .iter()
            .filter(|(_, m)| {
                let timeout = cap.map_or(m.timeout, |c| c.min(m.timeout));
                m.state == TxnState::Ongoing && now.duration_since(m.started) > timeout
            })
            .map(|(t, _)| t.clone())
            .collect();
        let mut aborted = 0;
        for tid in &expired {
            tracing::info!(transactional_id = %tid, "transaction timed out: aborting and fencing its producer");
            // a decision that cannot be saved is tried again at the next tick
            if self
                .complete(tid, Marker::Abort, true, topics, groups)
                .is_ok()
            {
                self.counts.timed_out += 1;
                aborted += 1;
            }
        }
        aborted
    }
}
