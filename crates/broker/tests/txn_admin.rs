//! The admin view of transactions, producers and group offsets: ListTransactions,
//! DescribeTransactions, DescribeProducers and OffsetDelete.

mod common;

use std::time::Duration;

use common::raw::RawClient;
use common::*;
use kafka_eos_broker::protocol::messages::describe_producers_request::TopicRequest;
use kafka_eos_broker::protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_eos_broker::protocol::messages::{
    DescribeProducersRequest, DescribeTransactionsRequest, GroupId, ListTransactionsRequest,
    OffsetDeleteRequest, TopicName, TransactionalId,
};
use kafka_eos_broker::protocol::ResponseError;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};

#[test]
fn transactions_and_producers_are_listed_and_described() {
    let broker = broker();
    broker.create_topic("adm", 1).unwrap();
    let open = txn_producer(&broker, "tx-open");
    open.begin_transaction().unwrap();
    send(&open, "adm", 0, "k", "pending");
    open.flush(TIMEOUT).unwrap();
    let done = txn_producer(&broker, "tx-done");
    done.begin_transaction().unwrap();
    send(&done, "adm", 0, "k", "committed");
    done.commit_transaction(TIMEOUT).unwrap();

    let mut raw = RawClient::connect(broker.local_addr());
    let all = raw.request(
        1,
        &ListTransactionsRequest::default().with_duration_filter(-1),
    );
    let mut listed: Vec<(String, String)> = all
        .transaction_states
        .iter()
        .map(|t| {
            (
                t.transactional_id.0.to_string(),
                t.transaction_state.to_string(),
            )
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            ("tx-done".to_owned(), "CompleteCommit".to_owned()),
            ("tx-open".to_owned(), "Ongoing".to_owned())
        ]
    );
    let ongoing = raw.request(
        1,
        &ListTransactionsRequest::default()
            .with_duration_filter(-1)
            .with_state_filters(vec!["Ongoing".into(), "Bogus".into()]),
    );
    assert_eq!(ongoing.transaction_states.len(), 1);
    let unknown: Vec<String> = ongoing
        .unknown_state_filters
        .iter()
        .map(|f| f.to_string())
        .collect();
    assert_eq!(unknown, ["Bogus"]);

    let described = raw.request(
        0,
        &DescribeTransactionsRequest::default().with_transactional_ids(vec![
            TransactionalId("tx-open".into()),
            TransactionalId("nope".into()),
        ]),
    );
    let t = &described.transaction_states[0];
    assert_eq!((t.error_code, t.transaction_state.as_str()), (0, "Ongoing"));
    assert_eq!(t.transaction_timeout_ms, 30_000);
    assert!(t.transaction_start_time_ms > 0);
    assert_eq!(t.topics[0].topic.0.as_str(), "adm");
    assert_eq!(t.topics[0].partitions, vec![0]);
    assert_eq!(
        described.transaction_states[1].error_code,
        ResponseError::TransactionalIdNotFound.code()
    );

    let producers = raw.request(
        0,
        &DescribeProducersRequest::default().with_topics(vec![TopicRequest::default()
            .with_name(TopicName("adm".into()))
            .with_partition_indexes(vec![0, 7])]),
    );
    let p0 = &producers.topics[0].partitions[0];
    assert_eq!(p0.error_code, 0);
    assert_eq!(p0.active_producers.len(), 2);
    let open_txn: Vec<i64> = p0
        .active_producers
        .iter()
        .map(|p| p.current_txn_start_offset)
        .collect();
    assert!(
        open_txn.contains(&0) && open_txn.contains(&-1),
        "{open_txn:?}"
    );
    assert_eq!(
        producers.topics[0].partitions[1].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    open.abort_transaction(TIMEOUT).unwrap();
}

fn offset_delete(raw: &mut RawClient, group: &str, topic: &str) -> (i16, Vec<i16>) {
    let r = raw.request(
        0,
        &OffsetDeleteRequest::default()
            .with_group_id(GroupId(group.to_owned().into()))
            .with_topics(vec![OffsetDeleteRequestTopic::default()
                .with_name(TopicName(topic.to_owned().into()))
                .with_partitions(vec![
                    OffsetDeleteRequestPartition::default().with_partition_index(0)
                ])]),
    );
    (
        r.error_code,
        r.topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect(),
    )
}

#[test]
fn offsets_of_an_empty_group_can_be_deleted_not_those_an_active_group_reads() {
    let broker = broker();
    broker.create_topic("od", 1).unwrap();
    let mut raw = RawClient::connect(broker.local_addr());
    assert_eq!(
        offset_delete(&mut raw, "ghost", "od").0,
        ResponseError::GroupIdNotFound.code()
    );

    // a standalone commit: the group exists, empty
    let c = consumer(&broker, "read_committed", &[("group.id", "od-group")]);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("od", 0, Offset::Offset(0))
        .unwrap();
    c.commit(&tpl, CommitMode::Sync).unwrap();
    drop(c);
    assert_eq!(committed(&broker, "od-group", "od", 1)[&0], 0);
    assert_eq!(offset_delete(&mut raw, "od-group", "od"), (0, vec![0]));
    assert_eq!(
        committed(&broker, "od-group", "od", 1)[&0],
        Offset::Invalid.to_raw().unwrap()
    );

    // an active member subscribed to the topic: refused
    let active = consumer(&broker, "read_committed", &[("group.id", "od-active")]);
    active.subscribe(&["od"]).unwrap();
    let deadline = std::time::Instant::now() + TIMEOUT;
    while active.assignment().unwrap().count() == 0 {
        assert!(std::time::Instant::now() < deadline, "never assigned");
        let _ = active.poll(Duration::from_millis(100));
    }
    assert_eq!(
        offset_delete(&mut raw, "od-active", "od"),
        (0, vec![ResponseError::GroupSubscribedToTopic.code()])
    );
}
