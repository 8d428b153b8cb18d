//! [`Arena`]: where a batch's polled keys and values are copied out of the consumer.
//!
//! Copied one allocation per record, the bytes were allocated by the task that polls and
//! freed by the one that processes: with the prefetch these are two threads, and glibc's
//! allocator then takes an arena lock for nearly every such allocation and free. Copied
//! into chunks shared by the batch's records instead, polling allocates once per chunk, and
//! a chunk is freed when the batch's last record is dropped (by the collecting task, which
//! clears a spent batch before filling it again).
//!
//! Slices of a chunk pin the whole chunk: they never leave the pipeline. The processor's
//! input gets copies of its own ([`Input`](crate::Input)'s key, the codec's item), and
//! records kept past their batch (parked records, parked keys) are
//! [detached](crate::batch::Polled::detached).

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

/// Bytes per chunk.
const CHUNK: usize = 64 * 1024;

/// Larger slices get an allocation of their own (a chunk holds at least eight).
const OWN_ALLOCATION: usize = CHUNK / 8;

/// The chunks one batch's keys and values are copied into, and its topic names (shared by
/// the batch's records of a topic).
#[derive(Debug, Default)]
pub(crate) struct Arena {
    topics: Vec<Arc<str>>,
    /// The unused rest of the current chunk.
    chunk: BytesMut,
    /// Every slice gets an allocation of its own (records that outlive their batch).
    unshared: bool,
}

impl Arena {
    /// An arena whose slices are each an allocation of their own: for records kept past
    /// their batch.
    pub(crate) fn unshared() -> Self {
        Arena {
            unshared: true,
            ..Arena::default()
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
        if self.unshared || bytes.len() > OWN_ALLOCATION {
            return Bytes::copy_from_slice(bytes);
        }
        if self.chunk.capacity() < bytes.len() {
            self.chunk = BytesMut::with_capacity(CHUNK);
        }
        self.chunk.extend_from_slice(bytes);
        self.chunk.split().freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_copies_share_a_chunk_and_large_ones_do_not() {
        let mut arena = Arena::default();
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
    fn topics_are_shared() {
        let mut arena = Arena::default();
        let a = arena.topic("in");
        let b = arena.topic("in");
        let c = arena.topic("other");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*c, "other");
    }
}
