//! Record batches (magic v2) as the broker stores them: header parsing, CRC validation,
//! offset assignment and control (commit/abort marker) batches.
//!
//! Batches are kept as the producer sent them; only the base offset and the partition
//! leader epoch are rewritten, and both lie outside the CRC-covered region, as in Kafka.

use bytes::{BufMut, Bytes, BytesMut};

/// Size of the v2 batch header, up to and including the record count.
pub(crate) const HEADER_LEN: usize = 61;
const CRC_START: usize = 21;
const ATTR_LOG_APPEND_TIME: i16 = 0x08;
const ATTR_TRANSACTIONAL: i16 = 0x10;
const ATTR_CONTROL: i16 = 0x20;
const ATTR_COMPRESSION_MASK: i16 = 0x07;

/// Why a batch was rejected (mapped to Kafka error codes by the produce handler).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BatchError {
    /// Truncated, inconsistent length, negative counts or a bad CRC: `CORRUPT_MESSAGE`.
    Corrupt,
    /// A magic other than 2: `UNSUPPORTED_FOR_MESSAGE_FORMAT`.
    UnsupportedMagic,
    /// A batch a client may not write (a control batch, an unknown compression codec): `INVALID_RECORD`.
    Invalid,
}

/// The header fields of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchHeader {
    pub base_offset: i64,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

impl BatchHeader {
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }

    pub fn is_log_append_time(&self) -> bool {
        self.attributes & ATTR_LOG_APPEND_TIME != 0
    }

    /// Marks the header as stamped with the broker's clock at `now`.
    pub fn stamp_log_append_time(&mut self, now: i64) {
        self.attributes |= ATTR_LOG_APPEND_TIME;
        self.max_timestamp = now;
    }

    pub fn compression(&self) -> i16 {
        self.attributes & ATTR_COMPRESSION_MASK
    }

    /// The sequence number of the batch's last record (sequences wrap at `i32::MAX`).
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return self.base_sequence;
        }
        let last = i64::from(self.base_sequence) + i64::from(self.last_offset_delta);
        if last > i64::from(i32::MAX) {
            (last - i64::from(i32::MAX) - 1) as i32
        } else {
            last as i32
        }
    }
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// Reads the header of the batch at the start of `b` (which must hold the whole batch).
fn parse_header(b: &[u8]) -> BatchHeader {
    BatchHeader {
        base_offset: be_i64(b, 0),
        attributes: be_i16(b, 21),
        last_offset_delta: be_i32(b, 23),
        base_timestamp: be_i64(b, 27),
        max_timestamp: be_i64(b, 35),
        producer_id: be_i64(b, 43),
        producer_epoch: be_i16(b, 51),
        base_sequence: be_i32(b, 53),
        records_count: be_i32(b, 57),
    }
}

/// Checks the batch at `pos` of `b`: its length, magic, CRC32C and counts. Returns its
/// header and total length.
fn check_batch(b: &[u8], pos: usize) -> Result<(BatchHeader, usize), BatchError> {
    if b.len() - pos < 17 {
        return Err(BatchError::Corrupt);
    }
    let batch_len = be_i32(b, pos + 8);
    if batch_len < 0 {
        return Err(BatchError::Corrupt);
    }
    if b[pos + 16] != 2 {
        return Err(BatchError::UnsupportedMagic);
    }
    let total = 12usize.saturating_add(batch_len as usize);
    if total < HEADER_LEN || b.len() - pos < total {
        return Err(BatchError::Corrupt);
    }
    let slice = &b[pos..pos + total];
    let crc = u32::from_be_bytes([slice[17], slice[18], slice[19], slice[20]]);
    if crc32c::crc32c(&slice[CRC_START..]) != crc {
        return Err(BatchError::Corrupt);
    }
    let header = parse_header(slice);
    if header.records_count < 0 || header.last_offset_delta < 0 {
        return Err(BatchError::Corrupt);
    }
    Ok((header, total))
}

/// Splits a produce request's record set into validated batches.
pub(crate) fn split_batches(records: &Bytes) -> Result<Vec<(BatchHeader, Bytes)>, BatchError> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < records.len() {
        let (header, total) = check_batch(records, pos)?;
        if header.is_control() || header.compression() > 4 {
            return Err(BatchError::Invalid);
        }
        out.push((header, records.slice(pos..pos + total)));
        pos += total;
    }
    if out.is_empty() {
        return Err(BatchError::Corrupt);
    }
    Ok(out)
}

/// Splits a stored log into its batches (control batches included) up to the first batch
/// that is incomplete, fails its CRC or does not follow the previous batch's offsets (a
/// torn write). Returns the batches and the length of that valid prefix.
pub(crate) fn valid_prefix(log: &Bytes) -> (Vec<(BatchHeader, Bytes)>, usize) {
    let mut out: Vec<(BatchHeader, Bytes)> = Vec::new();
    let mut pos = 0usize;
    while pos < log.len() {
        let Ok((header, total)) = check_batch(log, pos) else {
            break;
        };
        let follows = out.last().is_none_or(|(last, _)| {
            header.base_offset == last.base_offset + i64::from(last.last_offset_delta) + 1
        });
        if !follows {
            break;
        }
        out.push((header, log.slice(pos..pos + total)));
        pos += total;
    }
    (out, pos)
}

/// The partition leader epoch a stored batch carries.
pub(crate) fn leader_epoch(batch: &[u8]) -> i32 {
    if batch.len() < HEADER_LEN {
        return -1;
    }
    be_i32(batch, 12)
}

/// The marker a control batch holds (its record key: version int16, type int16 with 0
/// abort and 1 commit); `None` for anything else.
pub(crate) fn control_marker(batch: &[u8], header: &BatchHeader) -> Option<Marker> {
    if !header.is_control() || header.records_count < 1 {
        return None;
    }
    let mut pos = HEADER_LEN;
    let (_, n) = read_varint(batch.get(pos..)?)?; // record length
    pos += n + 1; // attributes
    for _ in 0..2 {
        // timestamp delta, offset delta
        let (_, n) = read_varint(batch.get(pos..)?)?;
        pos += n;
    }
    let (key_len, n) = read_varint(batch.get(pos..)?)?;
    pos += n;
    if key_len < 4 {
        return None;
    }
    match be_i16(batch.get(pos..pos + 4)?, 2) {
        0 => Some(Marker::Abort),
        1 => Some(Marker::Commit),
        _ => None,
    }
}

/// Returns a copy of `batch` with its base offset and partition leader epoch set, and,
/// for a `LogAppendTime` topic, stamped with the broker's clock: the timestamp-type
/// attribute set and the max timestamp replaced (the CRC is recomputed, as Kafka does).
pub(crate) fn stored_copy(
    batch: &Bytes,
    base_offset: i64,
    leader_epoch: i32,
    log_append_time: Option<i64>,
) -> Bytes {
    let mut buf = BytesMut::from(batch.as_ref());
    buf[0..8].copy_from_slice(&base_offset.to_be_bytes());
    buf[12..16].copy_from_slice(&leader_epoch.to_be_bytes());
    if let Some(now) = log_append_time {
        let attributes = be_i16(&buf, 21) | ATTR_LOG_APPEND_TIME;
        buf[21..23].copy_from_slice(&attributes.to_be_bytes());
        buf[35..43].copy_from_slice(&now.to_be_bytes());
        let crc = crc32c::crc32c(&buf[CRC_START..]);
        buf[17..21].copy_from_slice(&crc.to_be_bytes());
    }
    buf.freeze()
}

fn put_varint(buf: &mut BytesMut, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        if z < 0x80 {
            buf.put_u8(z as u8);
            return;
        }
        buf.put_u8((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
}

/// The type of a transaction marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marker {
    Abort,
    Commit,
}

/// Builds the control batch of a transaction marker, at `offset`.
pub(crate) fn control_batch(
    offset: i64,
    producer_id: i64,
    producer_epoch: i16,
    marker: Marker,
    coordinator_epoch: i32,
    leader_epoch: i32,
    timestamp_ms: i64,
) -> Bytes {
    // one record: key = version(0) + type, value = version(0) + coordinator epoch
    let mut key = BytesMut::with_capacity(4);
    key.put_i16(0);
    key.put_i16(match marker {
        Marker::Abort => 0,
        Marker::Commit => 1,
    });
    let mut value = BytesMut::with_capacity(6);
    value.put_i16(0);
    value.put_i32(coordinator_epoch);
    let mut body = BytesMut::new();
    body.put_i8(0); // record attributes
    put_varint(&mut body, 0); // timestamp delta
    put_varint(&mut body, 0); // offset delta
    put_varint(&mut body, key.len() as i64);
    body.put_slice(&key);
    put_varint(&mut body, value.len() as i64);
    body.put_slice(&value);
    put_varint(&mut body, 0); // headers
    let mut record = BytesMut::new();
    put_varint(&mut record, body.len() as i64);
    record.put_slice(&body);

    let mut b = BytesMut::with_capacity(HEADER_LEN + record.len());
    b.put_i64(offset);
    b.put_i32((HEADER_LEN - 12 + record.len()) as i32);
    b.put_i32(leader_epoch);
    b.put_i8(2); // magic
    b.put_u32(0); // crc, filled below
    b.put_i16(ATTR_TRANSACTIONAL | ATTR_CONTROL);
    b.put_i32(0); // last offset delta
    b.put_i64(timestamp_ms);
    b.put_i64(timestamp_ms);
    b.put_i64(producer_id);
    b.put_i16(producer_epoch);
    b.put_i32(-1); // base sequence
    b.put_i32(1); // records
    b.put_slice(&record);
    let crc = crc32c::crc32c(&b[CRC_START..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b.freeze()
}

/// Reads the timestamps and offset deltas of the records of an uncompressed batch, so a
/// timestamp lookup can name the exact record. `None` for compressed or unreadable batches.
pub(crate) fn record_timestamps(batch: &[u8], header: &BatchHeader) -> Option<Vec<(i64, i64)>> {
    if header.is_log_append_time() {
        // every record of a LogAppendTime batch carries the batch's max timestamp
        return Some(
            (0..=i64::from(header.last_offset_delta))
                .map(|d| (header.max_timestamp, d))
                .collect(),
        );
    }
    if header.compression() != 0 {
        return None;
    }
    let mut pos = HEADER_LEN;
    let mut out = Vec::with_capacity(header.records_count.max(0) as usize);
    for _ in 0..header.records_count {
        let (len, n) = read_varint(batch.get(pos..)?)?;
        let start = pos + n;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        let rec = batch.get(start..end)?;
        let mut p = 1; // attributes
        let (ts_delta, n) = read_varint(rec.get(p..)?)?;
        p += n;
        let (off_delta, _) = read_varint(rec.get(p..)?)?;
        out.push((header.base_timestamp + ts_delta, off_delta));
        pos = end;
    }
    Some(out)
}

/// The indexes of the records of an uncompressed batch that have no key (a null key). `None`
/// for a compressed or unreadable batch (not inspected).
pub(crate) fn keyless_records(batch: &[u8], header: &BatchHeader) -> Option<Vec<i32>> {
    if header.compression() != 0 {
        return None;
    }
    let mut pos = HEADER_LEN;
    let mut keyless = Vec::new();
    for index in 0..header.records_count {
        let (len, n) = read_varint(batch.get(pos..)?)?;
        let start = pos + n;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        let rec = batch.get(start..end)?;
        let mut p = 1; // attributes
        for _ in 0..2 {
            // timestamp delta, offset delta
            let (_, n) = read_varint(rec.get(p..)?)?;
            p += n;
        }
        let (key_len, _) = read_varint(rec.get(p..)?)?;
        if key_len < 0 {
            keyless.push(index);
        }
        pos = end;
    }
    Some(keyless)
}

fn read_varint(b: &[u8]) -> Option<(i64, usize)> {
    let mut z: u64 = 0;
    for (i, byte) in b.iter().enumerate().take(10) {
        z |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let v = ((z >> 1) as i64) ^ -((z & 1) as i64);
            return Some((v, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests;
