//! ACL rules as Kafka's `AclBinding`: a principal, a resource pattern, an operation and a
//! permission, with Kafka's wire codes and Kafka's matching (literal names, the `*`
//! wildcard, prefixes; Deny over Allow; Read/Write/Delete/Alter imply Describe and
//! AlterConfigs implies DescribeConfigs).

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// The name Kafka gives the cluster resource.
pub(crate) const CLUSTER_NAME: &str = "kafka-cluster";

macro_rules! coded {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $code:expr, $text:expr;)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vm])* $variant,)*
        }

        impl $name {
            /// Kafka's wire code.
            pub fn code(self) -> i8 {
                match self { $(Self::$variant => $code,)* }
            }

            /// The value of a wire code, if it is one this broker knows.
            pub fn from_code(code: i8) -> Option<Self> {
                match code { $($code => Some(Self::$variant),)* _ => None }
            }

            /// Kafka's name (as `kafka-acls` prints it).
            pub fn name(self) -> &'static str {
                match self { $(Self::$variant => $text,)* }
            }

            /// Parses Kafka's name, ignoring case, `_` and `-` (`describe-configs`, `DescribeConfigs`).
            #[allow(dead_code)]
            fn parse(s: &str) -> Option<Self> {
                let norm: String = s.chars().filter(|c| *c != '_' && *c != '-').collect::<String>().to_lowercase();
                $(if norm == $text.to_lowercase() { return Some(Self::$variant); })*
                None
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

coded!(
    /// A kind of resource ACLs protect.
    ResourceType {
        /// A topic.
        Topic = 2, "Topic";
        /// A consumer group.
        Group = 3, "Group";
        /// The cluster (name `kafka-cluster`).
        Cluster = 4, "Cluster";
        /// A transactional id.
        TransactionalId = 5, "TransactionalId";
    }
);

coded!(
    /// How a rule's resource name matches.
    PatternType {
        /// The exact name, or every name when the name is `*`.
        Literal = 3, "Literal";
        /// Every name starting with the rule's name.
        Prefixed = 4, "Prefixed";
    }
);

coded!(
    /// An operation on a resource.
    AclOperation {
        /// Every operation.
        All = 2, "All";
        /// Read (fetch, consume, commit offsets).
        Read = 3, "Read";
        /// Write (produce, transactions).
        Write = 4, "Write";
        /// Create topics.
        Create = 5, "Create";
        /// Delete topics, groups, records.
        Delete = 6, "Delete";
        /// Alter (partitions, ACLs on the cluster).
        Alter = 7, "Alter";
        /// Describe (metadata, offsets, coordinators).
        Describe = 8, "Describe";
        /// Inter-broker actions.
        ClusterAction = 9, "ClusterAction";
        /// Describe configs.
        DescribeConfigs = 10, "DescribeConfigs";
        /// Alter configs.
        AlterConfigs = 11, "AlterConfigs";
        /// Idempotent produce without a topic WRITE grant (cluster).
        IdempotentWrite = 12, "IdempotentWrite";
    }
);

coded!(
    /// Whether a rule grants or refuses.
    AclPermission {
        /// Refuses; wins over any Allow.
        Deny = 2, "Deny";
        /// Grants.
        Allow = 3, "Allow";
    }
);

impl AclOperation {
    /// The operations of a resource type (Kafka's `authorizedOperations` sets).
    pub(crate) fn of(resource: ResourceType) -> &'static [AclOperation] {
        use AclOperation::*;
        match resource {
            ResourceType::Topic => &[
                Read,
                Write,
                Create,
                Delete,
                Alter,
                Describe,
                DescribeConfigs,
                AlterConfigs,
            ],
            ResourceType::Group => &[Read, Delete, Describe],
            ResourceType::Cluster => &[
                Create,
                Alter,
                Describe,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
            ],
            ResourceType::TransactionalId => &[Write, Describe],
        }
    }

    /// Whether an Allow rule for `self` grants `requested` (Kafka's implied operations).
    pub(crate) fn grants(self, requested: AclOperation) -> bool {
        use AclOperation::*;
        self == All
            || self == requested
            || (requested == Describe && matches!(self, Read | Write | Delete | Alter))
            || (requested == DescribeConfigs && self == AlterConfigs)
    }
}

/// One ACL: `principal` may (or may not) do `operation` on resources of `resource_type`
/// whose name matches `name` by `pattern_type`, from `host` (`*` = any).
///
/// ```
/// use kafka_eos_broker::{AclOperation, AclRule, ResourceType};
/// let rule = AclRule::allow("User:app", ResourceType::Topic, "orders", AclOperation::Write);
/// let same: AclRule = "User:app:topic:orders:write".parse()?;
/// assert_eq!(rule, same);
/// let prefixed: AclRule = "User:app:group:orders-*:read".parse()?;
/// assert_eq!(prefixed.name(), "orders-");
/// # Ok::<(), kafka_eos_broker::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AclRule {
    principal: String,
    host: String,
    resource_type: ResourceType,
    name: String,
    pattern_type: PatternType,
    operation: AclOperation,
    permission: AclPermission,
}

impl AclRule {
    /// A literal Allow rule from any host. `principal` is `User:<name>` or `User:*`; `name`
    /// is a resource name or `*` (every resource of the type).
    pub fn allow(
        principal: impl Into<String>,
        resource_type: ResourceType,
        name: impl Into<String>,
        operation: AclOperation,
    ) -> Self {
        Self {
            principal: principal.into(),
            host: "*".to_owned(),
            resource_type,
            name: name.into(),
            pattern_type: PatternType::Literal,
            operation,
            permission: AclPermission::Allow,
        }
    }

    /// A literal Deny rule from any host (see [`allow`](Self::allow)).
    pub fn deny(
        principal: impl Into<String>,
        resource_type: ResourceType,
        name: impl Into<String>,
        operation: AclOperation,
    ) -> Self {
        Self {
            permission: AclPermission::Deny,
            ..Self::allow(principal, resource_type, name, operation)
        }
    }

    /// The same rule matching every name that starts with its name.
    pub fn prefixed(mut self) -> Self {
        self.pattern_type = PatternType::Prefixed;
        self
    }

    /// The same rule for connections from `host` only (an IP address; `*` = any).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// The principal, `User:<name>` or `User:*`.
    pub fn principal(&self) -> &str {
        &self.principal
    }
    /// The host, `*` for any.
    pub fn host_value(&self) -> &str {
        &self.host
    }
    /// The resource type.
    pub fn resource_type(&self) -> ResourceType {
        self.resource_type
    }
    /// The resource name, `*`, or the prefix of a prefixed rule.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// How the name matches.
    pub fn pattern_type(&self) -> PatternType {
        self.pattern_type
    }
    /// The operation.
    pub fn operation(&self) -> AclOperation {
        self.operation
    }
    /// Allow or Deny.
    pub fn permission(&self) -> AclPermission {
        self.permission
    }

    /// Whether the rule's resource pattern covers resource `name` of `resource_type`.
    pub(crate) fn covers(&self, resource_type: ResourceType, name: &str) -> bool {
        self.resource_type == resource_type
            && match self.pattern_type {
                PatternType::Literal => self.name == "*" || self.name == name,
                PatternType::Prefixed => name.starts_with(&self.name),
            }
    }

    /// Whether the rule applies to `principal` connected from `host`.
    pub(crate) fn applies_to(&self, principal: &str, host: &str) -> bool {
        (self.principal == principal || self.principal == "User:*")
            && (self.host == "*" || self.host == host)
    }

    /// A rule from its wire fields, if every code is one this broker knows and concrete.
    pub(crate) fn from_wire(
        principal: &str,
        host: &str,
        resource_type: i8,
        name: &str,
        pattern_type: i8,
        operation: i8,
        permission: i8,
    ) -> Option<Self> {
        Some(Self {
            principal: principal.to_owned(),
            host: host.to_owned(),
            resource_type: ResourceType::from_code(resource_type)?,
            name: name.to_owned(),
            pattern_type: PatternType::from_code(pattern_type)?,
            operation: AclOperation::from_code(operation)?,
            permission: AclPermission::from_code(permission)?,
        })
    }
}

/// `PRINCIPAL_TYPE:NAME:RESOURCE:PATTERN:OPERATION[:allow|:deny]`, e.g.
/// `User:app:topic:orders:write`, `User:app:group:orders-*:read` (a trailing `*` after
/// other characters makes a prefixed rule; a lone `*` is every resource),
/// `User:*:transactional-id:*:write`, `User:admin:cluster:kafka-cluster:alter`,
/// `User:bad:topic:*:all:deny`. Resource types: topic, group, transactional-id (or
/// transactional_id, txn), cluster. Operations: all, read, write, create, delete, alter,
/// describe, cluster-action, describe-configs, alter-configs, idempotent-write.
impl FromStr for AclRule {
    type Err = Error;

    fn from_str(spec: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::InvalidAcl {
            spec: spec.to_owned(),
            reason: reason.to_owned(),
        };
        let mut left = spec.splitn(4, ':');
        let (Some(kind), Some(user), Some(resource), Some(rest)) =
            (left.next(), left.next(), left.next(), left.next())
        else {
            return Err(bad(
                "expected PRINCIPAL_TYPE:NAME:RESOURCE:PATTERN:OPERATION[:allow|deny]",
            ));
        };
        if kind.is_empty() || user.is_empty() {
            return Err(bad("empty principal"));
        }
        let (rest, permission) = match rest.rsplit_once(':') {
            Some((r, p)) if p.eq_ignore_ascii_case("allow") => (r, AclPermission::Allow),
            Some((r, p)) if p.eq_ignore_ascii_case("deny") => (r, AclPermission::Deny),
            _ => (rest, AclPermission::Allow),
        };
        let (pattern, operation) = rest
            .rsplit_once(':')
            .ok_or_else(|| bad("missing PATTERN:OPERATION"))?;
        let operation = AclOperation::parse(operation)
            .ok_or_else(|| bad(&format!("unknown operation {operation:?}")))?;
        let resource_type = match resource.to_lowercase().replace('_', "-").as_str() {
            "txn" | "transactional-id" | "transactionalid" => ResourceType::TransactionalId,
            other => ResourceType::parse(other)
                .ok_or_else(|| bad(&format!("unknown resource type {resource:?}")))?,
        };
        if pattern.is_empty() {
            return Err(bad("empty resource pattern"));
        }
        let (name, pattern_type) = match pattern.strip_suffix('*') {
            Some(prefix) if !prefix.is_empty() => (prefix, PatternType::Prefixed),
            _ => (pattern, PatternType::Literal),
        };
        if !AclOperation::of(resource_type).contains(&operation) && operation != AclOperation::All {
            return Err(bad(&format!(
                "{operation} is not an operation of {resource_type}"
            )));
        }
        Ok(Self {
            principal: format!("{kind}:{user}"),
            host: "*".to_owned(),
            resource_type,
            name: name.to_owned(),
            pattern_type,
            operation,
            permission,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        let r: AclRule = "User:app:topic:orders:write".parse().unwrap();
        assert_eq!(
            r,
            AclRule::allow(
                "User:app",
                ResourceType::Topic,
                "orders",
                AclOperation::Write
            )
        );
        let r: AclRule = "User:app:group:orders-*:read".parse().unwrap();
        assert_eq!(r.pattern_type(), PatternType::Prefixed);
        assert_eq!(r.name(), "orders-");
        let r: AclRule = "User:*:transactional-id:*:write:deny".parse().unwrap();
        assert_eq!(r.permission(), AclPermission::Deny);
        assert_eq!(r.resource_type(), ResourceType::TransactionalId);
        assert_eq!(r.name(), "*");
        assert_eq!(r.pattern_type(), PatternType::Literal);
        let r: AclRule = "User:ops:cluster:kafka-cluster:describe-configs"
            .parse()
            .unwrap();
        assert_eq!(r.operation(), AclOperation::DescribeConfigs);
        let r: AclRule = "User:app:group:a:b:c:read".parse().unwrap();
        assert_eq!(r.name(), "a:b:c");
        for bad in [
            "User:app:topic:orders",
            "User:app:queue:orders:read",
            "User:app:topic:orders:fly",
            "User:app:group:g:write",
            ":app:topic:t:read",
        ] {
            assert!(bad.parse::<AclRule>().is_err(), "{bad}");
        }
    }

    #[test]
    fn patterns_cover_names() {
        let lit = AclRule::allow("User:a", ResourceType::Topic, "orders", AclOperation::Read);
        assert!(lit.covers(ResourceType::Topic, "orders"));
        assert!(!lit.covers(ResourceType::Topic, "orders-2"));
        assert!(!lit.covers(ResourceType::Group, "orders"));
        let any = AclRule::allow("User:a", ResourceType::Topic, "*", AclOperation::Read);
        assert!(any.covers(ResourceType::Topic, "x"));
        let pre =
            AclRule::allow("User:a", ResourceType::Topic, "ord", AclOperation::Read).prefixed();
        assert!(pre.covers(ResourceType::Topic, "orders"));
        assert!(!pre.covers(ResourceType::Topic, "or"));
        assert!(lit.applies_to("User:a", "1.2.3.4"));
        assert!(!lit.applies_to("User:b", "1.2.3.4"));
        let everyone =
            AclRule::allow("User:*", ResourceType::Topic, "*", AclOperation::Read).host("10.0.0.1");
        assert!(everyone.applies_to("User:b", "10.0.0.1"));
        assert!(!everyone.applies_to("User:b", "10.0.0.2"));
    }

    #[test]
    fn implied_operations_follow_kafka() {
        use AclOperation::*;
        assert!(Read.grants(Describe));
        assert!(Write.grants(Describe));
        assert!(Delete.grants(Describe));
        assert!(Alter.grants(Describe));
        assert!(AlterConfigs.grants(DescribeConfigs));
        assert!(All.grants(IdempotentWrite));
        assert!(!Describe.grants(Read));
        assert!(!Read.grants(Write));
        assert!(!Create.grants(Describe));
        assert_eq!(AclOperation::from_code(8), Some(Describe));
        assert_eq!(AclOperation::from_code(1), None);
    }
}
