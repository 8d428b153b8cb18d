//! Request handlers, one file per API family. Each request type implements [`Api`], which
//! says which versions its handler implements and how to answer it with an injected error
//! code.

pub(crate) mod acls;
pub(crate) mod admin;
pub(crate) mod authorized;
pub(crate) mod broker_configs;
pub(crate) mod configs;
pub(crate) mod fetch;
pub(crate) mod group;
pub(crate) mod group_offsets;
pub(crate) mod guard;
pub(crate) mod metadata;
pub(crate) mod offsets;
pub(crate) mod partitions;
pub(crate) mod produce;
pub(crate) mod records;
pub(crate) mod routing;
pub(crate) mod sasl;
pub(crate) mod scram_credentials;
pub(crate) mod txn;

use kafka_protocol::protocol::{Request, StrBytes, VersionRange};

/// A request type the broker answers.
pub(crate) trait Api: Request {
    /// The versions the handler implements: the dispatcher advertises them in ApiVersions
    /// and refuses others, so a handler never sees a version outside them.
    const SUPPORTED_VERSIONS: VersionRange;
    /// The response that answers every part of this request with `code`, without running it.
    fn fail(&self, version: i16, code: i16) -> Self::Response;
    /// Gives the response's reusable buffers back once it is encoded (none by default).
    fn recycle(_response: Self::Response) {}
}

/// A `StrBytes` from a string.
pub(crate) fn sb(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}
