//! Buffers reused across responses: a response frame, and the record bytes a fetch
//! response gathers from its partitions' batches.
//!
//! A fetch response carries up to megabytes of records, copied twice: gathered from the
//! log's batches, then encoded into the frame. Allocated afresh each time, such buffers
//! come from glibc's `mmap` or from the top of a heap it trims again once they are freed,
//! so every response paid for fresh, zeroed pages: in a steady copy on the embedded broker
//! the kernel's page clearing was about 14% of the process's CPU. A buffer given back after
//! its response is written is taken again by a later response of any connection of the
//! process.

use std::sync::Mutex;

use bytes::{Bytes, BytesMut};

/// Buffers kept, at most.
const KEPT: usize = 16;

/// Smaller buffers are allocated and freed as usual (glibc serves them from its bins).
const POOLED_FROM: usize = 64 << 10;

/// Bytes kept, at most (a buffer larger than that is not kept).
const MAX_KEPT_BYTES: usize = 64 << 20;

/// A pool of spare buffers.
pub(crate) struct Buffers(Mutex<Spare>);

struct Spare {
    buffers: Vec<BytesMut>,
    /// Their capacities, summed.
    bytes: usize,
}

impl Spare {
    /// Room for one more buffer of `capacity`, within [`KEPT`] and [`MAX_KEPT_BYTES`]: the
    /// smallest spares smaller than it go if together they make room; if they cannot, none
    /// goes (evicting some in vain would only lose them) and the answer is false.
    fn make_room(&mut self, capacity: usize) -> bool {
        let fits = |kept: usize, bytes: usize| kept < KEPT && bytes + capacity <= MAX_KEPT_BYTES;
        if fits(self.buffers.len(), self.bytes) {
            return true;
        }
        self.buffers.sort_unstable_by_key(BytesMut::capacity);
        let (mut kept, mut bytes, mut evicted) = (self.buffers.len(), self.bytes, 0);
        while !fits(kept, bytes) {
            match self.buffers.get(evicted).map(BytesMut::capacity) {
                Some(c) if c < capacity => {
                    (kept, bytes, evicted) = (kept - 1, bytes - c, evicted + 1)
                }
                _ => return false, // the rest are as large or larger: keep them
            }
        }
        self.buffers.drain(..evicted);
        self.bytes = bytes;
        true
    }
}

/// The process's pool.
static BUFFERS: Buffers = Buffers::new();

/// An empty buffer with room for at least `size` bytes: the smallest spare one that has
/// room, else a new one (growing a smaller one would copy its whole capacity).
pub(crate) fn take(size: usize) -> BytesMut {
    BUFFERS.take(size)
}

/// Keeps `buf` for a later [`take`] (emptied); the smallest spare buffers make room for it,
/// within [`KEPT`] buffers and [`MAX_KEPT_BYTES`].
pub(crate) fn give(buf: BytesMut) {
    BUFFERS.give(buf);
}

/// Keeps the buffer of `bytes` (taken, then frozen) if nothing else shares it any more.
pub(crate) fn give_back(bytes: Bytes) {
    BUFFERS.give_back(bytes);
}

impl Buffers {
    const fn new() -> Self {
        Buffers(Mutex::new(Spare {
            buffers: Vec::new(),
            bytes: 0,
        }))
    }

    fn take(&self, size: usize) -> BytesMut {
        if size < POOLED_FROM {
            return BytesMut::with_capacity(size);
        }
        if let Ok(mut spare) = self.0.lock() {
            let fits = (spare.buffers.iter().enumerate())
                .filter(|(_, b)| b.capacity() >= size)
                .min_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i);
            if let Some(i) = fits {
                let buf = spare.buffers.swap_remove(i);
                spare.bytes -= buf.capacity();
                return buf;
            }
        }
        BytesMut::with_capacity(size)
    }

    fn give(&self, mut buf: BytesMut) {
        let capacity = buf.capacity();
        if !(POOLED_FROM..=MAX_KEPT_BYTES).contains(&capacity) {
            return;
        }
        buf.clear();
        let Ok(mut spare) = self.0.lock() else {
            return;
        };
        if !spare.make_room(capacity) {
            return;
        }
        spare.bytes += capacity;
        spare.buffers.push(buf);
    }

    fn give_back(&self, bytes: Bytes) {
        if let Ok(buf) = bytes.try_into_mut() {
            self.give(buf);
        }
    }

    /// Buffers kept.
    #[cfg(test)]
    fn kept(&self) -> usize {
        self.0.lock().map_or(0, |s| s.buffers.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_is_taken_again_empty() {
        let pool = Buffers::new();
        let mut buf = pool.take(POOLED_FROM);
        buf.extend_from_slice(b"response");
        let at = buf.as_ptr();
        pool.give(buf);
        let again = pool.take(POOLED_FROM);
        assert_eq!(again.as_ptr(), at);
        assert!(again.is_empty() && again.capacity() >= POOLED_FROM);
        // more room than any spare has: a new buffer, the spare stays
        pool.give(again);
        let large = pool.take(4 * POOLED_FROM);
        let large_at = large.as_ptr();
        assert!(large.capacity() >= 4 * POOLED_FROM && large_at != at);
        // the smallest spare with room is taken; a small buffer is never a spare one
        pool.give(large);
        assert_eq!(pool.take(POOLED_FROM + 1).as_ptr(), large_at);
        assert_eq!(pool.take(POOLED_FROM).as_ptr(), at);
        pool.give(BytesMut::with_capacity(100));
        assert_eq!(pool.kept(), 0);
    }

    #[test]
    fn a_frozen_buffer_comes_back_once_nothing_shares_it() {
        let pool = Buffers::new();
        let mut buf = pool.take(POOLED_FROM);
        buf.extend_from_slice(b"records");
        let bytes = buf.freeze();
        let at = bytes.as_ptr();
        let other = bytes.clone();
        pool.give_back(bytes);
        assert_eq!(pool.kept(), 0, "shared: not kept");
        assert_eq!(&other[..], b"records");
        pool.give_back(other);
        assert_eq!(pool.take(POOLED_FROM).as_ptr(), at, "the last share: kept");
    }

    #[test]
    fn larger_buffers_push_out_smaller_ones_within_the_bounds() {
        let pool = Buffers::new();
        pool.give(BytesMut::with_capacity(MAX_KEPT_BYTES + 1));
        assert_eq!(pool.kept(), 0, "too large to keep");
        for _ in 0..KEPT + 3 {
            pool.give(BytesMut::with_capacity(POOLED_FROM));
        }
        assert_eq!(pool.kept(), KEPT);
        let big = BytesMut::with_capacity(MAX_KEPT_BYTES / 2 + 1);
        let at = big.as_ptr();
        pool.give(big);
        assert_eq!(pool.kept(), KEPT, "one small buffer made room");
        // a second one of that size would exceed the bytes even without the small ones:
        // nothing goes, the new one is not kept
        pool.give(BytesMut::with_capacity(MAX_KEPT_BYTES / 2 + 1));
        assert_eq!(pool.kept(), KEPT);
        assert_eq!(pool.take(MAX_KEPT_BYTES / 2).as_ptr(), at);
        // the small ones that together make room go, the smallest first
        let quarter = MAX_KEPT_BYTES / 4;
        pool.give(BytesMut::with_capacity(quarter));
        pool.give(BytesMut::with_capacity(quarter + POOLED_FROM));
        assert_eq!(pool.kept(), KEPT, "the second pushed out one small buffer");
        let half = BytesMut::with_capacity(MAX_KEPT_BYTES / 2);
        let half_at = half.as_ptr();
        // room for it: the small buffers and the first quarter go, the larger quarter stays
        pool.give(half);
        assert_eq!(pool.kept(), 2);
        assert_eq!(pool.take(quarter + POOLED_FROM + 1).as_ptr(), half_at);
    }
}
