//! DescribeGroups, ListGroups and DeleteGroups: what an admin client sees of the groups.

use bytes::Bytes;

use super::state::{Group, GroupState};
use super::{GroupCoordinator, GroupError};

/// The type of every group here (KIP-848 names the classic protocol's groups so).
pub(crate) const GROUP_TYPE: &str = "classic";

/// A described group (Kafka's `GroupMetadata.summary`).
#[derive(Debug)]
pub(crate) struct GroupSummary {
    pub group_id: String,
    pub state: GroupState,
    /// "" while no member has joined.
    pub protocol_type: String,
    /// The selected protocol while Stable, else "".
    pub protocol: String,
    pub members: Vec<MemberSummary>,
}

/// A member of a described group.
#[derive(Debug)]
pub(crate) struct MemberSummary {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// The member's metadata for the selected protocol (empty unless Stable).
    pub metadata: Bytes,
    /// The member's assignment (empty unless Stable).
    pub assignment: Bytes,
}

/// A listed group.
#[derive(Debug)]
pub(crate) struct GroupListing {
    pub group_id: String,
    /// "" while no member has joined.
    pub protocol_type: String,
    pub state: GroupState,
}

impl GroupCoordinator {
    /// The summary of each group in `group_ids` (`None`: no such group).
    pub(crate) fn describe(&self, group_ids: &[&str]) -> Vec<Option<GroupSummary>> {
        let inner = self.lock_for(group_ids);
        group_ids
            .iter()
            .map(|id| inner.groups.get(*id).map(Group::summary))
            .collect()
    }

    /// The groups by id, keeping those in one of `states` and of one of `types` (an empty
    /// filter keeps all; both compare case-insensitively).
    pub(crate) fn list(&self, states: &[String], types: &[String]) -> Vec<GroupListing> {
        let states: Vec<String> = states.iter().map(|s| s.to_ascii_lowercase()).collect();
        let types_match =
            types.is_empty() || types.iter().any(|t| t.eq_ignore_ascii_case(GROUP_TYPE));
        let inner = self.lock();
        let mut ids: Vec<&String> = inner.groups.keys().collect();
        ids.sort();
        ids.into_iter()
            .filter_map(|id| inner.groups.get(id))
            .filter(|g| {
                states.is_empty() || states.contains(&g.state.as_str().to_ascii_lowercase())
            })
            .filter(|_| types_match)
            .map(|g| GroupListing {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state,
            })
            .collect()
    }

    /// Deletes each group in `group_ids` with its offsets: only empty groups can be deleted
    /// (NON_EMPTY_GROUP otherwise).
    pub(crate) fn delete(&self, group_ids: &[&str]) -> Vec<Option<GroupError>> {
        let mut inner = self.lock_for(group_ids);
        group_ids
            .iter()
            .map(|id| match inner.groups.get(*id) {
                None => Some(GroupError::GroupIdNotFound),
                Some(group) if group.state == GroupState::Empty => {
                    inner.groups.remove(*id);
                    None
                }
                Some(_) => Some(GroupError::NonEmptyGroup),
            })
            .collect()
    }
}

impl Group {
    /// Kafka's `GroupMetadata.summary`: members carry metadata and assignment only when Stable.
    fn summary(&self) -> GroupSummary {
        let stable = self.state == GroupState::Stable;
        let protocol = if stable {
            self.protocol_name.clone().unwrap_or_default()
        } else {
            String::new()
        };
        let members = self
            .members
            .values()
            .map(|m| {
                let (metadata, assignment) = if stable {
                    (m.metadata(&protocol), m.assignment.clone())
                } else {
                    (Bytes::new(), Bytes::new())
                };
                MemberSummary {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata,
                    assignment,
                }
            })
            .collect();
        GroupSummary {
            group_id: self.id.clone(),
            state: self.state,
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol,
            members,
        }
    }
}
