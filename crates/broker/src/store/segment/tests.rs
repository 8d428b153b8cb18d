//! A partition log file cut short or damaged at its end: recovery keeps the valid prefix
//! and truncates the file after it.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

use std::io::Write;

use super::*;
use crate::batch::Marker;
use crate::log::PartitionLog;
use crate::store::test_support::{batch, policy, scratch};

/// Writes three data batches, a transactional one and its marker through a partition log
/// (offsets 0-1, 2-3, 4-5, 6, 7); returns the file's length after each write.
fn write_some(dir: &LogDir) -> Vec<u64> {
    let mut log = PartitionLog::with_segment(dir.create("t", 0).unwrap());
    let mut ends = Vec::new();
    let len = || std::fs::metadata(dir.path("t", 0)).unwrap().len();
    for seq in [0, 2, 4] {
        log.append(&batch(7, 0, seq, 2, false), policy(), |_, _| true)
            .unwrap();
        ends.push(len());
    }
    log.append(&batch(8, 0, 0, 1, true), policy(), |_, _| true)
        .unwrap();
    ends.push(len());
    log.write_marker(8, 0, Marker::Commit, 1_000);
    ends.push(len());
    ends
}

#[test]
fn a_whole_log_is_read_back_without_loss() {
    let dir = scratch("whole");
    let ends = write_some(&dir);
    let (_, found) = dir.recover("t", 0).unwrap();
    assert_eq!(found.batches.len(), 5);
    assert_eq!(found.torn, 0);
    assert_eq!(found.bytes, ends[4]);
    let offsets: Vec<i64> = found.batches.iter().map(|(h, _)| h.base_offset).collect();
    assert_eq!(offsets, [0, 2, 4, 6, 7]);
    assert!(found.batches[4].0.is_control());
}

#[test]
fn a_torn_last_batch_is_truncated() {
    let dir = scratch("torn");
    let ends = write_some(&dir);
    let path = dir.path("t", 0);
    // half of another batch, as a crash in the middle of a write leaves it
    let extra = batch(7, 0, 6, 3, false);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(&extra[..extra.len() / 2]).unwrap();
    drop(f);
    let (mut segment, found) = dir.recover("t", 0).unwrap();
    assert_eq!(found.batches.len(), 5);
    assert_eq!(found.torn, (extra.len() / 2) as u64);
    let end = *ends.last().unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), end);
    // appends continue right after the valid prefix
    segment
        .append([&crate::batch::stored_copy(&extra, 8, 0, None)])
        .unwrap();
    let (_, again) = dir.recover("t", 0).unwrap();
    assert_eq!((again.batches.len(), again.torn), (6, 0));
}

#[test]
fn a_bad_crc_in_the_last_batch_cuts_it_off() {
    let dir = scratch("crc");
    let ends = write_some(&dir);
    let path = dir.path("t", 0);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x5a;
    std::fs::write(&path, &bytes).unwrap();
    let (_, found) = dir.recover("t", 0).unwrap();
    assert_eq!(found.batches.len(), 4);
    assert_eq!(found.bytes, ends[3]);
    assert_eq!(found.torn, ends[4] - ends[3]);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), ends[3]);
}

#[test]
fn garbage_after_a_valid_log_is_cut_off_and_a_missing_file_is_empty() {
    let dir = scratch("garbage");
    let ends = write_some(&dir);
    let path = dir.path("t", 0);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(&[0xff; 100]).unwrap();
    drop(f);
    let (_, found) = dir.recover("t", 0).unwrap();
    assert_eq!((found.batches.len(), found.torn), (5, 100));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), ends[4]);
    let (_, none) = dir.recover("t", 1).unwrap();
    assert_eq!((none.batches.len(), none.bytes, none.torn), (0, 0, 0));
}

#[test]
fn an_offline_data_dir_refuses_appends() {
    let dir = scratch("offline");
    let mut log = PartitionLog::with_segment(dir.create("t", 0).unwrap());
    dir.failed.store(true, Ordering::Release);
    let refused = log.append(&batch(-1, -1, 0, 1, false), policy(), |_, _| true);
    assert_eq!(refused, Err(crate::log::AppendError::Storage));
    assert_eq!(log.high_watermark(), 0);
}
