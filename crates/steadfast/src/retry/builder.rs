//! [`RetryPolicyBuilder`]: every setting of a retry policy, checked when it is built.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tracing::Level;

use super::budget::RetryBudget;
use super::classes::{BackoffClass, FailedAttempt};
use super::clone_request::{CloneAll, CloneWith};
use super::error::RetryError;
use super::events::{Listener, RetryEvent, RetryMetrics};
use super::policy::{RetryPolicy, Settings, SharedSettings};
use super::recover::{NoRecover, RecoverFn};
use crate::backoff::Backoff;
use crate::classify::{classify_fn, AnyError, Attempt, ClassifyFn, Outcome};
use crate::config::ConfigError;
use crate::observe::Observer;
use crate::random::{RandomSource, SplitMix64};

impl RetryPolicy {
    /// Starts a builder with the defaults: 3 attempts, exponential backoff from 100 ms capped
    /// at 10 s with full jitter, server hints clamped to 60 s each and to 60 s in total per
    /// request, every error retried, requests cloned with `Clone`.
    pub fn builder() -> RetryPolicyBuilder {
        RetryPolicyBuilder {
            name: None,
            log_level: Level::DEBUG,
            start_jitter: None,
            max_attempts: 3,
            backoff: Backoff::default(),
            classes: Vec::new(),
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
            observers: Vec::new(),
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
    log_level: Level,
    start_jitter: Option<Duration>,
    max_attempts: u32,
    backoff: Backoff,
    classes: Vec<BackoffClass>,
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
    observers: Vec<Arc<dyn Observer>>,
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

    /// The level of the `tracing` events the policy emits when it retries, gives up, succeeds
    /// after retries or is refused by its budget, and of the per-request `retry` span they
    /// are in (default [`Level::DEBUG`]). Raise it to see retries in logs that keep only
    /// warnings, as tenacity's `before_sleep_log(logger, logging.WARNING)` does. The
    /// per-attempt `attempt finished` event stays at `TRACE`.
    ///
    /// ```
    /// use steadfast::retry::RetryPolicy;
    /// use tracing::Level;
    ///
    /// let policy = RetryPolicy::builder().log_level(Level::WARN).build().unwrap();
    /// # let _ = policy;
    /// ```
    pub fn log_level(mut self, level: Level) -> Self {
        self.log_level = level;
        self
    }

    /// Waits a random time, uniform in `[0, max]`, before each request's first attempt, so
    /// that many clients started together (after a deploy, a restart or a cache flush) do
    /// not all call at once. Off by default; `max` must be greater than zero.
    ///
    /// The wait draws from the policy's [random source](Self::random). It does not count
    /// toward the elapsed time ([`max_elapsed`](Self::max_elapsed) and
    /// [`RetryError::elapsed`] start with the first attempt). It applies to
    /// [`run`](RetryPolicy::run), [`run_blocking`](RetryPolicy::run_blocking) and
    /// [`stream`](RetryPolicy::stream), which watch the token they are given while it lasts
    /// (if it fires, or starts draining, nothing is attempted), and to the services of
    /// [`RetryLayer::with_start_jitter`](super::RetryLayer::with_start_jitter), which take it
    /// in `poll_ready` before asking the inner service for readiness, so that none is held
    /// meanwhile. A plain [`RetryLayer`](super::RetryLayer) does not read it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::retry::RetryPolicy;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let policy = RetryPolicy::builder()
    ///     .start_jitter(Duration::from_secs(2))
    ///     .build()
    ///     .unwrap();
    /// let start = tokio::time::Instant::now();
    /// let at = policy.run(|_| async { Ok::<_, std::io::Error>(tokio::time::Instant::now()) }).await.unwrap();
    /// assert!(at - start <= Duration::from_secs(2));
    /// # }
    /// ```
    pub fn start_jitter(mut self, max: Duration) -> Self {
        self.start_jitter = Some(max);
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

    /// Waits `backoff` before the retries of failures that `rule` picks out, instead of the
    /// policy's [`backoff`](Self::backoff): rate limits can back off longer than transient
    /// errors. May be called several times; the first rule that matches a failure picks its
    /// schedule, and failures no rule matches use the policy's backoff.
    ///
    /// Each schedule keeps its own count: the third rate-limited failure of a request waits
    /// the rate-limit schedule's third delay, however many other failures came between, with
    /// that schedule's own cap and jitter. A server's hint (`Retry-After`, a gRPC pushback)
    /// still replaces the delay, and still counts as a failure of its class; after a pushback
    /// every schedule starts again from its first delay. A policy without rules pays nothing
    /// for them. Each backoff is checked by [`build`](Self::build).
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::retry::{Backoff, FailedAttempt, RetryPolicy};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let policy = RetryPolicy::builder()
    ///     .max_attempts(4)
    ///     .backoff(Backoff::constant(Duration::from_millis(100)))
    ///     .backoff_for(
    ///         |f: &FailedAttempt<'_>| f.error().is_some_and(|e| e.to_string() == "429"),
    ///         Backoff::exponential(Duration::from_secs(2)),
    ///     )
    ///     .build()
    ///     .unwrap();
    /// let start = tokio::time::Instant::now();
    /// let answers = ["429", "503", "429"];
    /// let v = policy
    ///     .run(|n| async move { answers.get(n as usize - 1).map_or(Ok(n), |e| Err(*e)) })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(v, 4);
    /// // 2 s (first rate limit), 100 ms (transient), 4 s (second rate limit).
    /// assert_eq!(start.elapsed(), Duration::from_millis(6_100));
    /// # }
    /// ```
    pub fn backoff_for(
        mut self,
        rule: impl Fn(&FailedAttempt<'_>) -> bool + Send + Sync + 'static,
        backoff: Backoff,
    ) -> Self {
        self.classes.push(BackoffClass {
            rule: Arc::new(rule),
            backoff,
        });
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

    /// Hands this policy's events to `observer`: when the policy is built, the observer is
    /// asked for a listener for it ([`Observer::retry`], given the policy's
    /// [`name`](Self::name), `"retry"` if it has none), which then sees every [`RetryEvent`]
    /// as a listener given to [`on_event`](Self::on_event) would. May be called several
    /// times.
    pub fn observe(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observers.push(observer);
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
            log_level: self.log_level,
            start_jitter: self.start_jitter,
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            classes: self.classes,
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
            observers: self.observers,
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
            log_level: self.log_level,
            start_jitter: self.start_jitter,
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            classes: self.classes,
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
            observers: self.observers,
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
            log_level: self.log_level,
            start_jitter: self.start_jitter,
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            classes: self.classes,
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
            observers: self.observers,
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
        if self.start_jitter == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                "retry",
                "start_jitter",
                "must be greater than zero",
            ));
        }
        self.backoff.validate()?;
        for class in &self.classes {
            class.backoff.validate()?;
        }
        let mut listeners = self.listeners;
        let name = self.name.as_deref().unwrap_or("retry");
        listeners.extend(self.observers.iter().filter_map(|o| o.retry(name)));
        let shared = SharedSettings {
            backoff: self.backoff,
            classes: self.classes.into_boxed_slice(),
            deadline: self.deadline,
            max_hint: self.max_hint,
            max_hint_wait_total: self.max_hint_wait_total.unwrap_or(self.max_hint),
            name: self.name.map(|n| Arc::from(&*n)),
            log_level: self.log_level,
            start_jitter: self.start_jitter,
            budget: self.budget,
            rng: self.rng,
            listeners: listeners.into_boxed_slice(),
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
