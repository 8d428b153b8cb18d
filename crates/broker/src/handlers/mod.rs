//! Request handlers, one file per API family. Each request type implements [`Api`], which
//! also says how to answer it with an injected error code.

pub(crate) mod admin;
pub(crate) mod configs;
pub(crate) mod fetch;
pub(crate) mod group;
pub(crate) mod offsets;
pub(crate) mod produce;
pub(crate) mod records;
pub(crate) mod txn;

use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// A request type the broker answers.
pub(crate) trait Api: Decodable {
    /// The response type.
    type Response: Encodable;
    /// The response that answers every part of this request with `code`, without running it.
    fn fail(&self, version: i16, code: i16) -> Self::Response;
}

/// A `StrBytes` from a `&str`.
pub(crate) fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
