//! [`SharedBreaker`]: the handle of a breaker shared across the fleet; dropping it stops the
//! sharing.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use steadfast::circuit_breaker::CircuitBreaker;
use tokio::task::AbortHandle;

use super::stats::{SharedBreakerStats, SyncStats};

/// A local [`CircuitBreaker`] that follows the fleet's shared state.
///
/// The request path is the local breaker's, unchanged: put [`breaker`](Self::breaker) (or any
/// clone of it) in a `CircuitBreakerLayer`. A background task folds the breaker's counts into
/// Redis every sync interval and applies the fleet's state to it: open everywhere when the
/// fleet opens, half-open only on the instances granted a fleet permit, closed when the
/// fleet's probes succeed. The task stops when this handle is dropped; the breaker goes on
/// locally.
pub struct SharedBreaker {
    pub(super) breaker: CircuitBreaker,
    pub(super) stats: Arc<SyncStats>,
    task: AbortHandle,
}

impl fmt::Debug for SharedBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedBreaker")
            .field("breaker", &self.breaker)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl SharedBreaker {
    pub(super) fn new(breaker: CircuitBreaker, stats: Arc<SyncStats>, task: AbortHandle) -> Self {
        SharedBreaker {
            breaker,
            stats,
            task,
        }
    }

    /// The local breaker: the one requests go through.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// What the background task has done so far.
    pub fn stats(&self) -> SharedBreakerStats {
        SharedBreakerStats {
            syncs: self.stats.syncs.load(Ordering::Relaxed),
            applied: self.stats.applied.load(Ordering::Relaxed),
            permits: self.stats.permits.load(Ordering::Relaxed),
            generation: self.stats.generation.load(Ordering::Relaxed),
        }
    }
}

impl Drop for SharedBreaker {
    fn drop(&mut self) {
        self.task.abort();
    }
}
