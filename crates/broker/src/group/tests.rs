//! Unit tests of the group coordinator, driven with constructed requests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::ResponseError;

use super::*;

const GROUP: &str = "g";
const SESSION_MS: i32 = 10_000;
const REBALANCE_MS: i32 = 30_000;

fn settings(initial_delay: Duration) -> GroupSettings {
    GroupSettings {
        initial_rebalance_delay: initial_delay,
        min_session_timeout: Duration::from_millis(1_000),
        max_session_timeout: Duration::from_secs(300),
    }
}

fn coordinator() -> Arc<GroupCoordinator> {
    Arc::new(GroupCoordinator::new(settings(Duration::ZERO)))
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

fn code(e: ResponseError) -> i16 {
    e.code()
}

fn join_req(member_id: &str, protocols: &[(&str, &str)]) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_session_timeout_ms(SESSION_MS)
        .with_rebalance_timeout_ms(REBALANCE_MS)
        .with_member_id(s(member_id))
        .with_protocol_type(s("consumer"))
        .with_protocols(
            protocols
                .iter()
                .map(|(name, meta)| {
                    JoinGroupRequestProtocol::default()
                        .with_name(s(name))
                        .with_metadata(Bytes::copy_from_slice(meta.as_bytes()))
                })
                .collect(),
        )
}

fn default_protocols() -> Vec<(&'static str, &'static str)> {
    vec![("range", "meta"), ("roundrobin", "meta-rr")]
}

/// First JoinGroup (v5) of a new member: returns the member id from MEMBER_ID_REQUIRED.
async fn member_id_for(c: &GroupCoordinator) -> String {
    let r = c.join_group(join_req("", &default_protocols()), 5).await;
    assert_eq!(r.error_code, code(ResponseError::MemberIdRequired));
    assert!(r.member_id.starts_with("consumer-"), "{:?}", r.member_id);
    assert_eq!(r.generation_id, -1);
    r.member_id.to_string()
}

/// Spawns a JoinGroup (v5) of `member_id` and waits until it is registered as waiting.
async fn spawn_join(
    c: &Arc<GroupCoordinator>,
    req: JoinGroupRequest,
) -> tokio::task::JoinHandle<JoinGroupResponse> {
    let member_id = req.member_id.to_string();
    let c2 = Arc::clone(c);
    let handle = tokio::spawn(async move { c2.join_group(req, 5).await });
    wait_until(c, |g| {
        g.members
            .get(&member_id)
            .is_some_and(|m| m.is_awaiting_join())
            || g.state == GroupState::CompletingRebalance
    })
    .await;
    handle
}

/// Spawns a SyncGroup (v3) and waits until it is registered (or answered).
async fn spawn_sync(
    c: &Arc<GroupCoordinator>,
    req: SyncGroupRequest,
) -> tokio::task::JoinHandle<SyncGroupResponse> {
    let member_id = req.member_id.to_string();
    let c2 = Arc::clone(c);
    let handle = tokio::spawn(async move { c2.sync_group(req, 3).await });
    wait_until(c, |g| {
        g.members
            .get(&member_id)
            .is_none_or(|m| m.is_awaiting_sync())
            || g.state == GroupState::Stable
    })
    .await;
    handle
}

/// Polls the group until `pred` holds (2 s at most).
async fn wait_until(c: &GroupCoordinator, pred: impl Fn(&Group) -> bool) {
    for _ in 0..400 {
        {
            let inner = c.lock();
            if inner.groups.get(GROUP).is_some_and(&pred) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("condition not reached");
}

/// Gives every member a 120 s session, so that only rebalance timers matter.
fn long_sessions(c: &GroupCoordinator) {
    for m in c.lock().groups.get_mut(GROUP).unwrap().members.values_mut() {
        m.session_timeout = Duration::from_secs(120);
        m.session_deadline = Instant::now() + Duration::from_secs(120);
    }
}

fn state_of(c: &GroupCoordinator) -> Option<GroupState> {
    c.lock().groups.get(GROUP).map(|g| g.state)
}

fn sync_req(member_id: &str, generation: i32, assignments: &[(&str, &str)]) -> SyncGroupRequest {
    SyncGroupRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_generation_id(generation)
        .with_member_id(s(member_id))
        .with_assignments(
            assignments
                .iter()
                .map(|(m, a)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(s(m))
                        .with_assignment(Bytes::copy_from_slice(a.as_bytes()))
                })
                .collect(),
        )
}

fn hb(c: &GroupCoordinator, member_id: &str, generation: i32) -> i16 {
    c.heartbeat(
        HeartbeatRequest::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_generation_id(generation)
            .with_member_id(s(member_id)),
        3,
    )
    .error_code
}

/// Brings a single member `A` to Stable at generation 1; returns its member id.
async fn stable_single(c: &Arc<GroupCoordinator>) -> String {
    let a = member_id_for(c).await;
    let r = c.join_group(join_req(&a, &default_protocols()), 5).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.generation_id, 1);
    let s = c.sync_group(sync_req(&a, 1, &[(&a, "assign-a")]), 3).await;
    assert_eq!(s.error_code, 0);
    a
}

/// Brings two members to Stable at generation 2; returns (leader, follower).
async fn stable_pair(c: &Arc<GroupCoordinator>) -> (String, String) {
    let a = stable_single(c).await;
    let b = member_id_for(c).await;
    let jb = spawn_join(c, join_req(&b, &default_protocols())).await;
    assert_eq!(state_of(c), Some(GroupState::PreparingRebalance));
    let ja = spawn_join(c, join_req(&a, &default_protocols())).await;
    let (ra, rb) = (ja.await.unwrap(), jb.await.unwrap());
    assert_eq!((ra.generation_id, rb.generation_id), (2, 2));
    let sb_ = spawn_sync(c, sync_req(&b, 2, &[])).await;
    let sa = c
        .sync_group(sync_req(&a, 2, &[(&a, "assign-a"), (&b, "assign-b")]), 3)
        .await;
    assert_eq!(sa.error_code, 0);
    assert_eq!(sb_.await.unwrap().error_code, 0);
    (a, b)
}

fn encodes<T: Encodable>(msg: &T, version: i16) {
    let mut buf = BytesMut::new();
    msg.encode(&mut buf, version)
        .unwrap_or_else(|e| panic!("encode at v{version}: {e}"));
}

#[tokio::test]
async fn single_member_join_sync_heartbeat() {
    let c = coordinator();
    let a = member_id_for(&c).await;
    let r = c.join_group(join_req(&a, &default_protocols()), 5).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.generation_id, 1);
    assert_eq!(r.leader.as_str(), a);
    assert_eq!(r.member_id.as_str(), a);
    assert_eq!(r.protocol_name.as_deref(), Some("range"));
    assert_eq!(r.members.len(), 1);
    assert_eq!(r.members[0].metadata.as_ref(), b"meta");
    assert_eq!(state_of(&c), Some(GroupState::CompletingRebalance));
    // Heartbeat while awaiting the assignment is fine.
    assert_eq!(hb(&c, &a, 1), 0);

    let s = c.sync_group(sync_req(&a, 1, &[(&a, "assign-a")]), 3).await;
    assert_eq!(s.error_code, 0);
    assert_eq!(s.assignment.as_ref(), b"assign-a");
    assert_eq!(state_of(&c), Some(GroupState::Stable));

    assert_eq!(hb(&c, &a, 1), 0);
    assert_eq!(hb(&c, &a, 7), code(ResponseError::IllegalGeneration));
    assert_eq!(hb(&c, "nobody", 1), code(ResponseError::UnknownMemberId));
    // Sync in Stable returns the current assignment.
    let s = c.sync_group(sync_req(&a, 1, &[]), 3).await;
    assert_eq!(s.assignment.as_ref(), b"assign-a");
    let s = c.sync_group(sync_req(&a, 9, &[]), 3).await;
    assert_eq!(s.error_code, code(ResponseError::IllegalGeneration));
    let s = c.sync_group(sync_req("x", 1, &[]), 3).await;
    assert_eq!(s.error_code, code(ResponseError::UnknownMemberId));

    let d = c.describe_groups(
        DescribeGroupsRequest::default().with_groups(vec![GroupId(s_(GROUP))]),
        5,
    );
    let g = &d.groups[0];
    assert_eq!(g.group_state.as_str(), "Stable");
    assert_eq!(g.protocol_type.as_str(), "consumer");
    assert_eq!(g.protocol_data.as_str(), "range");
    assert_eq!(g.members.len(), 1);
    assert_eq!(g.members[0].member_assignment.as_ref(), b"assign-a");
}

fn s_(v: &str) -> StrBytes {
    s(v)
}

#[tokio::test]
async fn old_versions_join_without_member_id_required() {
    let c = coordinator();
    let r = c.join_group(join_req("", &default_protocols()), 3).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.generation_id, 1);
    assert_eq!(r.leader, r.member_id);
    encodes(&r, 3);
    // v0: no rebalance timeout on the wire; the session timeout is used.
    let c = coordinator();
    let r = c.join_group(join_req("", &default_protocols()), 0).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.protocol_name.as_deref(), Some("range"));
    encodes(&r, 0);
}

#[tokio::test]
async fn two_members_rebalance_and_assignments() {
    let c = coordinator();
    let a = stable_single(&c).await;
    let b = member_id_for(&c).await;
    let jb = spawn_join(&c, join_req(&b, &default_protocols())).await;
    assert_eq!(state_of(&c), Some(GroupState::PreparingRebalance));
    // The old member learns about the rebalance from its heartbeat.
    assert_eq!(hb(&c, &a, 1), code(ResponseError::RebalanceInProgress));
    let s = c.sync_group(sync_req(&a, 1, &[]), 3).await;
    assert_eq!(s.error_code, code(ResponseError::RebalanceInProgress));
    // Commits are still accepted while preparing.
    let ja = spawn_join(&c, join_req(&a, &default_protocols())).await;
    let (ra, rb) = (ja.await.unwrap(), jb.await.unwrap());
    assert_eq!(ra.error_code, 0);
    assert_eq!(rb.error_code, 0);
    assert_eq!(ra.generation_id, 2);
    assert_eq!(rb.generation_id, 2);
    assert_eq!(ra.leader.as_str(), a);
    assert_eq!(rb.leader.as_str(), a);
    assert_eq!(ra.members.len(), 2, "the leader gets the member list");
    assert!(rb.members.is_empty(), "followers get no member list");
    assert_eq!(state_of(&c), Some(GroupState::CompletingRebalance));

    let sb_ = spawn_sync(&c, sync_req(&b, 2, &[])).await;
    assert!(!sb_.is_finished(), "a follower waits for the leader");
    let sa = c
        .sync_group(sync_req(&a, 2, &[(&a, "pa"), (&b, "pb")]), 3)
        .await;
    assert_eq!(sa.assignment.as_ref(), b"pa");
    let sb_ = sb_.await.unwrap();
    assert_eq!(sb_.error_code, 0);
    assert_eq!(sb_.assignment.as_ref(), b"pb");
    assert_eq!(state_of(&c), Some(GroupState::Stable));
    assert_eq!(hb(&c, &a, 2), 0);
    assert_eq!(hb(&c, &b, 2), 0);
}

#[tokio::test]
async fn protocol_selected_by_vote() {
    let c = coordinator();
    let a = member_id_for(&c).await;
    let b = member_id_for(&c).await;
    let ja = spawn_join(&c, join_req(&a, &[("range", "x"), ("roundrobin", "y")])).await;
    // a completed alone already (no delay): generation 1. b joins → rebalance.
    let ra = ja.await.unwrap();
    assert_eq!(ra.protocol_name.as_deref(), Some("range"));
    let jb = spawn_join(&c, join_req(&b, &[("roundrobin", "y"), ("range", "x")])).await;
    let c2 = Arc::clone(&c);
    let a2 = a.clone();
    let ja = tokio::spawn(async move {
        c2.join_group(join_req(&a2, &[("roundrobin", "y"), ("range", "x")]), 5)
            .await
    });
    let (ra, rb) = (ja.await.unwrap(), jb.await.unwrap());
    assert_eq!(ra.protocol_name.as_deref(), Some("roundrobin"));
    assert_eq!(rb.protocol_name.as_deref(), Some("roundrobin"));
    let leader_meta: Vec<&[u8]> = ra.members.iter().map(|m| m.metadata.as_ref()).collect();
    assert_eq!(leader_meta, vec![b"y".as_ref(), b"y".as_ref()]);
}

#[tokio::test]
async fn join_validation_errors() {
    let c = coordinator();
    let mut r = join_req("", &default_protocols());
    r.session_timeout_ms = 10;
    let resp = c.join_group(r, 5).await;
    assert_eq!(resp.error_code, code(ResponseError::InvalidSessionTimeout));
    let mut r = join_req("", &default_protocols());
    r.session_timeout_ms = 301_000;
    assert_eq!(
        c.join_group(r, 5).await.error_code,
        code(ResponseError::InvalidSessionTimeout)
    );
    let mut r = join_req("", &default_protocols());
    r.group_id = GroupId(s(""));
    assert_eq!(
        c.join_group(r, 5).await.error_code,
        code(ResponseError::InvalidGroupId)
    );
    // Unknown member id for a group that does not exist.
    let r = c
        .join_group(join_req("ghost", &default_protocols()), 5)
        .await;
    assert_eq!(r.error_code, code(ResponseError::UnknownMemberId));
    // Empty protocol list.
    let r = c.join_group(join_req("", &[]), 5).await;
    assert_eq!(r.error_code, code(ResponseError::InconsistentGroupProtocol));

    let _a = stable_single(&c).await;
    // Different protocol type.
    let mut r = join_req("", &default_protocols());
    r.protocol_type = s("connect");
    assert_eq!(
        c.join_group(r, 5).await.error_code,
        code(ResponseError::InconsistentGroupProtocol)
    );
    // No protocol in common.
    let r = c.join_group(join_req("", &[("sticky", "z")]), 5).await;
    assert_eq!(r.error_code, code(ResponseError::InconsistentGroupProtocol));
    // Unknown member of an existing group.
    let r = c
        .join_group(join_req("ghost", &default_protocols()), 5)
        .await;
    assert_eq!(r.error_code, code(ResponseError::UnknownMemberId));
    encodes(&r, 5);
    encodes(&r, 7);
}

#[tokio::test]
async fn rejoin_in_stable_follower_leader_and_changed_metadata() {
    let c = coordinator();
    let (a, b) = stable_pair(&c).await;
    // A follower rejoining with the same metadata gets the current generation.
    let r = c.join_group(join_req(&b, &default_protocols()), 5).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.generation_id, 2);
    assert!(r.members.is_empty());
    assert_eq!(state_of(&c), Some(GroupState::Stable));

    // The leader rejoining forces a rebalance (as Kafka).
    let ja = spawn_join(&c, join_req(&a, &default_protocols())).await;
    assert_eq!(state_of(&c), Some(GroupState::PreparingRebalance));
    assert_eq!(hb(&c, &b, 2), code(ResponseError::RebalanceInProgress));
    let jb = spawn_join(&c, join_req(&b, &default_protocols())).await;
    assert_eq!(ja.await.unwrap().generation_id, 3);
    assert_eq!(jb.await.unwrap().generation_id, 3);
    let sb_ = spawn_sync(&c, sync_req(&b, 3, &[])).await;
    c.sync_group(sync_req(&a, 3, &[(&b, "x")]), 3).await;
    assert_eq!(sb_.await.unwrap().assignment.as_ref(), b"x");

    // A follower with changed metadata triggers a rebalance.
    let jb = spawn_join(&c, join_req(&b, &[("range", "changed")])).await;
    assert_eq!(state_of(&c), Some(GroupState::PreparingRebalance));
    let ja = spawn_join(&c, join_req(&a, &default_protocols())).await;
    let ra = ja.await.unwrap();
    assert_eq!(ra.generation_id, 4);
    assert_eq!(ra.protocol_name.as_deref(), Some("range"));
    let meta_b = ra
        .members
        .iter()
        .find(|m| m.member_id.as_str() == b)
        .map(|m| m.metadata.clone());
    assert_eq!(meta_b.as_deref(), Some(b"changed".as_ref()));
    assert_eq!(jb.await.unwrap().generation_id, 4);
}

#[tokio::test]
async fn join_repeated_during_completing_rebalance_resends_generation() {
    let c = coordinator();
    let a = member_id_for(&c).await;
    let r = c.join_group(join_req(&a, &default_protocols()), 5).await;
    assert_eq!(r.generation_id, 1);
    let again = c.join_group(join_req(&a, &default_protocols()), 5).await;
    assert_eq!(again.error_code, 0);
    assert_eq!(again.generation_id, 1);
    assert_eq!(again.members.len(), 1, "still the leader");
    assert_eq!(state_of(&c), Some(GroupState::CompletingRebalance));
}

#[tokio::test]
async fn rebalance_timeout_removes_members_that_did_not_rejoin() {
    let c = coordinator();
    let (a, b) = stable_pair(&c).await;
    long_sessions(&c);
    let x = member_id_for(&c).await;
    let jx = spawn_join(&c, join_req(&x, &default_protocols())).await;
    let ja = spawn_join(&c, join_req(&a, &default_protocols())).await;
    // b never rejoins; the join completes at the rebalance timeout.
    c.tick(Instant::now() + Duration::from_millis(u64::try_from(REBALANCE_MS).unwrap() - 1_000));
    assert_eq!(state_of(&c), Some(GroupState::PreparingRebalance));
    c.tick(Instant::now() + Duration::from_millis(u64::try_from(REBALANCE_MS).unwrap() + 1_000));
    let (ra, rx) = (ja.await.unwrap(), jx.await.unwrap());
    assert_eq!(ra.generation_id, 3);
    assert_eq!(rx.generation_id, 3);
    assert_eq!(ra.members.len(), 2);
    assert!(ra.members.iter().all(|m| m.member_id.as_str() != b));
    assert_eq!(hb(&c, &b, 2), code(ResponseError::UnknownMemberId));
    let r = c.join_group(join_req(&b, &default_protocols()), 5).await;
    assert_eq!(r.error_code, code(ResponseError::UnknownMemberId));
}

#[tokio::test]
async fn session_expiry_removes_member_and_rebalances() {
    let c = coordinator();
    let (a, b) = stable_pair(&c).await;
    {
        let mut inner = c.lock();
        let g = inner.groups.get_mut(GROUP).unwrap();
        let ma = g.members.get_mut(&a).unwrap();
        ma.session_timeout = Duration::from_secs(120);
        ma.session_deadline = Instant::now() + Duration::from_secs(120);
    }
    c.tick(Instant::now() + Duration::from_secs(5));
    assert_eq!(state_of(&c), Some(GroupState::Stable));
    c.tick(Instant::now() + Duration::from_millis(u64::try_from(SESSION_MS).unwrap() + 500));
    assert_eq!(state_of(&c), Some(GroupState::PreparingRebalance));
    assert_eq!(hb(&c, &b, 2), code(ResponseError::UnknownMemberId));
    assert_eq!(hb(&c, &a, 2), code(ResponseError::RebalanceInProgress));
    // The survivor rejoins: the join completes at once (everyone rejoined).
    let r = c.join_group(join_req(&a, &default_protocols()), 5).await;
    assert_eq!(r.generation_id, 3);
    assert_eq!(r.members.len(), 1);

    // The last member expiring leaves the group Empty with a new generation.
    c.tick(Instant::now() + Duration::from_secs(200));
    assert_eq!(state_of(&c), Some(GroupState::Empty));
    assert_eq!(c.lock().groups.get(GROUP).unwrap().generation, 4);
}

#[tokio::test]
async fn heartbeat_keeps_session_alive() {
    let c = coordinator();
    let a = stable_single(&c).await;
    // A heartbeat "now" moves the deadline to now + 10 s; a tick 9 s later keeps it.
    assert_eq!(hb(&c, &a, 1), 0);
    c.tick(Instant::now() + Duration::from_secs(9));
    assert_eq!(state_of(&c), Some(GroupState::Stable));
}

#[tokio::test]
async fn pending_member_id_blocks_join_until_it_joins_or_expires() {
    let c = coordinator();
    let (a, b) = stable_pair(&c).await;
    let x = member_id_for(&c).await; // pending member
    let ja = spawn_join(&c, join_req(&a, &default_protocols())).await;
    let jb = spawn_join(&c, join_req(&b, &default_protocols())).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        state_of(&c),
        Some(GroupState::PreparingRebalance),
        "x is pending"
    );
    // The pending member's id expires after its session timeout.
    c.tick(Instant::now() + Duration::from_millis(u64::try_from(SESSION_MS).unwrap() + 100));
    let (ra, rb) = (ja.await.unwrap(), jb.await.unwrap());
    assert_eq!((ra.generation_id, rb.generation_id), (3, 3));
    assert_eq!(ra.members.len(), 2);
    let r = c.join_group(join_req(&x, &default_protocols()), 5).await;
    assert_eq!(r.error_code, code(ResponseError::UnknownMemberId));
}

#[tokio::test]
async fn leave_group_v0_and_v3() {
    let c = coordinator();
    let (a, b) = stable_pair(&c).await;
    let r = c.leave_group(
        LeaveGroupRequest::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_member_id(s(&b)),
        1,
    );
    assert_eq!(r.error_code, 0);
    encodes(&r, 1);
    assert_eq!(state_of(&c), Some(GroupState::PreparingRebalance));
    let r = c.leave_group(
        LeaveGroupRequest::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_member_id(s(&b)),
        1,
    );
    assert_eq!(r.error_code, code(ResponseError::UnknownMemberId));

    let r = c.leave_group(
        LeaveGroupRequest::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_members(vec![
                MemberIdentity::default().with_member_id(s(&a)),
                MemberIdentity::default().with_member_id(s("ghost")),
            ]),
        3,
    );
    assert_eq!(r.error_code, 0);
    assert_eq!(r.members.len(), 2);
    assert_eq!(r.members[0].error_code, 0);
    assert_eq!(
        r.members[1].error_code,
        code(ResponseError::UnknownMemberId)
    );
    encodes(&r, 3);
    encodes(&r, 5);
    assert_eq!(state_of(&c), Some(GroupState::Empty));
    assert_eq!(c.lock().groups.get(GROUP).unwrap().generation, 3);

    // Unknown group.
    let r = c.leave_group(
        LeaveGroupRequest::default()
            .with_group_id(GroupId(s("nope")))
            .with_member_id(s("m")),
        0,
    );
    assert_eq!(r.error_code, code(ResponseError::UnknownMemberId));
}

#[tokio::test]
async fn leave_of_a_member_waiting_in_join_answers_it() {
    let c = coordinator();
    let (a, b) = stable_pair(&c).await;
    let ja = spawn_join(&c, join_req(&a, &default_protocols())).await;
    // b leaves instead of rejoining: a's join completes with a alone.
    c.leave_group(
        LeaveGroupRequest::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_member_id(s(&b)),
        0,
    );
    let ra = ja.await.unwrap();
    assert_eq!(ra.generation_id, 3);
    assert_eq!(ra.members.len(), 1);
}

#[tokio::test]
async fn pending_sync_expiry_removes_member_that_never_synced() {
    let c = coordinator();
    let a = stable_single(&c).await;
    let b = member_id_for(&c).await;
    let jb = spawn_join(&c, join_req(&b, &default_protocols())).await;
    let ja = spawn_join(&c, join_req(&a, &default_protocols())).await;
    assert_eq!(ja.await.unwrap().generation_id, 2);
    assert_eq!(jb.await.unwrap().generation_id, 2);
    c.sync_group(sync_req(&a, 2, &[(&a, "pa"), (&b, "pb")]), 3)
        .await;
    long_sessions(&c);
    // b never syncs: removed after the rebalance timeout; the group rebalances.
    c.tick(Instant::now() + Duration::from_millis(u64::try_from(REBALANCE_MS).unwrap() + 100));
    assert!(!c.lock().groups.get(GROUP).unwrap().members.contains_key(&b));
    assert_eq!(state_of(&c), Some(GroupState::PreparingRebalance));
}

#[tokio::test]
async fn rebalance_during_completing_rebalance_fails_waiting_syncs() {
    let c = coordinator();
    let a = stable_single(&c).await;
    let b = member_id_for(&c).await;
    let jb = spawn_join(&c, join_req(&b, &default_protocols())).await;
    let ja = spawn_join(&c, join_req(&a, &default_protocols())).await;
    ja.await.unwrap();
    jb.await.unwrap();
    let sb_ = spawn_sync(&c, sync_req(&b, 2, &[])).await;
    // A third member joins before the leader syncs.
    let x = member_id_for(&c).await;
    let _jx = spawn_join(&c, join_req(&x, &default_protocols())).await;
    let r = sb_.await.unwrap();
    assert_eq!(r.error_code, code(ResponseError::RebalanceInProgress));
    // A commit from the now-stale generation... still generation 2 but preparing: allowed.
    assert_eq!(state_of(&c), Some(GroupState::PreparingRebalance));
}

#[tokio::test]
async fn initial_rebalance_delay_waits_and_extends() {
    let c = Arc::new(GroupCoordinator::new(settings(Duration::from_secs(3))));
    let a = member_id_for(&c).await;
    let ja = spawn_join(&c, join_req(&a, &default_protocols())).await;
    assert_eq!(state_of(&c), Some(GroupState::PreparingRebalance));
    let b = member_id_for(&c).await;
    let jb = spawn_join(&c, join_req(&b, &default_protocols())).await;
    let t0 = Instant::now();
    // Everyone joined, but the initial delay still holds the join...
    assert_eq!(state_of(&c), Some(GroupState::PreparingRebalance));
    // ...and b arriving during it extends it once more.
    c.tick(t0 + Duration::from_millis(3_100));
    assert_eq!(state_of(&c), Some(GroupState::PreparingRebalance));
    c.tick(t0 + Duration::from_millis(6_300));
    assert_eq!(state_of(&c), Some(GroupState::CompletingRebalance));
    let (ra, rb) = (ja.await.unwrap(), jb.await.unwrap());
    assert_eq!((ra.generation_id, rb.generation_id), (1, 1));
    assert_eq!(ra.leader.as_str(), a);
    assert_eq!(ra.members.len(), 2);
}

#[tokio::test]
async fn static_membership_replaces_member_id_and_fences_old() {
    let c = coordinator();
    let mut req = join_req("", &default_protocols());
    req.group_instance_id = Some(s("instance-1"));
    // Static members get no MEMBER_ID_REQUIRED.
    let r = c.join_group(req.clone(), 5).await;
    assert_eq!(r.error_code, 0);
    let old = r.member_id.to_string();
    c.sync_group(sync_req(&old, 1, &[(&old, "pa")]), 3).await;
    // Restart with the same instance id: new member id, same generation, no rebalance.
    let r = c.join_group(req, 5).await;
    assert_eq!(r.error_code, 0);
    let new = r.member_id.to_string();
    assert_ne!(new, old);
    assert_eq!(r.generation_id, 1);
    assert_eq!(state_of(&c), Some(GroupState::Stable));
    let fenced = c.heartbeat(
        HeartbeatRequest::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_generation_id(1)
            .with_member_id(s(&old))
            .with_group_instance_id(Some(s("instance-1"))),
        3,
    );
    assert_eq!(fenced.error_code, code(ResponseError::FencedInstanceId));
    let s2 = c.sync_group(sync_req(&new, 1, &[]), 3).await;
    assert_eq!(s2.assignment.as_ref(), b"pa");
}

fn commit_req(generation: i32, member_id: &str, parts: &[(&str, i32, i64)]) -> OffsetCommitRequest {
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for (t, p, o) in parts {
        let part = OffsetCommitRequestPartition::default()
            .with_partition_index(*p)
            .with_committed_offset(*o)
            .with_committed_leader_epoch(5)
            .with_committed_metadata(Some(s("meta")));
        match topics.iter_mut().find(|x| x.name.as_str() == *t) {
            Some(topic) => topic.partitions.push(part),
            None => topics.push(
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s(t)))
                    .with_partitions(vec![part]),
            ),
        }
    }
    OffsetCommitRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member_id))
        .with_topics(topics)
}

fn exists(topic: &str, partition: i32) -> bool {
    topic != "missing" && (0..4).contains(&partition)
}

fn commit_errors(r: &OffsetCommitResponse) -> Vec<i16> {
    r.topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

/// Fetches (v7 form) the committed offsets of `parts`: (offset, epoch, metadata, error).
fn fetch(
    c: &GroupCoordinator,
    parts: Option<&[(&str, i32)]>,
    require_stable: bool,
) -> Vec<(String, i32, i64, i32, String, i16)> {
    let topics = parts.map(|parts| {
        let mut topics: Vec<OffsetFetchRequestTopic> = Vec::new();
        for (t, p) in parts {
            match topics.iter_mut().find(|x| x.name.as_str() == *t) {
                Some(topic) => topic.partition_indexes.push(*p),
                None => topics.push(
                    OffsetFetchRequestTopic::default()
                        .with_name(TopicName(s(t)))
                        .with_partition_indexes(vec![*p]),
                ),
            }
        }
        topics
    });
    let r = c.offset_fetch(
        OffsetFetchRequest::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_topics(topics)
            .with_require_stable(require_stable),
        7,
    );
    assert_eq!(r.error_code, 0);
    encodes(&r, 7);
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    t.name.to_string(),
                    p.partition_index,
                    p.committed_offset,
                    p.committed_leader_epoch,
                    p.metadata.as_deref().unwrap_or("").to_owned(),
                    p.error_code,
                )
            })
        })
        .collect()
}

#[tokio::test]
async fn simple_commit_and_fetch() {
    let c = coordinator();
    assert_eq!(
        fetch(&c, Some(&[("t", 0)]), false),
        vec![("t".into(), 0, -1, -1, "".into(), 0)]
    );
    let r = c.offset_commit(
        commit_req(-1, "", &[("t", 0, 10), ("t", 1, 20), ("missing", 0, 1)]),
        8,
        &exists,
    );
    assert_eq!(
        commit_errors(&r),
        vec![0, 0, code(ResponseError::UnknownTopicOrPartition)]
    );
    encodes(&r, 8);
    encodes(&r, 2);
    assert_eq!(
        fetch(&c, Some(&[("t", 0), ("t", 1), ("t", 2)]), false),
        vec![
            ("t".into(), 0, 10, 5, "meta".into(), 0),
            ("t".into(), 1, 20, 5, "meta".into(), 0),
            ("t".into(), 2, -1, -1, "".into(), 0),
        ]
    );
    // topics = null: every committed partition.
    assert_eq!(fetch(&c, None, false).len(), 2);
    // A commit with a generation to a group that does not exist.
    let mut other = commit_req(3, "m", &[("t", 0, 1)]);
    other.group_id = GroupId(s("other"));
    let r = c.offset_commit(other, 8, &exists);
    assert_eq!(
        commit_errors(&r),
        vec![code(ResponseError::IllegalGeneration)]
    );
    // Metadata too large.
    let mut big = commit_req(-1, "", &[("t", 3, 1)]);
    big.topics[0].partitions[0].committed_metadata = Some(s(&"x".repeat(5000)));
    let r = c.offset_commit(big, 8, &exists);
    assert_eq!(
        commit_errors(&r),
        vec![code(ResponseError::OffsetMetadataTooLarge)]
    );
}

#[tokio::test]
async fn offset_fetch_v8_groups_form_and_old_versions_encode() {
    let c = coordinator();
    c.offset_commit(commit_req(-1, "", &[("t", 0, 10)]), 8, &exists);
    let r = c.offset_fetch(
        OffsetFetchRequest::default().with_groups(vec![
            OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(s(GROUP)))
                .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                    .with_name(TopicName(s("t")))
                    .with_partition_indexes(vec![0, 1])])),
            OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(s("unknown")))
                .with_topics(None),
        ]),
        8,
    );
    encodes(&r, 8);
    encodes(&r, 9);
    assert_eq!(r.groups.len(), 2);
    let p = &r.groups[0].topics[0].partitions;
    assert_eq!((p[0].committed_offset, p[1].committed_offset), (10, -1));
    assert!(r.groups[1].topics.is_empty());
    for v in 1..=7 {
        let r = c.offset_fetch(
            OffsetFetchRequest::default()
                .with_group_id(GroupId(s(GROUP)))
                .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partition_indexes(vec![0])])),
            v,
        );
        encodes(&r, v);
        assert_eq!(r.topics[0].partitions[0].committed_offset, 10);
    }
}

#[tokio::test]
async fn member_commit_generation_checks() {
    let c = coordinator();
    let a = stable_single(&c).await;
    let r = c.offset_commit(commit_req(1, &a, &[("t", 0, 5)]), 8, &exists);
    assert_eq!(commit_errors(&r), vec![0]);
    let r = c.offset_commit(commit_req(0, &a, &[("t", 0, 6)]), 8, &exists);
    assert_eq!(
        commit_errors(&r),
        vec![code(ResponseError::IllegalGeneration)]
    );
    let r = c.offset_commit(commit_req(1, "ghost", &[("t", 0, 6)]), 8, &exists);
    assert_eq!(
        commit_errors(&r),
        vec![code(ResponseError::UnknownMemberId)]
    );
    // A simple commit to a group with members is rejected.
    let r = c.offset_commit(commit_req(-1, "", &[("t", 0, 6)]), 8, &exists);
    assert_eq!(
        commit_errors(&r),
        vec![code(ResponseError::UnknownMemberId)]
    );
    assert_eq!(fetch(&c, Some(&[("t", 0)]), false)[0].2, 5);

    // During CompletingRebalance: REBALANCE_IN_PROGRESS; during PreparingRebalance: allowed.
    let b = member_id_for(&c).await;
    let jb = spawn_join(&c, join_req(&b, &default_protocols())).await;
    let r = c.offset_commit(commit_req(1, &a, &[("t", 0, 7)]), 8, &exists);
    assert_eq!(commit_errors(&r), vec![0], "allowed while preparing");
    let ja = spawn_join(&c, join_req(&a, &default_protocols())).await;
    ja.await.unwrap();
    jb.await.unwrap();
    let r = c.offset_commit(commit_req(2, &a, &[("t", 0, 8)]), 8, &exists);
    assert_eq!(
        commit_errors(&r),
        vec![code(ResponseError::RebalanceInProgress)]
    );
    assert_eq!(fetch(&c, Some(&[("t", 0)]), false)[0].2, 7);
}

fn txn_req(producer_id: i64, parts: &[(&str, i32, i64)]) -> TxnOffsetCommitRequest {
    TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s("tx")))
        .with_group_id(GroupId(s(GROUP)))
        .with_producer_id(ProducerId(producer_id))
        .with_producer_epoch(0)
        .with_topics(vec![TxnOffsetCommitRequestTopic::default()
            .with_name(TopicName(s(parts[0].0)))
            .with_partitions(
                parts
                    .iter()
                    .map(|(_, p, o)| {
                        TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(*p)
                            .with_committed_offset(*o)
                            .with_committed_leader_epoch(-1)
                            .with_committed_metadata(Some(s("")))
                    })
                    .collect(),
            )])
}

fn txn_errors(r: &TxnOffsetCommitResponse) -> Vec<i16> {
    r.topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

#[tokio::test]
async fn txn_offsets_pending_until_commit_marker() {
    let c = coordinator();
    let r = c.txn_offset_commit(txn_req(7, &[("t", 0, 100), ("t", 1, 200)]), 0, &exists);
    assert_eq!(txn_errors(&r), vec![0, 0]);
    encodes(&r, 0);
    encodes(&r, 3);
    // Not visible yet; require_stable answers UNSTABLE_OFFSET_COMMIT.
    assert_eq!(fetch(&c, Some(&[("t", 0)]), false)[0].2, -1);
    let unstable = fetch(&c, Some(&[("t", 0), ("t", 2)]), true);
    assert_eq!(unstable[0].5, code(ResponseError::UnstableOffsetCommit));
    assert_eq!(unstable[1].5, 0, "other partitions are stable");
    c.complete_txn(GROUP, 7, true);
    let f = fetch(&c, Some(&[("t", 0), ("t", 1)]), true);
    assert_eq!((f[0].2, f[1].2), (100, 200));
    assert_eq!((f[0].5, f[1].5), (0, 0));

    // Abort drops the staged offsets.
    c.txn_offset_commit(txn_req(7, &[("t", 0, 150)]), 2, &exists);
    c.complete_txn(GROUP, 7, false);
    assert_eq!(fetch(&c, Some(&[("t", 0)]), true)[0].2, 100);

    // A consumer commit written after the staged one wins over it on commit.
    c.txn_offset_commit(txn_req(8, &[("t", 0, 300)]), 2, &exists);
    c.offset_commit(commit_req(-1, "", &[("t", 0, 400)]), 8, &exists);
    c.complete_txn(GROUP, 8, true);
    assert_eq!(fetch(&c, Some(&[("t", 0)]), false)[0].2, 400);

    // Unknown partitions; completing an unknown group/producer is a no-op.
    let r = c.txn_offset_commit(txn_req(9, &[("missing", 0, 1)]), 2, &exists);
    assert_eq!(
        txn_errors(&r),
        vec![code(ResponseError::UnknownTopicOrPartition)]
    );
    c.complete_txn("nope", 1, true);
    c.complete_txn(GROUP, 12345, true);
}

#[tokio::test]
async fn txn_offset_commit_v3_generation_checks() {
    let c = coordinator();
    let a = stable_single(&c).await;
    let with = |generation: i32, member: &str, instance: Option<&str>| {
        txn_req(7, &[("t", 0, 1)])
            .with_generation_id(generation)
            .with_member_id(s(member))
            .with_group_instance_id(instance.map(s))
    };
    assert_eq!(
        txn_errors(&c.txn_offset_commit(with(1, &a, None), 3, &exists)),
        vec![0]
    );
    assert_eq!(
        txn_errors(&c.txn_offset_commit(with(0, &a, None), 3, &exists)),
        vec![code(ResponseError::IllegalGeneration)]
    );
    assert_eq!(
        txn_errors(&c.txn_offset_commit(with(1, "ghost", None), 3, &exists)),
        vec![code(ResponseError::UnknownMemberId)]
    );
    assert_eq!(
        txn_errors(&c.txn_offset_commit(with(1, &a, Some("inst")), 3, &exists)),
        vec![code(ResponseError::UnknownMemberId)]
    );
    // generation -1 without member: allowed even though the group has members.
    assert_eq!(
        txn_errors(&c.txn_offset_commit(with(-1, "", None), 3, &exists)),
        vec![0]
    );
}

#[tokio::test]
async fn txn_offset_commit_fenced_static_member() {
    let c = coordinator();
    let mut req = join_req("", &default_protocols());
    req.group_instance_id = Some(s("i1"));
    let r = c.join_group(req, 5).await;
    let member = r.member_id.to_string();
    let t = txn_req(7, &[("t", 0, 1)])
        .with_generation_id(1)
        .with_member_id(s("someone-else"))
        .with_group_instance_id(Some(s("i1")));
    assert_eq!(
        txn_errors(&c.txn_offset_commit(t, 3, &exists)),
        vec![code(ResponseError::FencedInstanceId)]
    );
    let t = txn_req(7, &[("t", 0, 1)])
        .with_generation_id(1)
        .with_member_id(s(&member))
        .with_group_instance_id(Some(s("i1")));
    assert_eq!(txn_errors(&c.txn_offset_commit(t, 3, &exists)), vec![0]);
}

#[tokio::test]
async fn describe_list_delete() {
    let c = coordinator();
    let _a = stable_single(&c).await;
    let mut other = commit_req(-1, "", &[("t", 0, 1)]);
    other.group_id = GroupId(s("simple"));
    c.offset_commit(other, 8, &exists);

    let l = c.list_groups(ListGroupsRequest::default(), 4);
    let mut listed: Vec<(String, String, String)> = l
        .groups
        .iter()
        .map(|g| {
            (
                g.group_id.to_string(),
                g.protocol_type.to_string(),
                g.group_state.to_string(),
            )
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        vec![
            ("g".into(), "consumer".into(), "Stable".into()),
            ("simple".into(), "".into(), "Empty".into()),
        ]
    );
    let l = c.list_groups(
        ListGroupsRequest::default().with_states_filter(vec![s("empty")]),
        4,
    );
    assert_eq!(l.groups.len(), 1);
    assert_eq!(l.groups[0].group_id.as_str(), "simple");
    for v in 0..=5 {
        encodes(&c.list_groups(ListGroupsRequest::default(), v), v);
    }
    let l = c.list_groups(
        ListGroupsRequest::default().with_types_filter(vec![s("consumer")]),
        5,
    );
    assert!(l.groups.is_empty());

    let d = c.describe_groups(
        DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(s("g")), GroupId(s("nope"))])
            .with_include_authorized_operations(true),
        5,
    );
    assert_eq!(d.groups[1].group_state.as_str(), "Dead");
    assert_eq!(d.groups[1].error_code, 0);
    for v in 0..=6 {
        let d = c.describe_groups(
            DescribeGroupsRequest::default().with_groups(vec![GroupId(s("g")), GroupId(s("nope"))]),
            v,
        );
        encodes(&d, v);
        if v >= 6 {
            assert_eq!(d.groups[1].error_code, code(ResponseError::GroupIdNotFound));
        }
    }

    let r = c.delete_groups(
        DeleteGroupsRequest::default().with_groups_names(vec![
            GroupId(s("g")),
            GroupId(s("simple")),
            GroupId(s("nope")),
        ]),
        2,
    );
    encodes(&r, 2);
    let errors: Vec<i16> = r.results.iter().map(|x| x.error_code).collect();
    assert_eq!(
        errors,
        vec![
            code(ResponseError::NonEmptyGroup),
            0,
            code(ResponseError::GroupIdNotFound)
        ]
    );
    assert!(!c.lock().groups.contains_key("simple"));
}

#[tokio::test]
async fn responses_encode_at_every_version() {
    for v in 0..=9 {
        let c = coordinator();
        let r = c.join_group(join_req("", &default_protocols()), v).await;
        encodes(&r, v);
        let r = c
            .join_group(join_req(&r.member_id, &default_protocols()), v)
            .await;
        assert_eq!(r.error_code, 0, "v{v}");
        assert_eq!(r.members.len(), 1, "v{v}");
        encodes(&r, v);
    }
    let c = coordinator();
    let (a, _b) = stable_pair(&c).await;
    for v in 0..=5 {
        encodes(&c.sync_group(sync_req(&a, 2, &[]), v).await, v);
    }
    for v in 0..=4 {
        encodes(
            &c.heartbeat(
                HeartbeatRequest::default()
                    .with_group_id(GroupId(s(GROUP)))
                    .with_generation_id(2)
                    .with_member_id(s(&a)),
                v,
            ),
            v,
        );
    }
    for v in 2..=9 {
        encodes(
            &c.offset_commit(commit_req(2, &a, &[("t", 0, 1)]), v, &exists),
            v,
        );
    }
}

#[tokio::test]
async fn sync_v5_checks_and_echoes_protocol() {
    let c = coordinator();
    let a = member_id_for(&c).await;
    c.join_group(join_req(&a, &default_protocols()), 5).await;
    let bad = sync_req(&a, 1, &[]).with_protocol_type(Some(s("connect")));
    let r = c.sync_group(bad, 5).await;
    assert_eq!(r.error_code, code(ResponseError::InconsistentGroupProtocol));
    let bad = sync_req(&a, 1, &[]).with_protocol_name(Some(s("roundrobin")));
    assert_eq!(
        c.sync_group(bad, 5).await.error_code,
        code(ResponseError::InconsistentGroupProtocol)
    );
    let ok = sync_req(&a, 1, &[(&a, "x")])
        .with_protocol_type(Some(s("consumer")))
        .with_protocol_name(Some(s("range")));
    let r = c.sync_group(ok, 5).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.protocol_type.as_deref(), Some("consumer"));
    assert_eq!(r.protocol_name.as_deref(), Some("range"));
    encodes(&r, 5);
}
