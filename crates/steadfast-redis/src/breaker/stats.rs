//! [`SharedBreakerStats`]: what a shared breaker's background task has done.

use std::sync::atomic::AtomicU64;

/// What a shared breaker's task has done.
///
/// ```
/// let s = steadfast_redis::SharedBreakerStats::default();
/// assert_eq!(s.syncs, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SharedBreakerStats {
    /// Batches Redis answered.
    pub syncs: u64,
    /// Changes of the fleet's state applied to the local breaker.
    pub applied: u64,
    /// Fleet probe permits this instance was granted.
    pub permits: u64,
    /// The fleet's generation last seen.
    pub generation: u64,
}

#[derive(Debug, Default)]
pub(super) struct SyncStats {
    pub(super) syncs: AtomicU64,
    pub(super) applied: AtomicU64,
    pub(super) permits: AtomicU64,
    pub(super) generation: AtomicU64,
}
