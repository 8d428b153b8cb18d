//! Authorization of each request, as Kafka's `KafkaApis` does it, when the authorizer is
//! on. A request type implements [`Guarded`]: `refuse` answers the whole request when a
//! request-level check fails (the group, the transactional id, the cluster); `restrict`
//! takes out the topics or groups the principal may not touch, and `merge` answers them
//! with the authorization error next to the handler's answer for the rest; `finish`
//! filters listings and fills in authorized-operation fields.
//!
//! Simplifications: a few multi-resource admin requests (CreatePartitions, configs,
//! DeleteRecords, OffsetDelete, DescribeTransactions, DescribeProducers,
//! OffsetForLeaderEpoch, multi-key FindCoordinator and multi-group OffsetFetch) are refused
//! as a whole when any resource in them is refused.

use kafka_protocol::messages::*;
use kafka_protocol::ResponseError;

use super::Api;
use crate::acl::{AclOperation as Op, ResourceType as Rt, CLUSTER_NAME};
use crate::authorizer::Access;
use crate::state::State;

fn topic_denied() -> i16 {
    ResponseError::TopicAuthorizationFailed.code()
}
fn group_denied() -> i16 {
    ResponseError::GroupAuthorizationFailed.code()
}
fn cluster_denied() -> i16 {
    ResponseError::ClusterAuthorizationFailed.code()
}
fn txn_denied() -> i16 {
    ResponseError::TransactionalIdAuthorizationFailed.code()
}

/// A request's authorization (all methods are called only when the authorizer is on).
pub(crate) trait Guarded: Api + Sized {
    /// The whole answer when the request is refused as a whole.
    fn refuse(&self, _a: &Access, _state: &State, _v: i16) -> Option<Self::Response> {
        None
    }
    /// Removes the refused parts from `self` and returns them.
    fn restrict(&mut self, _a: &Access, _state: &State, _v: i16) -> Option<Self> {
        None
    }
    /// Adds the answer for the refused parts to the handler's response.
    fn merge(_response: &mut Self::Response, _refused: Self, _v: i16) {}
    /// Filters listings and fills in authorized operations.
    fn finish(_response: &mut Self::Response, _a: &Access) {}
}

/// Splits `items` into (kept, refused).
fn split<T>(items: Vec<T>, keep: impl Fn(&T) -> bool) -> (Vec<T>, Vec<T>) {
    items.into_iter().partition(|t| keep(t))
}

/// `Some(self.fail(code))` when `refused`.
fn refuse_if<R: Api>(req: &R, refused: bool, v: i16, code: i16) -> Option<R::Response> {
    refused.then(|| req.fail(v, code))
}

macro_rules! unguarded {
    ($($t:ty),* $(,)?) => { $(impl Guarded for $t {})* };
}

unguarded!(
    ApiVersionsRequest,
    SaslHandshakeRequest,
    SaslAuthenticateRequest
);

impl Guarded for ProduceRequest {
    fn refuse(&self, a: &Access, _: &State, v: i16) -> Option<ProduceResponse> {
        let refused = self
            .transactional_id
            .as_ref()
            .is_some_and(|t| !a.allows(Op::Write, Rt::TransactionalId, &t.0));
        refuse_if(self, refused, v, txn_denied())
    }
    fn restrict(&mut self, a: &Access, _: &State, _: i16) -> Option<Self> {
        let (keep, refused) = split(std::mem::take(&mut self.topic_data), |t| {
            a.allows(Op::Write, Rt::Topic, &t.name.0)
        });
        self.topic_data = keep;
        (!refused.is_empty()).then(|| ProduceRequest::default().with_topic_data(refused))
    }
    fn merge(response: &mut ProduceResponse, refused: Self, v: i16) {
        response
            .responses
            .extend(refused.fail(v, topic_denied()).responses);
    }
}

impl Guarded for FetchRequest {
    fn restrict(&mut self, a: &Access, _: &State, _: i16) -> Option<Self> {
        let (keep, refused) = split(std::mem::take(&mut self.topics), |t| {
            a.allows(Op::Read, Rt::Topic, &t.topic.0)
        });
        self.topics = keep;
        (!refused.is_empty()).then(|| FetchRequest::default().with_topics(refused))
    }
    fn merge(response: &mut FetchResponse, refused: Self, v: i16) {
        response
            .responses
            .extend(refused.fail(v, topic_denied()).responses);
    }
}

impl Guarded for ListOffsetsRequest {
    fn restrict(&mut self, a: &Access, _: &State, _: i16) -> Option<Self> {
        let (keep, refused) = split(std::mem::take(&mut self.topics), |t| {
            a.allows(Op::Describe, Rt::Topic, &t.name.0)
        });
        self.topics = keep;
        (!refused.is_empty()).then(|| ListOffsetsRequest::default().with_topics(refused))
    }
    fn merge(response: &mut ListOffsetsResponse, refused: Self, v: i16) {
        response
            .topics
            .extend(refused.fail(v, topic_denied()).topics);
    }
}

impl Guarded for OffsetForLeaderEpochRequest {
    fn refuse(&self, a: &Access, _: &State, v: i16) -> Option<OffsetForLeaderEpochResponse> {
        let refused = self
            .topics
            .iter()
            .any(|t| !a.allows(Op::Describe, Rt::Topic, &t.topic.0));
        refuse_if(self, refused, v, topic_denied())
    }
}

/// Whether Metadata may report `name`: DESCRIBE, and CREATE (on the cluster or the topic)
/// when the request would auto-create it.
fn metadata_allows(a: &Access, state: &State, auto_create: bool, name: &str) -> bool {
    a.allows(Op::Describe, Rt::Topic, name)
        && (!auto_create
            || state.topics().get(name).is_some()
            || a.allows(Op::Create, Rt::Cluster, CLUSTER_NAME)
            || a.allows(Op::Create, Rt::Topic, name))
}

impl Guarded for MetadataRequest {
    fn refuse(&self, a: &Access, state: &State, v: i16) -> Option<MetadataResponse> {
        // v0 reads an empty list as "all topics": refuse as a whole when every named topic is.
        let named = self.topics.as_ref().filter(|t| v == 0 && !t.is_empty())?;
        let refused = named.iter().all(|t| {
            t.name
                .as_ref()
                .is_some_and(|n| !metadata_allows(a, state, state.config.auto_create_topics, &n.0))
        });
        refuse_if(self, refused, v, topic_denied())
    }
    fn restrict(&mut self, a: &Access, state: &State, v: i16) -> Option<Self> {
        let topics = self.topics.take()?;
        let auto_create =
            state.config.auto_create_topics && (v < 4 || self.allow_auto_topic_creation);
        let (keep, refused) = split(topics, |t| {
            t.name
                .as_ref()
                .is_none_or(|n| metadata_allows(a, state, auto_create, &n.0))
        });
        self.topics = Some(keep);
        (!refused.is_empty()).then(|| MetadataRequest::default().with_topics(Some(refused)))
    }
    fn merge(response: &mut MetadataResponse, refused: Self, v: i16) {
        response
            .topics
            .extend(refused.fail(v, topic_denied()).topics);
    }
    fn finish(response: &mut MetadataResponse, a: &Access) {
        response.topics.retain(|t| {
            t.name
                .as_ref()
                .is_none_or(|n| a.allows(Op::Describe, Rt::Topic, &n.0))
        });
        for t in &mut response.topics {
            if t.topic_authorized_operations != i32::MIN {
                if let Some(n) = &t.name {
                    t.topic_authorized_operations = a.operations(Rt::Topic, &n.0);
                }
            }
        }
        if response.cluster_authorized_operations != i32::MIN {
            response.cluster_authorized_operations = a.operations(Rt::Cluster, CLUSTER_NAME);
        }
    }
}

impl Guarded for OffsetCommitRequest {
    fn refuse(&self, a: &Access, _: &State, v: i16) -> Option<OffsetCommitResponse> {
        let refused = !a.allows(Op::Read, Rt::Group, &self.group_id.0);
        refuse_if(self, refused, v, group_denied())
    }
    fn restrict(&mut self, a: &Access, _: &State, _: i16) -> Option<Self> {
        let (keep, refused) = split(std::mem::take(&mut self.topics), |t| {
            a.allows(Op::Read, Rt::Topic, &t.name.0)
        });
        self.topics = keep;
        (!refused.is_empty()).then(|| OffsetCommitRequest::default().with_topics(refused))
    }
    fn merge(response: &mut OffsetCommitResponse, refused: Self, v: i16) {
        response
            .topics
            .extend(refused.fail(v, topic_denied()).topics);
    }
}

impl Guarded for OffsetFetchRequest {
    fn refuse(&self, a: &Access, _: &State, v: i16) -> Option<OffsetFetchResponse> {
        let refused = if v >= 8 {
            self.groups
                .iter()
                .any(|g| !a.allows(Op::Describe, Rt::Group, &g.group_id.0))
        } else {
            !a.allows(Op::Describe, Rt::Group, &self.group_id.0)
        };
        refuse_if(self, refused, v, group_denied())
    }
}

impl Guarded for FindCoordinatorRequest {
    fn refuse(&self, a: &Access, _: &State, v: i16) -> Option<FindCoordinatorResponse> {
        let (rt, code) = if self.key_type == 1 {
            (Rt::TransactionalId, txn_denied())
        } else {
            (Rt::Group, group_denied())
        };
        let refused = if v >= 4 {
            self.coordinator_keys
                .iter()
                .any(|k| !a.allows(Op::Describe, rt, k))
        } else {
            !a.allows(Op::Describe, rt, &self.key)
        };
        refuse_if(self, refused, v, code)
    }
}

macro_rules! group_read {
    ($($t:ty),*) => {$(
        impl Guarded for $t {
            fn refuse(&self, a: &Access, _: &State, v: i16) -> Option<Self::Response> {
                refuse_if(self, !a.allows(Op::Read, Rt::Group, &self.group_id.0), v, group_denied())
            }
        }
    )*};
}
group_read!(
    JoinGroupRequest,
    SyncGroupRequest,
    HeartbeatRequest,
    LeaveGroupRequest
);

impl Guarded for DescribeGroupsRequest {
    fn restrict(&mut self, a: &Access, _: &State, _: i16) -> Option<Self> {
        let (keep, refused) = split(std::mem::take(&mut self.groups), |g| {
            a.allows(Op::Describe, Rt::Group, &g.0)
        });
        self.groups = keep;
        (!refused.is_empty()).then(|| DescribeGroupsRequest::default().with_groups(refused))
    }
    fn merge(response: &mut DescribeGroupsResponse, refused: Self, v: i16) {
        response
            .groups
            .extend(refused.fail(v, group_denied()).groups);
    }
    fn finish(response: &mut DescribeGroupsResponse, a: &Access) {
        for g in &mut response.groups {
            if g.authorized_operations != i32::MIN && g.error_code == 0 {
                g.authorized_operations = a.operations(Rt::Group, &g.group_id.0);
            }
        }
    }
}

impl Guarded for ListGroupsRequest {
    fn finish(response: &mut ListGroupsResponse, a: &Access) {
        if !a.allows(Op::Describe, Rt::Cluster, CLUSTER_NAME) {
            response
                .groups
                .retain(|g| a.allows(Op::Describe, Rt::Group, &g.group_id.0));
        }
    }
}

impl Guarded for DeleteGroupsRequest {
    fn restrict(&mut self, a: &Access, _: &State, _: i16) -> Option<Self> {
        let (keep, refused) = split(std::mem::take(&mut self.groups_names), |g| {
            a.allows(Op::Delete, Rt::Group, &g.0)
        });
        self.groups_names = keep;
        (!refused.is_empty()).then(|| DeleteGroupsRequest::default().with_groups_names(refused))
    }
    fn merge(response: &mut DeleteGroupsResponse, refused: Self, v: i16) {
        response
            .results
            .extend(refused.fail(v, group_denied()).results);
    }
}

impl Guarded for InitProducerIdRequest {
    fn refuse(&self, a: &Access, _: &State, v: i16) -> Option<InitProducerIdResponse> {
        match &self.transactional_id {
            Some(t) => refuse_if(
                self,
                !a.allows(Op::Write, Rt::TransactionalId, &t.0),
                v,
                txn_denied(),
            ),
            // Kafka 3.x (KIP-679): cluster IDEMPOTENT_WRITE, or WRITE on some topic.
            None => refuse_if(
                self,
                !a.allows(Op::IdempotentWrite, Rt::Cluster, CLUSTER_NAME)
                    && !a.allows_any(Op::Write, Rt::Topic),
                v,
                cluster_denied(),
            ),
        }
    }
}

impl Guarded for AddPartitionsToTxnRequest {
    fn refuse(&self, a: &Access, _: &State, v: i16) -> Option<AddPartitionsToTxnResponse> {
        let tid = &self.v3_and_below_transactional_id.0;
        if !a.allows(Op::Write, Rt::TransactionalId, tid) {
            return Some(self.fail(v, txn_denied()));
        }
        let (keep, refused) = split(self.v3_and_below_topics.clone(), |t| {
            a.allows(Op::Write, Rt::Topic, &t.name.0)
        });
        if refused.is_empty() {
            return None;
        }
        // Kafka: refused topics get TOPIC_AUTHORIZATION_FAILED, the rest OPERATION_NOT_ATTEMPTED.
        let mut response = self
            .clone()
            .with_v3_and_below_topics(refused)
            .fail(v, topic_denied());
        response.results_by_topic_v3_and_below.extend(
            self.clone()
                .with_v3_and_below_topics(keep)
                .fail(v, ResponseError::OperationNotAttempted.code())
                .results_by_topic_v3_and_below,
        );
        Some(response)
    }
}

impl Guarded for AddOffsetsToTxnRequest {
    fn refuse(&self, a: &Access, _: &State, v: i16) -> Option<AddOffsetsToTxnResponse> {
        if !a.allows(Op::Write, Rt::TransactionalId, &self.transactional_id.0) {
            return Some(self.fail(v, txn_denied()));
        }
        refuse_if(
            self,
            !a.allows(Op::Read, Rt::Group, &self.group_id.0),
            v,
            group_denied(),
        )
    }
}

impl Guarded for TxnOffsetCommitRequest {
    fn refuse(&self, a: &Access, _: &State, v: i16) -> Option<TxnOffsetCommitResponse> {
        if !a.allows(Op::Write, Rt::TransactionalId, &self.transactional_id.0) {
            return Some(self.fail(v, txn_denied()));
        }
        refuse_if(
            self,
            !a.allows(Op::Read, Rt::Group, &self.group_id.0),
            v,
            group_denied(),
        )
    }
    fn restrict(&mut self, a: &Access, _: &State, _: i16) -> Option<Self> {
        let (keep, refused) = split(std::mem::take(&mut self.topics), |t| {
            a.allows(Op::Read, Rt::Topic, &t.name.0)
        });
        self.topics = keep;
        (!refused.is_empty()).then(|| TxnOffsetCommitRequest::default().with_topics(refused))
    }
    fn merge(response: &mut TxnOffsetCommitResponse, refused: Self, v: i16) {
        response
            .topics
            .extend(refused.fail(v, topic_denied()).topics);
    }
}

impl Guarded for EndTxnRequest {
    fn refuse(&self, a: &Access, _: &State, v: i16) -> Option<EndTxnResponse> {
        refuse_if(
            self,
            !a.allows(Op::Write, Rt::TransactionalId, &self.transactional_id.0),
            v,
            txn_denied(),
        )
    }
}

impl Guarded for CreateTopicsRequest {
    fn restrict(&mut self, a: &Access, _: &State, _: i16) -> Option<Self> {
        let any = a.allows(Op::Create, Rt::Cluster, CLUSTER_NAME);
        let (keep, refused) = split(std::mem::take(&mut self.topics), |t| {
            any || a.allows(Op::Create, Rt::Topic, &t.name.0)
        });
        self.topics = keep;
        (!refused.is_empty()).then(|| CreateTopicsRequest::default().with_topics(refused))
    }
    fn merge(response: &mut CreateTopicsResponse, refused: Self, v: i16) {
        response
            .topics
            .extend(refused.fail(v, topic_denied()).topics);
    }
}

impl Guarded for DeleteTopicsRequest {
    fn restrict(&mut self, a: &Access, _: &State, _: i16) -> Option<Self> {
        let (keep, refused) = split(std::mem::take(&mut self.topic_names), |t| {
            a.allows(Op::Delete, Rt::Topic, &t.0)
        });
        self.topic_names = keep;
        (!refused.is_empty()).then(|| DeleteTopicsRequest::default().with_topic_names(refused))
    }
    fn merge(response: &mut DeleteTopicsResponse, refused: Self, v: i16) {
        response
            .responses
            .extend(refused.fail(v, topic_denied()).responses);
    }
}

impl Guarded for CreatePartitionsRequest {
    fn refuse(&self, a: &Access, _: &State, v: i16) -> Option<CreatePartitionsResponse> {
        let refused = self
            .topics
            .iter()
            .any(|t| !a.allows(Op::Alter, Rt::Topic, &t.name.0));
        refuse_if(self, refused, v, topic_denied())
    }
}

/// The code for a refused config resource (2 = topic, others the broker/cluster), if refused.
fn config_refusal<'r>(
    a: &Access,
    op: Op,
    mut resources: impl Iterator<Item = (i8, &'r str)>,
) -> Option<i16> {
    resources.find_map(|(rt, name)| {
        if rt == 2 {
            (!a.allows(op, Rt::Topic, name)).then(topic_denied)
        } else {
            (!a.allows(op, Rt::Cluster, CLUSTER_NAME)).then(cluster_denied)
        }
    })
}

impl Guarded for DescribeConfigsRequest {
    fn refuse(&self, a: &Access, _: &State, v: i16) -> Option<DescribeConfigsResponse> {
        let resources = self
            .resources
            .iter()
            .map(|r| (r.resource_type, &*r.resource_name));
        config_refusal(a, Op::DescribeConfigs, resources).map(|code| self.fail(v, code))
    }
}

impl Guarded for AlterConfigsRequest {
    fn refuse(&self, a: &Access, _: &State, v: i16) -> Option<AlterConfigsResponse> {
        let resources = self
            .resources
            .iter()
            .map(|r| (r.resource_type, &*r.resource_name));
        config_refusal(a, Op::AlterConfigs, resources).map(|code| self.fail(v, code))
    }
}

impl Guarded for IncrementalAlterConfigsRequest {
    fn refuse(&self, a: &Access, _: &State, v: i16) -> Option<IncrementalAlterConfigsResponse> {
        let resources = self
            .resources
            .iter()
            .map(|r| (r.resource_type, &*r.resource_name));
        config_refusal(a, Op::AlterConfigs, resources).map(|code| self.fail(v, code))
    }
}

impl Guarded for DeleteRecordsRequest {
    fn refuse(&self, a: &Access, _: &State, v: i16) -> Option<DeleteRecordsResponse> {
        let refused = self
            .topics
            .iter()
            .any(|t| !a.allows(Op::Delete, Rt::Topic, &t.name.0));
        refuse_if(self, refused, v, topic_denied())
    }
}

impl Guarded for DescribeClusterRequest {
    fn finish(response: &mut DescribeClusterResponse, a: &Access) {
        if response.cluster_authorized_operations != i32::MIN {
            response.cluster_authorized_operations = a.operations(Rt::Cluster, CLUSTER_NAME);
        }
    }
}

impl Guarded for OffsetDeleteRequest {
    fn refuse(&self, a: &Access, _: &State, v: i16) -> Option<OffsetDeleteResponse> {
        if !a.allows(Op::Delete, Rt::Group, &self.group_id.0) {
            return Some(self.fail(v, group_denied()));
        }
        let refused = self
            .topics
            .iter()
            .any(|t| !a.allows(Op::Read, Rt::Topic, &t.name.0));
        refuse_if(self, refused, v, topic_denied())
    }
}

impl Guarded for ListTransactionsRequest {
    fn finish(response: &mut ListTransactionsResponse, a: &Access) {
        response
            .transaction_states
            .retain(|t| a.allows(Op::Describe, Rt::TransactionalId, &t.transactional_id.0));
    }
}

impl Guarded for DescribeTransactionsRequest {
    fn refuse(&self, a: &Access, _: &State, v: i16) -> Option<DescribeTransactionsResponse> {
        let refused = self
            .transactional_ids
            .iter()
            .any(|t| !a.allows(Op::Describe, Rt::TransactionalId, &t.0));
        refuse_if(self, refused, v, txn_denied())
    }
}

impl Guarded for DescribeProducersRequest {
    fn refuse(&self, a: &Access, _: &State, v: i16) -> Option<DescribeProducersResponse> {
        let refused = self
            .topics
            .iter()
            .any(|t| !a.allows(Op::Read, Rt::Topic, &t.name.0));
        refuse_if(self, refused, v, topic_denied())
    }
}

macro_rules! cluster_op {
    ($($t:ty => $op:expr),*) => {$(
        impl Guarded for $t {
            fn refuse(&self, a: &Access, _: &State, v: i16) -> Option<Self::Response> {
                refuse_if(self, !a.allows($op, Rt::Cluster, CLUSTER_NAME), v, cluster_denied())
            }
        }
    )*};
}
cluster_op!(
    CreateAclsRequest => Op::Alter,
    DescribeAclsRequest => Op::Describe,
    DeleteAclsRequest => Op::Alter,
    DescribeUserScramCredentialsRequest => Op::Describe,
    AlterUserScramCredentialsRequest => Op::Alter
);
