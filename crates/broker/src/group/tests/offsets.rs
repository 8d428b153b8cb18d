//! Committed offsets: consumer commits, fetches and transactional offsets.

use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};

use super::*;

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
