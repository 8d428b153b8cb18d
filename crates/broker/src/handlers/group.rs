//! Group APIs: the error answers for fault injection, and the calls into the group
//! coordinator that need broker state (topic existence).

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::OffsetFetchResponseGroup;
use kafka_protocol::messages::*;

use super::Api;
use crate::state::State;

impl Api for JoinGroupRequest {
    type Response = JoinGroupResponse;
    fn fail(&self, _version: i16, code: i16) -> JoinGroupResponse {
        JoinGroupResponse::default()
            .with_error_code(code)
            .with_generation_id(-1)
            .with_member_id(self.member_id.clone())
    }
}

impl Api for SyncGroupRequest {
    type Response = SyncGroupResponse;
    fn fail(&self, _version: i16, code: i16) -> SyncGroupResponse {
        SyncGroupResponse::default().with_error_code(code)
    }
}

impl Api for HeartbeatRequest {
    type Response = HeartbeatResponse;
    fn fail(&self, _version: i16, code: i16) -> HeartbeatResponse {
        HeartbeatResponse::default().with_error_code(code)
    }
}

impl Api for LeaveGroupRequest {
    type Response = LeaveGroupResponse;
    fn fail(&self, version: i16, code: i16) -> LeaveGroupResponse {
        let r = LeaveGroupResponse::default().with_error_code(code);
        if version >= 3 {
            r.with_members(
                self.members
                    .iter()
                    .map(|m| {
                        MemberResponse::default()
                            .with_member_id(m.member_id.clone())
                            .with_group_instance_id(m.group_instance_id.clone())
                            .with_error_code(code)
                    })
                    .collect(),
            )
        } else {
            r
        }
    }
}

impl Api for DescribeGroupsRequest {
    type Response = DescribeGroupsResponse;
    fn fail(&self, _version: i16, code: i16) -> DescribeGroupsResponse {
        DescribeGroupsResponse::default().with_groups(
            self.groups
                .iter()
                .map(|g| {
                    DescribedGroup::default()
                        .with_group_id(g.clone())
                        .with_error_code(code)
                })
                .collect(),
        )
    }
}

impl Api for ListGroupsRequest {
    type Response = ListGroupsResponse;
    fn fail(&self, _version: i16, code: i16) -> ListGroupsResponse {
        ListGroupsResponse::default().with_error_code(code)
    }
}

impl Api for DeleteGroupsRequest {
    type Response = DeleteGroupsResponse;
    fn fail(&self, _version: i16, code: i16) -> DeleteGroupsResponse {
        DeleteGroupsResponse::default().with_results(
            self.groups_names
                .iter()
                .map(|g| {
                    DeletableGroupResult::default()
                        .with_group_id(g.clone())
                        .with_error_code(code)
                })
                .collect(),
        )
    }
}

impl Api for OffsetCommitRequest {
    type Response = OffsetCommitResponse;
    fn fail(&self, _version: i16, code: i16) -> OffsetCommitResponse {
        OffsetCommitResponse::default().with_topics(
            self.topics
                .iter()
                .map(|t| {
                    OffsetCommitResponseTopic::default()
                        .with_name(t.name.clone())
                        .with_partitions(
                            t.partitions
                                .iter()
                                .map(|p| {
                                    OffsetCommitResponsePartition::default()
                                        .with_partition_index(p.partition_index)
                                        .with_error_code(code)
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
    }
}

impl Api for OffsetFetchRequest {
    type Response = OffsetFetchResponse;
    fn fail(&self, version: i16, code: i16) -> OffsetFetchResponse {
        if version >= 8 {
            OffsetFetchResponse::default().with_groups(
                self.groups
                    .iter()
                    .map(|g| {
                        OffsetFetchResponseGroup::default()
                            .with_group_id(g.group_id.clone())
                            .with_error_code(code)
                    })
                    .collect(),
            )
        } else {
            OffsetFetchResponse::default().with_error_code(code)
        }
    }
}

/// JoinGroup, passing the client id Kafka uses as the member id prefix, and the client host.
pub(crate) async fn join_group(
    state: &State,
    req: JoinGroupRequest,
    version: i16,
    client_id: &str,
    client_host: &str,
) -> JoinGroupResponse {
    state
        .groups
        .join_group_with_client(req, version, client_id, client_host)
        .await
}

/// OffsetCommit, with the topic existence check.
pub(crate) fn offset_commit(
    state: &State,
    req: OffsetCommitRequest,
    version: i16,
) -> OffsetCommitResponse {
    let topics = state.topics();
    let exists = |t: &str, p: i32| topics.exists(t, p);
    state.groups.offset_commit(req, version, &exists)
}

impl Api for OffsetDeleteRequest {
    type Response = OffsetDeleteResponse;
    fn fail(&self, _version: i16, code: i16) -> OffsetDeleteResponse {
        OffsetDeleteResponse::default().with_error_code(code)
    }
}
