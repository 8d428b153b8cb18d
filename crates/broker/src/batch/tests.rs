//! Unit tests of batch parsing: control batches, corruption, sequences, keyless records.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

use super::*;

#[test]
fn control_batch_parses_back() {
    let b = control_batch(42, 7, 3, Marker::Commit, 0, 5, 1000);
    let batches = split_batches(&b);
    // clients may not write control batches, but the CRC and lengths are valid
    assert_eq!(batches, Err(BatchError::Invalid));
    let h = parse_header(&b);
    assert_eq!(h.base_offset, 42);
    assert_eq!(h.producer_id, 7);
    assert_eq!(h.producer_epoch, 3);
    assert!(h.is_control() && h.is_transactional());
    assert_eq!(
        crc32c::crc32c(&b[CRC_START..]),
        u32::from_be_bytes([b[17], b[18], b[19], b[20]])
    );
    let ts = record_timestamps(&b, &h);
    assert_eq!(ts, Some(vec![(1000, 0)]));
    assert_eq!(control_marker(&b, &h), Some(Marker::Commit));
    assert_eq!(leader_epoch(&b), 5);
    let abort = control_batch(43, 7, 3, Marker::Abort, 0, 5, 1000);
    assert_eq!(
        control_marker(&abort, &parse_header(&abort)),
        Some(Marker::Abort)
    );
}

#[test]
fn truncated_and_bad_crc_are_corrupt() {
    let b = control_batch(0, 1, 0, Marker::Abort, 0, 0, 0);
    assert_eq!(split_batches(&b.slice(0..30)), Err(BatchError::Corrupt));
    let mut m = BytesMut::from(b.as_ref());
    m[40] ^= 0xff;
    assert_eq!(split_batches(&m.freeze()), Err(BatchError::Corrupt));
    let mut m = BytesMut::from(b.as_ref());
    m[16] = 1;
    assert_eq!(
        split_batches(&m.freeze()),
        Err(BatchError::UnsupportedMagic)
    );
}

#[test]
fn sequence_wraps() {
    let h = BatchHeader {
        base_offset: 0,
        attributes: 0,
        last_offset_delta: 2,
        base_timestamp: 0,
        max_timestamp: 0,
        producer_id: 1,
        producer_epoch: 0,
        base_sequence: i32::MAX - 1,
        records_count: 3,
    };
    assert_eq!(h.last_sequence(), 0);
}

mod keyless {
    use super::*;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    #[test]
    fn the_records_without_a_key_are_named() {
        let record = |key: Option<&'static str>| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: -1,
            timestamp: 0,
            key: key.map(|k| Bytes::from_static(k.as_bytes())),
            value: Some(Bytes::from_static(b"v")),
            headers: Default::default(),
        };
        let mut records = vec![
            record(Some("a")),
            record(None),
            record(Some("c")),
            record(None),
        ];
        for (i, r) in records.iter_mut().enumerate() {
            // offset - sequence constant: the encoder keeps them in one batch
            r.offset = i as i64;
            r.sequence = i as i32;
        }
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
        let b = buf.freeze();
        let h = parse_header(&b);
        assert_eq!(keyless_records(&b, &h), Some(vec![1, 3]));
    }
}
