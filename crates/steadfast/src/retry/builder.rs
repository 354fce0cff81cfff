//! [`RetryPolicyBuilder`]: every setting of a retry policy, checked when it is built.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::budget::RetryBudget;
use super::clone_request::{CloneAll, CloneWith};
use super::error::RetryError;
use super::events::{Listener, RetryEvent, RetryMetrics};
use super::policy::{RetryPolicy, Settings, SharedSettings};
use super::recover::{NoRecover, RecoverFn};
use crate::backoff::Backoff;
use crate::classify::{classify_fn, AnyError, Attempt, ClassifyFn, Outcome};
use crate::config::ConfigError;
use crate::random::{RandomSource, SplitMix64};

impl RetryPolicy {
    /// Starts a builder with the defaults: 3 attempts, exponential backoff from 100 ms capped
    /// at 10 s with full jitter, server hints clamped to 60 s each and to 60 s in total per
    /// request, every error retried, requests cloned with `Clone`.
    pub fn builder() -> RetryPolicyBuilder {
        RetryPolicyBuilder {
            name: None,
            max_attempts: 3,
            backoff: Backoff::default(),
            max_elapsed: None,
            deadline: None,
            max_hint: Duration::from_secs(60),
            max_hint_wait_total: None,
            classifier: AnyError,
            cloner: CloneAll,
            recover: NoRecover,
            budget: None,
            rng: None,
            listeners: Vec::new(),
            metrics: None,
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::builder()
            .build()
            .expect("the default retry policy is valid")
    }
}

/// Builds a [`RetryPolicy`]; every setting is checked by [`build`](Self::build).
pub struct RetryPolicyBuilder<C = AnyError, K = CloneAll, R = NoRecover> {
    name: Option<Cow<'static, str>>,
    max_attempts: u32,
    backoff: Backoff,
    max_elapsed: Option<Duration>,
    deadline: Option<Instant>,
    max_hint: Duration,
    max_hint_wait_total: Option<Duration>,
    classifier: C,
    cloner: K,
    recover: R,
    budget: Option<Arc<dyn RetryBudget>>,
    rng: Option<Arc<dyn RandomSource>>,
    listeners: Vec<Listener>,
    metrics: Option<Arc<RetryMetrics>>,
}

impl<C, K, R> fmt::Debug for RetryPolicyBuilder<C, K, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicyBuilder")
            .field("name", &self.name)
            .field("max_attempts", &self.max_attempts)
            .field("backoff", &self.backoff)
            .field("max_elapsed", &self.max_elapsed)
            .finish_non_exhaustive()
    }
}

impl<C, K, R> RetryPolicyBuilder<C, K, R> {
    /// Names the policy after the operation or downstream it guards. The name is shown in
    /// `tracing` spans and events, starts the message of the [`RetryError`] the policy gives
    /// up with, and is available from [`RetryError::name`]. Default: no name (`"retry"` in
    /// spans).
    ///
    /// ```
    /// use steadfast::retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::builder().name("inventory").build().unwrap();
    /// assert_eq!(policy.name(), "inventory");
    /// ```
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The most attempts to make, the first included (at least 1; 1 means never retry).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// The wait before each retry.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Stops retrying once the total time would pass `limit`: a retry whose delay would end
    /// past it is not made. Must be greater than zero.
    ///
    /// Setting this makes the layer read the clock when each request starts, so elapsed time
    /// counts from the first attempt. So do event listeners and a classifier that reads
    /// [`Attempt::elapsed`](crate::classify::Attempt). Otherwise the clock is first read when
    /// the first attempt fails (the success path reads no clock), and the elapsed time in
    /// [`RetryError::elapsed`], attempt records and `tracing` events counts from that moment.
    pub fn max_elapsed(mut self, limit: Duration) -> Self {
        self.max_elapsed = Some(limit);
        self
    }

    /// Never retries past this instant. A request's own deadline (carried by its
    /// [`CancelToken`](crate::token::CancelToken)) applies as well; the earlier wins.
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The longest server-requested delay honoured (default 60 s). Longer hints are clamped
    /// to it, so a misbehaving server cannot park a client for hours.
    pub fn max_hint(mut self, max: Duration) -> Self {
        self.max_hint = max;
        self
    }

    /// The most time one request may spend waiting on server hints, over all its retries
    /// (default: the same as [`max_hint`](Self::max_hint), 60 s unless set). Must be greater
    /// than zero.
    ///
    /// A retry whose hinted wait (after the [`max_hint`](Self::max_hint) clamp) would take the
    /// request's total past it is not made: the layer stops with
    /// [`StopReason::MaxHintWait`](super::StopReason::MaxHintWait). The wait is not shortened
    /// to what is left, since retrying before the server's time is what a hint asks a client
    /// not to do. Backoff delays do not count; hints of zero never stop a retry.
    ///
    /// Without it, a request without a deadline could be held `max_hint` per retry: two
    /// minutes with the defaults, by a server that answers each attempt with
    /// `Retry-After: 3600`.
    pub fn max_hint_wait_total(mut self, total: Duration) -> Self {
        self.max_hint_wait_total = Some(total);
        self
    }

    /// Shares a retry budget (keep a clone of the `Arc` to share it with other policies).
    pub fn budget(mut self, budget: Arc<dyn RetryBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The randomness behind jitter. Default: a [`SplitMix64`] seeded from the OS.
    pub fn random(mut self, rng: Arc<dyn RandomSource>) -> Self {
        self.rng = Some(rng);
        self
    }

    /// Seeds the default generator, for reproducible delays.
    pub fn seed(self, seed: u64) -> Self {
        self.random(Arc::new(SplitMix64::seeded(seed)))
    }

    /// Calls `listener` for every [`RetryEvent`]. May be called several times.
    pub fn on_event(mut self, listener: impl Fn(&RetryEvent<'_>) + Send + Sync + 'static) -> Self {
        self.listeners.push(Arc::new(listener));
        self
    }

    /// Records counters into `metrics` (keep a clone to read them).
    pub fn metrics(mut self, metrics: Arc<RetryMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Decides what is retried; see [`crate::classify`]. Default: every error.
    pub fn classify<C2>(self, classifier: C2) -> RetryPolicyBuilder<C2, K, R> {
        RetryPolicyBuilder {
            name: self.name,
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            max_elapsed: self.max_elapsed,
            deadline: self.deadline,
            max_hint: self.max_hint,
            max_hint_wait_total: self.max_hint_wait_total,
            classifier,
            cloner: self.cloner,
            recover: self.recover,
            budget: self.budget,
            rng: self.rng,
            listeners: self.listeners,
            metrics: self.metrics,
        }
    }

    /// Decides what is retried with a closure that sees the attempt's context.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::classify::{Attempt, Outcome};
    /// use steadfast::retry::RetryPolicy;
    ///
    /// // Retry 503s, and accept a 206 once three attempts have been made.
    /// let policy = RetryPolicy::builder()
    ///     .classify_with(|a: &Attempt<'_, String>, r: Result<&u16, &std::io::Error>| match r {
    ///         Ok(503) => Outcome::retryable(),
    ///         Ok(206) if a.number < 3 => Outcome::Invalid,
    ///         Ok(_) => Outcome::Success,
    ///         Err(_) => Outcome::retryable(),
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # let _ = policy;
    /// ```
    pub fn classify_with<Req, Res, E, F>(self, f: F) -> RetryPolicyBuilder<ClassifyFn<F>, K, R>
    where
        F: Fn(&Attempt<'_, Req>, Result<&Res, &E>) -> Outcome,
    {
        self.classify(classify_fn(f))
    }

    /// Copies requests with `f` instead of `Clone`; return `None` for a request that cannot be
    /// copied (it is sent once and not retried).
    pub fn clone_requests_with<Req, F>(self, f: F) -> RetryPolicyBuilder<C, CloneWith<F>, R>
    where
        F: Fn(&Req) -> Option<Req>,
    {
        self.clone_requests(CloneWith(f))
    }

    /// Copies requests with your [`CloneRequest`](super::CloneRequest), for example one that replays HTTP bodies
    /// and says when a body can no longer be replayed.
    pub fn clone_requests<K2>(self, cloner: K2) -> RetryPolicyBuilder<C, K2, R> {
        RetryPolicyBuilder {
            name: self.name,
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            max_elapsed: self.max_elapsed,
            deadline: self.deadline,
            max_hint: self.max_hint,
            max_hint_wait_total: self.max_hint_wait_total,
            classifier: self.classifier,
            cloner,
            recover: self.recover,
            budget: self.budget,
            rng: self.rng,
            listeners: self.listeners,
            metrics: self.metrics,
        }
    }

    /// Answers with `recover` instead of failing when the retry gives up: it gets the final
    /// [`RetryError`] (with every kept attempt's error, see [`RetryError::errors`]) and returns
    /// the request's result. See [`Recover`](super::Recover); for instance
    /// [`validate::best_of`](crate::validate::best_of) answers with the best response that
    /// failed validation. Recovery runs only when the layer gives up: a success costs nothing
    /// more.
    pub fn recover<R2>(self, recover: R2) -> RetryPolicyBuilder<C, K, R2> {
        RetryPolicyBuilder {
            name: self.name,
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            max_elapsed: self.max_elapsed,
            deadline: self.deadline,
            max_hint: self.max_hint,
            max_hint_wait_total: self.max_hint_wait_total,
            classifier: self.classifier,
            cloner: self.cloner,
            recover,
            budget: self.budget,
            rng: self.rng,
            listeners: self.listeners,
            metrics: self.metrics,
        }
    }

    /// Answers with `f` instead of failing when the retry gives up; see
    /// [`recover`](Self::recover), and [`Recover`](super::Recover) for an example.
    ///
    /// The function is cloned into every request's future, like the classifier: keep what it
    /// captures cheap to clone (or behind an `Arc`).
    pub fn recover_with<Res, F>(self, f: F) -> RetryPolicyBuilder<C, K, RecoverFn<F>>
    where
        F: Fn(RetryError) -> Result<Res, crate::BoxError>,
    {
        self.recover(RecoverFn(f))
    }

    /// Checks every setting and builds the policy.
    pub fn build(self) -> Result<RetryPolicy<C, K, R>, ConfigError> {
        if self.max_attempts == 0 {
            return Err(ConfigError::new(
                "retry",
                "max_attempts",
                "must be at least 1 (got 0)",
            ));
        }
        if self.max_elapsed == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                "retry",
                "max_elapsed",
                "must be greater than zero",
            ));
        }
        if self.max_hint_wait_total == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                "retry",
                "max_hint_wait_total",
                "must be greater than zero",
            ));
        }
        self.backoff.validate()?;
        let shared = SharedSettings {
            backoff: self.backoff,
            deadline: self.deadline,
            max_hint: self.max_hint,
            max_hint_wait_total: self.max_hint_wait_total.unwrap_or(self.max_hint),
            name: self.name.map(|n| Arc::from(&*n)),
            budget: self.budget,
            rng: self.rng,
            listeners: self.listeners.into_boxed_slice(),
            metrics: self.metrics,
        };
        Ok(RetryPolicy {
            settings: Settings::new(
                self.max_attempts,
                self.max_elapsed,
                self.classifier,
                self.cloner,
                self.recover,
                shared,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_rejected_with_their_field() {
        let e = RetryPolicy::builder().max_attempts(0).build().unwrap_err();
        assert_eq!((e.layer(), e.field()), ("retry", "max_attempts"));
        let e = RetryPolicy::builder()
            .max_elapsed(Duration::ZERO)
            .build()
            .unwrap_err();
        assert_eq!(e.field(), "max_elapsed");
        let e = RetryPolicy::builder()
            .max_hint_wait_total(Duration::ZERO)
            .build()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid retry configuration: `max_hint_wait_total` must be greater than zero"
        );
        let e = RetryPolicy::builder()
            .backoff(Backoff::exponential_with_factor(
                Duration::from_millis(1),
                0.1,
            ))
            .build()
            .unwrap_err();
        assert_eq!(e.field(), "backoff.factor");
        assert!(e.to_string().contains("at least 1"));
    }

    #[test]
    fn defaults() {
        let p = RetryPolicy::default();
        assert_eq!(p.max_attempts(), 3);
        assert_eq!(p.name(), "retry");
        assert!(p.metrics().is_none());
        assert!(format!("{p:?}").contains("max_attempts: 3"));
        // The total hint wait follows the per-hint clamp unless set.
        assert_eq!(p.settings.max_hint_wait_total(), Duration::from_secs(60));
        let p = RetryPolicy::builder()
            .max_hint(Duration::from_secs(5))
            .build()
            .unwrap();
        assert_eq!(p.settings.max_hint_wait_total(), Duration::from_secs(5));
    }
}
