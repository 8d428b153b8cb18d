//! The operations a client is authorized for, as Kafka reports them without an authorizer:
//! every operation the resource type supports (Kafka's `AuthHelper.authorizedOperations`
//! with no authorizer configured), as a bit set of `AclOperation` codes. Asked for by
//! Metadata (v8+), DescribeCluster and DescribeGroups (v3+); not asked for, the field stays
//! `i32::MIN` ("not requested").

/// `AclOperation` codes.
const READ: i32 = 3;
const WRITE: i32 = 4;
const CREATE: i32 = 5;
const DELETE: i32 = 6;
const ALTER: i32 = 7;
const DESCRIBE: i32 = 8;
const CLUSTER_ACTION: i32 = 9;
const DESCRIBE_CONFIGS: i32 = 10;
const ALTER_CONFIGS: i32 = 11;
const IDEMPOTENT_WRITE: i32 = 12;

const fn bits(ops: &[i32]) -> i32 {
    let mut set = 0;
    let mut i = 0;
    while i < ops.len() {
        set |= 1 << ops[i];
        i += 1;
    }
    set
}

/// A topic: READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS.
pub(crate) const TOPIC: i32 = bits(&[
    READ,
    WRITE,
    CREATE,
    DELETE,
    ALTER,
    DESCRIBE,
    DESCRIBE_CONFIGS,
    ALTER_CONFIGS,
]);

/// The cluster: CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS,
/// IDEMPOTENT_WRITE.
pub(crate) const CLUSTER: i32 = bits(&[
    CREATE,
    ALTER,
    DESCRIBE,
    CLUSTER_ACTION,
    DESCRIBE_CONFIGS,
    ALTER_CONFIGS,
    IDEMPOTENT_WRITE,
]);

/// A group: READ, DELETE, DESCRIBE.
pub(crate) const GROUP: i32 = bits(&[READ, DELETE, DESCRIBE]);

/// What a response carries for a field asked for (`requested`) or not.
pub(crate) fn reported(requested: bool, operations: i32) -> i32 {
    if requested {
        operations
    } else {
        i32::MIN
    }
}
