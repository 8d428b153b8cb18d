//! Decoding input records.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;

use crate::error::BoxError;

/// Turns the raw value of an input record into the processor's input type.
///
/// A record's value is either bytes ([`Codec::decode`], an empty value included) or null, a
/// *tombstone* ([`Codec::decode_null`]: the delete marker of a compacted topic). A codec
/// that leaves `decode_null` alone fails on tombstones with an error naming them (the
/// record is then dead-lettered or stops the pipeline, as the
/// [`ErrorPolicy`](crate::ErrorPolicy) says); the codecs here decode them as follows:
///
/// | codec | bytes | tombstone |
/// |---|---|---|
/// | [`JsonCodec<T>`] | JSON | as JSON `null`: `None` for `JsonCodec<Option<T>>`, an error naming the tombstone for a `T` that cannot be null |
/// | [`BincodeCodec<T>`] | bincode | an error (bincode has no null) |
/// | [`RawBytes`] | `Some(bytes)` | `None` |
///
/// ```
/// use kafka_eos_processor::{Codec, JsonCodec};
///
/// #[derive(serde::Deserialize, Debug, PartialEq)]
/// struct Order { id: u64 }
///
/// let codec = JsonCodec::<Order>::new();
/// assert_eq!(codec.decode(br#"{"id":7}"#).unwrap(), Order { id: 7 });
/// assert!(codec.decode(b"not json").is_err());
/// assert!(codec.decode_null().unwrap_err().to_string().contains("tombstone"));
///
/// // a topic with deletes: tombstones arrive as `None`
/// let codec = JsonCodec::<Option<Order>>::new();
/// assert_eq!(codec.decode_null().unwrap(), None);
/// assert_eq!(codec.decode(br#"{"id":7}"#).unwrap(), Some(Order { id: 7 }));
/// ```
///
/// A codec of your own implements `decode`, and `decode_null` if it has a value for
/// tombstones:
///
/// ```
/// use kafka_eos_processor::{BoxError, Codec};
///
/// /// UTF-8 text; a tombstone is `None`.
/// struct Text;
///
/// impl Codec for Text {
///     type Item = Option<String>;
///
///     fn decode(&self, bytes: &[u8]) -> Result<Option<String>, BoxError> {
///         Ok(Some(std::str::from_utf8(bytes)?.to_owned()))
///     }
///
///     fn decode_null(&self) -> Result<Option<String>, BoxError> {
///         Ok(None)
///     }
/// }
///
/// assert_eq!(Text.decode(b"hi").unwrap().as_deref(), Some("hi"));
/// assert_eq!(Text.decode_null().unwrap(), None);
/// ```
pub trait Codec: Send + Sync + 'static {
    /// The decoded type.
    type Item: Send + 'static;

    /// Decodes a record value that is not null (an empty value is an empty slice).
    fn decode(&self, bytes: &[u8]) -> Result<Self::Item, BoxError>;

    /// Decodes a null value (a tombstone). By default an error naming the tombstone and
    /// this codec.
    fn decode_null(&self) -> Result<Self::Item, BoxError> {
        Err(format!(
            "the record is a tombstone (null value), which `{}` does not decode",
            std::any::type_name::<Self>()
        )
        .into())
    }
}

/// Decodes a record's value, `None` for a tombstone, with `codec`.
pub(crate) fn decode<C: Codec + ?Sized>(
    codec: &C,
    value: Option<&[u8]>,
) -> Result<C::Item, BoxError> {
    match value {
        Some(bytes) => codec.decode(bytes),
        None => codec.decode_null(),
    }
}

/// JSON via `serde_json`.
#[derive(Debug)]
pub struct JsonCodec<T>(PhantomData<fn() -> T>);

impl<T> JsonCodec<T> {
    /// A JSON codec for `T`.
    pub fn new() -> Self {
        JsonCodec(PhantomData)
    }
}

impl<T> Default for JsonCodec<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: DeserializeOwned + Send + 'static> Codec for JsonCodec<T> {
    type Item = T;

    fn decode(&self, bytes: &[u8]) -> Result<T, BoxError> {
        Ok(serde_json::from_slice(bytes)?)
    }

    /// A tombstone decodes as JSON `null`: `None` for an `Option`, and an error naming the
    /// tombstone for a type that cannot be null.
    fn decode_null(&self) -> Result<T, BoxError> {
        serde_json::from_slice(b"null").map_err(|e| {
            format!(
                "the record is a tombstone (null value), which is not a `{}` ({e}); \
                 decode with JsonCodec<Option<_>> to receive tombstones as None",
                std::any::type_name::<T>()
            )
            .into()
        })
    }
}

/// bincode 2 (standard configuration) via serde.
#[derive(Debug)]
pub struct BincodeCodec<T>(PhantomData<fn() -> T>);

impl<T> BincodeCodec<T> {
    /// A bincode codec for `T`.
    pub fn new() -> Self {
        BincodeCodec(PhantomData)
    }
}

impl<T> Default for BincodeCodec<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: DeserializeOwned + Send + 'static> Codec for BincodeCodec<T> {
    type Item = T;

    fn decode(&self, bytes: &[u8]) -> Result<T, BoxError> {
        let (value, read) = bincode::serde::decode_from_slice(bytes, bincode::config::standard())?;
        if read != bytes.len() {
            return Err(format!(
                "{} trailing bytes after the bincode value",
                bytes.len() - read
            )
            .into());
        }
        Ok(value)
    }
}

/// The raw value, undecoded: `Some(bytes)`, or `None` for a tombstone (a null value; an
/// empty value is `Some` of no bytes).
///
/// ```
/// use kafka_eos_processor::{Codec, RawBytes};
///
/// assert_eq!(RawBytes.decode(b"ab").unwrap(), Some(b"ab".to_vec()));
/// assert_eq!(RawBytes.decode(b"").unwrap(), Some(Vec::new()));
/// assert_eq!(RawBytes.decode_null().unwrap(), None);
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct RawBytes;

impl Codec for RawBytes {
    type Item = Option<Vec<u8>>;

    fn decode(&self, bytes: &[u8]) -> Result<Option<Vec<u8>>, BoxError> {
        Ok(Some(bytes.to_vec()))
    }

    fn decode_null(&self) -> Result<Option<Vec<u8>>, BoxError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Ev {
        id: u32,
        name: String,
    }

    #[test]
    fn bincode_roundtrip_and_garbage() {
        let ev = Ev {
            id: 3,
            name: "paid".into(),
        };
        let bytes = bincode::serde::encode_to_vec(&ev, bincode::config::standard()).unwrap();
        let c = BincodeCodec::<Ev>::new();
        assert_eq!(c.decode(&bytes).unwrap(), ev);
        assert!(c.decode(&[0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn json_and_raw() {
        assert!(JsonCodec::<Ev>::new().decode(b"{}").is_err());
        assert_eq!(RawBytes.decode(b"ab").unwrap(), Some(b"ab".to_vec()));
    }

    #[test]
    fn a_tombstone_is_not_an_empty_value() {
        assert_eq!(decode(&RawBytes, None).unwrap(), None);
        assert_eq!(decode(&RawBytes, Some(b"")).unwrap(), Some(Vec::new()));

        let json = JsonCodec::<Option<Ev>>::new();
        assert_eq!(decode(&json, None).unwrap(), None);
        // an empty value is not JSON at all; the JSON text `null` is None too
        assert!(decode(&json, Some(b"")).is_err());
        assert_eq!(decode(&json, Some(b"null")).unwrap(), None);
        let ev = decode(&json, Some(br#"{"id":1,"name":"paid"}"#)).unwrap();
        assert_eq!(ev.map(|e| e.id), Some(1));
        assert_eq!(
            decode(&JsonCodec::<serde_json::Value>::new(), None).unwrap(),
            serde_json::Value::Null
        );
    }

    #[test]
    fn codecs_without_a_null_name_the_tombstone() {
        let err = decode(&JsonCodec::<Ev>::new(), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("tombstone"), "{err}");
        assert!(err.contains("Ev"), "{err}");
        assert!(err.contains("JsonCodec<Option<_>>"), "{err}");

        let err = decode(&BincodeCodec::<Ev>::new(), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("tombstone"), "{err}");
        assert!(err.contains("BincodeCodec"), "{err}");
    }
}
