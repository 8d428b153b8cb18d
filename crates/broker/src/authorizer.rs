//! The authorizer, as Kafka's `StandardAuthorizer` with `allow.everyone.if.no.acl.found=false`:
//! super users may do anything; otherwise a matching Deny refuses, a matching Allow (or an
//! Allow of an operation implying the one asked for) grants, and no match refuses.

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::acl::{AclOperation, AclPermission, AclRule, ResourceType};

/// The rules, the super users and whether authorization is on.
#[derive(Debug)]
pub(crate) struct Authorizer {
    enabled: bool,
    super_users: Vec<String>,
    rules: RwLock<Vec<AclRule>>,
}

impl Authorizer {
    pub(crate) fn new(enabled: bool, super_users: &[String], rules: &[AclRule]) -> Self {
        let super_users = super_users
            .iter()
            .map(|u| {
                if u.contains(':') {
                    u.clone()
                } else {
                    format!("User:{u}")
                }
            })
            .collect();
        let mut unique: Vec<AclRule> = Vec::with_capacity(rules.len());
        for r in rules {
            if !unique.contains(r) {
                unique.push(r.clone());
            }
        }
        Self {
            enabled,
            super_users,
            rules: RwLock::new(unique),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    pub(crate) fn rules(&self) -> RwLockReadGuard<'_, Vec<AclRule>> {
        self.rules.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn rules_mut(&self) -> RwLockWriteGuard<'_, Vec<AclRule>> {
        self.rules.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `principal` from `host` may do `operation` on resource `name`.
    pub(crate) fn authorize(
        &self,
        principal: &str,
        host: &str,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        if !self.enabled || self.super_users.iter().any(|s| s == principal) {
            return true;
        }
        let rules = self.rules();
        let matching = || {
            rules
                .iter()
                .filter(|r| r.applies_to(principal, host) && r.covers(resource_type, name))
        };
        let denied = matching().any(|r| {
            r.permission() == AclPermission::Deny
                && (r.operation() == operation || r.operation() == AclOperation::All)
        });
        !denied
            && matching()
                .any(|r| r.permission() == AclPermission::Allow && r.operation().grants(operation))
    }

    /// Whether `principal` may do `operation` on some resource of `resource_type` (Kafka's
    /// `authorizeByResourceType`): an Allow rule exists and no Deny of every resource.
    pub(crate) fn authorize_any(
        &self,
        principal: &str,
        host: &str,
        operation: AclOperation,
        resource_type: ResourceType,
    ) -> bool {
        if !self.enabled || self.super_users.iter().any(|s| s == principal) {
            return true;
        }
        let rules = self.rules();
        let relevant = |r: &&AclRule| {
            r.applies_to(principal, host)
                && r.resource_type() == resource_type
                && (r.operation() == operation || r.operation() == AclOperation::All)
        };
        let denied_everywhere = rules.iter().filter(relevant).any(|r| {
            r.permission() == AclPermission::Deny
                && r.covers(resource_type, "*")
                && (r.name() == "*" || r.name().is_empty())
        });
        !denied_everywhere
            && rules
                .iter()
                .filter(relevant)
                .any(|r| r.permission() == AclPermission::Allow)
    }

    /// The bit set of `AclOperation` codes `principal` may do on resource `name`.
    pub(crate) fn operations(
        &self,
        principal: &str,
        host: &str,
        resource_type: ResourceType,
        name: &str,
    ) -> i32 {
        AclOperation::of(resource_type)
            .iter()
            .filter(|op| self.authorize(principal, host, **op, resource_type, name))
            .fold(0, |set, op| set | (1 << op.code()))
    }
}

/// One request's view of the authorizer: who asks, from where.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Access<'a> {
    pub authorizer: &'a Authorizer,
    pub principal: &'a str,
    pub host: &'a str,
}

impl Access<'_> {
    /// Whether authorization is on (when off, every check passes).
    pub(crate) fn enabled(&self) -> bool {
        self.authorizer.enabled()
    }

    pub(crate) fn allows(&self, op: AclOperation, rt: ResourceType, name: &str) -> bool {
        self.authorizer
            .authorize(self.principal, self.host, op, rt, name)
    }

    pub(crate) fn allows_any(&self, op: AclOperation, rt: ResourceType) -> bool {
        self.authorizer
            .authorize_any(self.principal, self.host, op, rt)
    }

    pub(crate) fn operations(&self, rt: ResourceType, name: &str) -> i32 {
        self.authorizer
            .operations(self.principal, self.host, rt, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AclOperation::*;
    use ResourceType::*;

    fn authz(rules: &[AclRule]) -> Authorizer {
        Authorizer::new(true, &["admin".to_owned()], rules)
    }

    #[test]
    fn no_matching_rule_denies_and_super_users_pass() {
        let a = authz(&[]);
        assert!(!a.authorize("User:app", "h", Read, Topic, "t"));
        assert!(a.authorize("User:admin", "h", Read, Topic, "t"));
        let off = Authorizer::new(false, &[], &[]);
        assert!(off.authorize("User:app", "h", Write, Topic, "t"));
    }

    #[test]
    fn deny_wins_and_implied_describe() {
        let a = authz(&[
            AclRule::allow("User:*", Topic, "*", All),
            AclRule::deny("User:bad", Topic, "secret", Read),
            AclRule::allow("User:reader", Group, "g-", Read).prefixed(),
        ]);
        assert!(a.authorize("User:bad", "h", Write, Topic, "secret"));
        assert!(!a.authorize("User:bad", "h", Read, Topic, "secret"));
        // a Deny of Read does not deny Describe (Kafka denies only the operation or All)
        assert!(a.authorize("User:bad", "h", Describe, Topic, "secret"));
        assert!(a.authorize("User:reader", "h", Describe, Group, "g-1"));
        assert!(!a.authorize("User:reader", "h", Delete, Group, "g-1"));
        assert!(!a.authorize("User:reader", "h", Read, Group, "other"));
        assert_eq!(
            a.operations("User:reader", "h", Group, "g-1"),
            (1 << 3) | (1 << 8)
        );
    }

    #[test]
    fn authorize_any_looks_for_an_allow_of_the_type() {
        let a = authz(&[AclRule::allow("User:w", Topic, "orders", Write)]);
        assert!(a.authorize_any("User:w", "h", Write, Topic));
        assert!(!a.authorize_any("User:r", "h", Write, Topic));
        let d = authz(&[
            AclRule::allow("User:w", Topic, "orders", Write),
            AclRule::deny("User:w", Topic, "*", Write),
        ]);
        assert!(!d.authorize_any("User:w", "h", Write, Topic));
    }
}
