//! Atomics for the concurrent state machines, swapped for `loom`'s when the crate is built
//! with `--cfg steadfast_loom`, so the model checker can explore every interleaving.

#[cfg(steadfast_loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
#[cfg(not(steadfast_loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};

/// Keeps a value on cache lines of its own, so that threads writing it do not slow down
/// threads reading its neighbours (128 bytes: two 64-byte lines, as adjacent-line prefetchers
/// pull pairs).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}
