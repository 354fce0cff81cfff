//! [`FleetStatus`]: whether Redis answers, and how often it did not. Every background task of a
//! [`Fleet`](crate::Fleet) reports here, so an outage is told once for the whole fleet handle.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The connection's health and counters, as [`Fleet::status`](crate::Fleet::status) reports
/// them.
///
/// ```
/// let status = steadfast_redis::FleetStatus::default();
/// assert!(status.online);
/// assert_eq!(status.outages, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FleetStatus {
    /// `false` while Redis is not answering: breakers and budgets are working on their own.
    pub online: bool,
    /// Times Redis stopped answering (each outage counts once, however long it lasts).
    pub outages: u64,
    /// Redis operations sent (scripts and subscriptions), answered or not.
    pub operations: u64,
    /// Redis operations that failed or timed out.
    pub failed_operations: u64,
}

impl Default for FleetStatus {
    fn default() -> Self {
        FleetStatus {
            online: true,
            outages: 0,
            operations: 0,
            failed_operations: 0,
        }
    }
}

/// The shared counters behind [`FleetStatus`].
#[derive(Debug)]
pub(crate) struct Health {
    online: AtomicBool,
    outages: AtomicU64,
    operations: AtomicU64,
    failed: AtomicU64,
}

impl Health {
    pub(crate) fn new() -> Self {
        Health {
            online: AtomicBool::new(true),
            outages: AtomicU64::new(0),
            operations: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    /// An operation answered: back online if it was not.
    pub(crate) fn answered(&self, namespace: &str) {
        self.operations.fetch_add(1, Ordering::Relaxed);
        if !self.online.swap(true, Ordering::AcqRel) {
            tracing::info!(namespace, "redis answers again: sharing resumed");
        }
    }

    /// An operation failed or timed out: offline, told once per outage.
    pub(crate) fn failed(&self, namespace: &str, what: &str, error: &dyn std::fmt::Display) {
        self.operations.fetch_add(1, Ordering::Relaxed);
        self.failed.fetch_add(1, Ordering::Relaxed);
        if self.online.swap(false, Ordering::AcqRel) {
            self.outages.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                namespace,
                operation = what,
                %error,
                "redis is not answering: breakers and budgets work locally until it does"
            );
        }
    }

    pub(crate) fn status(&self) -> FleetStatus {
        FleetStatus {
            online: self.online.load(Ordering::Acquire),
            outages: self.outages.load(Ordering::Relaxed),
            operations: self.operations.load(Ordering::Relaxed),
            failed_operations: self.failed.load(Ordering::Relaxed),
        }
    }
}
