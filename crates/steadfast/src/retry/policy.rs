//! The retry policy: every setting of the retry layer, checked when it is built.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use super::budget::RetryBudget;
use super::events::{Listener, RetryEvent, RetryMetrics};
use super::recover::{NoRecover, RecoverFn};
use super::RetryError;
use crate::backoff::Backoff;
use crate::classify::{classify_fn, AnyError, Attempt, ClassifyFn, Outcome};
use crate::config::ConfigError;
use crate::per_thread_arc::PerThreadArc;
use crate::random::{RandomSource, SplitMix64};

/// Makes the copy of a request that the next attempt will send.
///
/// The retry layer clones the request before each attempt, because sending it consumes it.
/// [`CloneAll`] (the default) uses `Clone`; [`CloneWith`] uses your function. A request that
/// cannot be cloned (`None`) is still sent once; it is simply not retried.
pub trait CloneRequest<Req> {
    /// A copy of `req` for a later attempt, or `None` if it cannot be copied.
    fn clone_request(&self, req: &Req) -> Option<Req>;

    /// Asked before each retry, with the copy kept for it: can it still be sent? Some
    /// requests only learn this while an attempt runs (a streamed body that outgrew its
    /// replay buffer). `Err` names why; the retry layer then stops with
    /// [`StopReason::NotReplayable`](super::StopReason::NotReplayable). The default says yes.
    fn can_resend(&self, kept: &Req) -> Result<(), &'static str> {
        let _ = kept;
        Ok(())
    }
}

/// Clones requests with their `Clone` impl.
#[derive(Debug, Clone, Copy, Default)]
pub struct CloneAll;

impl<Req: Clone> CloneRequest<Req> for CloneAll {
    #[inline]
    fn clone_request(&self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// Clones requests with a function; see
/// [`RetryPolicyBuilder::clone_requests_with`].
#[derive(Clone, Copy)]
pub struct CloneWith<F>(F);

impl<F> fmt::Debug for CloneWith<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloneWith").finish_non_exhaustive()
    }
}

impl<F, Req> CloneRequest<Req> for CloneWith<F>
where
    F: Fn(&Req) -> Option<Req>,
{
    fn clone_request(&self, req: &Req) -> Option<Req> {
        (self.0)(req)
    }
}

/// A policy's settings, as every request's future carries a copy of them. The settings every
/// request reads (the attempt limit, the elapsed-time limit, the classifier, cloner and
/// recovery) are copied; the rest, which only a retry or a report reads, is
/// [`SharedSettings`] behind one [`PerThreadArc`], whose references are counted per thread:
/// the copy each response future takes and drops is plain arithmetic on the calling thread's
/// count (see `crate::per_thread_arc`), and the future stays small to move.
pub(crate) struct Settings<C, K, R = NoRecover> {
    pub(crate) max_attempts: u32,
    pub(crate) max_elapsed: Option<Duration>,
    /// [`REPORTS`] and [`TIMED`], in one byte: copied into every request's future as the
    /// single flag before them was.
    flags: u8,
    pub(crate) classifier: C,
    pub(crate) cloner: K,
    pub(crate) recover: R,
    shared: PerThreadArc<SharedSettings>,
}

impl<C: Clone, K: Clone, R: Clone> Clone for Settings<C, K, R> {
    // Inlined: the retry layer clones this into every response future.
    #[inline]
    fn clone(&self) -> Self {
        self.with_shared(self.shared.clone())
    }
}

impl<C: Clone, K: Clone, R: Clone> Settings<C, K, R> {
    /// A copy counted on the calling thread, the service's own reference moved to this
    /// thread's count first if it was counted elsewhere (see `PerThreadArc::clone_here`).
    #[inline]
    fn clone_here(&mut self) -> Self {
        let shared = self.shared.clone_here();
        self.with_shared(shared)
    }

    /// A copy of the settings every request reads, with `shared` for the rest.
    #[inline]
    fn with_shared(&self, shared: PerThreadArc<SharedSettings>) -> Self {
        Settings {
            max_attempts: self.max_attempts,
            max_elapsed: self.max_elapsed,
            flags: self.flags,
            classifier: self.classifier.clone(),
            cloner: self.cloner.clone(),
            recover: self.recover.clone(),
            shared,
        }
    }
}

/// A [`Settings::flags`] bit: the end of a request has someone to tell (metrics, a budget or
/// listeners).
const REPORTS: u8 = 1;
/// A [`Settings::flags`] bit: the policy itself reads a request's elapsed time (a `max_elapsed`
/// limit, or listeners, whose events carry it), so the clock starts with the first attempt.
const TIMED: u8 = 2;

/// The settings only a retry or a report reads, shared by every copy of a policy.
struct SharedSettings {
    backoff: Backoff,
    deadline: Option<Instant>,
    max_hint: Duration,
    max_hint_wait_total: Duration,
    name: Option<Cow<'static, str>>,
    budget: Option<Arc<dyn RetryBudget>>,
    rng: Option<Arc<dyn RandomSource>>,
    listeners: Box<[Listener]>,
    metrics: Option<Arc<RetryMetrics>>,
}

/// The generator used when a policy is given none: one per process, seeded from the OS.
fn default_rng() -> &'static SplitMix64 {
    static RNG: OnceLock<SplitMix64> = OnceLock::new();
    RNG.get_or_init(SplitMix64::from_entropy)
}

impl<C, K, R> Settings<C, K, R> {
    pub(crate) fn name(&self) -> &str {
        self.shared.name.as_deref().unwrap_or("retry")
    }

    pub(crate) fn backoff(&self) -> &Backoff {
        &self.shared.backoff
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.shared.deadline
    }

    pub(crate) fn max_hint(&self) -> Duration {
        self.shared.max_hint
    }

    pub(crate) fn max_hint_wait_total(&self) -> Duration {
        self.shared.max_hint_wait_total
    }

    /// Whether a request's clock starts with its first attempt: the policy reads the elapsed
    /// time itself, or `classifier_reads` (the classifier reads
    /// [`Attempt::elapsed`](crate::classify::Attempt)). Otherwise it starts at the first
    /// failure, and the success path reads no clock.
    #[inline]
    pub(crate) fn times_from_start(&self, classifier_reads: bool) -> bool {
        self.flags & TIMED != 0 || classifier_reads
    }

    /// Whether the end of a request is told to metrics, a budget or listeners; when not, a
    /// request that ends on its first attempt has nothing to record.
    #[inline]
    pub(crate) fn reports(&self) -> bool {
        self.flags & REPORTS != 0
    }

    #[inline]
    pub(crate) fn budget(&self) -> Option<&dyn RetryBudget> {
        if !self.reports() {
            return None;
        }
        self.shared.budget.as_deref()
    }

    #[inline]
    pub(crate) fn metrics(&self) -> Option<&RetryMetrics> {
        if !self.reports() {
            return None;
        }
        self.shared.metrics.as_deref()
    }

    fn metrics_arc(&self) -> Option<&Arc<RetryMetrics>> {
        self.shared.metrics.as_ref()
    }

    pub(crate) fn rng(&self) -> &dyn RandomSource {
        match self.shared.rng.as_deref() {
            Some(r) => r,
            None => default_rng(),
        }
    }

    /// Whether any listener would see an event.
    pub(crate) fn has_listeners(&self) -> bool {
        self.reports() && !self.shared.listeners.is_empty()
    }

    pub(crate) fn emit(&self, event: RetryEvent<'_>) {
        if self.reports() {
            for l in self.shared.listeners.iter() {
                l(&event);
            }
        }
    }
}

/// Every setting of a retry: how many attempts, how long to wait, what to retry, and what
/// to tell you. Cheap to clone: the few settings every request reads are copied, and the rest
/// (the backoff, the deadline, budget, metrics, listeners, a custom name or random source) is
/// shared by all clones and all services built from it, behind one reference whose count is
/// kept per thread, so that the copy the retry layer takes for each request costs no locked
/// instruction.
///
/// Use it with [`RetryLayer`](super::RetryLayer) for a `Service`, or call
/// [`run`](Self::run) / [`run_blocking`](Self::run_blocking) for plain functions.
///
/// ```
/// use std::time::Duration;
/// use steadfast::retry::{Backoff, Jitter, RetryPolicy};
/// use steadfast::classify::ErrorIs;
///
/// let policy = RetryPolicy::builder()
///     .max_attempts(5)
///     .backoff(Backoff::exponential(Duration::from_millis(50)).max(Duration::from_secs(2)).jitter(Jitter::Full))
///     .max_elapsed(Duration::from_secs(10))
///     .classify(ErrorIs::<std::io::Error>::new())
///     .build()
///     .expect("valid policy");
/// assert_eq!(policy.max_attempts(), 5);
/// ```
pub struct RetryPolicy<C = AnyError, K = CloneAll, R = NoRecover> {
    pub(crate) settings: Settings<C, K, R>,
}

impl<C: Clone, K: Clone, R: Clone> Clone for RetryPolicy<C, K, R> {
    #[inline]
    fn clone(&self) -> Self {
        RetryPolicy {
            settings: self.settings.clone(),
        }
    }
}

impl<C, K, R> fmt::Debug for RetryPolicy<C, K, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        f.debug_struct("RetryPolicy")
            .field("name", &s.name())
            .field("max_attempts", &s.max_attempts)
            .field("backoff", s.backoff())
            .field("max_elapsed", &s.max_elapsed)
            .field("deadline", &s.deadline())
            .field("max_hint", &s.max_hint())
            .field("max_hint_wait_total", &s.max_hint_wait_total())
            .field("budget", &s.budget())
            .field("listeners", &s.shared.listeners.len())
            .field("metrics", &s.metrics().is_some())
            .finish_non_exhaustive()
    }
}

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

impl<C, K, R> RetryPolicy<C, K, R> {
    /// The policy's name, used in `tracing` spans.
    pub fn name(&self) -> &str {
        self.settings.name()
    }

    /// The maximum number of attempts, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.settings.max_attempts
    }

    /// The backoff schedule.
    pub fn backoff(&self) -> &Backoff {
        self.settings.backoff()
    }

    /// The metrics this policy records into, if any.
    pub fn metrics(&self) -> Option<&Arc<RetryMetrics>> {
        self.settings.metrics_arc()
    }
}

mod sealed {
    pub trait Sealed {}
}

/// How a retry layer holds its policy: by value ([`RetryPolicy`]) or borrowed for the life of
/// the program (`&'static RetryPolicy`).
///
/// An owned policy's settings are cloned into every response future; a `&'static` one is a
/// pointer, which makes the success path as cheap as it gets. Policies built once at start-up
/// can live in a `static`:
///
/// ```
/// use std::sync::LazyLock;
/// use steadfast::retry::{RetryLayer, RetryPolicy};
///
/// static POLICY: LazyLock<RetryPolicy> =
///     LazyLock::new(|| RetryPolicy::builder().max_attempts(4).build().unwrap());
///
/// let layer = RetryLayer::new(&*POLICY);
/// # let _ = layer;
/// ```
///
/// Sealed: implemented only for the two forms above.
pub trait PolicyRef: Clone + sealed::Sealed {
    /// The policy's classifier.
    type Classifier;
    /// The policy's request cloner.
    type Cloner;
    /// What the policy does with a final [`RetryError`](super::RetryError).
    type Recover;
    /// The policy.
    fn policy(&self) -> &RetryPolicy<Self::Classifier, Self::Cloner, Self::Recover>;

    /// A copy for a request starting on this thread. A policy held by value counts the
    /// references to its shared settings per thread; one that moved to another thread
    /// switches to that thread's count first, so that this copy and the ones after it are
    /// cheap to take and to drop.
    #[doc(hidden)]
    #[inline]
    fn clone_here(&mut self) -> Self {
        self.clone()
    }
}

impl<C: Clone, K: Clone, R: Clone> sealed::Sealed for RetryPolicy<C, K, R> {}
impl<C: Clone, K: Clone, R: Clone> PolicyRef for RetryPolicy<C, K, R> {
    type Classifier = C;
    type Cloner = K;
    type Recover = R;
    #[inline]
    fn policy(&self) -> &RetryPolicy<C, K, R> {
        self
    }

    #[inline]
    fn clone_here(&mut self) -> Self {
        RetryPolicy {
            settings: self.settings.clone_here(),
        }
    }
}

impl<C, K, R> sealed::Sealed for &'static RetryPolicy<C, K, R> {}
impl<C, K, R> PolicyRef for &'static RetryPolicy<C, K, R> {
    type Classifier = C;
    type Cloner = K;
    type Recover = R;
    #[inline]
    fn policy(&self) -> &RetryPolicy<C, K, R> {
        self
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
    /// Names the policy (shown in `tracing` spans and events). Default `"retry"`.
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

    /// Copies requests with your [`CloneRequest`], for example one that replays HTTP bodies
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
        let reports = self.budget.is_some() || !self.listeners.is_empty() || self.metrics.is_some();
        let timed = self.max_elapsed.is_some() || !self.listeners.is_empty();
        let flags = (if reports { REPORTS } else { 0 }) | (if timed { TIMED } else { 0 });
        Ok(RetryPolicy {
            settings: Settings {
                max_attempts: self.max_attempts,
                max_elapsed: self.max_elapsed,
                flags,
                classifier: self.classifier,
                cloner: self.cloner,
                recover: self.recover,
                shared: PerThreadArc::new(SharedSettings {
                    backoff: self.backoff,
                    deadline: self.deadline,
                    max_hint: self.max_hint,
                    max_hint_wait_total: self.max_hint_wait_total.unwrap_or(self.max_hint),
                    name: self.name,
                    budget: self.budget,
                    rng: self.rng,
                    listeners: self.listeners.into_boxed_slice(),
                    metrics: self.metrics,
                }),
            },
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
