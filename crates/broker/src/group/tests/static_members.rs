//! Static membership (KIP-345) as Kafka's classic coordinator handles it: rejoins under a
//! new member id in Stable, the static leader's answer by version, LeaveGroup by instance id.

use kafka_protocol::messages::leave_group_request::MemberIdentity;

use super::*;

/// A JoinGroup of the static member `instance` without member id.
fn static_join_req(instance: &str, protocols: &[(&str, &str)]) -> JoinGroupRequest {
    let mut req = join_req("", protocols);
    req.group_instance_id = Some(s(instance));
    req
}

/// One static member `instance-1`, Stable at generation 1 with assignment "pa".
async fn stable_static(c: &Arc<GroupCoordinator>) -> String {
    let r = c
        .join_group(static_join_req("instance-1", &default_protocols()), 5)
        .await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.generation_id, 1);
    let id = r.member_id.to_string();
    let s = c.sync_group(sync_req(&id, 1, &[(&id, "pa")]), 3).await;
    assert_eq!(s.error_code, 0);
    id
}

fn leave(c: &GroupCoordinator, member_id: &str, instance: Option<&str>) -> i16 {
    let r = c.leave_group(
        LeaveGroupRequest::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_members(vec![MemberIdentity::default()
                .with_member_id(s(member_id))
                .with_group_instance_id(instance.map(s))]),
        3,
    );
    assert_eq!(r.error_code, 0);
    r.members[0].error_code
}

#[tokio::test]
async fn static_rejoin_with_new_metadata_in_stable_keeps_the_generation() {
    // Kafka rebalances only if the protocol it would select changes, not on new metadata.
    let c = coordinator();
    stable_static(&c).await;
    let r = c
        .join_group(
            static_join_req("instance-1", &[("range", "changed"), ("roundrobin", "x")]),
            5,
        )
        .await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.generation_id, 1);
    assert_eq!(state_of(&c), Some(GroupState::Stable));
    let new = r.member_id.to_string();
    let s2 = c.sync_group(sync_req(&new, 1, &[]), 3).await;
    assert_eq!(s2.assignment.as_ref(), b"pa");
    let d = c.describe_groups(
        DescribeGroupsRequest::default().with_groups(vec![GroupId(s_(GROUP))]),
        5,
    );
    assert_eq!(d.groups[0].members[0].member_metadata.as_ref(), b"changed");
}

#[tokio::test]
async fn static_rejoin_changing_the_selected_protocol_rebalances() {
    let c = coordinator();
    stable_static(&c).await;
    let r = c
        .join_group(
            static_join_req("instance-1", &[("roundrobin", "y"), ("range", "x")]),
            5,
        )
        .await;
    assert_eq!(r.error_code, 0);
    assert_eq!(
        r.generation_id, 2,
        "the rebalance completed with the one member"
    );
    assert_eq!(r.protocol_name.as_deref(), Some("roundrobin"));
    assert_eq!(state_of(&c), Some(GroupState::CompletingRebalance));
}

#[tokio::test]
async fn static_leader_rejoin_skips_assignment_from_v9_and_is_no_leader_below() {
    let c = coordinator();
    let old = stable_static(&c).await;
    let r = c
        .join_group(static_join_req("instance-1", &default_protocols()), 9)
        .await;
    assert_eq!(r.error_code, 0);
    let v9 = r.member_id.to_string();
    assert_ne!(v9, old);
    assert_eq!(r.leader.as_str(), v9);
    assert!(r.skip_assignment);
    assert_eq!(r.members.len(), 1, "the leader gets the member list");
    encodes(&r, 9);

    // Below v9 Kafka names the previous leader id, so the member does not assign.
    let r = c
        .join_group(static_join_req("instance-1", &default_protocols()), 5)
        .await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.generation_id, 1);
    assert_ne!(r.member_id.as_str(), v9);
    assert_eq!(r.leader.as_str(), v9);
    assert!(r.members.is_empty());
    assert_eq!(state_of(&c), Some(GroupState::Stable));
}

#[tokio::test]
async fn leave_checks_member_and_instance_ids_as_kafka() {
    let c = coordinator();
    let a = stable_static(&c).await;
    let b = member_id_for(&c).await;
    let jb = spawn_join(&c, join_req(&b, &default_protocols())).await;
    let ja = c
        .join_group(
            join_req(&a, &default_protocols()).with_group_instance_id(Some(s("instance-1"))),
            5,
        )
        .await;
    assert_eq!(ja.generation_id, 2);
    assert_eq!(jb.await.unwrap().generation_id, 2);

    // A dynamic member named with an unknown instance id is not removed.
    assert_eq!(
        leave(&c, &b, Some("ghost")),
        code(ResponseError::UnknownMemberId)
    );
    // A static member named with another member id is fenced.
    assert_eq!(
        leave(&c, &b, Some("instance-1")),
        code(ResponseError::FencedInstanceId)
    );
    assert_eq!(c.lock().groups.get(GROUP).unwrap().members.len(), 2);
    assert_eq!(state_of(&c), Some(GroupState::CompletingRebalance));
    // Without member id, the instance id names the member.
    assert_eq!(leave(&c, "", Some("instance-1")), 0);
    assert!(!c.lock().groups.get(GROUP).unwrap().members.contains_key(&a));
    assert_eq!(
        leave(&c, "", Some("instance-1")),
        code(ResponseError::UnknownMemberId)
    );
    assert_eq!(leave(&c, &b, None), 0);
    assert_eq!(state_of(&c), Some(GroupState::Empty));
}

/// Moves every member's session deadline of the group into the past, as if its session
/// timeout had passed without a heartbeat (no tick runs in these tests).
fn sessions_passed(c: &GroupCoordinator) {
    let mut inner = c.lock();
    let group = inner.groups.get_mut(GROUP).unwrap();
    let past = Instant::now()
        .checked_sub(Duration::from_millis(1))
        .unwrap();
    for member in group.members.values_mut() {
        member.session_deadline = past;
    }
}

#[tokio::test]
async fn requests_for_the_group_expire_sessions_past_their_deadline_first() {
    // DescribeGroups sees the group Empty, without waiting for a tick
    let c = coordinator();
    stable_static(&c).await;
    sessions_passed(&c);
    let d = c.describe_groups(
        DescribeGroupsRequest::default().with_groups(vec![GroupId(s(GROUP))]),
        5,
    );
    assert_eq!(d.groups[0].group_state.as_str(), "Empty");
    assert!(d.groups[0].members.is_empty());

    // DeleteGroups of a group whose only (static) member's session passed succeeds
    let c = coordinator();
    stable_static(&c).await;
    let delete = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s(GROUP))]);
    let r = c.delete_groups(delete.clone(), 2);
    assert_eq!(r.results[0].error_code, code(ResponseError::NonEmptyGroup));
    sessions_passed(&c);
    let r = c.delete_groups(delete, 2);
    assert_eq!(r.results[0].error_code, 0);

    // a heartbeat arriving after the deadline no longer keeps the member
    let c = coordinator();
    let id = stable_static(&c).await;
    sessions_passed(&c);
    let h = c.heartbeat(
        HeartbeatRequest::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_member_id(s(&id))
            .with_generation_id(1),
        4,
    );
    assert_eq!(h.error_code, code(ResponseError::UnknownMemberId));
}
