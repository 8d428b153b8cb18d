//! [`Arena`]: where a batch's polled keys and values are copied out of the consumer.
//!
//! Copied one allocation per record, the bytes were allocated by the task that polls and
//! freed by the one that processes: with the prefetch these are two threads, and glibc's
//! allocator then takes an arena lock for nearly every such allocation and free. Copied
//! into chunks shared by the batch's records instead, polling allocates at most once per
//! chunk. A spent chunk goes back to the pipeline's [`Chunks`] (up to 64 MiB of them), and
//! a later collection reuses it once every slice of it is dropped (the collecting task
//! clears a spent batch before filling it again), so a steady pipeline stops asking the
//! allocator, and the kernel for fresh pages, for chunks at all.
//!
//! Slices of a chunk pin the whole chunk: they never leave the pipeline. The processor's
//! input gets copies of its own ([`Input`](crate::Input)'s key, the codec's item), and
//! records kept past their batch (parked records, parked keys) are
//! [detached](crate::batch::Polled::detached).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};

/// Bytes per chunk.
const CHUNK: usize = 64 * 1024;

/// Larger slices get an allocation of their own (a chunk holds at least eight).
const OWN_ALLOCATION: usize = CHUNK / 8;

/// Spent chunks kept for reuse, at most (64 MiB: the chunks of two batches of ~250,000
/// small records, one processed while the next is polled); more are freed.
const KEPT: usize = 1024;

/// A pipeline's spent chunks, oldest first: a batch's chunks can be reused once the batch
/// is dropped (cloning shares them).
#[derive(Debug, Clone, Default)]
pub(crate) struct Chunks(Arc<Mutex<VecDeque<BytesMut>>>);

impl Chunks {
    /// The oldest spent chunk if none of its slices is alive any more, else a new one.
    fn take(&self) -> BytesMut {
        if let Ok(mut spent) = self.0.lock() {
            if let Some(mut chunk) = spent.pop_front() {
                // unique again: the whole chunk is writable from its start
                if chunk.try_reclaim(CHUNK) {
                    return chunk;
                }
                spent.push_front(chunk); // its batch is still alive
            }
        }
        BytesMut::with_capacity(CHUNK)
    }

    /// Keeps the rest of a spent chunk, to reclaim once its slices are dropped.
    fn put(&self, chunk: BytesMut) {
        if let Ok(mut spent) = self.0.lock() {
            if spent.len() < KEPT {
                spent.push_back(chunk);
            }
        }
    }

    /// Spent chunks kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().map_or(0, |s| s.len())
    }
}

/// The chunks one batch's keys and values are copied into, and its topic names (shared by
/// the batch's records of a topic).
#[derive(Debug)]
pub(crate) struct Arena {
    topics: Vec<Arc<str>>,
    /// The unused rest of the current chunk (`None` before the first copy).
    chunk: Option<BytesMut>,
    /// Where chunks come from and go back to; `None`: every slice is an allocation of its
    /// own (records that outlive their batch).
    chunks: Option<Chunks>,
}

impl Arena {
    /// An arena taking its chunks from `chunks`, and giving them back when it is dropped.
    pub(crate) fn new(chunks: &Chunks) -> Self {
        Arena {
            topics: Vec::new(),
            chunk: None,
            chunks: Some(chunks.clone()),
        }
    }

    /// An arena whose slices are each an allocation of their own: for records kept past
    /// their batch.
    pub(crate) fn unshared() -> Self {
        Arena {
            topics: Vec::new(),
            chunk: None,
            chunks: None,
        }
    }

    /// `topic`, shared with the earlier records of that topic.
    pub(crate) fn topic(&mut self, topic: &str) -> Arc<str> {
        if let Some(t) = self.topics.iter().find(|t| &***t == topic) {
            return Arc::clone(t);
        }
        let t: Arc<str> = Arc::from(topic);
        self.topics.push(Arc::clone(&t));
        t
    }

    /// A copy of `bytes`.
    pub(crate) fn copy(&mut self, bytes: &[u8]) -> Bytes {
        let Some(chunks) = self
            .chunks
            .as_ref()
            .filter(|_| bytes.len() <= OWN_ALLOCATION)
        else {
            return Bytes::copy_from_slice(bytes);
        };
        let chunk = match self.chunk.take() {
            Some(chunk) if chunk.capacity() >= bytes.len() => chunk,
            spent => {
                if let Some(spent) = spent {
                    chunks.put(spent);
                }
                chunks.take()
            }
        };
        let chunk = self.chunk.insert(chunk);
        chunk.extend_from_slice(bytes);
        chunk.split().freeze()
    }
}

impl Drop for Arena {
    /// The current chunk goes back to the pipeline's spent chunks.
    fn drop(&mut self) {
        if let (Some(chunk), Some(chunks)) = (self.chunk.take(), &self.chunks) {
            chunks.put(chunk);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_copies_share_a_chunk_and_large_ones_do_not() {
        let mut arena = Arena::new(&Chunks::default());
        let a = arena.copy(b"key-1");
        let b = arena.copy(b"value");
        let empty = arena.copy(b"");
        assert_eq!(
            (&a[..], &b[..], &empty[..]),
            (&b"key-1"[..], &b"value"[..], &b""[..])
        );
        // one chunk: b follows a
        assert_eq!(a.as_ptr().wrapping_add(a.len()), b.as_ptr());

        let large = vec![7u8; OWN_ALLOCATION + 1];
        let l = arena.copy(&large);
        assert_eq!(&l[..], &large[..]);
        let c = arena.copy(b"next");
        assert_eq!(
            b.as_ptr().wrapping_add(b.len()),
            c.as_ptr(),
            "the chunk goes on"
        );

        // a full chunk is replaced; earlier slices keep their bytes
        let filler = vec![1u8; OWN_ALLOCATION];
        let copies: Vec<Bytes> = (0..9).map(|_| arena.copy(&filler)).collect();
        assert!(copies.iter().all(|f| f[..] == filler[..]));
        assert_eq!(&a[..], b"key-1");
    }

    #[test]
    fn unshared_copies_are_allocations_of_their_own() {
        let mut arena = Arena::unshared();
        let a = arena.copy(b"ab");
        let b = arena.copy(b"cd");
        assert_ne!(a.as_ptr().wrapping_add(2), b.as_ptr());
        // a copy of its own converts into a Vec without copying again
        let at = a.as_ptr();
        let v = Vec::from(a);
        assert_eq!(v.as_ptr(), at);
    }

    #[test]
    fn a_spent_chunk_is_reused_once_its_slices_are_dropped() {
        let chunks = Chunks::default();
        let first = {
            let mut arena = Arena::new(&chunks);
            arena.copy(b"batch 1")
        };
        assert_eq!(chunks.len(), 1, "the arena gave its chunk back");
        // a slice of it is alive: the next batch gets a new chunk
        let second = Arena::new(&chunks).copy(b"batch 2");
        assert_ne!(first.as_ptr(), second.as_ptr());
        assert_eq!(&first[..], b"batch 1");
        assert_eq!(
            chunks.len(),
            2,
            "the first chunk waits; the second is back too"
        );
        let start = first.as_ptr();
        drop(first);
        // the first chunk is free again: reused from its start
        let third = Arena::new(&chunks).copy(b"batch 3");
        assert_eq!(third.as_ptr(), start);
        assert_eq!(&second[..], b"batch 2");
    }

    #[test]
    fn topics_are_shared() {
        let mut arena = Arena::unshared();
        let a = arena.topic("in");
        let b = arena.topic("in");
        let c = arena.topic("other");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*c, "other");
    }
}
