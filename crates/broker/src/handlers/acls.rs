//! CreateAcls, DescribeAcls, DeleteAcls: the rules managed at run time, with Kafka's
//! filters (ANY = 1 for every enum field, pattern type MATCH = 2, a null string for any
//! value). Without an authorizer Kafka answers SECURITY_DISABLED, and so does this broker.

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::{sb, Api};
use crate::acl::AclRule;
use crate::state::State;

const ANY: i8 = 1;
const MATCH: i8 = 2;

fn security_disabled() -> (i16, Option<StrBytes>) {
    (
        ResponseError::SecurityDisabled.code(),
        Some(sb("No Authorizer is configured.")),
    )
}

impl Api for CreateAclsRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 1, max: 3 };
    fn fail(&self, _version: i16, code: i16) -> CreateAclsResponse {
        CreateAclsResponse::default().with_results(
            self.creations
                .iter()
                .map(|_| AclCreationResult::default().with_error_code(code))
                .collect(),
        )
    }
}

impl Api for DescribeAclsRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 1, max: 3 };
    fn fail(&self, _version: i16, code: i16) -> DescribeAclsResponse {
        DescribeAclsResponse::default().with_error_code(code)
    }
}

impl Api for DeleteAclsRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 1, max: 3 };
    fn fail(&self, _version: i16, code: i16) -> DeleteAclsResponse {
        DeleteAclsResponse::default().with_filter_results(
            self.filters
                .iter()
                .map(|_| DeleteAclsFilterResult::default().with_error_code(code))
                .collect(),
        )
    }
}

pub(crate) fn create_acls(state: &State, req: CreateAclsRequest, _v: i16) -> CreateAclsResponse {
    let results = req
        .creations
        .iter()
        .map(|c| {
            if !state.authorizer.enabled() {
                let (code, message) = security_disabled();
                return AclCreationResult::default()
                    .with_error_code(code)
                    .with_error_message(message);
            }
            let rule = AclRule::from_wire(
                &c.principal,
                &c.host,
                c.resource_type,
                &c.resource_name,
                c.resource_pattern_type,
                c.operation,
                c.permission_type,
            )
            .filter(|r| r.principal().contains(':') && !r.name().is_empty());
            match rule {
                Some(rule) => {
                    let mut rules = state.authorizer.rules_mut();
                    if !rules.contains(&rule) {
                        tracing::info!(?rule, "created ACL");
                        rules.push(rule);
                    }
                    AclCreationResult::default()
                }
                None => AclCreationResult::default()
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(sb(format!(
                        "Invalid ACL creation: principal {:?}, resource type {}, pattern type {}, operation {}, permission {}",
                        &*c.principal, c.resource_type, c.resource_pattern_type, c.operation, c.permission_type
                    )))),
            }
        })
        .collect();
    CreateAclsResponse::default().with_results(results)
}

/// A filter's fields, as DescribeAcls and DeleteAcls carry them.
struct Filter<'a> {
    resource_type: i8,
    name: Option<&'a str>,
    pattern_type: i8,
    principal: Option<&'a str>,
    host: Option<&'a str>,
    operation: i8,
    permission: i8,
}

impl Filter<'_> {
    /// Whether every code is a concrete value, ANY or (pattern type) MATCH.
    fn valid(&self) -> bool {
        use crate::acl::{AclOperation, AclPermission, PatternType, ResourceType};
        (self.resource_type == ANY || ResourceType::from_code(self.resource_type).is_some())
            && (self.pattern_type == ANY
                || self.pattern_type == MATCH
                || PatternType::from_code(self.pattern_type).is_some())
            && (self.operation == ANY || AclOperation::from_code(self.operation).is_some())
            && (self.permission == ANY || AclPermission::from_code(self.permission).is_some())
    }

    fn matches(&self, rule: &AclRule) -> bool {
        let pattern = match (self.pattern_type, self.name) {
            (ANY, name) => name.is_none_or(|n| n == rule.name()),
            (MATCH, None) => true,
            (MATCH, Some(n)) => rule.covers(rule.resource_type(), n),
            (code, name) => {
                rule.pattern_type().code() == code && name.is_none_or(|n| n == rule.name())
            }
        };
        (self.resource_type == ANY || rule.resource_type().code() == self.resource_type)
            && pattern
            && self.principal.is_none_or(|p| p == rule.principal())
            && self.host.is_none_or(|h| h == rule.host_value())
            && (self.operation == ANY || rule.operation().code() == self.operation)
            && (self.permission == ANY || rule.permission().code() == self.permission)
    }
}

pub(crate) fn describe_acls(
    state: &State,
    req: DescribeAclsRequest,
    _v: i16,
) -> DescribeAclsResponse {
    if !state.authorizer.enabled() {
        let (code, message) = security_disabled();
        return DescribeAclsResponse::default()
            .with_error_code(code)
            .with_error_message(message);
    }
    let filter = Filter {
        resource_type: req.resource_type_filter,
        name: req.resource_name_filter.as_deref(),
        pattern_type: req.pattern_type_filter,
        principal: req.principal_filter.as_deref(),
        host: req.host_filter.as_deref(),
        operation: req.operation,
        permission: req.permission_type,
    };
    if !filter.valid() {
        return DescribeAclsResponse::default()
            .with_error_code(ResponseError::InvalidRequest.code())
            .with_error_message(Some(sb("Invalid ACL filter")));
    }
    let mut resources: Vec<DescribeAclsResource> = Vec::new();
    for rule in state
        .authorizer
        .rules()
        .iter()
        .filter(|r| filter.matches(r))
    {
        let acl = AclDescription::default()
            .with_principal(sb(rule.principal()))
            .with_host(sb(rule.host_value()))
            .with_operation(rule.operation().code())
            .with_permission_type(rule.permission().code());
        let same = |r: &&mut DescribeAclsResource| {
            r.resource_type == rule.resource_type().code()
                && &*r.resource_name == rule.name()
                && r.pattern_type == rule.pattern_type().code()
        };
        match resources.iter_mut().find(same) {
            Some(r) => r.acls.push(acl),
            None => resources.push(
                DescribeAclsResource::default()
                    .with_resource_type(rule.resource_type().code())
                    .with_resource_name(sb(rule.name()))
                    .with_pattern_type(rule.pattern_type().code())
                    .with_acls(vec![acl]),
            ),
        }
    }
    DescribeAclsResponse::default().with_resources(resources)
}

pub(crate) fn delete_acls(state: &State, req: DeleteAclsRequest, _v: i16) -> DeleteAclsResponse {
    let results = req
        .filters
        .iter()
        .map(|f| {
            if !state.authorizer.enabled() {
                let (code, message) = security_disabled();
                return DeleteAclsFilterResult::default()
                    .with_error_code(code)
                    .with_error_message(message);
            }
            let filter = Filter {
                resource_type: f.resource_type_filter,
                name: f.resource_name_filter.as_deref(),
                pattern_type: f.pattern_type_filter,
                principal: f.principal_filter.as_deref(),
                host: f.host_filter.as_deref(),
                operation: f.operation,
                permission: f.permission_type,
            };
            if !filter.valid() {
                return DeleteAclsFilterResult::default()
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(sb("Invalid ACL filter")));
            }
            let mut rules = state.authorizer.rules_mut();
            let (deleted, kept): (Vec<AclRule>, Vec<AclRule>) =
                rules.drain(..).partition(|r| filter.matches(r));
            *rules = kept;
            if !deleted.is_empty() {
                tracing::info!(?deleted, "deleted ACLs");
            }
            DeleteAclsFilterResult::default().with_matching_acls(
                deleted
                    .iter()
                    .map(|r| {
                        DeleteAclsMatchingAcl::default()
                            .with_resource_type(r.resource_type().code())
                            .with_resource_name(sb(r.name()))
                            .with_pattern_type(r.pattern_type().code())
                            .with_principal(sb(r.principal()))
                            .with_host(sb(r.host_value()))
                            .with_operation(r.operation().code())
                            .with_permission_type(r.permission().code())
                    })
                    .collect(),
            )
        })
        .collect();
    DeleteAclsResponse::default().with_filter_results(results)
}
