//! Where a keyed record lands: Kafka's Java default partitioner (murmur2), which the
//! pipeline's producers use (`partitioner=murmur2_random`, set by the config crate) so that a
//! key goes to the same partition whichever service, Java or Rust, wrote it.
//!
//! librdkafka's own default (`consistent_random`, CRC32) puts keys elsewhere: two services
//! writing the same order id would spread one order over two partitions, and its order
//! across them would be lost without any error.
//!
//! Routing by `key % partitions` reroutes almost every key when a partition is added (the
//! seeds' 004 §3.2). [`SlotTable`] is their answer: a key always falls in the same *hash
//! slot*, and a table says which partition owns each slot; growing the table moves only the
//! slots the new partitions take over. Route by a system key with many values (the order
//! id), never by a business key with a few big values (the merchant): a big merchant is a
//! hot slot, and a hot slot is a hot partition, whatever the table.
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

/// Hash slots mapped onto partitions (see the [module](self) docs): `slot_of(key)` is
/// `toPositive(murmur2(key)) % slots` and never changes; the table says which partition owns
/// each slot. Use it to set an output's partition (`Output::partition`).
///
/// ```
/// use kafka_eos_core::partitioning::SlotTable;
///
/// let table = SlotTable::even(1024, 8)?;
/// let p = table.partition_of(b"order-42");
/// assert!((0..8).contains(&p));
/// // two more partitions: only the slots they take over move (about 2 in 10)
/// let grown = table.grow(10)?;
/// assert!(table.moved_to(&grown) <= 1024 * 2 / 10 + 1);
/// # Ok::<(), kafka_eos_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotTable {
    /// The owner of each slot.
    owners: Vec<i32>,
}

fn invalid(field: &str, value: impl ToString, reason: &str) -> crate::Error {
    crate::Error::Config(kafka_eos_config::ConfigError::Invalid {
        field: field.into(),
        value: value.to_string(),
        reason: reason.into(),
    })
}

impl SlotTable {
    /// `slots` slots over `partitions` partitions, in contiguous, even ranges.
    pub fn even(slots: u32, partitions: i32) -> crate::Result<Self> {
        if slots == 0 {
            return Err(invalid("slots", slots, "must be at least 1"));
        }
        if partitions < 1 || u32::try_from(partitions).is_ok_and(|p| p > slots) {
            return Err(invalid(
                "partitions",
                partitions,
                "must be at least 1 and at most the number of slots",
            ));
        }
        let owners = (0..slots)
            .map(|slot| (u64::from(slot) * partitions as u64 / u64::from(slots)) as i32)
            .collect();
        Ok(SlotTable { owners })
    }

    /// The number of slots.
    pub fn slots(&self) -> u32 {
        self.owners.len() as u32
    }

    /// The partitions the table spreads over (one more than the largest owner).
    pub fn partitions(&self) -> i32 {
        self.owners.iter().copied().max().map_or(0, |p| p + 1)
    }

    /// The slot of `key`.
    pub fn slot_of(&self, key: &[u8]) -> u32 {
        (murmur2(key) & 0x7fff_ffff) as u32 % self.slots()
    }

    /// The partition that owns the slot of `key`.
    pub fn partition_of(&self, key: &[u8]) -> i32 {
        self.owners
            .get(self.slot_of(key) as usize)
            .copied()
            .unwrap_or(0)
    }

    /// Gives `slot` to `partition` (an operator moving one slot at a time).
    pub fn reassign(&mut self, slot: u32, partition: i32) -> crate::Result<()> {
        if partition < 0 {
            return Err(invalid("partition", partition, "must not be negative"));
        }
        match self.owners.get_mut(slot as usize) {
            Some(owner) => {
                *owner = partition;
                Ok(())
            }
            None => Err(invalid("slot", slot, "is not a slot of the table")),
        }
    }

    /// The table over `partitions` partitions (more than today) that moves the fewest slots:
    /// each new partition takes an even share, from the partitions that own the most.
    pub fn grow(&self, partitions: i32) -> crate::Result<Self> {
        let now = self.partitions();
        if partitions < now || u32::try_from(partitions).is_ok_and(|p| p > self.slots()) {
            return Err(invalid(
                "partitions",
                partitions,
                "must be at least today's partitions and at most the number of slots",
            ));
        }
        let mut owners = self.owners.clone();
        let share = self.slots() as usize / partitions as usize;
        let mut counts = vec![0usize; partitions as usize];
        for &o in &owners {
            if let Some(c) = counts.get_mut(o as usize) {
                *c += 1;
            }
        }
        for new in now..partitions {
            for _ in 0..share {
                // the last slot of the partition that owns the most
                let Some(busiest) = (0..partitions).max_by_key(|&p| (counts[p as usize], -p))
                else {
                    break;
                };
                let Some(slot) = owners.iter().rposition(|&o| o == busiest) else {
                    break;
                };
                owners[slot] = new;
                counts[busiest as usize] -= 1;
                counts[new as usize] += 1;
            }
        }
        Ok(SlotTable { owners })
    }

    /// How many slots have another owner in `other`.
    pub fn moved_to(&self, other: &SlotTable) -> usize {
        self.owners
            .iter()
            .zip(&other.owners)
            .filter(|(a, b)| a != b)
            .count()
    }
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
    fn a_slot_table_spreads_evenly_and_growing_it_moves_only_what_the_new_partitions_take() {
        let table = SlotTable::even(1024, 8).unwrap();
        assert_eq!((table.slots(), table.partitions()), (1024, 8));
        let keys: Vec<String> = (0..20_000).map(|n| format!("order-{n}")).collect();
        let mut per_partition = [0usize; 8];
        for k in &keys {
            per_partition[table.partition_of(k.as_bytes()) as usize] += 1;
        }
        assert!(
            per_partition.iter().all(|&n| (2_200..2_800).contains(&n)),
            "{per_partition:?}"
        );

        let grown = table.grow(10).unwrap();
        assert_eq!(grown.partitions(), 10);
        let moved = table.moved_to(&grown);
        assert_eq!(
            moved,
            2 * (1024 / 10),
            "only the new partitions' shares move"
        );
        let rerouted = |route: &dyn Fn(&[u8]) -> (i32, i32)| {
            keys.iter()
                .filter(|k| {
                    let (a, b) = route(k.as_bytes());
                    a != b
                })
                .count() as f64
                / keys.len() as f64
        };
        let by_slots = rerouted(&|k| (table.partition_of(k), grown.partition_of(k)));
        let by_modulo = rerouted(&|k| (partition_for_key(k, 8), partition_for_key(k, 10)));
        assert!(by_slots < 0.22, "slots reroute {by_slots}");
        assert!(by_modulo > 0.7, "modulo reroutes {by_modulo}");
    }

    #[test]
    fn a_slot_table_rejects_impossible_shapes_and_moves_one_slot_on_demand() {
        assert!(SlotTable::even(0, 1).is_err());
        assert!(SlotTable::even(4, 0).is_err());
        assert!(SlotTable::even(4, 5).is_err());
        let mut t = SlotTable::even(4, 2).unwrap();
        assert!(t.grow(1).is_err(), "a table does not shrink");
        let key = b"order-1";
        let slot = t.slot_of(key);
        t.reassign(slot, 7).unwrap();
        assert_eq!(t.partition_of(key), 7);
        assert!(t.reassign(4, 0).is_err());
        assert!(t.reassign(0, -1).is_err());
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
