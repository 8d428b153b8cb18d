//! One partition's log file, `<data-dir>/logs/<topic>-<partition>.log`: append-only, it
//! holds exactly the stored batches' bytes as Kafka's log segments do (v2 record batches
//! with their assigned base offsets and leader epochs, data and control batches alike).
//! Recovery reads it back batch by batch and cuts off a torn last write.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::batch::{self, BatchHeader};
use crate::config::FsyncPolicy;

/// Where the partition logs live, how they are flushed, and the data dir's "offline" flag
/// (set by a write that could not be undone; from then on nothing more is written).
#[derive(Debug, Clone)]
pub(crate) struct LogDir {
    pub dir: PathBuf,
    pub fsync: FsyncPolicy,
    pub failed: Arc<AtomicBool>,
}

impl LogDir {
    /// The file of `topic`'s partition `partition`.
    pub fn path(&self, topic: &str, partition: usize) -> PathBuf {
        self.dir.join(format!("{topic}-{partition}.log"))
    }

    /// A new, empty log file (a leftover of a deleted topic of the same name is emptied).
    pub fn create(&self, topic: &str, partition: usize) -> io::Result<Segment> {
        let path = self.path(topic, partition);
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)?;
        drop(file);
        self.open(path, 0)
    }

    /// Reads an existing log file (a missing one is created empty) and truncates it after
    /// its last whole, valid batch.
    pub fn recover(&self, topic: &str, partition: usize) -> io::Result<(Segment, Recovered)> {
        let path = self.path(topic, partition);
        let mut data = Vec::new();
        match File::open(&path) {
            Ok(mut f) => {
                f.read_to_end(&mut data)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let data = Bytes::from(data);
        let (batches, valid) = batch::valid_prefix(&data);
        let torn = (data.len() - valid) as u64;
        let segment = self.open(path, valid as u64)?;
        if torn > 0 {
            segment.file.set_len(valid as u64)?;
            segment.file.sync_all()?;
        }
        Ok((
            segment,
            Recovered {
                batches,
                bytes: valid as u64,
                torn,
            },
        ))
    }

    /// Removes the files of a deleted topic's partitions (failures are logged: a leftover
    /// file is emptied if the name is used again).
    pub fn remove(&self, topic: &str, partitions: usize) {
        for p in 0..partitions {
            let path = self.path(topic, p);
            if let Err(e) = std::fs::remove_file(&path) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove a deleted topic's log");
                }
            }
        }
    }

    fn open(&self, path: PathBuf, len: u64) -> io::Result<Segment> {
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Segment {
            file,
            path,
            len,
            fsync: self.fsync,
            failed: self.failed.clone(),
        })
    }
}

/// What recovery found in a log file.
#[derive(Debug)]
pub(crate) struct Recovered {
    /// The valid batches, in offset order.
    pub batches: Vec<(BatchHeader, Bytes)>,
    /// Their bytes (the file's length after recovery).
    pub bytes: u64,
    /// The bytes cut off after them (a torn or corrupt tail).
    pub torn: u64,
}

/// An open partition log file.
#[derive(Debug)]
pub(crate) struct Segment {
    file: File,
    path: PathBuf,
    /// The length of the whole batches written.
    len: u64,
    fsync: FsyncPolicy,
    failed: Arc<AtomicBool>,
}

impl Segment {
    /// Appends whole batches, in one write (and an fsync with [`FsyncPolicy::Always`]). On
    /// failure the file is cut back to its previous end so that no partial batch stays;
    /// if even that fails the data dir goes offline.
    pub fn append<'a>(&mut self, batches: impl IntoIterator<Item = &'a Bytes>) -> io::Result<()> {
        if self.failed.load(Ordering::Acquire) {
            return Err(io::Error::other(
                "the data dir is offline after a failed write",
            ));
        }
        let mut buf = Vec::new();
        for b in batches {
            buf.extend_from_slice(b);
        }
        let written = self.file.write_all(&buf).and_then(|()| match self.fsync {
            FsyncPolicy::Always => self.file.sync_data(),
            FsyncPolicy::Never => Ok(()),
        });
        match written {
            Ok(()) => {
                self.len += buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                if self.file.set_len(self.len).is_err() {
                    self.fail();
                }
                Err(e)
            }
        }
    }

    /// Takes the data dir offline: nothing more is written to it by this process (a
    /// transaction marker that could not be written is completed again at recovery).
    pub fn fail(&self) {
        self.failed.store(true, Ordering::Release);
        tracing::error!(path = %self.path.display(), "write failed: the data dir is offline until the broker restarts");
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests;
