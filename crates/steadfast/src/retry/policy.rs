//! The retry policy: the settings every request's future carries a copy of, the part of
//! them all copies share, and how a layer holds the policy ([`PolicyRef`]). The builder that
//! checks them is in `builder.rs`.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use super::budget::RetryBudget;
use super::classes::BackoffClass;
use super::clone_request::CloneAll;
use super::events::{Listener, RetryEvent, RetryMetrics};
use super::recover::NoRecover;
use crate::backoff::Backoff;
use crate::classify::AnyError;
use crate::per_thread_arc::PerThreadArc;
use crate::random::{RandomSource, SplitMix64};

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
/// A [`Settings::flags`] bit: requests wait a random time before their first attempt
/// (`start_jitter`).
const DELAYED: u8 = 4;
/// A [`Settings::flags`] bit: listeners are registered (so [`REPORTS`] is set too).
const LISTENS: u8 = 8;

/// The settings only a retry or a report reads, shared by every copy of a policy.
pub(super) struct SharedSettings {
    pub(super) backoff: Backoff,
    /// The backoffs chosen by rule ([`RetryPolicyBuilder::backoff_for`](super::RetryPolicyBuilder::backoff_for)), first match wins.
    pub(super) classes: Box<[BackoffClass]>,
    pub(super) deadline: Option<Instant>,
    pub(super) max_hint: Duration,
    pub(super) max_hint_wait_total: Duration,
    pub(super) name: Option<Arc<str>>,
    pub(super) log_level: tracing::Level,
    /// The most a request waits, at random, before its first attempt.
    pub(super) start_jitter: Option<Duration>,
    pub(super) budget: Option<Arc<dyn RetryBudget>>,
    pub(super) rng: Option<Arc<dyn RandomSource>>,
    pub(super) listeners: Box<[Listener]>,
    pub(super) metrics: Option<Arc<RetryMetrics>>,
}

/// The generator used when a policy is given none: one per process, seeded from the OS.
fn default_rng() -> &'static SplitMix64 {
    static RNG: OnceLock<SplitMix64> = OnceLock::new();
    RNG.get_or_init(SplitMix64::from_entropy)
}

impl<C, K, R> Settings<C, K, R> {
    /// The settings of a policy whose builder checked them; the flags follow from what is set.
    pub(super) fn new(
        max_attempts: u32,
        max_elapsed: Option<Duration>,
        classifier: C,
        cloner: K,
        recover: R,
        shared: SharedSettings,
    ) -> Self {
        let reports =
            shared.budget.is_some() || !shared.listeners.is_empty() || shared.metrics.is_some();
        let timed = max_elapsed.is_some() || !shared.listeners.is_empty();
        let delayed = shared.start_jitter.is_some();
        let listens = !shared.listeners.is_empty();
        let bit = |on: bool, bit: u8| if on { bit } else { 0 };
        let flags = bit(reports, REPORTS)
            | bit(timed, TIMED)
            | bit(delayed, DELAYED)
            | bit(listens, LISTENS);
        Settings {
            max_attempts,
            max_elapsed,
            flags,
            classifier,
            cloner,
            recover,
            shared: PerThreadArc::new(shared),
        }
    }

    pub(crate) fn name(&self) -> &str {
        self.shared.name.as_deref().unwrap_or("retry")
    }

    /// The name given to the policy, shared (not copied) with the errors that carry it.
    pub(crate) fn shared_name(&self) -> Option<Arc<str>> {
        self.shared.name.clone()
    }

    pub(crate) fn backoff(&self) -> &Backoff {
        &self.shared.backoff
    }

    pub(crate) fn log_level(&self) -> tracing::Level {
        self.shared.log_level
    }

    pub(crate) fn classes(&self) -> &[BackoffClass] {
        &self.shared.classes
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
    #[inline]
    pub(crate) fn has_listeners(&self) -> bool {
        self.flags & LISTENS != 0
    }

    /// Whether requests wait a random time before their first attempt.
    #[inline]
    pub(crate) fn delays_start(&self) -> bool {
        self.flags & DELAYED != 0
    }

    /// The most a request waits before its first attempt, if the policy waits.
    pub(crate) fn start_jitter(&self) -> Option<Duration> {
        self.shared.start_jitter
    }

    /// The random wait before a request's first attempt, if the policy has one.
    pub(crate) fn start_delay(&self) -> Option<Duration> {
        let max = self.shared.start_jitter?;
        Some(crate::backoff::Jitter::Full.apply(max, self.rng()))
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

impl<C, K, R> RetryPolicy<C, K, R> {
    /// The policy's name, used in `tracing` spans and in its [`RetryError`](super::RetryError)s;
    /// `"retry"` for a policy that was not given one.
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
