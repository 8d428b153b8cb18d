//! Which node answers what, when the broker serves as several nodes: a partition's data
//! requests go to its leader, a group's requests to its group coordinator, a
//! transactional id's to its transaction coordinator. A request type implements
//! [`Routed`]: `coordinated` names the keys whose coordinator must be this node (else the
//! whole request is answered NOT_COORDINATOR, as Kafka's coordinators answer);
//! `not_led` takes out the partitions another node leads, and `merge` answers them with
//! NOT_LEADER_OR_FOLLOWER next to the handler's answer for the rest; `only_coordinated`
//! keeps a listing to what this node coordinates (ListGroups, ListTransactions are
//! per-broker in Kafka). Nothing here runs on a single node.

use kafka_protocol::messages::*;

use super::Api;
use crate::cluster::CoordinatorKind::{self, Group, Transaction};
use crate::state::State;

/// Whether this node leads `(topic, partition)` (or the partition does not exist, which
/// the handler answers).
pub(crate) type Leads<'a> = &'a dyn Fn(&str, i32) -> bool;
/// Whether this node coordinates a key.
pub(crate) type Coordinates<'a> = &'a dyn Fn(CoordinatorKind, &str) -> bool;

/// A request's routing (called only when the broker has more than one node).
pub(crate) trait Routed: Api + Sized {
    /// The coordinator keys that must all be coordinated here.
    fn coordinated(&self) -> Vec<(CoordinatorKind, &str)> {
        Vec::new()
    }
    /// Removes the partitions another node leads from `self` and returns them.
    fn not_led(&mut self, _here: Leads<'_>) -> Option<Self> {
        None
    }
    /// Adds the answer for partitions led elsewhere to the handler's response.
    fn merge(_response: &mut Self::Response, _elsewhere: Self, _v: i16) {}
    /// Keeps only what this node coordinates in a listing.
    fn only_coordinated(_response: &mut Self::Response, _here: Coordinates<'_>) {}
}

/// The node a connection reached, on a broker of several nodes.
#[derive(Clone, Copy)]
pub(crate) struct Here<'a> {
    pub node: i32,
    pub state: &'a State,
}

impl Here<'_> {
    /// The node for `node`'s connections: `None` on a single-node broker (nothing to route).
    pub fn of(state: &State, node: i32) -> Option<Here<'_>> {
        state
            .cluster()
            .is_multi_node()
            .then_some(Here { node, state })
    }

    /// Whether this node coordinates `key`.
    pub fn coordinates(&self, kind: CoordinatorKind, key: &str) -> bool {
        self.state.coordinator(kind, key) == self.node
    }

    /// Whether a key of `request` is coordinated by another node.
    pub fn misrouted<R: Routed>(&self, request: &R) -> bool {
        let keys = request.coordinated();
        if keys.is_empty() {
            return false;
        }
        let cluster = self.state.cluster();
        keys.iter()
            .any(|(kind, key)| cluster.coordinator(*kind, key) != self.node)
    }

    /// Takes the partitions another node leads out of `request`.
    pub fn not_led<R: Routed>(&self, request: &mut R) -> Option<R> {
        let topics = self.state.topics();
        let node = self.node;
        request.not_led(&|t, p| topics.leader(t, p).is_none_or(|l| l == node))
    }
}

/// Splits each topic's partitions into those led here (kept) and those led elsewhere
/// (returned, as topics of their own); topics left without partitions are dropped.
fn split_partitions<T: Clone, P>(
    topics: &mut Vec<T>,
    name: impl Fn(&T) -> &str,
    parts: impl Fn(&mut T) -> &mut Vec<P>,
    index: impl Fn(&P) -> i32,
    here: Leads<'_>,
) -> Vec<T> {
    let mut elsewhere = Vec::new();
    for topic in topics.iter_mut() {
        let all = std::mem::take(parts(topic));
        let mut moved = topic.clone();
        let (keep, away): (Vec<P>, Vec<P>) =
            all.into_iter().partition(|p| here(name(topic), index(p)));
        *parts(topic) = keep;
        if !away.is_empty() {
            *parts(&mut moved) = away;
            elsewhere.push(moved);
        }
    }
    topics.retain_mut(|t| !parts(t).is_empty());
    elsewhere
}

/// Adds `from`'s partitions to the topic of the same name in `into`, or the topic itself.
fn merge_topics<T, P>(
    into: &mut Vec<T>,
    from: Vec<T>,
    name: impl Fn(&T) -> &str,
    parts: impl Fn(&mut T) -> &mut Vec<P>,
) {
    for mut topic in from {
        match into.iter_mut().position(|t| name(t) == name(&topic)) {
            Some(i) => {
                let moved = std::mem::take(parts(&mut topic));
                parts(&mut into[i]).extend(moved);
            }
            None => into.push(topic),
        }
    }
}

fn not_leader() -> i16 {
    kafka_protocol::ResponseError::NotLeaderOrFollower.code()
}

/// Implements [`Routed`] for a request addressed to partition leaders: request topics
/// `$topics` named by `$name` with partitions `$parts` indexed by `$index`; response
/// topics `$rtopics` named by `$rname` with partitions `$rparts`.
macro_rules! by_leader {
    ($req:ty, $topics:ident, |$t:ident| $name:expr, $parts:ident, |$p:ident| $index:expr,
     $rtopics:ident, |$rt:ident| $rname:expr, $rparts:ident $(, $extra:ident)?) => {
        impl Routed for $req {
            fn not_led(&mut self, here: Leads<'_>) -> Option<Self> {
                let moved = split_partitions(
                    &mut self.$topics,
                    |$t| $name,
                    |t| &mut t.$parts,
                    |$p| $index,
                    here,
                );
                if moved.is_empty() {
                    return None;
                }
                $(self.$extra = 0;)?
                let mut elsewhere = Self::default();
                elsewhere.$topics = moved;
                Some(elsewhere)
            }
            fn merge(response: &mut Self::Response, elsewhere: Self, v: i16) {
                let failed = elsewhere.fail(v, not_leader()).$rtopics;
                merge_topics(&mut response.$rtopics, failed, |$rt| $rname, |t| &mut t.$rparts);
            }
        }
    };
}

by_leader!(
    ProduceRequest,
    topic_data,
    |t| &t.name.0,
    partition_data,
    |p| p.index,
    responses,
    |t| &t.name.0,
    partition_responses
);
// a fetch with a partition led elsewhere is answered at once, as Kafka answers errors
by_leader!(
    FetchRequest,
    topics,
    |t| &t.topic.0,
    partitions,
    |p| p.partition,
    responses,
    |t| &t.topic.0,
    partitions,
    max_wait_ms
);
by_leader!(
    ListOffsetsRequest,
    topics,
    |t| &t.name.0,
    partitions,
    |p| p.partition_index,
    topics,
    |t| &t.name.0,
    partitions
);
by_leader!(
    OffsetForLeaderEpochRequest,
    topics,
    |t| &t.topic.0,
    partitions,
    |p| p.partition,
    topics,
    |t| &t.topic.0,
    partitions
);
by_leader!(
    DeleteRecordsRequest,
    topics,
    |t| &t.name.0,
    partitions,
    |p| p.partition_index,
    topics,
    |t| &t.name.0,
    partitions
);
by_leader!(
    DescribeProducersRequest,
    topics,
    |t| &t.name.0,
    partition_indexes,
    |p| *p,
    topics,
    |t| &t.name.0,
    partitions
);

/// Implements [`Routed`] for requests of one coordinator key of `$kind`, named by `$key`.
macro_rules! by_key {
    ($kind:ident: $($req:ty => |$r:ident| $key:expr),* $(,)?) => {$(
        impl Routed for $req {
            fn coordinated(&self) -> Vec<(CoordinatorKind, &str)> {
                let $r = self;
                vec![($kind, $key)]
            }
        }
    )*};
}

by_key!(Group:
    JoinGroupRequest => |r| &r.group_id.0,
    SyncGroupRequest => |r| &r.group_id.0,
    HeartbeatRequest => |r| &r.group_id.0,
    LeaveGroupRequest => |r| &r.group_id.0,
    OffsetCommitRequest => |r| &r.group_id.0,
    OffsetDeleteRequest => |r| &r.group_id.0,
    TxnOffsetCommitRequest => |r| &r.group_id.0,
);

by_key!(Transaction:
    AddPartitionsToTxnRequest => |r| &r.v3_and_below_transactional_id.0,
    AddOffsetsToTxnRequest => |r| &r.transactional_id.0,
    EndTxnRequest => |r| &r.transactional_id.0,
);

impl Routed for OffsetFetchRequest {
    fn coordinated(&self) -> Vec<(CoordinatorKind, &str)> {
        if self.groups.is_empty() {
            vec![(Group, &self.group_id.0)]
        } else {
            self.groups
                .iter()
                .map(|g| (Group, &*g.group_id.0))
                .collect()
        }
    }
}

impl Routed for DescribeGroupsRequest {
    fn coordinated(&self) -> Vec<(CoordinatorKind, &str)> {
        self.groups.iter().map(|g| (Group, &*g.0)).collect()
    }
}

impl Routed for DeleteGroupsRequest {
    fn coordinated(&self) -> Vec<(CoordinatorKind, &str)> {
        self.groups_names.iter().map(|g| (Group, &*g.0)).collect()
    }
}

impl Routed for InitProducerIdRequest {
    fn coordinated(&self) -> Vec<(CoordinatorKind, &str)> {
        // an idempotent producer without a transactional id may ask any node
        self.transactional_id
            .iter()
            .map(|t| (Transaction, &*t.0))
            .collect()
    }
}

impl Routed for DescribeTransactionsRequest {
    fn coordinated(&self) -> Vec<(CoordinatorKind, &str)> {
        self.transactional_ids
            .iter()
            .map(|t| (Transaction, &*t.0))
            .collect()
    }
}

impl Routed for ListGroupsRequest {
    fn only_coordinated(response: &mut ListGroupsResponse, here: Coordinates<'_>) {
        response.groups.retain(|g| here(Group, &g.group_id.0));
    }
}

impl Routed for ListTransactionsRequest {
    fn only_coordinated(response: &mut ListTransactionsResponse, here: Coordinates<'_>) {
        response
            .transaction_states
            .retain(|t| here(Transaction, &t.transactional_id.0));
    }
}

/// Requests any node answers.
macro_rules! anywhere {
    ($($t:ty),* $(,)?) => { $(impl Routed for $t {})* };
}

anywhere!(
    ApiVersionsRequest,
    MetadataRequest,
    CreateTopicsRequest,
    DeleteTopicsRequest,
    FindCoordinatorRequest,
    CreatePartitionsRequest,
    DescribeConfigsRequest,
    AlterConfigsRequest,
    IncrementalAlterConfigsRequest,
    DescribeClusterRequest,
    SaslHandshakeRequest,
    SaslAuthenticateRequest,
    CreateAclsRequest,
    DescribeAclsRequest,
    DeleteAclsRequest,
    DescribeUserScramCredentialsRequest,
    AlterUserScramCredentialsRequest,
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::sb;

    fn produce(parts: &[(&str, &[i32])]) -> ProduceRequest {
        use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
        ProduceRequest::default().with_topic_data(
            parts
                .iter()
                .map(|(t, ps)| {
                    TopicProduceData::default()
                        .with_name(TopicName(sb(*t)))
                        .with_partition_data(
                            ps.iter()
                                .map(|p| PartitionProduceData::default().with_index(*p))
                                .collect(),
                        )
                })
                .collect(),
        )
    }

    fn indexes(r: &ProduceResponse, topic: &str) -> Vec<(i32, i16)> {
        r.responses
            .iter()
            .filter(|t| &*t.name.0 == topic)
            .flat_map(|t| {
                t.partition_responses
                    .iter()
                    .map(|p| (p.index, p.error_code))
            })
            .collect()
    }

    #[test]
    fn partitions_led_elsewhere_are_answered_not_leader() {
        // this node leads the even partitions of "a" and all of "b"
        let here = |t: &str, p: i32| t == "b" || p % 2 == 0;
        let mut req = produce(&[("a", &[0, 1, 2, 3]), ("b", &[0])]);
        let elsewhere = req.not_led(&here).unwrap();
        assert_eq!(req.topic_data.len(), 2);
        assert_eq!(req.topic_data[0].partition_data.len(), 2);
        assert_eq!(elsewhere.topic_data.len(), 1);
        // the handler's answer for the rest, then the merge
        let mut response = req.fail(9, 0);
        ProduceRequest::merge(&mut response, elsewhere, 9);
        let nl = not_leader();
        assert_eq!(
            indexes(&response, "a"),
            vec![(0, 0), (2, 0), (1, nl), (3, nl)]
        );
        assert_eq!(indexes(&response, "b"), vec![(0, 0)]);
        assert_eq!(response.responses.len(), 2, "one entry per topic");
    }

    #[test]
    fn a_topic_wholly_elsewhere_leaves_the_request() {
        let here = |_: &str, _: i32| false;
        let mut req = produce(&[("a", &[0, 1])]);
        let elsewhere = req.not_led(&here).unwrap();
        assert!(req.topic_data.is_empty());
        assert_eq!(elsewhere.topic_data[0].partition_data.len(), 2);
        assert!(produce(&[("a", &[0])])
            .not_led(&|_: &str, _: i32| true)
            .is_none());
    }

    #[test]
    fn a_fetch_with_a_partition_elsewhere_does_not_wait() {
        use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
        let mut req = FetchRequest::default()
            .with_max_wait_ms(500)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(sb("a")))
                .with_partitions(vec![
                    FetchPartition::default().with_partition(0),
                    FetchPartition::default().with_partition(1),
                ])]);
        assert!(req.not_led(&|_: &str, p: i32| p == 0).is_some());
        assert_eq!(req.max_wait_ms, 0);
    }

    #[test]
    fn keys_name_their_coordinator() {
        let init = InitProducerIdRequest::default().with_transactional_id(None);
        assert!(init.coordinated().is_empty(), "idempotent: any node");
        let init = init.with_transactional_id(Some(TransactionalId(sb("t"))));
        assert_eq!(init.coordinated(), vec![(Transaction, "t")]);
        let describe = DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(sb("g1")), GroupId(sb("g2"))]);
        assert_eq!(describe.coordinated().len(), 2);
    }
}
