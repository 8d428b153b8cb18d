//! A partition log replayed from its file has the state the live log had: next offset,
//! last stable offset, aborted transactions, producer sequences and leader epochs.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

use super::*;
use crate::batch::Marker;
use crate::log::Appended;
use crate::store::test_support::{batch, policy, scratch};

#[test]
fn replay_rebuilds_offsets_transactions_and_sequences() {
    let dir = scratch("replay");
    let mut live = PartitionLog::with_segment(dir.create("t", 0).unwrap());
    let idempotent = batch(1, 0, 0, 2, false);
    live.append(&idempotent, policy(), |_, _| true).unwrap(); // 0-1
    live.append(&batch(2, 0, 0, 3, true), policy(), |_, _| true)
        .unwrap(); // 2-4
    live.write_marker(2, 0, Marker::Abort, 1_000); // 5
    live.begin_leader_epoch();
    live.append(&batch(3, 0, 0, 1, true), policy(), |_, _| true)
        .unwrap(); // 6, left open
    let last = batch(1, 0, 2, 1, false);
    live.append(&last, policy(), |_, _| true).unwrap(); // 7
    assert_eq!((live.high_watermark(), live.last_stable_offset()), (8, 6));

    let (segment, found) = dir.recover("t", 0).unwrap();
    let mut log = PartitionLog::recover(segment, found.batches, 0);
    assert_eq!(log.high_watermark(), 8);
    assert_eq!(log.last_stable_offset(), 6);
    assert!(log.has_open_txn(3) && !log.has_open_txn(2));
    let fetched = log.read(0, usize::MAX, true).unwrap();
    assert_eq!(
        fetched.aborted,
        live.read(0, usize::MAX, true).unwrap().aborted
    );
    assert_eq!(fetched.aborted.len(), 1);
    assert_eq!(
        (
            fetched.aborted[0].first_offset,
            fetched.aborted[0].last_offset
        ),
        (2, 5)
    );
    assert_eq!(log.active_producers(), live.active_producers());
    // the epoch history is rebuilt, and the restart begins a new epoch
    assert_eq!(log.epochs().epoch_at(5), 0);
    assert_eq!(log.epochs().epoch_at(6), 1);
    assert_eq!(log.epochs().current(), 2);

    // a retry of the last batch after the restart is still a duplicate
    let retry = log.append(&last, policy(), |_, _| true).unwrap();
    assert_eq!(
        retry,
        Appended {
            base_offset: 7,
            log_append_time: -1
        }
    );
    assert_eq!(log.high_watermark(), 8);
    // a gap is still a gap, the next sequence is still accepted
    let gap = log.append(&batch(1, 0, 9, 1, false), policy(), |_, _| true);
    assert_eq!(gap, Err(crate::log::AppendError::OutOfOrderSequence));
    log.append(&batch(1, 0, 3, 1, false), policy(), |_, _| true)
        .unwrap();
    // the open transaction closes as in the live log
    log.write_marker(3, 1, Marker::Commit, 2_000);
    assert_eq!(log.last_stable_offset(), log.high_watermark());

    // what was appended after the restart is in the file too
    let (segment, found) = dir.recover("t", 0).unwrap();
    let again = PartitionLog::recover(segment, found.batches, 0);
    assert_eq!(again.high_watermark(), 10);
    assert_eq!(again.last_stable_offset(), 10);
}

#[test]
fn the_log_start_offset_survives() {
    let dir = scratch("start");
    let mut live = PartitionLog::with_segment(dir.create("t", 0).unwrap());
    for _ in 0..3 {
        live.append(&batch(-1, -1, 0, 2, false), policy(), |_, _| true)
            .unwrap();
    }
    assert_eq!(live.delete_records(3), Some(3));
    let (segment, found) = dir.recover("t", 0).unwrap();
    let log = PartitionLog::recover(segment, found.batches, live.log_start_offset());
    assert_eq!((log.log_start_offset(), log.high_watermark()), (3, 6));
    assert!(log.read(2, usize::MAX, false).is_none());
    assert_eq!(log.read(3, usize::MAX, false).unwrap().records.len(), 2);
}
