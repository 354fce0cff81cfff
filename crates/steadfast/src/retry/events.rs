//! Hooks and counters: what the retry layer tells you while it works.
//!
//! Register a listener with
//! [`RetryPolicyBuilder::on_event`](super::RetryPolicyBuilder::on_event) to be called before
//! each retry (with the delay chosen), when a request succeeds after retries, when the budget
//! refuses a retry, and when the layer gives up. Listeners run inline, on the task that drives
//! the request: keep them short. Every event is also emitted as a `tracing` event inside a
//! per-request `retry` span.
//!
//! [`RetryMetrics`] counts the same things with relaxed atomics, for a metrics exporter to
//! read.
//!
//! ```
//! use std::sync::Arc;
//! use steadfast::retry::{RetryEvent, RetryMetrics, RetryPolicy};
//!
//! let metrics = Arc::new(RetryMetrics::default());
//! let policy = RetryPolicy::builder()
//!     .metrics(metrics.clone())
//!     .on_event(|event: &RetryEvent<'_>| {
//!         if let RetryEvent::Retry { attempt, delay, .. } = event {
//!             eprintln!("attempt {attempt} failed, retrying in {delay:?}");
//!         }
//!     })
//!     .build()
//!     .unwrap();
//! # let _ = policy;
//! assert_eq!(metrics.snapshot().requests, 0);
//! ```

use std::error::Error as StdError;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::error::StopReason;
use crate::classify::Outcome;

/// Something the retry layer did.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum RetryEvent<'a> {
    /// Attempt `attempt` failed with a retryable outcome; the layer will wait `delay` and try
    /// again.
    Retry {
        /// The attempt that failed, from 1.
        attempt: u32,
        /// The delay chosen before the next attempt (a server hint, clamped, or the backoff).
        delay: Duration,
        /// How the failed attempt was classified.
        outcome: Outcome,
        /// Time elapsed so far.
        elapsed: Duration,
        /// The attempt's error, when it failed with one rather than with a response.
        error: Option<&'a (dyn StdError + 'static)>,
    },
    /// The request succeeded after `attempts` attempts (only sent when `attempts > 1`).
    Success {
        /// Attempts made, including the successful one.
        attempts: u32,
        /// Time elapsed.
        elapsed: Duration,
    },
    /// The retry budget refused a retry; a [`RetryEvent::GiveUp`] follows.
    BudgetExhausted {
        /// Attempts made.
        attempts: u32,
    },
    /// The layer stopped retrying without a success.
    GiveUp {
        /// Attempts made.
        attempts: u32,
        /// Time elapsed.
        elapsed: Duration,
        /// Why it stopped.
        reason: &'a StopReason,
    },
}

/// A listener for [`RetryEvent`]s.
pub(crate) type Listener = std::sync::Arc<dyn Fn(&RetryEvent<'_>) + Send + Sync>;

/// Number of buckets in the attempt distribution: 1, 2, ..., 9 and "10 or more".
pub const ATTEMPT_BUCKETS: usize = 10;

/// Counters kept by the retry layer when you give it one (shared by every clone).
///
/// # Invariants
///
/// Each counter is an independent relaxed atomic: a snapshot taken while requests are in
/// flight may be mid-update across counters, but no increment is ever lost.
#[derive(Default)]
pub struct RetryMetrics {
    requests: AtomicU64,
    retries: AtomicU64,
    successes_after_retry: AtomicU64,
    gave_up: AtomicU64,
    budget_rejections: AtomicU64,
    cancelled: AtomicU64,
    attempts: [AtomicU64; ATTEMPT_BUCKETS],
}

impl fmt::Debug for RetryMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.snapshot().fmt(f)
    }
}

/// A copy of [`RetryMetrics`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RetryMetricsSnapshot {
    /// Requests that entered the layer.
    pub requests: u64,
    /// Retries sent (attempts after the first). A retry that was scheduled but never sent
    /// (the request was cancelled during the backoff) is not counted.
    pub retries: u64,
    /// Requests that succeeded after at least one retry.
    pub successes_after_retry: u64,
    /// Requests the layer gave up on (any [`StopReason`]).
    pub gave_up: u64,
    /// Retries refused by the budget.
    pub budget_rejections: u64,
    /// Requests stopped by their cancellation token.
    pub cancelled: u64,
    /// Finished requests by the number of attempts they took: index 0 is one attempt, index 8
    /// nine, index 9 ten or more.
    pub attempts: [u64; ATTEMPT_BUCKETS],
}

impl RetryMetrics {
    /// Reads every counter.
    pub fn snapshot(&self) -> RetryMetricsSnapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RetryMetricsSnapshot {
            requests: get(&self.requests),
            retries: get(&self.retries),
            successes_after_retry: get(&self.successes_after_retry),
            gave_up: get(&self.gave_up),
            budget_rejections: get(&self.budget_rejections),
            cancelled: get(&self.cancelled),
            attempts: std::array::from_fn(|i| get(&self.attempts[i])),
        }
    }

    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn finished(&self, attempts: u32) {
        let i = (attempts.max(1) as usize - 1).min(ATTEMPT_BUCKETS - 1);
        self.attempts[i].fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn success_after_retry(&self) {
        self.successes_after_retry.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn gave_up(&self, reason: &StopReason) {
        self.gave_up.fetch_add(1, Ordering::Relaxed);
        match reason {
            StopReason::BudgetExhausted => {
                self.budget_rejections.fetch_add(1, Ordering::Relaxed);
            }
            StopReason::Cancelled(_) => {
                self.cancelled.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}
