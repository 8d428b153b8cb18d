//! Where a keyed record lands: Kafka's Java default partitioner (murmur2), which the
//! pipeline's producers use (`partitioner=murmur2_random`, set by the config crate) so that a
//! key goes to the same partition whichever service, Java or Rust, wrote it.
//!
//! librdkafka's own default (`consistent_random`, CRC32) puts keys elsewhere: two services
//! writing the same order id would spread one order over two partitions, and its order
//! across them would be lost without any error.
//!
//! ```
//! use kafka_eos_core::partitioning::{murmur2, partition_for_key};
//!
//! assert_eq!(murmur2(b"21"), -973932308); // Java: Utils.murmur2("21".getBytes())
//! assert_eq!(partition_for_key(b"order-42", 12), partition_for_key(b"order-42", 12));
//! assert!((0..12).contains(&partition_for_key(b"order-42", 12)));
//! ```

/// Kafka's `Utils.murmur2` (32-bit murmur2, seed `0x9747b28c`), as a Java `int`.
pub fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = 0x9747_b28c ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if let Some(&first) = tail.first() {
        h ^= u32::from(first);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition of `partitions` that Kafka's Java default partitioner (and the pipeline's
/// producers) gives a record with this key: `toPositive(murmur2(key)) % partitions`.
/// `partitions` below 1 is taken as 1.
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_javas_utils_murmur2() {
        // the vectors of Kafka's UtilsTest.testMurmur2
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            (b"abc", 479470107),
        ];
        for (data, expected) in cases {
            assert_eq!(murmur2(data), expected, "{}", String::from_utf8_lossy(data));
        }
    }

    #[test]
    fn partitions_are_positive_and_in_range() {
        for n in 0..1000 {
            let key = format!("key-{n}");
            let p = partition_for_key(key.as_bytes(), 7);
            assert!((0..7).contains(&p), "{key}: {p}");
        }
        assert_eq!(partition_for_key(b"anything", 0), 0);
        // a negative hash is made positive by masking, as Java's toPositive does
        assert_eq!(
            partition_for_key(b"21", 1_000),
            (-973932308i32 & 0x7fff_ffff) % 1_000
        );
    }
}
