//! JoinGroup, SyncGroup, Heartbeat and LeaveGroup: generations, rejoins, static members.

use kafka_protocol::messages::leave_group_request::MemberIdentity;

use super::*;

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
