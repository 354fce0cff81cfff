//! A backoff per class of failure: rules that pick, for each retryable failure, which
//! schedule its wait comes from, and the attempt count each schedule keeps.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::backoff::{Backoff, NoteDelay};
use crate::classify::Outcome;
use crate::random::RandomSource;

/// A retryable failure, as the rules given to
/// [`RetryPolicyBuilder::backoff_for`](super::RetryPolicyBuilder::backoff_for) see it.
///
/// ```
/// use std::time::Duration;
/// use steadfast::retry::{Backoff, FailedAttempt, RetryPolicy};
///
/// #[derive(Debug)]
/// struct RateLimited;
/// impl std::fmt::Display for RateLimited {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("rate limited")
///     }
/// }
/// impl std::error::Error for RateLimited {}
///
/// let policy = RetryPolicy::builder()
///     .backoff_for(
///         |failed: &FailedAttempt<'_>| failed.error_is::<RateLimited>(),
///         Backoff::exponential(Duration::from_secs(1)),
///     )
///     .build()
///     .unwrap();
/// # let _ = policy;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FailedAttempt<'a> {
    attempt: u32,
    outcome: Outcome,
    error: Option<&'a (dyn StdError + 'static)>,
}

impl<'a> FailedAttempt<'a> {
    pub(crate) fn new(
        attempt: u32,
        outcome: Outcome,
        error: Option<&'a (dyn StdError + 'static)>,
    ) -> Self {
        FailedAttempt {
            attempt,
            outcome,
            error,
        }
    }

    /// The attempt that failed, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// How the classifier judged it (a retryable outcome).
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// The error it failed with; `None` when a response was judged retryable.
    pub fn error(&self) -> Option<&'a (dyn StdError + 'static)> {
        self.error
    }

    /// Whether the error, or an error in its `source()` chain, is a `T`.
    pub fn error_is<T: StdError + 'static>(&self) -> bool {
        self.error
            .is_some_and(|e| crate::error::find_source::<T>(e).is_some())
    }
}

/// A rule choosing a backoff.
pub(crate) type Rule = Arc<dyn Fn(&FailedAttempt<'_>) -> bool + Send + Sync>;

/// A class of failures and the backoff its retries wait.
#[derive(Clone)]
pub(crate) struct BackoffClass {
    pub(crate) rule: Rule,
    pub(crate) backoff: Backoff,
}

impl fmt::Debug for BackoffClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackoffClass")
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

/// Where each schedule of a policy with classes is: how many failures it has counted since
/// the request started (or since a pushback restarted every schedule), and its last delay
/// (for decorrelated jitter). Index 0 is the policy's own backoff, then one per class.
#[derive(Debug, Default)]
pub(crate) struct ClassCounts(Vec<(u32, Duration)>);

impl ClassCounts {
    /// Counts `failed` against the first class whose rule it matches (or the default
    /// schedule) and returns that schedule's next delay.
    ///
    /// `note` is told the chosen schedule's delay before jitter (see
    /// [`Backoff::delay_noted`]); `class` is set to the index of the class that matched (from
    /// 1), or 0 for the policy's own backoff.
    pub(crate) fn next_delay<N: NoteDelay>(
        &mut self,
        default: &Backoff,
        classes: &[BackoffClass],
        failed: &FailedAttempt<'_>,
        rng: &dyn RandomSource,
        note: &mut N,
        class: &mut usize,
    ) -> Duration {
        let index = classes
            .iter()
            .position(|c| (c.rule)(failed))
            .map_or(0, |i| i + 1);
        if self.0.len() <= classes.len() {
            self.0.resize(classes.len() + 1, (0, Duration::ZERO));
        }
        let (count, previous) = &mut self.0[index];
        *count = count.saturating_add(1);
        let backoff = match index {
            0 => default,
            i => &classes[i - 1].backoff,
        };
        let delay = backoff.delay_noted(*count, *previous, rng, note);
        *class = index;
        *previous = delay;
        delay
    }

    /// Every schedule starts again from its first delay (after a server's pushback).
    pub(crate) fn restart(&mut self) {
        self.0.clear();
    }
}
