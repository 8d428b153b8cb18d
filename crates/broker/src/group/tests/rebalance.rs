//! Rebalances and their timers: rebalance and session timeouts, pending members and syncs,
//! the initial delayed join.

use super::*;

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
async fn initial_rebalance_delay_extends_for_an_emptied_group_too() {
    // Kafka extends the initial delayed join whenever the rebalance started from Empty
    // (`previousState == EMPTY`), not only for a group's first generation.
    let c = Arc::new(GroupCoordinator::new(settings(Duration::from_secs(3))));
    let mut emptied = Group::new(GROUP);
    emptied.generation = 5;
    c.lock().groups.insert(GROUP.to_owned(), emptied);
    let a = member_id_for(&c).await;
    let ja = spawn_join(&c, join_req(&a, &default_protocols())).await;
    let b = member_id_for(&c).await;
    let jb = spawn_join(&c, join_req(&b, &default_protocols())).await;
    let t0 = Instant::now();
    c.tick(t0 + Duration::from_millis(3_100));
    assert_eq!(state_of(&c), Some(GroupState::PreparingRebalance));
    c.tick(t0 + Duration::from_millis(6_300));
    assert_eq!(state_of(&c), Some(GroupState::CompletingRebalance));
    let (ra, rb) = (ja.await.unwrap(), jb.await.unwrap());
    assert_eq!((ra.generation_id, rb.generation_id), (6, 6));
}

#[tokio::test]
async fn removed_member_waiting_in_join_gets_no_member_id() {
    // Kafka answers UNKNOWN_MEMBER_ID with an empty member id, so the client starts over.
    let c = coordinator();
    let (_a, _b) = stable_pair(&c).await;
    let x = member_id_for(&c).await;
    let jx = spawn_join(&c, join_req(&x, &default_protocols())).await;
    assert_eq!(state_of(&c), Some(GroupState::PreparingRebalance));
    let r = c.leave_group(
        LeaveGroupRequest::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_member_id(s(&x)),
        0,
    );
    assert_eq!(r.error_code, 0);
    let rx = jx.await.unwrap();
    assert_eq!(rx.error_code, code(ResponseError::UnknownMemberId));
    assert_eq!(rx.member_id.as_str(), "");
    assert_eq!(rx.generation_id, -1);
}
