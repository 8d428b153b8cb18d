//! Decoding input records.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;

use crate::error::BoxError;

/// Turns the raw value of an input record into the processor's input type.
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
/// ```
pub trait Codec: Send + Sync + 'static {
    /// The decoded type.
    type Item: Send + 'static;

    /// Decodes a record value (an absent value decodes from an empty slice).
    fn decode(&self, bytes: &[u8]) -> Result<Self::Item, BoxError>;
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

/// The raw bytes, undecoded.
#[derive(Debug, Default, Clone, Copy)]
pub struct RawBytes;

impl Codec for RawBytes {
    type Item = Vec<u8>;

    fn decode(&self, bytes: &[u8]) -> Result<Vec<u8>, BoxError> {
        Ok(bytes.to_vec())
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
        assert_eq!(RawBytes.decode(b"ab").unwrap(), b"ab".to_vec());
    }
}
