//! Durable logs: the data dir of a broker started with
//! [`BrokerConfig::data_dir`](crate::BrokerConfig::data_dir).
//!
//! - `segment`: one append-only file per partition (`logs/<topic>-<partition>.log`) holding
//!   the stored batches' bytes, written before a produce or marker is acknowledged;
//! - `snapshot`: `metadata.json`, everything else that must survive (topics and configs,
//!   log start offsets, the transaction coordinator, group offsets and generations),
//!   rewritten atomically after each request that changes it, before its answer;
//! - `recover`: rebuilding the broker's state from both at start.
//!
//! Crash ordering: a transaction's decision (PrepareCommit / PrepareAbort, with the offsets
//! it staged) is in `metadata.json` before any of its markers is in a log, so a broker that
//! dies between the two completes the transaction when it starts again.

mod recover;
mod segment;
mod snapshot;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use kafka_protocol::messages::ApiKey;

pub(crate) use self::recover::recover;
pub(crate) use self::segment::{LogDir, Segment};
use self::snapshot::Snapshot;
use crate::config::FsyncPolicy;
use crate::error::{Error, Result};
use crate::group::GroupCoordinator;
use crate::topics::Topics;
use crate::txn::TxnCoordinator;

/// The metadata file's name in the data dir.
const METADATA: &str = "metadata.json";

/// An open data dir.
#[derive(Debug)]
pub(crate) struct Store {
    dir: PathBuf,
    logs: LogDir,
    /// Serializes writers of `metadata.json.tmp`.
    writing: Mutex<()>,
    /// A topic was created since the last snapshot (auto-creation by Metadata).
    topics_changed: AtomicBool,
    /// The group generations in the last snapshot ([`GroupCoordinator::generations`]).
    generations: AtomicU64,
}

impl Store {
    /// Opens (creating it if needed) the data dir `dir`.
    pub fn open(dir: &Path, fsync: FsyncPolicy) -> Result<Self> {
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(|source| Error::File {
            path: logs.clone(),
            source,
        })?;
        Ok(Self {
            dir: dir.to_owned(),
            logs: LogDir {
                dir: logs,
                fsync,
                failed: Arc::new(AtomicBool::new(false)),
            },
            writing: Mutex::new(()),
            topics_changed: AtomicBool::new(false),
            generations: AtomicU64::new(0),
        })
    }

    /// The partition logs' directory.
    pub fn logs(&self) -> &LogDir {
        &self.logs
    }

    /// The metadata file.
    pub fn metadata_path(&self) -> PathBuf {
        self.dir.join(METADATA)
    }

    /// Notes a topic created outside the requests that always save (auto-creation).
    pub fn topics_changed(&self) {
        self.topics_changed.store(true, Ordering::Release);
    }

    /// Reads `metadata.json` (`None`: a fresh data dir).
    fn read(&self) -> Result<Option<Snapshot>> {
        let path = self.metadata_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(Error::File { path, source }),
        };
        let snapshot: Snapshot =
            serde_json::from_str(&text).map_err(|e| Error::CorruptMetadata {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        if snapshot.version != snapshot::VERSION {
            return Err(Error::CorruptMetadata {
                path,
                reason: format!(
                    "format version {} (this broker reads {})",
                    snapshot.version,
                    snapshot::VERSION
                ),
            });
        }
        Ok(Some(snapshot))
    }

    /// Writes the snapshot of `txns`, `topics` and `groups` atomically: to
    /// `metadata.json.tmp` (fsynced with [`FsyncPolicy::Always`]), then renamed over
    /// `metadata.json`. The caller holds the transaction and topic locks, so snapshots are
    /// written in the order their states were reached.
    pub fn save(
        &self,
        txns: &TxnCoordinator,
        topics: &Topics,
        groups: &GroupCoordinator,
    ) -> io::Result<()> {
        if self.logs.failed.load(Ordering::Acquire) {
            return Err(io::Error::other(
                "the data dir is offline after a failed write",
            ));
        }
        let generations = groups.generations();
        let snapshot = Snapshot::build(txns, topics, groups);
        let json = serde_json::to_vec(&snapshot).map_err(io::Error::other)?;
        let _writing = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        let tmp = self.dir.join(format!("{METADATA}.tmp"));
        let always = self.logs.fsync == FsyncPolicy::Always;
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&json)?;
        if always {
            file.sync_all()?;
        }
        drop(file);
        std::fs::rename(&tmp, self.metadata_path())?;
        if always {
            // the rename itself must reach the disk
            std::fs::File::open(&self.dir)?.sync_all()?;
        }
        self.topics_changed.store(false, Ordering::Release);
        self.generations.store(generations, Ordering::Release);
        Ok(())
    }

    /// Whether the metadata changed by a request of `key` must be saved before answering
    /// it: the APIs that change topics, configs, log start offsets, producer ids,
    /// transactions or committed offsets always; group membership APIs when a generation
    /// moved; any request after an auto-created topic.
    pub fn must_save(&self, key: ApiKey, groups: &GroupCoordinator) -> bool {
        use ApiKey::*;
        match key {
            CreateTopics
            | DeleteTopics
            | CreatePartitions
            | AlterConfigs
            | IncrementalAlterConfigs
            | DeleteRecords
            | InitProducerId
            | AddPartitionsToTxn
            | AddOffsetsToTxn
            | TxnOffsetCommit
            | EndTxn
            | WriteTxnMarkers
            | OffsetCommit
            | OffsetDelete
            | DeleteGroups => true,
            // these expire members whose session passed (a generation may move)
            JoinGroup | SyncGroup | LeaveGroup | Heartbeat | DescribeGroups | OffsetFetch => {
                self.generations_changed(groups) || self.topics_changed.load(Ordering::Acquire)
            }
            _ => self.topics_changed.load(Ordering::Acquire),
        }
    }

    /// Whether a group generation moved since the last snapshot (the background tick
    /// completes rebalances and expires members).
    pub fn generations_changed(&self, groups: &GroupCoordinator) -> bool {
        groups.generations() != self.generations.load(Ordering::Acquire)
    }
}
