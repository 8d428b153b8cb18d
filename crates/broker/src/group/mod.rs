//! The group coordinator: classic consumer groups (JoinGroup / SyncGroup / Heartbeat /
//! LeaveGroup, with generations, rebalance and session timeouts and static membership) and
//! their committed offsets, including transactional offsets that stay pending until the
//! transaction's commit marker.
//!
//! The coordinator takes and returns plain Rust values; the request handlers
//! (`handlers::group` and `handlers::group_offsets`) read the requests, pick the fields each
//! version has, and encode the answers and their error codes.
//!
//! The semantics follow Apache Kafka's classic `GroupCoordinator` / `GroupMetadataManager`:
//! MEMBER_ID_REQUIRED for first joins (JoinGroup v4+, KIP-394), delayed joins bounded
//! by the largest rebalance timeout (plus `group.initial.rebalance.delay.ms` for an empty
//! group), removal of members that did not rejoin or did not sync in time, session expiry,
//! protocol selection by vote, static membership (KIP-345) and KIP-447 generation checks for
//! transactional offset commits. One mutex guards all groups; it is never held across an
//! `.await` and the coordinator never calls out while holding it, so callers may hold
//! their own locks.
//!
//! Where things are: `state` (a group and its states), `member`, `rebalance` (the state
//! machine's transitions and timers), one file per request family (`join`, `sync`,
//! `session`, `admin`), `static_member` (KIP-345 rejoins) and `offsets`.

mod admin;
mod join;
mod member;
mod offsets;
mod persist;
mod rebalance;
mod session;
mod state;
mod static_member;
mod sync;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub(crate) use self::admin::{GroupSummary, GROUP_TYPE};
pub(crate) use self::join::{JoinOutcome, JoinParams};
pub(crate) use self::offsets::{CommitTarget, OffsetEntry, OffsetQuery};
pub(crate) use self::persist::GroupSnapshot;
pub(crate) use self::session::LeavingMember;
pub(crate) use self::sync::SyncParams;

use self::state::Group;

/// Group coordinator settings, taken from [`BrokerConfig`](crate::BrokerConfig).
#[derive(Debug, Clone)]
pub(crate) struct GroupSettings {
    /// `group.initial.rebalance.delay.ms`.
    pub initial_rebalance_delay: Duration,
    /// `group.min.session.timeout.ms`.
    pub min_session_timeout: Duration,
    /// `group.max.session.timeout.ms`.
    pub max_session_timeout: Duration,
}

/// Why the coordinator refused a request, or one part of it (the handlers map each to the
/// Kafka error code of the same name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupError {
    /// An empty group id.
    InvalidGroupId,
    /// A session timeout outside `group.{min,max}.session.timeout.ms`.
    InvalidSessionTimeout,
    /// The member (or its instance id) is not in the group.
    UnknownMemberId,
    /// The protocol type differs from the group's, or no protocol is common to all members.
    InconsistentGroupProtocol,
    /// The group vanished while being joined.
    CoordinatorNotAvailable,
    /// A first join without member id: rejoin with the member id handed out.
    MemberIdRequired,
    /// A rebalance is under way: rejoin.
    RebalanceInProgress,
    /// The generation is not the group's current one.
    IllegalGeneration,
    /// The static instance id belongs to another member id.
    FencedInstanceId,
    /// Offset metadata longer than `offset.metadata.max.bytes`.
    OffsetMetadataTooLarge,
    /// A transaction has staged an offset for this partition (`require_stable` fetches).
    UnstableOffsetCommit,
    /// No such group.
    GroupIdNotFound,
    /// The group still has members.
    NonEmptyGroup,
    /// A member of the group reads this topic.
    GroupSubscribedToTopic,
}

/// All consumer groups of the broker.
#[derive(Debug)]
pub(crate) struct GroupCoordinator {
    settings: GroupSettings,
    inner: Mutex<Inner>,
}

/// The state behind the coordinator's mutex.
#[derive(Debug, Default)]
struct Inner {
    /// Groups by id.
    groups: HashMap<String, Group>,
    /// Position counter of the virtual offsets log (orders commits against staged
    /// transactional commits).
    commit_seq: u64,
}

impl Inner {
    /// The next position in the virtual offsets log.
    fn next_seq(&mut self) -> u64 {
        self.commit_seq += 1;
        self.commit_seq
    }
}

impl GroupCoordinator {
    /// A coordinator without groups.
    pub(crate) fn new(settings: GroupSettings) -> Self {
        Self {
            settings,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Locks the groups (a poisoned lock is recovered: no handler panics half-way).
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Locks the groups for a request naming `group_ids`, after expiring their members whose
    /// session deadline has passed: Kafka fires each heartbeat timer at its deadline, so a
    /// request arriving after it never sees the member (the tick alone would be up to 50 ms
    /// late).
    fn lock_for(&self, group_ids: &[&str]) -> MutexGuard<'_, Inner> {
        let now = Instant::now();
        let mut inner = self.lock();
        for id in group_ids {
            if let Some(group) = inner.groups.get_mut(*id) {
                group.expire_sessions(&self.settings, now);
            }
        }
        inner
    }

    /// Expires members whose session timed out and completes rebalances whose timeout passed.
    pub(crate) fn tick(&self, now: Instant) {
        self.tick_where(now, |_| true);
    }

    /// As [`tick`](Self::tick), for the groups `coordinated` accepts (a group whose
    /// coordinator is down has no timers running, as in Kafka).
    pub(crate) fn tick_where(&self, now: Instant, coordinated: impl Fn(&str) -> bool) {
        let mut inner = self.lock();
        for (id, group) in inner.groups.iter_mut() {
            if coordinated(id) {
                group.tick(&self.settings, now);
            }
        }
    }

    /// A new coordinator took over the groups `moved` accepts: as Kafka's loading them
    /// from the offsets topic, every member's session starts again from `now`.
    pub(crate) fn reload(&self, now: Instant, moved: impl Fn(&str) -> bool) {
        let mut inner = self.lock();
        for (id, group) in inner.groups.iter_mut() {
            if moved(id) {
                group.refresh_sessions(now);
            }
        }
    }
}
