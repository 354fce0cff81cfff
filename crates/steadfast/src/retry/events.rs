//! Hooks and counters: what the retry layer tells you while it works.
//!
//! Register a listener with
//! [`RetryPolicyBuilder::on_event`](super::RetryPolicyBuilder::on_event) to be called when
//! each attempt starts and when it answers, before each retry's wait (with the delay chosen),
//! when a request succeeds after retries, when the budget refuses a retry, when the layer gives
//! up, and once when each request ends, however it ends. An
//! [`Observer`](crate::observe::Observer) given to
//! [`RetryPolicyBuilder::observe`](super::RetryPolicyBuilder::observe) adds its listener the
//! same way. Listeners run inline, on the task that drives the request: keep them short.
//! `Retry`, `Success`, `BudgetExhausted` and `GiveUp` are also emitted as `tracing` events
//! inside a per-request `retry` span, at the policy's
//! [`log_level`](super::RetryPolicyBuilder::log_level).
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
    /// Attempt `attempt` is about to be sent (tenacity's `before`): the first one, and each
    /// retry once its wait is over and the service is ready.
    AttemptStarting {
        /// The attempt, from 1.
        attempt: u32,
        /// Time elapsed since the first attempt started (zero for the first; counted from the
        /// first failure when the policy does not read the clock before one, see
        /// [`max_elapsed`](super::RetryPolicyBuilder::max_elapsed)).
        elapsed: Duration,
    },
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
    /// Attempt `attempt` answered, before the layer decides what to do with the answer (so
    /// before any `Retry` or `GiveUp` for it). An attempt dropped unanswered (its token
    /// fired while it ran) sends none. The layer reads the clock for it only when a listener
    /// is registered.
    AttemptFinished {
        /// The attempt, from 1.
        attempt: u32,
        /// How long the attempt took, from the call to its answer.
        duration: Duration,
        /// How the attempt was classified.
        outcome: Outcome,
    },
    /// The request ended, in any way: sent once per request, last, after any
    /// [`Success`](RetryEvent::Success) or [`GiveUp`](RetryEvent::GiveUp). A request whose
    /// future is dropped before it ends (by a timeout around the retry layer, say) sends none.
    RequestFinished {
        /// Attempts made (0 if the request ended before its first).
        attempts: u32,
        /// Time from the start of the first attempt to the end (after the policy's
        /// [`start_jitter`](super::RetryPolicyBuilder::start_jitter) wait, if it has one;
        /// zero for a request that ended before its first attempt).
        elapsed: Duration,
        /// How it ended.
        end: RequestEnd<'a>,
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

/// How a request through the retry layer ended, for [`RetryEvent::RequestFinished`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestEnd<'a> {
    /// With a success, on its first attempt or after retries.
    Success,
    /// With an outcome that is not retried and is not a success (a non-retryable error, an
    /// ignored outcome, an inner service that failed its readiness check).
    Failed,
    /// The layer gave up: the retries ran out or were stopped.
    GaveUp(&'a StopReason),
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
    failed: AtomicU64,
    not_started: AtomicU64,
    wait_nanos: AtomicU64,
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
    /// Requests that ended with an outcome that is not retried and is not a success (a
    /// non-retryable error, an ignored outcome, an inner service that failed its readiness
    /// check). Those the layer gave up on are in [`gave_up`](Self::gave_up) instead.
    pub failed: u64,
    /// Requests that ended before their first attempt (their token had already fired). They
    /// are counted in [`gave_up`](Self::gave_up) as well, and in no
    /// [`attempts`](Self::attempts) bucket.
    pub not_started: u64,
    /// The time spent waiting before retries that were sent (backoff delays and server
    /// hints), summed over every request.
    pub wait_time: Duration,
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
            failed: get(&self.failed),
            not_started: get(&self.not_started),
            wait_time: Duration::from_nanos(get(&self.wait_nanos)),
            attempts: std::array::from_fn(|i| get(&self.attempts[i])),
        }
    }

    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
    /// A retry is sent after waiting `waited`.
    pub(crate) fn retry(&self, waited: Duration) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        if !waited.is_zero() {
            let ns = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
            // Saturates rather than wrapping (after some 584 years of waiting).
            let _ = self
                .wait_nanos
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                    Some(t.saturating_add(ns))
                });
        }
    }
    /// A request ended with an outcome that is neither a success nor retried.
    pub(crate) fn failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn finished(&self, attempts: u32) {
        let i = (attempts.max(1) as usize - 1).min(ATTEMPT_BUCKETS - 1);
        self.attempts[i].fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn success_after_retry(&self) {
        self.successes_after_retry.fetch_add(1, Ordering::Relaxed);
    }
    /// The layer gave up on a request after `attempts` attempts (0: before the first).
    pub(crate) fn gave_up(&self, reason: &StopReason, attempts: u32) {
        self.gave_up.fetch_add(1, Ordering::Relaxed);
        if attempts == 0 {
            self.not_started.fetch_add(1, Ordering::Relaxed);
        }
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

/// Figures derived from the counters: the rates a dashboard shows.
///
/// Each is `None` while there is nothing to divide by. A snapshot taken while requests are in
/// flight counts their retries already sent but not their end.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use steadfast::retry::{Backoff, RetryMetrics, RetryPolicy};
///
/// let metrics = Arc::new(RetryMetrics::default());
/// let policy = RetryPolicy::builder()
///     .max_attempts(3)
///     .backoff(Backoff::constant(Duration::from_millis(1)))
///     .metrics(metrics.clone())
///     .build()
///     .unwrap();
/// // One request succeeds at once, one on its third attempt, one never.
/// policy.run_blocking(|_| Ok::<_, &str>(())).unwrap();
/// policy.run_blocking(|n| if n < 3 { Err("busy") } else { Ok(()) }).unwrap();
/// policy.run_blocking(|_| Err::<(), _>("down")).unwrap_err();
///
/// let m = metrics.snapshot();
/// assert_eq!(m.completed(), 3);
/// assert_eq!(m.successes(), 2);
/// assert_eq!(m.success_rate(), Some(2.0 / 3.0));
/// assert_eq!(m.average_attempts(), Some(7.0 / 3.0));
/// assert_eq!(m.retry_rate(), Some(2.0 / 3.0));
/// assert_eq!(m.wait_time, Duration::from_millis(4));
/// assert_eq!(m.average_wait(), Some(Duration::from_millis(1)));
/// ```
impl RetryMetricsSnapshot {
    /// Requests that have ended, in any way: the sum of the [`attempts`](Self::attempts)
    /// buckets and of the requests that ended before their first attempt.
    pub fn completed(&self) -> u64 {
        self.attempts
            .iter()
            .fold(self.not_started, |sum, n| sum.saturating_add(*n))
    }

    /// Requests that ended with a success (on their first attempt or after retries):
    /// those that ended, less those the layer gave up on and those that
    /// [`failed`](Self::failed).
    pub fn successes(&self) -> u64 {
        self.completed()
            .saturating_sub(self.gave_up)
            .saturating_sub(self.failed)
    }

    /// The share of ended requests that succeeded, from 0 to 1.
    pub fn success_rate(&self) -> Option<f64> {
        ratio(self.successes(), self.completed())
    }

    /// The mean number of attempts per request that made at least one: first attempts and
    /// retries sent, over the requests that started.
    pub fn average_attempts(&self) -> Option<f64> {
        let started = self.requests.saturating_sub(self.not_started);
        ratio(started.saturating_add(self.retries), started)
    }

    /// The share of ended requests that needed at least one retry, from 0 to 1.
    pub fn retry_rate(&self) -> Option<f64> {
        let ended = self.completed().saturating_sub(self.not_started);
        let first_time = self.attempts[0];
        ratio(ended.saturating_sub(first_time), ended)
    }

    /// The mean wait before a retry: [`wait_time`](Self::wait_time) over the
    /// [`retries`](Self::retries) sent.
    pub fn average_wait(&self) -> Option<Duration> {
        let n = u32::try_from(self.retries).unwrap_or(u32::MAX);
        (n > 0).then(|| self.wait_time / n)
    }
}

/// `num / den` as a float, `None` when `den` is zero.
fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}
