//! Crash ordering of transactions in a data dir: a decision saved before its markers is
//! completed at recovery whether the crash came before the markers or after them.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

use std::sync::Arc;

use super::test_support::{batch, policy};
use super::*;
use crate::config::BrokerConfig;
use crate::group::{CommitTarget, OffsetEntry, OffsetQuery};
use crate::state::State;

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kafka-eos-crash-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A broker state on `dir`, recovered from it.
fn open(dir: &Path) -> State {
    let store = Arc::new(Store::open(dir, FsyncPolicy::Never).unwrap());
    let nodes = vec![(1, "127.0.0.1".to_owned(), 9092)];
    let state = State::new(BrokerConfig::default(), nodes, Some(store));
    recover(&state).unwrap();
    state
}

/// The committed offset of group `g` for `in`/0 (-1: none).
fn committed(state: &State) -> i64 {
    let query = OffsetQuery {
        group_id: "g".to_owned(),
        topics: Some(vec![("in".to_owned(), vec![0])]),
    };
    state.groups.fetch_offsets(vec![query], false)[0][0].1[0].offset
}

/// A transaction writing two records to `out`/0 and staging offset 7 of `in`/0 for group
/// `g`, then committed through the coordinator (which saves its decision, then writes the
/// marker; nothing saves after). Returns the log file's length before the marker.
/// Stages `offset` of `in`/0 for group `g` in `pid`'s transaction (TxnOffsetCommit).
fn stage_offset(state: &State, pid: i64, offset: i64) {
    let target = CommitTarget {
        group_id: "g".to_owned(),
        generation: -1,
        member_id: String::new(),
        group_instance_id: None,
    };
    let entry = OffsetEntry {
        topic: "in".to_owned(),
        partition: 0,
        offset,
        leader_epoch: -1,
        metadata: None,
    };
    state.groups.stage_txn_offsets(&target, pid, vec![entry]);
}

fn commit_a_transaction(dir: &Path) -> u64 {
    let state = open(dir);
    let (pid, epoch) = {
        let mut txns = state.txns();
        let mut topics = state.topics();
        state.create_topic(&mut topics, "out", 1, None).unwrap();
        let (pid, epoch) = txns
            .init_producer_id(Some("tx"), 60_000, None, &mut topics, &state.groups)
            .unwrap();
        txns.add_partitions("tx", pid, epoch, &[("out".to_owned(), 0)])
            .unwrap();
        txns.add_offsets("tx", pid, epoch, "g").unwrap();
        let log = topics.partition_mut("out", 0).unwrap();
        log.append(&batch(pid, epoch, 0, 2, true), policy(), |_, _| true)
            .unwrap();
        (pid, epoch)
    };
    stage_offset(&state, pid, 7);
    state.persist().unwrap();
    let log_path = dir.join("logs").join("out-0.log");
    let before_marker = std::fs::metadata(&log_path).unwrap().len();
    {
        let mut txns = state.txns();
        let mut topics = state.topics();
        txns.end_txn("tx", pid, epoch, true, &mut topics, &state.groups)
            .unwrap();
    }
    assert!(std::fs::metadata(&log_path).unwrap().len() > before_marker);
    let saved = std::fs::read_to_string(dir.join(METADATA)).unwrap();
    assert!(
        saved.contains("\"PrepareCommit\""),
        "the decision is saved before the markers: {saved}"
    );
    before_marker
}

#[test]
fn a_crash_between_decision_and_markers_is_completed_at_recovery() {
    let dir = scratch_dir("before-markers");
    let before_marker = commit_a_transaction(&dir);
    // the crash: the marker never reached the log
    let log_path = dir.join("logs").join("out-0.log");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&log_path)
        .unwrap();
    file.set_len(before_marker).unwrap();
    drop(file);

    let state = open(&dir);
    let topics = state.topics();
    let log = topics.partition("out", 0).unwrap();
    assert_eq!((log.high_watermark(), log.last_stable_offset()), (3, 3));
    assert!(log.read(0, usize::MAX, true).unwrap().aborted.is_empty());
    drop(topics);
    assert_eq!(committed(&state), 7);
    assert!(state.txns().list().iter().all(|t| !t.ongoing));
    let saved = std::fs::read_to_string(dir.join(METADATA)).unwrap();
    assert!(saved.contains("\"CompleteCommit\""), "{saved}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_crash_after_the_markers_writes_no_second_marker() {
    let dir = scratch_dir("after-markers");
    commit_a_transaction(&dir);
    let state = open(&dir);
    let topics = state.topics();
    let log = topics.partition("out", 0).unwrap();
    assert_eq!((log.high_watermark(), log.last_stable_offset()), (3, 3));
    drop(topics);
    assert_eq!(committed(&state), 7);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_a_saved_decision_the_staged_offsets_stay_staged() {
    // a crash before EndTxn: the transaction is open after the restart, its offsets staged
    let dir = scratch_dir("open");
    let state = open(&dir);
    {
        let mut txns = state.txns();
        let mut topics = state.topics();
        state.create_topic(&mut topics, "out", 1, None).unwrap();
        let (pid, epoch) = txns
            .init_producer_id(Some("tx"), 60_000, None, &mut topics, &state.groups)
            .unwrap();
        txns.add_offsets("tx", pid, epoch, "g").unwrap();
        stage_offset(&state, pid, 9);
    }
    state.persist().unwrap();
    drop(state);
    let state = open(&dir);
    assert_eq!(committed(&state), -1);
    let query = OffsetQuery {
        group_id: "g".to_owned(),
        topics: Some(vec![("in".to_owned(), vec![0])]),
    };
    let stable = state.groups.fetch_offsets(vec![query], true);
    assert!(stable[0][0].1[0].error.is_some(), "still staged: unstable");
    assert!(state.txns().list()[0].ongoing);
    let _ = std::fs::remove_dir_all(&dir);
}
