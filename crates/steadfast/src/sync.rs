//! Atomics and locks for the concurrent state machines, swapped for `loom`'s when the crate is built
//! with `--cfg steadfast_loom`, so the model checker can explore every interleaving.

#[cfg(all(steadfast_loom, feature = "retry"))]
pub(crate) use loom::sync::atomic::AtomicI64;
#[cfg(all(steadfast_loom, feature = "circuit-breaker"))]
pub(crate) use loom::sync::atomic::AtomicU32;
#[cfg(all(steadfast_loom, any(feature = "circuit-breaker", feature = "retry")))]
pub(crate) use loom::sync::atomic::AtomicU64;
#[cfg(steadfast_loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU8, AtomicUsize, Ordering};
#[cfg(steadfast_loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};
#[cfg(all(not(steadfast_loom), feature = "retry"))]
pub(crate) use std::sync::atomic::AtomicI64;
#[cfg(all(not(steadfast_loom), feature = "circuit-breaker"))]
pub(crate) use std::sync::atomic::AtomicU32;
#[cfg(all(
    not(steadfast_loom),
    any(feature = "circuit-breaker", feature = "retry")
))]
pub(crate) use std::sync::atomic::AtomicU64;
#[cfg(not(steadfast_loom))]
pub(crate) use std::sync::atomic::{fence, AtomicU8, AtomicUsize, Ordering};
#[cfg(not(steadfast_loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

/// Keeps a value on cache lines of its own, so that threads writing it do not slow down
/// threads reading its neighbours (128 bytes: two 64-byte lines, as adjacent-line prefetchers
/// pull pairs).
#[cfg(feature = "circuit-breaker")]
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

#[cfg(feature = "circuit-breaker")]
impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// How many stripes a [`StripedCounter`] spreads over.
#[cfg(feature = "circuit-breaker")]
const STRIPES: usize = 8;

/// A counter that threads increment without contending: each thread adds to its own stripe
/// (on cache lines of its own) and readers sum the stripes.
///
/// # Invariants
///
/// No increment is lost; a sum taken while threads are adding may miss the increments still in
/// flight, as with any concurrent counter.
#[cfg(feature = "circuit-breaker")]
#[derive(Debug)]
pub(crate) struct StripedCounter {
    stripes: [CachePadded<AtomicU64>; STRIPES],
}

#[cfg(feature = "circuit-breaker")]
impl Default for StripedCounter {
    fn default() -> Self {
        StripedCounter {
            stripes: std::array::from_fn(|_| CachePadded(AtomicU64::new(0))),
        }
    }
}

#[cfg(feature = "circuit-breaker")]
impl StripedCounter {
    #[inline]
    pub(crate) fn increment(&self) {
        self.stripes[stripe()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn sum(&self) -> u64 {
        self.stripes
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .fold(0u64, u64::wrapping_add)
    }
}

/// This thread's stripe: threads are numbered in the order they first ask.
#[cfg(feature = "circuit-breaker")]
#[inline]
fn stripe() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering as StdOrdering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, StdOrdering::Relaxed) % STRIPES;
    }
    STRIPE.with(|s| *s)
}
