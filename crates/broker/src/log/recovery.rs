//! A partition log rebuilt from its file at start (see `store::segment`).

use bytes::Bytes;

use super::PartitionLog;
use crate::batch::{self, BatchHeader};
use crate::store::Segment;

impl PartitionLog {
    /// Rebuilds a log from the batches recovered from its file, through the same
    /// bookkeeping as appends and markers, then drops what DeleteRecords removed below
    /// `log_start_offset`. A restart is a new election: a new leader epoch begins.
    pub fn recover(
        segment: Segment,
        batches: Vec<(BatchHeader, Bytes)>,
        log_start_offset: i64,
    ) -> Self {
        let mut log = Self::default();
        if let Some((first, _)) = batches.first() {
            log.next_offset = first.base_offset;
            log.log_start_offset = first.base_offset;
        }
        for (h, data) in batches {
            log.epochs
                .observe(batch::leader_epoch(&data), h.base_offset);
            let marker = batch::control_marker(&data, &h);
            log.push(h, data, marker);
        }
        log.next_offset = log.next_offset.max(log_start_offset);
        log.delete_records(log_start_offset);
        log.segment = Some(segment);
        log.begin_leader_epoch();
        log
    }

    /// A new, empty log written to `segment`.
    pub fn with_segment(segment: Segment) -> Self {
        Self {
            segment: Some(segment),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests;
