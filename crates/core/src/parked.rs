//! Parked keys: what a parking topic says, and the state it folds into.
//!
//! A pipeline that parks retries (see `docs/parking.md`) writes, inside its transactions,
//! three kinds of records to a parking topic, each keyed by the source record's key, on the
//! partition of the source record's partition:
//!
//! - **park**: a parked source record (its value, headers and timestamp), with its source in
//!   [`dlq_headers::TOPIC`], [`dlq_headers::PARTITION`] and [`dlq_headers::OFFSET`];
//!   every kind names its source topic (one parking partition serves partition *p* of
//!   every input topic);
//! - **state**: no value; the key's state after a transaction that changed it: attempts of
//!   its head, failure times, next due time, held or not, up to which source offset its
//!   parked records are done and how many of them this transaction finished;
//! - **release**: no value; an operator's order (`kafka-eos parked release`) to release a
//!   held key.
//!
//! Folding a partition's records in order ([`ParkedPartition::apply`]) gives its parked
//! keys: a few dozen bytes per key, nothing per parked record (the records stay in the
//! topic and are read back when their key is due). The pipeline rebuilds this state when it
//! is assigned a partition; `kafka-eos parked` folds the topic to list it.
//!
//! ```
//! use kafka_eos_core::parked::{KeyState, ParkedPartition, ParkingRecord};
//!
//! let mut p = ParkedPartition::default();
//! let key = Some(b"order-1".to_vec().into());
//! p.apply(&ParkingRecord::Park { source_offset: 7 }, key.clone(), 100);
//! p.apply(&ParkingRecord::Park { source_offset: 9 }, key.clone(), 101);
//! let failed = KeyState { attempts: 1, first_failure_ms: 5, last_failure_ms: 5, due_ms: 1_000,
//!     held: false, upto: -1, done: 0 };
//! p.apply(&ParkingRecord::State(failed), key.clone(), 102);
//! assert_eq!(p.parked_records(), 2);
//! assert_eq!(p.due(999).count(), 0);
//! assert_eq!(p.due(1_000).count(), 1);
//! // the next transaction retried the head (offset 7) and its follower: both done
//! let done = KeyState { upto: 9, done: 2, ..failed };
//! p.apply(&ParkingRecord::State(done), key, 103);
//! assert!(p.is_empty());
//! ```

use std::collections::HashMap;

use bytes::Bytes;

use crate::dlq_headers;
use crate::record::OwnedRecord;

/// Header names of parking records (besides the [`dlq_headers`] names they share: source
/// topic, partition and offset, attempts, first and last failure).
pub mod headers {
    /// `park`, `state` or `release`.
    pub const KIND: &str = "kafka-eos.parked.kind";
    /// When the key's head is due for its next attempt (ms since the epoch).
    pub const DUE: &str = "kafka-eos.parked.due";
    /// `1` if the key is held until an operator releases it, else `0`.
    pub const HELD: &str = "kafka-eos.parked.held";
    /// Parked records of the key with a source offset up to this one are done.
    pub const UPTO: &str = "kafka-eos.parked.upto";
    /// How many parked records of the key the transaction finished (succeeded or
    /// dead-lettered).
    pub const DONE: &str = "kafka-eos.parked.done";
}

/// The key of a parked record (`None`: records without a key, parked as one lane of their
/// partition).
pub type Key = Option<Bytes>;

/// A key's state, as a state record carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyState {
    /// Failed attempts of the key's head (0: the head has not been tried yet).
    pub attempts: u32,
    /// When the head first failed (ms since the epoch; 0 if it has not).
    pub first_failure_ms: i64,
    /// When the head last failed (ms since the epoch; 0 if it has not).
    pub last_failure_ms: i64,
    /// When the head is due (ms since the epoch).
    pub due_ms: i64,
    /// Held until an operator releases the key.
    pub held: bool,
    /// Parked records up to this source offset are done (-1: none).
    pub upto: i64,
    /// How many parked records the transaction that wrote this state finished.
    pub done: u64,
}

/// One parking record, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParkingRecord {
    /// A parked source record.
    Park {
        /// Its offset in its source partition.
        source_offset: i64,
    },
    /// The key's state after a transaction.
    State(KeyState),
    /// An operator releases the key.
    Release,
}

/// A parking record's headers are not what kafka-eos writes.
#[derive(Debug, thiserror::Error)]
#[error("parking record header {header}: {reason}")]
pub struct ParseError {
    /// The header.
    pub header: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// A parked key of one source partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParkedKey {
    /// Parked records not done yet.
    pub count: u64,
    /// The head's state.
    pub attempts: u32,
    /// When the head first failed (ms since the epoch).
    pub first_failure_ms: i64,
    /// When the head last failed (ms since the epoch).
    pub last_failure_ms: i64,
    /// When the head is due (ms since the epoch).
    pub due_ms: i64,
    /// Held until an operator releases it.
    pub held: bool,
    /// Parked records up to this source offset are done.
    pub upto: i64,
    /// A parking-topic offset at or below the key's first parked record not done: where a
    /// read of its records starts.
    pub scan_from: i64,
}

impl ParkedKey {
    /// A key with nothing parked yet, whose records are at or after `scan_from`.
    pub fn new(scan_from: i64) -> Self {
        ParkedKey {
            count: 0,
            attempts: 0,
            first_failure_ms: 0,
            last_failure_ms: 0,
            due_ms: 0,
            held: false,
            upto: -1,
            scan_from,
        }
    }

    /// Whether its head may be tried at `now_ms`.
    pub fn is_due(&self, now_ms: i64) -> bool {
        !self.held && self.count > 0 && self.due_ms <= now_ms
    }

    /// Its state, with `done` records finished by the transaction that writes it.
    pub fn state(&self, done: u64) -> KeyState {
        KeyState {
            attempts: self.attempts,
            first_failure_ms: self.first_failure_ms,
            last_failure_ms: self.last_failure_ms,
            due_ms: self.due_ms,
            held: self.held,
            upto: self.upto,
            done,
        }
    }

    /// Whether it still parks records (else it is forgotten).
    pub fn is_live(&self) -> bool {
        self.count > 0 || self.held
    }
}

/// The parked keys of one source partition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParkedPartition {
    keys: HashMap<Key, ParkedKey>,
}

impl ParkedPartition {
    /// Folds one record, read at `parking_offset` of the parking partition, into the state.
    pub fn apply(&mut self, record: &ParkingRecord, key: Key, parking_offset: i64) {
        match *record {
            ParkingRecord::Park { source_offset } => {
                let k = self
                    .keys
                    .entry(key)
                    .or_insert_with(|| ParkedKey::new(parking_offset));
                if source_offset > k.upto {
                    k.count += 1;
                }
            }
            ParkingRecord::State(s) => {
                let k = self
                    .keys
                    .entry(key.clone())
                    .or_insert_with(|| ParkedKey::new(parking_offset));
                k.attempts = s.attempts;
                k.first_failure_ms = s.first_failure_ms;
                k.last_failure_ms = s.last_failure_ms;
                k.due_ms = s.due_ms;
                k.held = s.held;
                k.upto = k.upto.max(s.upto);
                k.count = k.count.saturating_sub(s.done);
                if !k.is_live() {
                    self.keys.remove(&key);
                }
            }
            ParkingRecord::Release => {
                if let Some(k) = self.keys.get_mut(&key) {
                    k.held = false;
                    k.attempts = 0;
                    k.due_ms = 0;
                    if !k.is_live() {
                        self.keys.remove(&key);
                    }
                }
            }
        }
    }

    /// The key's state, if it is parked.
    pub fn get(&self, key: &Key) -> Option<&ParkedKey> {
        self.keys.get(key)
    }

    /// Replaces the key's state (`None` or a key that is no longer live: forgotten).
    pub fn set(&mut self, key: Key, state: Option<ParkedKey>) {
        match state {
            Some(s) if s.is_live() => {
                self.keys.insert(key, s);
            }
            _ => {
                self.keys.remove(&key);
            }
        }
    }

    /// Keys due at `now_ms`.
    pub fn due(&self, now_ms: i64) -> impl Iterator<Item = (&Key, &ParkedKey)> {
        self.keys.iter().filter(move |(_, k)| k.is_due(now_ms))
    }

    /// The earliest due time of a key that is not held.
    pub fn next_due(&self) -> Option<i64> {
        self.keys
            .values()
            .filter(|k| !k.held && k.count > 0)
            .map(|k| k.due_ms)
            .min()
    }

    /// Every parked key.
    pub fn keys(&self) -> impl Iterator<Item = (&Key, &ParkedKey)> {
        self.keys.iter()
    }

    /// How many keys are parked.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is parked.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many records are parked over all keys.
    pub fn parked_records(&self) -> u64 {
        self.keys.values().map(|k| k.count).sum()
    }

    /// Whether some key is held.
    pub fn has_held(&self) -> bool {
        self.keys.values().any(|k| k.held)
    }
}

impl ParkingRecord {
    /// Parses a record's headers; `Ok(None)` if it has no [`headers::KIND`] (not a parking
    /// record: it is skipped).
    pub fn parse<'a>(
        headers: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>,
    ) -> Result<Option<Self>, ParseError> {
        let mut kind = None;
        let mut found: HashMap<&str, &[u8]> = HashMap::new();
        for (name, value) in headers {
            if name == headers::KIND {
                kind = value;
            } else if let Some(v) = value {
                found.insert(name, v);
            }
        }
        let Some(kind) = kind else {
            return Ok(None);
        };
        let number = |header: &'static str| -> Result<i64, ParseError> {
            let v = found.get(header).ok_or(ParseError {
                header,
                reason: "missing",
            })?;
            std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(ParseError {
                    header,
                    reason: "not a decimal number",
                })
        };
        match kind {
            b"park" => Ok(Some(ParkingRecord::Park {
                source_offset: number(dlq_headers::OFFSET)?,
            })),
            b"state" => Ok(Some(ParkingRecord::State(KeyState {
                attempts: u32::try_from(number(dlq_headers::ATTEMPTS)?).map_err(|_| {
                    ParseError {
                        header: dlq_headers::ATTEMPTS,
                        reason: "out of range",
                    }
                })?,
                first_failure_ms: number(dlq_headers::FIRST_FAILURE)?,
                last_failure_ms: number(dlq_headers::LAST_FAILURE)?,
                due_ms: number(headers::DUE)?,
                held: number(headers::HELD)? != 0,
                upto: number(headers::UPTO)?,
                done: u64::try_from(number(headers::DONE)?).map_err(|_| ParseError {
                    header: headers::DONE,
                    reason: "negative",
                })?,
            }))),
            b"release" => Ok(Some(ParkingRecord::Release)),
            _ => Err(ParseError {
                header: headers::KIND,
                reason: "not park, state or release",
            }),
        }
    }
}

/// The headers a park record appends to its source record's, in this order: stripped by
/// [`source_headers`] when the record is read back.
const PARK_HEADERS: [&str; 4] = [
    dlq_headers::TOPIC,
    dlq_headers::PARTITION,
    dlq_headers::OFFSET,
    headers::KIND,
];

/// The park record of a source record: written to `topic`, partition `partition` (the
/// source's), with the source's key, value, headers and timestamp.
#[allow(clippy::too_many_arguments)]
pub fn park_record(
    topic: &str,
    source_topic: &str,
    source_partition: i32,
    source_offset: i64,
    key: Option<&[u8]>,
    value: Option<Vec<u8>>,
    source_headers: Vec<(String, Option<Vec<u8>>)>,
    timestamp: Option<i64>,
) -> OwnedRecord {
    let mut r = OwnedRecord::to(topic).partition(source_partition);
    r.key = key.map(<[u8]>::to_vec);
    r.value = value;
    r.headers = source_headers;
    r.timestamp = timestamp;
    r.header(dlq_headers::TOPIC, source_topic)
        .header(dlq_headers::PARTITION, source_partition.to_string())
        .header(dlq_headers::OFFSET, source_offset.to_string())
        .header(headers::KIND, "park")
}

/// The source record's own headers of a park record's `headers` (the ones
/// [`park_record`] appended are removed).
pub fn source_headers<T>(mut headers: Vec<(String, T)>) -> Vec<(String, T)> {
    let n = headers.len();
    if n >= PARK_HEADERS.len()
        && headers[n - PARK_HEADERS.len()..]
            .iter()
            .zip(PARK_HEADERS)
            .all(|((name, _), expected)| name == expected)
    {
        headers.truncate(n - PARK_HEADERS.len());
    }
    headers
}

/// The state record of a key of `source_topic`'s partition `partition`.
pub fn state_record(
    topic: &str,
    source_topic: &str,
    partition: i32,
    key: Option<&[u8]>,
    s: &KeyState,
) -> OwnedRecord {
    let mut r = OwnedRecord::to(topic).partition(partition);
    r.key = key.map(<[u8]>::to_vec);
    r.header(dlq_headers::TOPIC, source_topic)
        .header(headers::KIND, "state")
        .header(dlq_headers::ATTEMPTS, s.attempts.to_string())
        .header(dlq_headers::FIRST_FAILURE, s.first_failure_ms.to_string())
        .header(dlq_headers::LAST_FAILURE, s.last_failure_ms.to_string())
        .header(headers::DUE, s.due_ms.to_string())
        .header(headers::HELD, if s.held { "1" } else { "0" })
        .header(headers::UPTO, s.upto.to_string())
        .header(headers::DONE, s.done.to_string())
}

/// An operator's release of a held key of `source_topic`'s partition `partition`.
pub fn release_record(
    topic: &str,
    source_topic: &str,
    partition: i32,
    key: Option<&[u8]>,
) -> OwnedRecord {
    let mut r = OwnedRecord::to(topic).partition(partition);
    r.key = key.map(<[u8]>::to_vec);
    r.header(dlq_headers::TOPIC, source_topic)
        .header(headers::KIND, "release")
}

/// The source topic a parking record names (every kind names it).
pub fn source_topic<'a>(
    headers: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>,
) -> Option<&'a [u8]> {
    headers
        .into_iter()
        .find(|(name, _)| *name == dlq_headers::TOPIC)
        .and_then(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(r: &OwnedRecord) -> ParkingRecord {
        ParkingRecord::parse(r.headers.iter().map(|(n, v)| (n.as_str(), v.as_deref())))
            .unwrap()
            .unwrap()
    }

    fn key(k: &str) -> Key {
        Some(Bytes::copy_from_slice(k.as_bytes()))
    }

    #[test]
    fn records_round_trip_through_their_headers() {
        let s = KeyState {
            attempts: 3,
            first_failure_ms: 10,
            last_failure_ms: 20,
            due_ms: 30,
            held: true,
            upto: 41,
            done: 2,
        };
        assert_eq!(
            parse(&state_record("p", "in", 1, Some(b"k"), &s)),
            ParkingRecord::State(s)
        );
        assert_eq!(
            parse(&release_record("p", "in", 1, None)),
            ParkingRecord::Release
        );
        let own = vec![("trace".to_owned(), Some(b"t".to_vec()))];
        let park = park_record(
            "p",
            "in",
            1,
            77,
            Some(b"k"),
            Some(b"v".to_vec()),
            own.clone(),
            Some(5),
        );
        assert_eq!(park.partition, Some(1));
        assert_eq!(parse(&park), ParkingRecord::Park { source_offset: 77 });
        assert_eq!(source_headers(park.headers), own);
        let none: Vec<(&str, Option<&[u8]>)> = vec![("x", Some(b"1"))];
        assert!(ParkingRecord::parse(none).unwrap().is_none());
        let bad: Vec<(&str, Option<&[u8]>)> = vec![(headers::KIND, Some(b"state"))];
        assert!(ParkingRecord::parse(bad).is_err());
    }

    #[test]
    fn a_key_lives_while_it_parks_records_or_is_held() {
        let mut p = ParkedPartition::default();
        let k = key("a");
        for (i, off) in [3, 5, 8].into_iter().enumerate() {
            p.apply(
                &ParkingRecord::Park { source_offset: off },
                k.clone(),
                i as i64 + 10,
            );
        }
        let failed = KeyState {
            attempts: 1,
            first_failure_ms: 1,
            last_failure_ms: 1,
            due_ms: 50,
            held: false,
            upto: -1,
            done: 0,
        };
        p.apply(&ParkingRecord::State(failed), k.clone(), 13);
        let a = *p.get(&k).unwrap();
        assert_eq!((a.count, a.scan_from, a.due_ms), (3, 10, 50));
        assert_eq!(p.next_due(), Some(50));
        // the head fails its last attempt: dead-lettered, the key is held
        let held = KeyState {
            attempts: 0,
            held: true,
            upto: 3,
            done: 1,
            ..failed
        };
        p.apply(&ParkingRecord::State(held), k.clone(), 14);
        assert_eq!(p.get(&k).unwrap().count, 2);
        assert_eq!(p.due(i64::MAX).count(), 0, "a held key is never due");
        assert!(p.has_held());
        p.apply(&ParkingRecord::Release, k.clone(), 15);
        assert_eq!(p.due(0).count(), 1, "released: due now");
        let done = KeyState {
            upto: 8,
            done: 2,
            held: false,
            ..failed
        };
        p.apply(&ParkingRecord::State(done), k.clone(), 16);
        assert!(p.is_empty());
        // a key held with nothing parked stays until released
        p.apply(
            &ParkingRecord::State(KeyState { done: 0, ..held }),
            k.clone(),
            17,
        );
        assert_eq!(p.len(), 1);
        p.apply(&ParkingRecord::Release, k, 18);
        assert!(p.is_empty());
    }

    #[test]
    fn keys_are_independent_and_unkeyed_records_are_one_key() {
        let mut p = ParkedPartition::default();
        p.apply(&ParkingRecord::Park { source_offset: 1 }, key("a"), 0);
        p.apply(&ParkingRecord::Park { source_offset: 2 }, None, 1);
        p.apply(&ParkingRecord::Park { source_offset: 3 }, None, 2);
        assert_eq!((p.len(), p.parked_records()), (2, 3));
        assert_eq!(p.get(&None).unwrap().count, 2);
        p.set(key("a"), None);
        assert_eq!(p.len(), 1);
    }
}
