//! The leader epochs of one partition's log and the offset each began at, as Kafka's
//! `LeaderEpochFileCache`: every batch is stamped with the epoch of the leader that
//! appended it, and OffsetForLeaderEpoch (KIP-101, KIP-320) answers from this history so a
//! consumer can tell after a leader change whether its position is still in the log.

use kafka_protocol::ResponseError;

/// "No epoch" on the wire.
pub(crate) const UNDEFINED_EPOCH: i32 = -1;

/// (epoch, start offset) pairs, ascending in both.
#[derive(Debug, Clone)]
pub(crate) struct LeaderEpochs {
    entries: Vec<(i32, i64)>,
}

impl Default for LeaderEpochs {
    /// A new partition: epoch 0 from offset 0.
    fn default() -> Self {
        Self {
            entries: vec![(0, 0)],
        }
    }
}

impl LeaderEpochs {
    /// The current leader epoch.
    pub fn current(&self) -> i32 {
        self.entries.last().map_or(0, |(e, _)| *e)
    }

    /// A new leader took over with the log ending at `log_end`: the next epoch begins there.
    /// Returns the new epoch.
    pub fn begin_next(&mut self, log_end: i64) -> i32 {
        let epoch = self.current() + 1;
        // an epoch under which nothing was appended leaves no entry behind, as in Kafka
        self.entries.retain(|(_, start)| *start < log_end);
        self.entries.push((epoch, log_end));
        epoch
    }

    /// Replaying a stored batch of `epoch` at `offset`: an epoch newer than the current one
    /// begins there (recovery rebuilds the history from the batches' stamps).
    pub fn observe(&mut self, epoch: i32, offset: i64) {
        if epoch > self.current() {
            self.entries.push((epoch, offset));
        }
    }

    /// The epoch under which `offset` was appended (the current one at or past the end).
    pub fn epoch_at(&self, offset: i64) -> i32 {
        self.entries
            .iter()
            .rev()
            .find(|(_, start)| *start <= offset)
            .map_or(UNDEFINED_EPOCH, |(e, _)| *e)
    }

    /// OffsetForLeaderEpoch: the largest epoch at most `requested` and the offset where
    /// the next epoch began (the log end for the current epoch); `(-1, -1)` for an epoch
    /// newer than any known. Kafka's `LeaderEpochFileCache.endOffsetFor`.
    pub fn end_offset_for(&self, requested: i32, log_end: i64) -> (i32, i64) {
        if requested == UNDEFINED_EPOCH {
            return (UNDEFINED_EPOCH, -1);
        }
        if requested == self.current() {
            return (requested, log_end);
        }
        let Some(higher) = self.entries.iter().find(|(e, _)| *e > requested) else {
            return (UNDEFINED_EPOCH, -1);
        };
        match self.entries.iter().rev().find(|(e, _)| *e <= requested) {
            Some((floor, _)) => (*floor, higher.1),
            // older than the oldest known epoch: its end is where the history starts
            None => (requested, higher.1),
        }
    }

    /// Checks a client's `current_leader_epoch` (-1: not given) against the leader's, as
    /// Kafka's `Partition.checkCurrentLeaderEpoch`.
    pub fn check(&self, client_epoch: i32) -> Result<(), ResponseError> {
        let current = self.current();
        if client_epoch == UNDEFINED_EPOCH || client_epoch == current {
            Ok(())
        } else if client_epoch < current {
            Err(ResponseError::FencedLeaderEpoch)
        } else {
            Err(ResponseError::UnknownLeaderEpoch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_partition_is_at_epoch_zero() {
        let e = LeaderEpochs::default();
        assert_eq!(e.current(), 0);
        assert_eq!(e.end_offset_for(0, 42), (0, 42));
        assert_eq!(e.end_offset_for(1, 42), (-1, -1));
        assert_eq!(e.end_offset_for(-1, 42), (-1, -1));
        assert_eq!(e.epoch_at(10), 0);
    }

    #[test]
    fn end_offsets_follow_the_history() {
        let mut e = LeaderEpochs::default();
        assert_eq!(e.begin_next(100), 1);
        assert_eq!(e.begin_next(250), 2);
        assert_eq!(e.end_offset_for(0, 300), (0, 100));
        assert_eq!(e.end_offset_for(1, 300), (1, 250));
        assert_eq!(e.end_offset_for(2, 300), (2, 300));
        assert_eq!(e.end_offset_for(3, 300), (-1, -1));
        assert_eq!(e.epoch_at(99), 0);
        assert_eq!(e.epoch_at(100), 1);
        assert_eq!(e.epoch_at(260), 2);
    }

    #[test]
    fn an_empty_epoch_leaves_no_entry() {
        let mut e = LeaderEpochs::default();
        e.begin_next(100);
        e.begin_next(100);
        assert_eq!(e.current(), 2);
        // epoch 1 appended nothing: asking for it answers the epoch before and its end
        assert_eq!(e.end_offset_for(1, 120), (0, 100));
        assert_eq!(e.end_offset_for(0, 120), (0, 100));
    }

    #[test]
    fn a_client_epoch_is_fenced_or_unknown() {
        let mut e = LeaderEpochs::default();
        e.begin_next(5);
        assert_eq!(e.check(-1), Ok(()));
        assert_eq!(e.check(1), Ok(()));
        assert_eq!(e.check(0), Err(ResponseError::FencedLeaderEpoch));
        assert_eq!(e.check(2), Err(ResponseError::UnknownLeaderEpoch));
    }
}
