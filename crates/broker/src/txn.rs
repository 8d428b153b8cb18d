//! The transaction coordinator: transactional ids, producer ids and epochs, the partitions
//! and groups of each open transaction, commit/abort markers and transaction timeouts.
//!
//! Markers are written synchronously when EndTxn arrives (Kafka writes PrepareCommit, then
//! the markers, then CompleteCommit; a client cannot tell the difference except that it
//! never sees CONCURRENT_TRANSACTIONS here unless a fault injects it).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::batch::Marker;
use crate::clock::now_ms;
use crate::group::GroupCoordinator;
use crate::store::Store;
use crate::topics::Topics;

mod complete;
mod persist;

pub(crate) use self::persist::TxnSnapshot;

/// Why a transactional request was refused (the handler maps it to a code per version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxnError {
    /// The epoch is not the current one: a newer producer took over (PRODUCER_FENCED, or
    /// INVALID_PRODUCER_EPOCH for request versions before KIP-588).
    Fenced,
    /// Unknown transactional id, or its producer id differs.
    InvalidProducerIdMapping,
    /// The request does not fit the transaction's state.
    InvalidTxnState,
    /// A transaction timeout larger than `transaction.max.timeout.ms` (or not positive).
    InvalidTransactionTimeout,
    /// The decision could not be persisted in the data dir (Kafka answers a failed write to
    /// its transaction log with NOT_COORDINATOR: the client retries).
    Storage,
}

/// The state of a transactional id, as Kafka's `TransactionState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxnState {
    Empty,
    Ongoing,
    /// Decided to commit, markers not all written yet: only while EndTxn holds the
    /// coordinator, or in a data dir a crash interrupted (completed at recovery).
    PrepareCommit,
    /// As `PrepareCommit`, aborting.
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
}

impl TxnState {
    /// Kafka's name of the state (ListTransactions / DescribeTransactions).
    pub fn as_str(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
        }
    }
}

/// One transactional id's metadata.
#[derive(Debug, Clone)]
pub(crate) struct TxnMetadata {
    pub producer_id: i64,
    pub epoch: i16,
    /// The epoch before the last bump (a retried InitProducerId may still carry it).
    pub last_epoch: i16,
    pub timeout: Duration,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    pub groups: BTreeSet<String>,
    pub started: Instant,
    /// `started` on the wall clock (ms since the epoch), for DescribeTransactions.
    pub started_ms: i64,
}

/// What a transactional-id listing shows (for tests and the CLI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionInfo {
    /// The transactional id.
    pub transactional_id: String,
    /// Its current producer id.
    pub producer_id: i64,
    /// Its current epoch.
    pub epoch: i16,
    /// Whether a transaction is open.
    pub ongoing: bool,
    /// Partitions in the open transaction.
    pub partitions: Vec<(String, i32)>,
}

/// All transactional ids and the producer-id allocator.
#[derive(Debug)]
pub(crate) struct TxnCoordinator {
    txns: HashMap<String, TxnMetadata>,
    by_producer: HashMap<i64, String>,
    next_producer_id: i64,
    max_timeout: Duration,
    /// Caps every transaction's timeout (fault injection: "shorten transaction timeouts").
    pub timeout_override: Option<Duration>,
    counts: TransactionCounts,
    /// The data dir, where a transaction's decision is saved before its markers.
    store: Option<Arc<Store>>,
}

/// How many transactions the coordinator completed, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransactionCounts {
    /// Committed by EndTxn.
    pub committed: u64,
    /// Aborted by EndTxn.
    pub aborted: u64,
    /// Aborted because a newer producer with the same transactional id fenced the owner.
    pub fenced: u64,
    /// Aborted because the transaction outlived its timeout.
    pub timed_out: u64,
}

impl TxnCoordinator {
    pub fn new(max_timeout: Duration) -> Self {
        Self {
            txns: HashMap::new(),
            by_producer: HashMap::new(),
            next_producer_id: 1000,
            max_timeout,
            timeout_override: None,
            counts: TransactionCounts::default(),
            store: None,
        }
    }

    /// Saves each transaction's decision in `store` before writing its markers.
    pub fn with_store(mut self, store: Option<Arc<Store>>) -> Self {
        self.store = store;
        self
    }

    fn allocate_producer_id(&mut self) -> i64 {
        let id = self.next_producer_id;
        self.next_producer_id += 1;
        id
    }

    /// InitProducerId. For an idempotent producer (no transactional id) a new producer id,
    /// or with `expected` the same id with a bumped epoch (KIP-360). For a transactional id:
    /// bump the epoch, fencing the previous producer and aborting its open transaction.
    pub fn init_producer_id(
        &mut self,
        transactional_id: Option<&str>,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        topics: &mut Topics,
        groups: &GroupCoordinator,
    ) -> Result<(i64, i16), TxnError> {
        let Some(tid) = transactional_id else {
            return Ok(match expected {
                Some((pid, epoch)) if pid >= 0 && epoch < i16::MAX - 1 => (pid, epoch + 1),
                _ => (self.allocate_producer_id(), 0),
            });
        };
        if timeout_ms <= 0 || Duration::from_millis(timeout_ms as u64) > self.max_timeout {
            return Err(TxnError::InvalidTransactionTimeout);
        }
        let timeout = Duration::from_millis(timeout_ms as u64);
        if !self.txns.contains_key(tid) {
            let pid = self.allocate_producer_id();
            self.by_producer.insert(pid, tid.to_owned());
            self.txns.insert(
                tid.to_owned(),
                TxnMetadata {
                    producer_id: pid,
                    epoch: 0,
                    last_epoch: -1,
                    timeout,
                    state: TxnState::Empty,
                    partitions: BTreeSet::new(),
                    groups: BTreeSet::new(),
                    started: Instant::now(),
                    started_ms: -1,
                },
            );
            return Ok((pid, 0));
        }
        let Some(meta) = self.txns.get(tid) else {
            return Err(TxnError::InvalidProducerIdMapping);
        };
        if let Some((pid, epoch)) = expected.filter(|(pid, _)| *pid >= 0) {
            let valid =
                pid == meta.producer_id && (epoch == meta.epoch || epoch == meta.last_epoch);
            if !valid {
                return Err(TxnError::Fenced);
            }
        }
        if meta.state == TxnState::Ongoing {
            // Fence the previous producer: abort its transaction with a bumped epoch.
            self.complete(tid, Marker::Abort, true, topics, groups)?;
            self.counts.fenced += 1;
        }
        let new_pid = if self.txns.get(tid).is_some_and(|m| m.epoch >= i16::MAX - 2) {
            Some(self.allocate_producer_id())
        } else {
            None
        };
        let Some(meta) = self.txns.get_mut(tid) else {
            return Err(TxnError::InvalidProducerIdMapping);
        };
        meta.timeout = timeout;
        meta.state = TxnState::Empty;
        meta.last_epoch = meta.epoch;
        if let Some(pid) = new_pid {
            self.by_producer.remove(&meta.producer_id);
            meta.producer_id = pid;
            meta.epoch = 0;
            meta.last_epoch = -1;
            self.by_producer.insert(pid, tid.to_owned());
        } else {
            meta.epoch += 1;
        }
        Ok((meta.producer_id, meta.epoch))
    }

    fn current(&mut self, tid: &str, pid: i64, epoch: i16) -> Result<&mut TxnMetadata, TxnError> {
        let meta = self
            .txns
            .get_mut(tid)
            .ok_or(TxnError::InvalidProducerIdMapping)?;
        if meta.producer_id != pid {
            return Err(TxnError::InvalidProducerIdMapping);
        }
        if meta.epoch != epoch {
            return Err(TxnError::Fenced);
        }
        Ok(meta)
    }

    fn begin_if_needed(meta: &mut TxnMetadata) {
        if meta.state != TxnState::Ongoing {
            meta.state = TxnState::Ongoing;
            meta.started = Instant::now();
            meta.started_ms = now_ms();
            meta.partitions.clear();
            meta.groups.clear();
        }
    }

    /// AddPartitionsToTxn (the caller has checked that the partitions exist).
    pub fn add_partitions(
        &mut self,
        tid: &str,
        pid: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<(), TxnError> {
        let meta = self.current(tid, pid, epoch)?;
        Self::begin_if_needed(meta);
        meta.partitions.extend(partitions.iter().cloned());
        Ok(())
    }

    /// AddOffsetsToTxn.
    pub fn add_offsets(
        &mut self,
        tid: &str,
        pid: i64,
        epoch: i16,
        group: &str,
    ) -> Result<(), TxnError> {
        let meta = self.current(tid, pid, epoch)?;
        Self::begin_if_needed(meta);
        meta.groups.insert(group.to_owned());
        Ok(())
    }

    /// Checks a TxnOffsetCommit: the producer is current and AddOffsetsToTxn added the group.
    pub fn check_offsets(
        &mut self,
        tid: &str,
        pid: i64,
        epoch: i16,
        group: &str,
    ) -> Result<(), TxnError> {
        let meta = self.current(tid, pid, epoch)?;
        if meta.state != TxnState::Ongoing || !meta.groups.contains(group) {
            return Err(TxnError::InvalidTxnState);
        }
        Ok(())
    }

    /// Whether `pid`/`epoch` may write transactional data to `topic`/`partition` now.
    pub fn may_produce(&self, pid: i64, epoch: i16, topic: &str, partition: i32) -> bool {
        self.by_producer
            .get(&pid)
            .and_then(|tid| self.txns.get(tid))
            .is_some_and(|m| {
                m.epoch == epoch
                    && m.state == TxnState::Ongoing
                    && m.partitions.contains(&(topic.to_owned(), partition))
            })
    }

    /// EndTxn.
    pub fn end_txn(
        &mut self,
        tid: &str,
        pid: i64,
        epoch: i16,
        commit: bool,
        topics: &mut Topics,
        groups: &GroupCoordinator,
    ) -> Result<(), TxnError> {
        let meta = self.current(tid, pid, epoch)?;
        match (meta.state, commit) {
            (TxnState::Ongoing, _) => {}
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => return Ok(()),
            _ => return Err(TxnError::InvalidTxnState),
        }
        let marker = if commit {
            Marker::Commit
        } else {
            Marker::Abort
        };
        self.complete(tid, marker, false, topics, groups)?;
        if commit {
            self.counts.committed += 1;
        } else {
            self.counts.aborted += 1;
        }
        Ok(())
    }

    /// Completed transactions by outcome.
    pub fn counts(&self) -> TransactionCounts {
        self.counts
    }

    /// A snapshot of every transactional id.
    pub fn list(&self) -> Vec<TransactionInfo> {
        let mut out: Vec<TransactionInfo> = self
            .txns
            .iter()
            .map(|(tid, m)| TransactionInfo {
                transactional_id: tid.clone(),
                producer_id: m.producer_id,
                epoch: m.epoch,
                ongoing: m.state == TxnState::Ongoing,
                partitions: m.partitions.iter().cloned().collect(),
            })
            .collect();
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        out
    }

    /// The metadata of one transactional id.
    pub fn get(&self, tid: &str) -> Option<&TxnMetadata> {
        self.txns.get(tid)
    }

    /// Every transactional id with its metadata.
    pub fn all(&self) -> impl Iterator<Item = (&String, &TxnMetadata)> {
        self.txns.iter()
    }

    /// Forgets partitions of a deleted topic.
    pub fn forget_topic(&mut self, topic: &str) {
        for meta in self.txns.values_mut() {
            meta.partitions.retain(|(t, _)| t != topic);
        }
    }
}
