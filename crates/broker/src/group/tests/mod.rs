//! Unit tests of the group coordinator, driven with constructed requests through the wire
//! handlers (as the dispatcher calls them), one file per concept.

mod admin;
mod membership;
mod offsets;
mod rebalance;
mod static_members;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::ResponseError;

use super::state::{Group, GroupState};
use super::*;
use crate::handlers::group_offsets::PartitionExists;
use crate::handlers::{group, group_offsets};

/// The client id used as member id prefix.
const DEFAULT_CLIENT_ID: &str = "consumer";

/// The group APIs as the tests call them: a request and its version in, the response out.
trait Wire {
    fn join_group(
        &self,
        req: JoinGroupRequest,
        version: i16,
    ) -> impl Future<Output = JoinGroupResponse> + Send;
    fn sync_group(
        &self,
        req: SyncGroupRequest,
        version: i16,
    ) -> impl Future<Output = SyncGroupResponse> + Send;
    fn heartbeat(&self, req: HeartbeatRequest, version: i16) -> HeartbeatResponse;
    fn leave_group(&self, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse;
    fn describe_groups(&self, req: DescribeGroupsRequest, version: i16) -> DescribeGroupsResponse;
    fn list_groups(&self, req: ListGroupsRequest, version: i16) -> ListGroupsResponse;
    fn delete_groups(&self, req: DeleteGroupsRequest, version: i16) -> DeleteGroupsResponse;
    fn offset_commit(
        &self,
        req: OffsetCommitRequest,
        version: i16,
        exists: PartitionExists<'_>,
    ) -> OffsetCommitResponse;
    fn offset_fetch(&self, req: OffsetFetchRequest, version: i16) -> OffsetFetchResponse;
    fn txn_offset_commit(
        &self,
        req: TxnOffsetCommitRequest,
        version: i16,
        exists: PartitionExists<'_>,
    ) -> TxnOffsetCommitResponse;
}

impl Wire for GroupCoordinator {
    fn join_group(
        &self,
        req: JoinGroupRequest,
        version: i16,
    ) -> impl Future<Output = JoinGroupResponse> + Send {
        group::join_group(self, req, version, DEFAULT_CLIENT_ID, "")
    }
    fn sync_group(
        &self,
        req: SyncGroupRequest,
        version: i16,
    ) -> impl Future<Output = SyncGroupResponse> + Send {
        group::sync_group(self, req, version)
    }
    fn heartbeat(&self, req: HeartbeatRequest, version: i16) -> HeartbeatResponse {
        group::heartbeat(self, req, version)
    }
    fn leave_group(&self, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
        group::leave_group(self, req, version)
    }
    fn describe_groups(&self, req: DescribeGroupsRequest, version: i16) -> DescribeGroupsResponse {
        group::describe_groups(self, req, version)
    }
    fn list_groups(&self, req: ListGroupsRequest, version: i16) -> ListGroupsResponse {
        group::list_groups(self, req, version)
    }
    fn delete_groups(&self, req: DeleteGroupsRequest, version: i16) -> DeleteGroupsResponse {
        group::delete_groups(self, req, version)
    }
    fn offset_commit(
        &self,
        req: OffsetCommitRequest,
        version: i16,
        exists: PartitionExists<'_>,
    ) -> OffsetCommitResponse {
        group_offsets::commit(self, req, version, exists)
    }
    fn offset_fetch(&self, req: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
        group_offsets::offset_fetch(self, req, version)
    }
    fn txn_offset_commit(
        &self,
        req: TxnOffsetCommitRequest,
        version: i16,
        exists: PartitionExists<'_>,
    ) -> TxnOffsetCommitResponse {
        group_offsets::stage_txn(self, req, version, exists)
    }
}

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

fn s_(v: &str) -> StrBytes {
    s(v)
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
