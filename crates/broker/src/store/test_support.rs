//! Helpers of the data dir's unit tests: scratch directories and record batches.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::LogDir;
use crate::config::FsyncPolicy;
use crate::log::AppendPolicy;

/// An empty scratch log dir named after the test (removed first if left over).
pub(crate) fn scratch(name: &str) -> LogDir {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("kafka-eos-store-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    LogDir {
        dir,
        fsync: FsyncPolicy::Always,
        failed: Arc::new(AtomicBool::new(false)),
    }
}

/// An append policy without limits.
pub(crate) fn policy() -> AppendPolicy {
    AppendPolicy {
        now_ms: 1_000,
        log_append_time: false,
        max_batch_bytes: usize::MAX,
        compacted: false,
    }
}

/// A batch of `n` records of producer `pid` (-1: none) at `epoch` from sequence `seq`.
pub(crate) fn batch(pid: i64, epoch: i16, seq: i32, n: usize, transactional: bool) -> Bytes {
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // offset - sequence constant keeps the records in one batch (base sequence -1)
            sequence: if pid >= 0 {
                seq + i as i32
            } else {
                i as i32 - 1
            },
            timestamp: 1_000,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from_static(b"v")),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
    buf.freeze()
}
