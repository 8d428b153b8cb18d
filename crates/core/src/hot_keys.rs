//! [`HotKeys`]: the hottest keys of a stream in fixed memory (the space-saving sketch of
//! Metwally, Agrawal and El Abbadi), over a decaying window.
//!
//! `k` counters, each a key with its count and the most it may be overcounted (`error`):
//! a key seen again adds 1 to its counter; a new key takes a free counter, or else the
//! smallest one's (inheriting its count + 1, that count as its error). Any key whose true
//! count exceeds `total / k` is guaranteed to hold a counter, so a key with a large share is
//! never missed, whatever the number of distinct keys. Every `window` keys all counts
//! (and the total) are halved, so the shares follow the recent stream.
//!
//! Per record: one hash of the key and one map look-up; a key that takes a counter over
//! reuses the counter's buffer (no allocation once the counters are full). Keys are told
//! apart by a 64-bit hash: two keys with the same hash (odds about 1 in 2^64 per pair)
//! would share a counter.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;

/// One key's counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotKey {
    /// The key (`None`: records without a key, counted as one key).
    pub key: Option<Vec<u8>>,
    /// Its count in the window (an upper bound: at most `error` more than the truth).
    pub count: u64,
    /// How much of `count` may belong to keys it replaced.
    pub error: u64,
}

/// The hottest keys of a stream, `k` counters.
#[derive(Debug, Clone)]
pub struct HotKeys {
    k: usize,
    window: u64,
    total: u64,
    seen: u64,
    counters: Vec<HotKey>,
    /// The hash of each counter's key.
    hashes: Vec<u64>,
    /// Counter of each key, by the key's hash.
    index: HashMap<u64, usize>,
    hasher: RandomState,
}

impl HotKeys {
    /// `k` counters (at least 1), counts halved every `window` keys (at least `k`).
    pub fn new(k: usize, window: u64) -> Self {
        let k = k.max(1);
        HotKeys {
            k,
            window: window.max(k as u64),
            total: 0,
            seen: 0,
            counters: Vec::with_capacity(k),
            hashes: Vec::with_capacity(k),
            index: HashMap::with_capacity(k),
            hasher: RandomState::new(),
        }
    }

    /// Counts one record of `key`.
    pub fn observe(&mut self, key: Option<&[u8]>) {
        self.total += 1;
        self.seen += 1;
        let hash = self.hasher.hash_one(key);
        match self.index.get(&hash).copied() {
            Some(i) => self.counters[i].count += 1,
            None if self.counters.len() < self.k => {
                self.index.insert(hash, self.counters.len());
                self.hashes.push(hash);
                self.counters.push(HotKey {
                    key: key.map(<[u8]>::to_vec),
                    count: 1,
                    error: 0,
                });
            }
            None => {
                let (i, min) = self
                    .counters
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, c)| c.count)
                    .map_or((0, 0), |(i, c)| (i, c.count));
                self.index.remove(&self.hashes[i]);
                self.index.insert(hash, i);
                self.hashes[i] = hash;
                let c = &mut self.counters[i];
                match (&mut c.key, key) {
                    (Some(buffer), Some(k)) => {
                        buffer.clear();
                        buffer.extend_from_slice(k);
                    }
                    (slot, k) => *slot = k.map(<[u8]>::to_vec),
                }
                c.count = min + 1;
                c.error = min;
            }
        }
        if self.seen >= self.window {
            self.seen = 0;
            self.total /= 2;
            for c in &mut self.counters {
                c.count /= 2;
                c.error /= 2;
            }
        }
    }

    /// Keys counted in the window (decayed like the counters).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The counters, hottest first.
    pub fn top(&self) -> Vec<HotKey> {
        let mut top = self.counters.clone();
        top.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        top
    }

    /// The hottest key and its share of the window (its guaranteed count, `count - error`,
    /// over the total: never more than the truth).
    pub fn hottest(&self) -> Option<(HotKey, f64)> {
        let top = self.counters.iter().max_by_key(|c| c.count - c.error)?;
        (self.total > 0).then(|| {
            let share = (top.count - top.error) as f64 / self.total as f64;
            (top.clone(), share)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10,000 keys, each as often as the others, and one planted key with a fifth of the
    /// records: the sketch of 16 counters finds it, with its share.
    #[test]
    fn a_planted_hot_key_is_found_among_10000_keys() {
        let mut hot = HotKeys::new(16, 1_000_000);
        for round in 0..10u32 {
            for i in 0..10_000u32 {
                hot.observe(Some(format!("order-{i}").as_bytes()));
                if i % 4 == round % 4 {
                    hot.observe(Some(b"merchant-42"));
                }
            }
        }
        let (key, share) = hot.hottest().unwrap();
        assert_eq!(key.key.as_deref(), Some(&b"merchant-42"[..]));
        assert!((0.18..=0.21).contains(&share), "share {share}");
        assert_eq!(hot.top()[0].key, key.key);
        assert_eq!(hot.total(), 125_000);
    }

    #[test]
    fn an_even_stream_has_no_hot_key_and_old_counts_decay() {
        let mut hot = HotKeys::new(8, 1_000);
        for i in 0..10_000u32 {
            hot.observe(Some(&(i % 500).to_be_bytes()));
        }
        let (_, share) = hot.hottest().unwrap();
        assert!(share < 0.05, "share {share}");
        // a key that was hot long ago fades: 1,000 records of `old`, then 20,000 even ones
        let mut hot = HotKeys::new(8, 1_000);
        for _ in 0..1_000 {
            hot.observe(Some(b"old"));
        }
        for i in 0..20_000u32 {
            hot.observe(Some(&(i % 500).to_be_bytes()));
        }
        let (_, share) = hot.hottest().unwrap();
        assert!(share < 0.05, "share {share}");
        assert!(hot.total() <= 2_000, "the window decays: {}", hot.total());
    }

    #[test]
    fn keyless_records_count_as_one_key() {
        let mut hot = HotKeys::new(2, 100);
        for _ in 0..10 {
            hot.observe(None);
        }
        hot.observe(Some(b"a"));
        assert_eq!(hot.top()[0].key, None);
        assert_eq!(hot.top()[0].count, 10);
    }
}
