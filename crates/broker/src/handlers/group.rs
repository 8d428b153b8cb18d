//! JoinGroup, SyncGroup, Heartbeat, LeaveGroup, DescribeGroups, ListGroups and
//! DeleteGroups on the wire: the fields each version has, the answers the group
//! coordinator's values become, and its errors as Kafka error codes.

use std::time::Duration;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::{sb, Api};
use crate::group::{
    GroupCoordinator, GroupError, GroupSummary, JoinOutcome, JoinParams, LeavingMember, SyncParams,
    GROUP_TYPE,
};

impl From<GroupError> for ResponseError {
    fn from(e: GroupError) -> Self {
        match e {
            GroupError::InvalidGroupId => ResponseError::InvalidGroupId,
            GroupError::InvalidSessionTimeout => ResponseError::InvalidSessionTimeout,
            GroupError::UnknownMemberId => ResponseError::UnknownMemberId,
            GroupError::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
            GroupError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
            GroupError::MemberIdRequired => ResponseError::MemberIdRequired,
            GroupError::RebalanceInProgress => ResponseError::RebalanceInProgress,
            GroupError::IllegalGeneration => ResponseError::IllegalGeneration,
            GroupError::FencedInstanceId => ResponseError::FencedInstanceId,
            GroupError::OffsetMetadataTooLarge => ResponseError::OffsetMetadataTooLarge,
            GroupError::UnstableOffsetCommit => ResponseError::UnstableOffsetCommit,
            GroupError::GroupIdNotFound => ResponseError::GroupIdNotFound,
            GroupError::NonEmptyGroup => ResponseError::NonEmptyGroup,
            GroupError::GroupSubscribedToTopic => ResponseError::GroupSubscribedToTopic,
        }
    }
}

/// The wire code of an optional coordinator error (0 = none).
pub(crate) fn code(error: Option<GroupError>) -> i16 {
    error.map_or(0, |e| ResponseError::from(e).code())
}

/// A protocol string as an owned `String`.
pub(crate) fn owned(s: &StrBytes) -> String {
    s.as_str().to_owned()
}

/// A millisecond count from the wire as a `Duration` (negative counts as zero).
fn millis(ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

impl Api for JoinGroupRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 9 };
    fn fail(&self, _version: i16, code: i16) -> JoinGroupResponse {
        JoinGroupResponse::default()
            .with_error_code(code)
            .with_generation_id(-1)
            .with_member_id(self.member_id.clone())
    }
}

/// JoinGroup: `client_id` (from the request header) prefixes generated member ids, and is
/// reported by DescribeGroups with `client_host`. Waits until the join phase completes.
pub(crate) async fn join_group(
    groups: &GroupCoordinator,
    req: JoinGroupRequest,
    version: i16,
    client_id: &str,
    client_host: &str,
) -> JoinGroupResponse {
    let session_timeout = millis(req.session_timeout_ms);
    let params = JoinParams {
        group_id: owned(&req.group_id),
        member_id: owned(&req.member_id),
        group_instance_id: if version >= 5 {
            req.group_instance_id.as_ref().map(owned)
        } else {
            None
        },
        session_timeout,
        // v0 has no rebalance timeout: the session timeout serves.
        rebalance_timeout: if version >= 1 {
            millis(req.rebalance_timeout_ms)
        } else {
            session_timeout
        },
        protocol_type: owned(&req.protocol_type),
        protocols: req
            .protocols
            .iter()
            .map(|p| (owned(&p.name), p.metadata.clone()))
            .collect(),
        require_known_member_id: version >= 4,
        supports_skip_assignment: version >= 9,
        client_id: client_id.to_owned(),
        client_host: client_host.to_owned(),
    };
    join_response(groups.join(params).await, version)
}

/// The JoinGroup response at `version` (protocol name "" instead of null below v7).
fn join_response(outcome: JoinOutcome, version: i16) -> JoinGroupResponse {
    let protocol_name = if version >= 7 {
        outcome.protocol_name.map(sb)
    } else {
        Some(sb(outcome.protocol_name.unwrap_or_default()))
    };
    JoinGroupResponse::default()
        .with_error_code(code(outcome.error))
        .with_generation_id(outcome.generation)
        .with_protocol_type(if version >= 7 {
            outcome.protocol_type.map(sb)
        } else {
            None
        })
        .with_protocol_name(protocol_name)
        .with_leader(sb(outcome.leader))
        .with_skip_assignment(version >= 9 && outcome.skip_assignment)
        .with_member_id(sb(outcome.member_id))
        .with_members(
            outcome
                .members
                .into_iter()
                .map(|m| {
                    JoinGroupResponseMember::default()
                        .with_member_id(sb(m.member_id))
                        .with_group_instance_id(if version >= 5 {
                            m.group_instance_id.map(sb)
                        } else {
                            None
                        })
                        .with_metadata(m.metadata)
                })
                .collect(),
        )
}

impl Api for SyncGroupRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 5 };
    fn fail(&self, _version: i16, code: i16) -> SyncGroupResponse {
        SyncGroupResponse::default().with_error_code(code)
    }
}

/// SyncGroup. Followers wait for the leader's assignment; v5 checks and echoes the protocol.
pub(crate) async fn sync_group(
    groups: &GroupCoordinator,
    req: SyncGroupRequest,
    version: i16,
) -> SyncGroupResponse {
    let params = SyncParams {
        group_id: owned(&req.group_id),
        member_id: owned(&req.member_id),
        group_instance_id: if version >= 3 {
            req.group_instance_id.as_ref().map(owned)
        } else {
            None
        },
        generation: req.generation_id,
        protocol_type: if version >= 5 {
            req.protocol_type.as_ref().map(owned)
        } else {
            None
        },
        protocol_name: if version >= 5 {
            req.protocol_name.as_ref().map(owned)
        } else {
            None
        },
        assignments: req
            .assignments
            .iter()
            .map(|a| (owned(&a.member_id), a.assignment.clone()))
            .collect(),
    };
    let outcome = groups.sync(params).await;
    let mut response = SyncGroupResponse::default()
        .with_error_code(code(outcome.error))
        .with_assignment(outcome.assignment);
    if version >= 5 {
        response = response
            .with_protocol_type(outcome.protocol_type.map(sb))
            .with_protocol_name(outcome.protocol_name.map(sb));
    }
    response
}

impl Api for HeartbeatRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 4 };
    fn fail(&self, _version: i16, code: i16) -> HeartbeatResponse {
        HeartbeatResponse::default().with_error_code(code)
    }
}

/// Heartbeat: REBALANCE_IN_PROGRESS tells members to rejoin.
pub(crate) fn heartbeat(
    groups: &GroupCoordinator,
    req: HeartbeatRequest,
    version: i16,
) -> HeartbeatResponse {
    let instance = if version >= 3 {
        req.group_instance_id.as_deref()
    } else {
        None
    };
    let error = groups.heartbeat_member(
        req.group_id.as_str(),
        req.member_id.as_str(),
        instance,
        req.generation_id,
    );
    HeartbeatResponse::default().with_error_code(code(error))
}

impl Api for LeaveGroupRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 5 };
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

/// LeaveGroup (v3+ removes a batch of members with per-member errors).
pub(crate) fn leave_group(
    groups: &GroupCoordinator,
    req: LeaveGroupRequest,
    version: i16,
) -> LeaveGroupResponse {
    let leaving: Vec<LeavingMember> = if version >= 3 {
        req.members
            .iter()
            .map(|m| LeavingMember {
                member_id: owned(&m.member_id),
                group_instance_id: m.group_instance_id.as_ref().map(owned),
            })
            .collect()
    } else {
        vec![LeavingMember {
            member_id: owned(&req.member_id),
            group_instance_id: None,
        }]
    };
    let (top, results) = match groups.leave(req.group_id.as_str(), &leaving) {
        Ok(results) => (None, results),
        Err(error) => (Some(error), Vec::new()),
    };
    if version >= 3 {
        LeaveGroupResponse::default()
            .with_error_code(code(top))
            .with_members(
                leaving
                    .into_iter()
                    .zip(results)
                    .map(|(m, error)| {
                        MemberResponse::default()
                            .with_member_id(sb(m.member_id))
                            .with_group_instance_id(m.group_instance_id.map(sb))
                            .with_error_code(code(error))
                    })
                    .collect(),
            )
    } else {
        // Kafka's LeaveGroupResponse for v0-2: the top-level error, else the first
        // member error.
        let error = top.or_else(|| results.into_iter().flatten().next());
        LeaveGroupResponse::default().with_error_code(code(error))
    }
}

impl Api for DescribeGroupsRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 6 };
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

/// DescribeGroups. An unknown group is reported as `Dead` (v6+: with GROUP_ID_NOT_FOUND,
/// as Kafka 4).
pub(crate) fn describe_groups(
    groups: &GroupCoordinator,
    req: DescribeGroupsRequest,
    version: i16,
) -> DescribeGroupsResponse {
    let ids: Vec<&str> = req.groups.iter().map(|g| g.as_str()).collect();
    let described = req
        .groups
        .iter()
        .zip(groups.describe(&ids))
        .map(|(group_id, summary)| {
            let described = match summary {
                Some(summary) => described_group(summary, version),
                None => {
                    let d = DescribedGroup::default()
                        .with_group_id(group_id.clone())
                        .with_group_state(StrBytes::from_static_str("Dead"));
                    if version >= 6 {
                        d.with_error_code(ResponseError::GroupIdNotFound.code())
                            .with_error_message(Some(sb(format!(
                                "Group {} not found.",
                                group_id.as_str()
                            ))))
                    } else {
                        d
                    }
                }
            };
            if version >= 3 && req.include_authorized_operations {
                described.with_authorized_operations(super::authorized::GROUP)
            } else {
                described
            }
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(described)
}

/// One known group of a DescribeGroups response.
fn described_group(summary: GroupSummary, version: i16) -> DescribedGroup {
    let members = summary
        .members
        .into_iter()
        .map(|m| {
            DescribedGroupMember::default()
                .with_member_id(sb(m.member_id))
                .with_group_instance_id(if version >= 4 {
                    m.group_instance_id.map(sb)
                } else {
                    None
                })
                .with_client_id(sb(m.client_id))
                .with_client_host(sb(m.client_host))
                .with_member_metadata(m.metadata)
                .with_member_assignment(m.assignment)
        })
        .collect();
    DescribedGroup::default()
        .with_group_id(GroupId(sb(summary.group_id)))
        .with_group_state(StrBytes::from_static_str(summary.state.as_str()))
        .with_protocol_type(sb(summary.protocol_type))
        .with_protocol_data(sb(summary.protocol))
        .with_members(members)
}

impl Api for ListGroupsRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 5 };
    fn fail(&self, _version: i16, code: i16) -> ListGroupsResponse {
        ListGroupsResponse::default().with_error_code(code)
    }
}

/// ListGroups (states filter v4+, types filter v5+).
pub(crate) fn list_groups(
    groups: &GroupCoordinator,
    req: ListGroupsRequest,
    version: i16,
) -> ListGroupsResponse {
    let filter = |since: i16, values: &[StrBytes]| -> Vec<String> {
        if version >= since {
            values.iter().map(owned).collect()
        } else {
            Vec::new()
        }
    };
    let states = filter(4, &req.states_filter);
    let types = filter(5, &req.types_filter);
    let listed = groups
        .list(&states, &types)
        .into_iter()
        .map(|g| {
            let mut listed = ListedGroup::default()
                .with_group_id(GroupId(sb(g.group_id)))
                .with_protocol_type(sb(g.protocol_type));
            if version >= 4 {
                listed = listed.with_group_state(StrBytes::from_static_str(g.state.as_str()));
            }
            if version >= 5 {
                listed = listed.with_group_type(StrBytes::from_static_str(GROUP_TYPE));
            }
            listed
        })
        .collect();
    ListGroupsResponse::default().with_groups(listed)
}

impl Api for DeleteGroupsRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 2 };
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

/// DeleteGroups: only empty groups can be deleted; their offsets go with them.
pub(crate) fn delete_groups(
    groups: &GroupCoordinator,
    req: DeleteGroupsRequest,
    _version: i16,
) -> DeleteGroupsResponse {
    let ids: Vec<&str> = req.groups_names.iter().map(|g| g.as_str()).collect();
    let results = req
        .groups_names
        .iter()
        .zip(groups.delete(&ids))
        .map(|(group_id, error)| {
            DeletableGroupResult::default()
                .with_group_id(group_id.clone())
                .with_error_code(code(error))
        })
        .collect();
    DeleteGroupsResponse::default().with_results(results)
}
