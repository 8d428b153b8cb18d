//! [`IdempotencyKey`]: what a side effect is done at most once for, inside a namespace.

use std::fmt;

use kafka_eos_processor::Input;

use crate::error::{Error, Result};

/// The longest key a store accepts, namespace included, in bytes (the SQL stores' key column
/// is 512 bytes wide; a longer key is refused rather than cut, so two keys never collide).
pub const MAX_KEY_BYTES: usize = 512;

/// The longest namespace, in bytes.
pub const MAX_NAMESPACE_BYTES: usize = 128;

/// The key a side effect runs at most once for: `namespace:key`.
///
/// The namespace (an app, a consumer group) keeps two pipelines apart: the same record
/// offset or order id in two namespaces are two keys. It is not empty and has no `:`, so
/// `namespace:key` splits one way only and no two (namespace, key) pairs share a key.
///
/// Two kinds of key:
/// - [`IdempotencyKey::of_input`]: the record's source `topic/partition/offset`, the default:
///   one effect per input record, whatever replays the batch;
/// - [`IdempotencyKey::new`]: a key of your own, e.g. `order-42/paid`: one effect per
///   business event, even if the event reaches the topic twice (a producer that retried
///   outside a transaction, a replayed dead letter).
///
/// Pass the key on to the service the effect calls (an argument, an `Idempotency-Key` HTTP
/// header, the [`HEADER`](IdempotencyKey::HEADER) of a record): a service that dedupes on
/// it closes the window the store leaves open (see the crate docs).
///
/// ```
/// use kafka_eos_idempotency::IdempotencyKey;
/// use kafka_eos_processor::Input;
///
/// let input = Input { topic: "orders".into(), partition: 3, offset: 1207, key: None,
///     headers: vec![], timestamp: None, value: () };
/// let key = IdempotencyKey::of_input("fees", &input)?;
/// assert_eq!(key.as_str(), "fees:orders/3/1207");
/// assert_eq!((key.namespace(), key.key()), ("fees", "orders/3/1207"));
///
/// let key = IdempotencyKey::new("fees", "order-42/paid")?;
/// assert_eq!(key.to_string(), "fees:order-42/paid");
///
/// assert!(IdempotencyKey::new("a:b", "k").unwrap_err().is_invalid_key());
/// # Ok::<(), kafka_eos_idempotency::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey {
    full: String,
    namespace_len: usize,
}

impl IdempotencyKey {
    /// The record header name under which a key is passed on downstream, if you pass it in
    /// a record: `kafka-eos.idempotency-key`.
    pub const HEADER: &'static str = "kafka-eos.idempotency-key";

    /// `key` in `namespace`. Fails with [`Error::InvalidKey`] when the namespace is empty,
    /// has a `:` or is longer than [`MAX_NAMESPACE_BYTES`], or the key is empty, has a NUL or
    /// makes the whole longer than [`MAX_KEY_BYTES`].
    pub fn new(namespace: &str, key: impl AsRef<str>) -> Result<Self> {
        let key = key.as_ref();
        let invalid = |reason| {
            Err(Error::InvalidKey {
                key: format!("{namespace}:{key}"),
                reason,
            })
        };
        if namespace.is_empty() {
            return invalid("the namespace is empty");
        }
        if namespace.contains(':') {
            return invalid("the namespace has a `:`");
        }
        if namespace.len() > MAX_NAMESPACE_BYTES {
            return invalid("the namespace is longer than 128 bytes");
        }
        if key.is_empty() {
            return invalid("the key is empty");
        }
        if namespace.contains('\0') || key.contains('\0') {
            return invalid("it has a NUL character");
        }
        if namespace.len() + 1 + key.len() > MAX_KEY_BYTES {
            return invalid("it is longer than 512 bytes");
        }
        Ok(IdempotencyKey {
            full: format!("{namespace}:{key}"),
            namespace_len: namespace.len(),
        })
    }

    /// The default key of a record: `namespace:topic/partition/offset` (a topic name has no
    /// `/`, so the parts never run together).
    pub fn of_input<T>(namespace: &str, input: &Input<T>) -> Result<Self> {
        Self::new(
            namespace,
            format!("{}/{}/{}", input.topic, input.partition, input.offset),
        )
    }

    /// `namespace:key`, as the stores keep it.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.full[..self.namespace_len]
    }

    /// The key inside the namespace.
    pub fn key(&self) -> &str {
        &self.full[self.namespace_len + 1..]
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl AsRef<str> for IdempotencyKey {
    fn as_ref(&self) -> &str {
        &self.full
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_and_never_cut() {
        assert!(IdempotencyKey::new("", "k").unwrap_err().is_invalid_key());
        assert!(IdempotencyKey::new("ns", "").unwrap_err().is_invalid_key());
        assert!(IdempotencyKey::new("ns", "a\0b")
            .unwrap_err()
            .is_invalid_key());
        let long = "x".repeat(MAX_KEY_BYTES);
        assert!(IdempotencyKey::new("ns", &long)
            .unwrap_err()
            .is_invalid_key());
        let fits = "x".repeat(MAX_KEY_BYTES - 3);
        assert_eq!(
            IdempotencyKey::new("ns", &fits).unwrap().as_str().len(),
            512
        );
        // the key may hold a `:`; the namespace may not, so the split is unique
        let k = IdempotencyKey::new("ns", "a:b").unwrap();
        assert_eq!((k.namespace(), k.key()), ("ns", "a:b"));
        assert_ne!(k, IdempotencyKey::new("ns2", "a:b").unwrap());
    }
}
