//! The group coordinator: classic consumer groups (JoinGroup / SyncGroup / Heartbeat /
//! LeaveGroup), committed offsets (OffsetCommit / OffsetFetch) and transactional offsets
//! (TxnOffsetCommit, pending until the transaction's commit marker).
//!
//! INTERFACE CONTRACT (used by the request dispatcher, crates/broker/src/dispatch.rs):
//! every method takes the decoded request and the request's API version and returns the
//! response to encode at that same version. Methods never block a thread; the async ones
//! wait (JoinGroup until the rebalance completes, SyncGroup until the leader's assignment).
//!
//! The semantics follow Apache Kafka's classic `GroupCoordinator` / `GroupMetadataManager`:
//! MEMBER_ID_REQUIRED for first joins from v4, delayed joins bounded by the largest
//! rebalance timeout (plus `group.initial.rebalance.delay.ms` for an empty group), removal
//! of members that did not rejoin or did not sync in time, session expiry, protocol
//! selection by vote, static membership (KIP-345) and KIP-447 generation checks for
//! transactional offset commits. One mutex guards all groups; it is never held across an
//! `.await` and the coordinator never calls out while holding it, so callers may hold
//! their own locks.

mod offsets;
mod state;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    GroupId, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse, SyncGroupRequest,
    SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use self::state::{Group, GroupState, JoinOutcome, Member, MemberUpdate, Pending, SyncOutcome};

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

/// Checks whether `topic`/`partition` exists (OffsetCommit answers UNKNOWN_TOPIC_OR_PARTITION otherwise).
pub(crate) type PartitionExists<'a> = &'a dyn Fn(&str, i32) -> bool;

/// The client id used as member id prefix when the caller does not pass one.
#[cfg(test)]
const DEFAULT_CLIENT_ID: &str = "consumer";

/// `offset.metadata.max.bytes` (Kafka's default).
const MAX_OFFSET_METADATA_BYTES: usize = 4096;

/// Authorized operations of a group without an authorizer: READ (3), DELETE (6), DESCRIBE (8).
const GROUP_AUTHORIZED_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

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

/// Converts a protocol string to an owned `String`.
fn owned(s: &StrBytes) -> String {
    s.as_str().to_owned()
}

/// Converts an owned string to a protocol string.
fn sb(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// The wire code of an optional error (0 = none).
fn code(error: Option<ResponseError>) -> i16 {
    error.map_or(0, |e| e.code())
}

/// A millisecond count from the wire as a `Duration` (negative counts as zero).
fn millis(ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// The fields of a JoinGroup the state machine needs.
#[derive(Debug)]
struct JoinParams {
    group_id: String,
    member_id: String,
    group_instance_id: Option<String>,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocol_type: String,
    protocols: Vec<(String, Bytes)>,
    require_known_member_id: bool,
    client_id: String,
    client_host: String,
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

    /// JoinGroup (v0-9) with the default member id prefix `consumer`; see
    /// [`join_group_with_client`](Self::join_group_with_client).
    #[cfg(test)]
    pub(crate) async fn join_group(
        &self,
        req: JoinGroupRequest,
        version: i16,
    ) -> JoinGroupResponse {
        self.join_group_with_client(req, version, DEFAULT_CLIENT_ID, "")
            .await
    }

    /// JoinGroup (v0-9). `client_id` (from the request header) prefixes generated member ids
    /// as in Kafka (`<client_id>-<uuid>`); `client_id` and `client_host` are reported by
    /// DescribeGroups. Waits until the join phase of the rebalance completes.
    pub(crate) async fn join_group_with_client(
        &self,
        req: JoinGroupRequest,
        version: i16,
        client_id: &str,
        client_host: &str,
    ) -> JoinGroupResponse {
        let session_timeout = millis(req.session_timeout_ms);
        let params = JoinParams {
            group_id: owned(&req.group_id),
            member_id: owned(&req.member_id),
            group_instance_id: if version >= 5 {
                req.group_instance_id.as_ref().map(owned)
            } else {
                None
            },
            session_timeout,
            rebalance_timeout: if version >= 1 {
                millis(req.rebalance_timeout_ms)
            } else {
                session_timeout
            },
            protocol_type: owned(&req.protocol_type),
            protocols: req
                .protocols
                .iter()
                .map(|p| (owned(&p.name), p.metadata.clone()))
                .collect(),
            require_known_member_id: version >= 4,
            client_id: client_id.to_owned(),
            client_host: client_host.to_owned(),
        };
        let member_id = params.member_id.clone();
        let pending = {
            let mut inner = self.lock();
            join(&mut inner, &self.settings, params, Instant::now())
        };
        let outcome = match pending {
            Pending::Ready(outcome) => outcome,
            Pending::Wait(rx) => rx
                .await
                .unwrap_or_else(|_| JoinOutcome::error(&member_id, ResponseError::UnknownMemberId)),
        };
        join_response(outcome, version)
    }

    /// SyncGroup (v0-5). Followers wait for the leader's assignment.
    pub(crate) async fn sync_group(
        &self,
        req: SyncGroupRequest,
        version: i16,
    ) -> SyncGroupResponse {
        let pending = {
            let mut inner = self.lock();
            sync(&mut inner, &req, version, Instant::now())
        };
        let outcome = match pending {
            Pending::Ready(outcome) => outcome,
            Pending::Wait(rx) => rx
                .await
                .unwrap_or_else(|_| SyncOutcome::error(ResponseError::RebalanceInProgress)),
        };
        let mut response = SyncGroupResponse::default()
            .with_error_code(outcome.error)
            .with_assignment(outcome.assignment);
        if version >= 5 {
            response = response
                .with_protocol_type(outcome.protocol_type.map(sb))
                .with_protocol_name(outcome.protocol_name.map(sb));
        }
        response
    }

    /// Heartbeat (v0-4): refreshes the session; REBALANCE_IN_PROGRESS tells members to rejoin.
    pub(crate) fn heartbeat(&self, req: HeartbeatRequest, version: i16) -> HeartbeatResponse {
        let mut inner = self.lock();
        let instance = if version >= 3 {
            req.group_instance_id.as_deref()
        } else {
            None
        };
        let error = heartbeat(
            &mut inner,
            req.group_id.as_str(),
            req.member_id.as_str(),
            instance,
            req.generation_id,
            Instant::now(),
        );
        HeartbeatResponse::default().with_error_code(code(error))
    }

    /// LeaveGroup (v0-5; v3+ removes a batch of members with per-member errors).
    pub(crate) fn leave_group(&self, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
        let leaving: Vec<(String, Option<String>)> = if version >= 3 {
            req.members
                .iter()
                .map(|m| (owned(&m.member_id), m.group_instance_id.as_ref().map(owned)))
                .collect()
        } else {
            vec![(owned(&req.member_id), None)]
        };
        let group_id = req.group_id.as_str();
        let (top, results) = if group_id.is_empty() {
            (Some(ResponseError::InvalidGroupId), Vec::new())
        } else {
            let mut inner = self.lock();
            let now = Instant::now();
            match inner.groups.get_mut(group_id) {
                None => (
                    None,
                    leaving
                        .iter()
                        .map(|_| Some(ResponseError::UnknownMemberId))
                        .collect(),
                ),
                Some(group) => {
                    let results = leaving
                        .iter()
                        .map(|(member_id, instance)| {
                            leave_member(group, &self.settings, member_id, instance.as_deref(), now)
                        })
                        .collect();
                    (None, results)
                }
            }
        };
        if version >= 3 {
            LeaveGroupResponse::default()
                .with_error_code(code(top))
                .with_members(
                    leaving
                        .into_iter()
                        .zip(results)
                        .map(|((member_id, instance), error)| {
                            MemberResponse::default()
                                .with_member_id(sb(member_id))
                                .with_group_instance_id(instance.map(sb))
                                .with_error_code(code(error))
                        })
                        .collect(),
                )
        } else {
            // Kafka's LeaveGroupResponse for v0-2: the top-level error, else the first
            // member error.
            let error = top.or_else(|| results.into_iter().flatten().next());
            LeaveGroupResponse::default().with_error_code(code(error))
        }
    }

    /// DescribeGroups (v0-6). An unknown group is reported as `Dead` (v6+: with
    /// GROUP_ID_NOT_FOUND, as Kafka 4).
    pub(crate) fn describe_groups(
        &self,
        req: DescribeGroupsRequest,
        version: i16,
    ) -> DescribeGroupsResponse {
        let inner = self.lock();
        let groups = req
            .groups
            .iter()
            .map(|group_id| {
                let described = match inner.groups.get(group_id.as_str()) {
                    None => {
                        let mut d = DescribedGroup::default()
                            .with_group_id(group_id.clone())
                            .with_group_state(StrBytes::from_static_str("Dead"));
                        if version >= 6 {
                            d = d
                                .with_error_code(ResponseError::GroupIdNotFound.code())
                                .with_error_message(Some(sb(format!(
                                    "Group {} not found.",
                                    group_id.as_str()
                                ))));
                        }
                        d
                    }
                    Some(group) => describe_group(group, version),
                };
                if version >= 3 && req.include_authorized_operations {
                    described.with_authorized_operations(GROUP_AUTHORIZED_OPERATIONS)
                } else {
                    described
                }
            })
            .collect();
        DescribeGroupsResponse::default().with_groups(groups)
    }

    /// ListGroups (v0-5; states filter v4+, types filter v5+, both case-insensitive).
    pub(crate) fn list_groups(&self, req: ListGroupsRequest, version: i16) -> ListGroupsResponse {
        let inner = self.lock();
        let states: Vec<String> = if version >= 4 {
            req.states_filter
                .iter()
                .map(|s| s.as_str().to_ascii_lowercase())
                .collect()
        } else {
            Vec::new()
        };
        let types: Vec<String> = if version >= 5 {
            req.types_filter
                .iter()
                .map(|s| s.as_str().to_ascii_lowercase())
                .collect()
        } else {
            Vec::new()
        };
        let mut ids: Vec<&String> = inner.groups.keys().collect();
        ids.sort();
        let groups = ids
            .into_iter()
            .filter_map(|id| inner.groups.get(id))
            .filter(|g| {
                states.is_empty() || states.contains(&g.state.as_str().to_ascii_lowercase())
            })
            .filter(|_| types.is_empty() || types.iter().any(|t| t == "classic"))
            .map(|g| {
                let mut listed = ListedGroup::default()
                    .with_group_id(GroupId(sb(g.id.clone())))
                    .with_protocol_type(sb(g.protocol_type.clone().unwrap_or_default()));
                if version >= 4 {
                    listed = listed.with_group_state(StrBytes::from_static_str(g.state.as_str()));
                }
                if version >= 5 {
                    listed = listed.with_group_type(StrBytes::from_static_str("classic"));
                }
                listed
            })
            .collect();
        ListGroupsResponse::default().with_groups(groups)
    }

    /// DeleteGroups (v0-2): only empty groups can be deleted (NON_EMPTY_GROUP otherwise);
    /// their offsets go with them.
    pub(crate) fn delete_groups(
        &self,
        req: DeleteGroupsRequest,
        _version: i16,
    ) -> DeleteGroupsResponse {
        let mut inner = self.lock();
        let results = req
            .groups_names
            .iter()
            .map(|group_id| {
                let error = match inner.groups.get(group_id.as_str()) {
                    None => Some(ResponseError::GroupIdNotFound),
                    Some(group) if group.state == GroupState::Empty => {
                        inner.groups.remove(group_id.as_str());
                        None
                    }
                    Some(_) => Some(ResponseError::NonEmptyGroup),
                };
                DeletableGroupResult::default()
                    .with_group_id(group_id.clone())
                    .with_error_code(code(error))
            })
            .collect();
        DeleteGroupsResponse::default().with_results(results)
    }

    /// Makes the offsets staged by `producer_id` for `group` visible (commit) or drops them (abort).
    pub(crate) fn complete_txn(&self, group: &str, producer_id: i64, commit: bool) {
        let mut inner = self.lock();
        let Some(group) = inner.groups.get_mut(group) else {
            return;
        };
        let Some(staged) = group.pending_txn.remove(&producer_id) else {
            return;
        };
        if commit {
            for (key, offset) in staged {
                // Kafka keeps a consumer commit written after the transactional one.
                let newer_exists = group.offsets.get(&key).is_some_and(|c| c.seq > offset.seq);
                if !newer_exists {
                    group.offsets.insert(key, offset);
                }
            }
        }
    }

    /// Expires members whose session timed out and completes rebalances whose timeout passed.
    pub(crate) fn tick(&self, now: Instant) {
        let mut inner = self.lock();
        for group in inner.groups.values_mut() {
            group.tick(&self.settings, now);
        }
    }
}

/// Builds the JoinGroup response at `version` (protocol name "" instead of null below v7).
fn join_response(outcome: JoinOutcome, version: i16) -> JoinGroupResponse {
    let protocol_name = if version >= 7 {
        outcome.protocol_name.map(sb)
    } else {
        Some(sb(outcome.protocol_name.unwrap_or_default()))
    };
    JoinGroupResponse::default()
        .with_error_code(outcome.error)
        .with_generation_id(outcome.generation)
        .with_protocol_type(if version >= 7 {
            outcome.protocol_type.map(sb)
        } else {
            None
        })
        .with_protocol_name(protocol_name)
        .with_leader(sb(outcome.leader))
        .with_skip_assignment(version >= 9 && outcome.skip_assignment)
        .with_member_id(sb(outcome.member_id))
        .with_members(
            outcome
                .members
                .into_iter()
                .map(|m| {
                    JoinGroupResponseMember::default()
                        .with_member_id(sb(m.member_id))
                        .with_group_instance_id(if version >= 5 {
                            m.group_instance_id.map(sb)
                        } else {
                            None
                        })
                        .with_metadata(m.metadata)
                })
                .collect(),
        )
}

/// The JoinGroup state machine (Kafka's `handleJoinGroup` / `doJoinGroup`).
fn join(
    inner: &mut Inner,
    settings: &GroupSettings,
    p: JoinParams,
    now: Instant,
) -> Pending<JoinOutcome> {
    let fail = |error: ResponseError| Pending::Ready(JoinOutcome::error(&p.member_id, error));
    if p.group_id.is_empty() {
        return fail(ResponseError::InvalidGroupId);
    }
    if p.session_timeout < settings.min_session_timeout
        || p.session_timeout > settings.max_session_timeout
    {
        return fail(ResponseError::InvalidSessionTimeout);
    }
    let is_unknown = p.member_id.is_empty();
    if !inner.groups.contains_key(&p.group_id) {
        if !is_unknown {
            return fail(ResponseError::UnknownMemberId);
        }
        if p.protocol_type.is_empty() || p.protocols.is_empty() {
            return fail(ResponseError::InconsistentGroupProtocol);
        }
        inner
            .groups
            .insert(p.group_id.clone(), Group::new(&p.group_id));
    }
    let Some(group) = inner.groups.get_mut(&p.group_id) else {
        return fail(ResponseError::CoordinatorNotAvailable);
    };
    if !group.supports_protocols(&p.protocol_type, &p.protocols) {
        return fail(ResponseError::InconsistentGroupProtocol);
    }

    let new_member = |member_id: String, p: &JoinParams| Member {
        member_id,
        group_instance_id: p.group_instance_id.clone(),
        client_id: p.client_id.clone(),
        client_host: p.client_host.clone(),
        session_timeout: p.session_timeout,
        rebalance_timeout: p.rebalance_timeout,
        protocol_type: p.protocol_type.clone(),
        protocols: p.protocols.clone(),
        assignment: Bytes::new(),
        session_deadline: now,
        is_new: true,
        join_waiter: None,
        sync_waiter: None,
    };
    let update = |p: &JoinParams| MemberUpdate {
        protocols: p.protocols.clone(),
        session_timeout: p.session_timeout,
        rebalance_timeout: p.rebalance_timeout,
        client_id: p.client_id.clone(),
        client_host: p.client_host.clone(),
    };

    if is_unknown {
        let new_id = format!("{}-{}", p.client_id, uuid::Uuid::new_v4());
        if let Some(instance) = p.group_instance_id.clone() {
            // Static member (KIP-345).
            match group.static_members.get(&instance).cloned() {
                Some(old_id) => {
                    group.replace_static_member(&instance, &old_id, &new_id);
                    let unchanged = group
                        .members
                        .get(&new_id)
                        .is_some_and(|m| m.matches(&p.protocols));
                    if group.state == GroupState::Stable && unchanged {
                        // Return the current generation; a static leader need not
                        // assign again (KIP-814: skip_assignment).
                        let is_leader = group.is_leader(&new_id);
                        if let Some(member) = group.members.get_mut(&new_id) {
                            member.client_id = p.client_id.clone();
                            member.client_host = p.client_host.clone();
                            member.session_timeout = p.session_timeout;
                            member.rebalance_timeout = p.rebalance_timeout;
                            member.refresh_session(now);
                        }
                        let mut outcome = group.current_join_outcome(&new_id, is_leader);
                        if !is_leader {
                            outcome.members.clear();
                        }
                        return Pending::Ready(outcome);
                    }
                    let rx = group.update_member_and_rebalance(settings, &new_id, update(&p), now);
                    Pending::Wait(rx)
                }
                None => {
                    let rx = group.add_member_and_rebalance(settings, new_member(new_id, &p), now);
                    Pending::Wait(rx)
                }
            }
        } else if p.require_known_member_id {
            group
                .pending_members
                .insert(new_id.clone(), now + p.session_timeout);
            Pending::Ready(JoinOutcome::error(&new_id, ResponseError::MemberIdRequired))
        } else {
            let rx = group.add_member_and_rebalance(settings, new_member(new_id, &p), now);
            Pending::Wait(rx)
        }
    } else if group.pending_members.contains_key(&p.member_id) {
        let rx = group.add_member_and_rebalance(settings, new_member(p.member_id.clone(), &p), now);
        Pending::Wait(rx)
    } else {
        if let Err(error) =
            group.validate_current_member(&p.member_id, p.group_instance_id.as_deref())
        {
            return fail(error);
        }
        let unchanged = group
            .members
            .get(&p.member_id)
            .is_some_and(|m| m.matches(&p.protocols));
        match group.state {
            GroupState::Empty => fail(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance => Pending::Wait(group.update_member_and_rebalance(
                settings,
                &p.member_id,
                update(&p),
                now,
            )),
            GroupState::CompletingRebalance if unchanged => {
                // The member missed the JoinGroup response: send it again.
                Pending::Ready(group.current_join_outcome(&p.member_id, false))
            }
            GroupState::Stable if unchanged && !group.is_leader(&p.member_id) => {
                // A follower without changes gets the current generation and syncs again.
                if let Some(member) = group.members.get_mut(&p.member_id) {
                    member.refresh_session(now);
                }
                Pending::Ready(group.current_join_outcome(&p.member_id, false))
            }
            // Changed metadata, or the leader rejoining (Kafka lets the leader force a
            // rebalance, e.g. after topic metadata changes).
            GroupState::CompletingRebalance | GroupState::Stable => Pending::Wait(
                group.update_member_and_rebalance(settings, &p.member_id, update(&p), now),
            ),
        }
    }
}

/// The SyncGroup state machine (Kafka's `doSyncGroup`).
fn sync(
    inner: &mut Inner,
    req: &SyncGroupRequest,
    version: i16,
    now: Instant,
) -> Pending<SyncOutcome> {
    let fail = |error: ResponseError| Pending::Ready(SyncOutcome::error(error));
    let group_id = req.group_id.as_str();
    if group_id.is_empty() {
        return fail(ResponseError::InvalidGroupId);
    }
    let Some(group) = inner.groups.get_mut(group_id) else {
        return fail(ResponseError::UnknownMemberId);
    };
    let member_id = req.member_id.as_str();
    let instance = if version >= 3 {
        req.group_instance_id.as_deref()
    } else {
        None
    };
    if let Err(error) = group.validate_current_member(member_id, instance) {
        return fail(error);
    }
    if req.generation_id != group.generation {
        return fail(ResponseError::IllegalGeneration);
    }
    if version >= 5 {
        if let Some(protocol_type) = &req.protocol_type {
            if group.protocol_type.as_deref() != Some(protocol_type.as_str()) {
                return fail(ResponseError::InconsistentGroupProtocol);
            }
        }
        if let Some(protocol_name) = &req.protocol_name {
            if group.protocol_name.as_deref() != Some(protocol_name.as_str()) {
                return fail(ResponseError::InconsistentGroupProtocol);
            }
        }
    }
    match group.state {
        GroupState::Empty => fail(ResponseError::UnknownMemberId),
        GroupState::PreparingRebalance => fail(ResponseError::RebalanceInProgress),
        GroupState::CompletingRebalance => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            if let Some(member) = group.members.get_mut(member_id) {
                if let Some(old) = member.sync_waiter.replace(tx) {
                    let _ = old.send(SyncOutcome::error(ResponseError::RebalanceInProgress));
                }
                member.refresh_session(now);
            }
            group.pending_sync.remove(member_id);
            if group.is_leader(member_id) {
                let assignments: HashMap<String, Bytes> = req
                    .assignments
                    .iter()
                    .map(|a| (owned(&a.member_id), a.assignment.clone()))
                    .collect();
                group.complete_sync(&assignments, now);
            }
            Pending::Wait(rx)
        }
        GroupState::Stable => {
            group.pending_sync.remove(member_id);
            if group.pending_sync.is_empty() {
                group.sync_deadline = None;
            }
            let protocol_type = group.protocol_type.clone();
            let protocol_name = group.protocol_name.clone();
            match group.members.get_mut(member_id) {
                Some(member) => {
                    member.refresh_session(now);
                    Pending::Ready(SyncOutcome {
                        error: 0,
                        protocol_type,
                        protocol_name,
                        assignment: member.assignment.clone(),
                    })
                }
                None => fail(ResponseError::UnknownMemberId),
            }
        }
    }
}

/// The Heartbeat checks (Kafka's `handleHeartbeat`).
fn heartbeat(
    inner: &mut Inner,
    group_id: &str,
    member_id: &str,
    instance: Option<&str>,
    generation: i32,
    now: Instant,
) -> Option<ResponseError> {
    if group_id.is_empty() {
        return Some(ResponseError::InvalidGroupId);
    }
    let Some(group) = inner.groups.get_mut(group_id) else {
        return Some(ResponseError::UnknownMemberId);
    };
    if let Err(error) = group.validate_current_member(member_id, instance) {
        return Some(error);
    }
    if generation != group.generation {
        return Some(ResponseError::IllegalGeneration);
    }
    let state = group.state;
    if state == GroupState::Empty {
        return Some(ResponseError::UnknownMemberId);
    }
    if let Some(member) = group.members.get_mut(member_id) {
        member.refresh_session(now);
    }
    match state {
        GroupState::PreparingRebalance => Some(ResponseError::RebalanceInProgress),
        // Kafka (2.5+) considers a member awaiting the assignment alive.
        _ => None,
    }
}

/// Removes one member named in a LeaveGroup (Kafka's `handleLeaveGroup`).
fn leave_member(
    group: &mut Group,
    settings: &GroupSettings,
    member_id: &str,
    instance: Option<&str>,
    now: Instant,
) -> Option<ResponseError> {
    if let Some(instance) = instance {
        match group.static_members.get(instance) {
            Some(current) if !member_id.is_empty() && current != member_id => {
                return Some(ResponseError::FencedInstanceId)
            }
            Some(current) => {
                let current = current.clone();
                group.remove_member_and_update(settings, &current, now);
                return None;
            }
            None => {
                if member_id.is_empty() {
                    return Some(ResponseError::UnknownMemberId);
                }
            }
        }
    }
    if group.pending_members.contains_key(member_id) {
        group.remove_pending_member_and_update(member_id, now);
        None
    } else if group.members.contains_key(member_id) {
        group.remove_member_and_update(settings, member_id, now);
        None
    } else {
        Some(ResponseError::UnknownMemberId)
    }
}

/// Kafka's `GroupMetadata.summary`: members carry metadata and assignment only when Stable.
fn describe_group(group: &Group, version: i16) -> DescribedGroup {
    let stable = group.state == GroupState::Stable;
    let protocol = if stable {
        group.protocol_name.clone().unwrap_or_default()
    } else {
        String::new()
    };
    let members = group
        .members
        .values()
        .map(|m| {
            let (metadata, assignment) = if stable {
                (m.metadata(&protocol), m.assignment.clone())
            } else {
                (Bytes::new(), Bytes::new())
            };
            DescribedGroupMember::default()
                .with_member_id(sb(m.member_id.clone()))
                .with_group_instance_id(if version >= 4 {
                    m.group_instance_id.clone().map(sb)
                } else {
                    None
                })
                .with_client_id(sb(m.client_id.clone()))
                .with_client_host(sb(m.client_host.clone()))
                .with_member_metadata(metadata)
                .with_member_assignment(assignment)
        })
        .collect();
    DescribedGroup::default()
        .with_group_id(GroupId(sb(group.id.clone())))
        .with_group_state(StrBytes::from_static_str(group.state.as_str()))
        .with_protocol_type(sb(group.protocol_type.clone().unwrap_or_default()))
        .with_protocol_data(sb(protocol))
        .with_members(members)
}
