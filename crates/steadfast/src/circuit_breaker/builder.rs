//! The breaker's settings: [`CircuitBreakerBuilder`], the window and half-open rule it takes,
//! and the checks [`build`](CircuitBreakerBuilder::build) makes before it hands the state
//! machine its configuration.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::breaker::CircuitBreaker;
use super::events::{BreakerEvent, CircuitState};
use super::live::{Config, ProbeRule};
use super::state::{saturating_nanos, Core, Listener};
use super::window::{Window, MAX_TIME_BUCKETS, MAX_WINDOW_CALLS, MIN_BUCKET};
use crate::backoff::Backoff;
use crate::config::ConfigError;
use crate::observe::Observer;
use crate::per_thread_arc::PerThreadArc;
use crate::random::{RandomSource, SplitMix64};

/// Which calls the breaker's rates are computed over.
///
/// Both windows count exactly: a count window holds the outcomes of exactly its last `n`
/// calls, and a time window counts every call of its live buckets, up to 2^64 − 1 calls, so
/// its rates are exact at any call rate. Recording a call takes a few uncontended atomic
/// operations and no lock (see the [module docs](super)).
///
/// ```
/// use std::time::Duration;
/// use steadfast::circuit_breaker::{CircuitBreaker, SlidingWindow};
///
/// // The last 50 calls.
/// let by_count = CircuitBreaker::builder().window(SlidingWindow::count(50)).minimum_calls(20);
/// // The calls of the last minute, sliding every 5 s.
/// let by_time = CircuitBreaker::builder().window(SlidingWindow::Time {
///     length: Duration::from_secs(60),
///     buckets: 12,
/// });
/// assert!(by_count.build().is_ok() && by_time.build().is_ok());
/// // A window must hold at least one call.
/// let err = CircuitBreaker::builder().window(SlidingWindow::count(0)).build().unwrap_err();
/// assert!(err.to_string().contains("window"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlidingWindow {
    /// The last `n` calls: 1 to 2,097,151, one byte of memory per call.
    Count(u32),
    /// The calls of the last `length`, in `buckets` steps (the window slides one step at a
    /// time): 1 to 1000 buckets of at least 1 ms each, 24 bytes of memory per bucket.
    Time {
        /// How far back calls count.
        length: Duration,
        /// How many steps the window slides in.
        buckets: u32,
    },
}

impl SlidingWindow {
    /// The last `n` calls.
    pub const fn count(n: u32) -> Self {
        SlidingWindow::Count(n)
    }

    /// The calls of the last `length`, sliding in ten steps.
    pub const fn time(length: Duration) -> Self {
        SlidingWindow::Time {
            length,
            buckets: 10,
        }
    }
}

/// How a half-open breaker judges the calls it lets through.
///
/// Either way, half-open lets [`half_open_max_calls`](CircuitBreakerBuilder::half_open_max_calls)
/// calls through *in total* for the whole half-open period (never more at once), as
/// resilience4j's `permittedNumberOfCallsInHalfOpenState` and gobreaker's `MaxRequests` do. A
/// probe whose future is dropped, or whose result is ignored, gives its permit back.
///
/// ```
/// use std::time::Duration;
/// use steadfast::circuit_breaker::{CircuitBreaker, CircuitState, HalfOpenRule};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// // Four probes per half-open period; close unless half of them fail.
/// let breaker = CircuitBreaker::builder()
///     .consecutive_failures(1)
///     .failure_rate(50.0)
///     .half_open_max_calls(4)
///     .half_open_rule(HalfOpenRule::Rates)
///     .open_for(Duration::from_secs(1))
///     .build()
///     .unwrap();
/// let _ = breaker.run_blocking(|| Err::<(), _>(std::io::Error::other("down")));
/// tokio::time::advance(Duration::from_secs(1)).await;
/// // One failed probe out of four is 25%: the breaker keeps probing, then closes.
/// let _ = breaker.run_blocking(|| Err::<(), _>(std::io::Error::other("still warming up")));
/// assert_eq!(breaker.state(), CircuitState::HalfOpen);
/// for _ in 0..3 {
///     breaker.run_blocking(|| Ok::<_, std::io::Error>(())).unwrap();
/// }
/// assert_eq!(breaker.state(), CircuitState::Closed);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HalfOpenRule {
    /// The first failed probe reopens the breaker (a slow one too, when the slow-call rule is
    /// on); [`success_threshold`](CircuitBreakerBuilder::success_threshold) successful probes
    /// close it. With `success_threshold` equal to `half_open_max_calls` this is gobreaker's
    /// rule. The default.
    #[default]
    FirstFailure,
    /// resilience4j's rule: once all `half_open_max_calls` permitted calls have completed, the
    /// breaker reopens if their failure rate reaches
    /// [`failure_rate`](CircuitBreakerBuilder::failure_rate) or their slow-call rate reaches
    /// [`slow_call_rate`](CircuitBreakerBuilder::slow_call_rate), and closes otherwise. It
    /// reopens as soon as enough of them have failed (or were slow) that the rest cannot bring
    /// the rate back under the threshold. `success_threshold` is not used.
    Rates,
}

/// The default bound on how long the breaker stays half-open with a probe outstanding: the
/// default open time.
const DEFAULT_MAX_HALF_OPEN: Duration = Duration::from_secs(60);

impl CircuitBreaker {
    /// Starts a builder with the defaults: trips at a 50% failure rate over the last 100
    /// calls once 100 calls were seen, stays open 60 s, then lets one probe through and
    /// closes on its success (reopens on its failure, or if it has not answered within
    /// 60 s). Slow-call and consecutive-failure rules are off.
    pub fn builder() -> CircuitBreakerBuilder {
        CircuitBreakerBuilder::default()
    }
}

/// Builds a [`CircuitBreaker`]; every setting is checked by [`build`](Self::build), which
/// names the field and the rule of the first one that is invalid.
///
/// ```
/// use std::time::Duration;
/// use steadfast::circuit_breaker::{CircuitBreaker, SlidingWindow};
///
/// let breaker = CircuitBreaker::builder()
///     .name("search")
///     .failure_rate(25.0)
///     .slow_call_rate(50.0, Duration::from_millis(800))
///     .window(SlidingWindow::time(Duration::from_secs(30)))
///     .minimum_calls(20)
///     .open_for(Duration::from_secs(15))
///     .build()
///     .unwrap();
/// assert_eq!(breaker.name(), "search");
///
/// let err = CircuitBreaker::builder().failure_rate(120.0).build().unwrap_err();
/// assert!(err.to_string().contains("failure_rate"));
/// ```
pub struct CircuitBreakerBuilder {
    name: Cow<'static, str>,
    failure_rate: Option<f64>,
    slow_call_rate: Option<f64>,
    slow_call_duration: Duration,
    consecutive_failures: Option<u32>,
    minimum_calls: u32,
    window: SlidingWindow,
    half_open_max_calls: Option<u32>,
    success_threshold: u32,
    half_open_rule: HalfOpenRule,
    max_half_open: Duration,
    open_backoff: Backoff,
    count_cancellations: bool,
    count_invalid: bool,
    initial_state: CircuitState,
    rng: Option<Arc<dyn RandomSource>>,
    listeners: Vec<Listener>,
    observers: Vec<Arc<dyn Observer>>,
}

impl Default for CircuitBreakerBuilder {
    fn default() -> Self {
        CircuitBreakerBuilder {
            name: Cow::Borrowed("circuit-breaker"),
            failure_rate: Some(50.0),
            slow_call_rate: None,
            slow_call_duration: Duration::from_secs(60),
            consecutive_failures: None,
            minimum_calls: 100,
            window: SlidingWindow::Count(100),
            half_open_max_calls: None,
            success_threshold: 1,
            half_open_rule: HalfOpenRule::FirstFailure,
            max_half_open: DEFAULT_MAX_HALF_OPEN,
            open_backoff: Backoff::constant(Duration::from_secs(60)),
            count_cancellations: false,
            count_invalid: true,
            initial_state: CircuitState::Closed,
            rng: None,
            listeners: Vec::new(),
            observers: Vec::new(),
        }
    }
}

impl fmt::Debug for CircuitBreakerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerBuilder")
            .field("name", &self.name)
            .field("failure_rate", &self.failure_rate)
            .field("slow_call_rate", &self.slow_call_rate)
            .field("consecutive_failures", &self.consecutive_failures)
            .field("minimum_calls", &self.minimum_calls)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl CircuitBreakerBuilder {
    /// Names the breaker (in errors, events, `tracing` and the registry).
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Trips when at least this percentage of the window's calls failed (0 < p ≤ 100).
    pub fn failure_rate(mut self, percent: f64) -> Self {
        self.failure_rate = Some(percent);
        self
    }

    /// Never trips on the failure rate (use with the other rules).
    pub fn no_failure_rate(mut self) -> Self {
        self.failure_rate = None;
        self
    }

    /// Trips when at least this percentage of the window's calls were slow (0 < p ≤ 100). A
    /// call is slow when it takes longer than `threshold`, whether it succeeded or failed; one
    /// that takes exactly `threshold` is not (as in resilience4j). Turns on duration
    /// measurement (one clock read per call).
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer, CircuitState};
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// // Trip when half of the last ten calls took longer than 2 s, even if they succeeded.
    /// let breaker = CircuitBreaker::builder()
    ///     .no_failure_rate()
    ///     .slow_call_rate(50.0, Duration::from_secs(2))
    ///     .minimum_calls(2)
    ///     .window(steadfast::circuit_breaker::SlidingWindow::count(10))
    ///     .build()
    ///     .unwrap();
    /// let sluggish = service_fn(|_: ()| async {
    ///     tokio::time::sleep(Duration::from_secs(3)).await;
    ///     Ok::<_, std::io::Error>("late but fine")
    /// });
    /// let svc = CircuitBreakerLayer::new(breaker.clone()).layer(sluggish);
    /// svc.clone().oneshot(()).await.unwrap();
    /// svc.oneshot(()).await.unwrap();
    /// assert_eq!(breaker.state(), CircuitState::Open);
    /// # }
    /// ```
    pub fn slow_call_rate(mut self, percent: f64, threshold: Duration) -> Self {
        self.slow_call_rate = Some(percent);
        self.slow_call_duration = threshold;
        self
    }

    /// Trips after `n` failures in a row, whatever the window says (n ≥ 1).
    pub fn consecutive_failures(mut self, n: u32) -> Self {
        self.consecutive_failures = Some(n);
        self
    }

    /// Rates are judged only once the window holds this many calls (at least 1, at most the
    /// window's size for count windows).
    pub fn minimum_calls(mut self, n: u32) -> Self {
        self.minimum_calls = n;
        self
    }

    /// The window rates are computed over.
    pub fn window(mut self, window: SlidingWindow) -> Self {
        self.window = window;
        self
    }

    /// Calls let through in total while half-open (at least 1, at most 65535): the probes of
    /// one half-open period, as resilience4j's `permittedNumberOfCallsInHalfOpenState` and
    /// gobreaker's `MaxRequests`. Further calls are rejected until the period ends, so no more
    /// than `n` calls ever reach a recovering downstream, however fast they answer. A probe
    /// whose future is dropped, or whose result is ignored, gives its permit back.
    ///
    /// Defaults to [`success_threshold`](Self::success_threshold) (1 unless set).
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::circuit_breaker::CircuitBreaker;
    ///
    /// // Let five probes through after each open period, close once three of them succeed,
    /// // and reopen if a probe has not answered within 30 s.
    /// let breaker = CircuitBreaker::builder()
    ///     .half_open_max_calls(5)
    ///     .success_threshold(3)
    ///     .max_half_open(Duration::from_secs(30))
    ///     .build()
    ///     .unwrap();
    /// # let _ = breaker;
    /// ```
    pub fn half_open_max_calls(mut self, n: u32) -> Self {
        self.half_open_max_calls = Some(n);
        self
    }

    /// Successful probes that close the breaker (at least 1, at most
    /// [`half_open_max_calls`](Self::half_open_max_calls)); under the default
    /// [`HalfOpenRule::FirstFailure`], one failed probe reopens it at once. Not used by
    /// [`HalfOpenRule::Rates`].
    pub fn success_threshold(mut self, n: u32) -> Self {
        self.success_threshold = n;
        self
    }

    /// How half-open judges its probes: the first failure reopens
    /// ([`HalfOpenRule::FirstFailure`], the default), or the failure and slow-call rates over
    /// all of its permitted calls decide ([`HalfOpenRule::Rates`], resilience4j's rule).
    ///
    /// ```
    /// use steadfast::circuit_breaker::{CircuitBreaker, HalfOpenRule};
    ///
    /// // Probe with ten calls; close unless half or more of them fail.
    /// let breaker = CircuitBreaker::builder()
    ///     .failure_rate(50.0)
    ///     .half_open_max_calls(10)
    ///     .half_open_rule(HalfOpenRule::Rates)
    ///     .build()
    ///     .unwrap();
    /// # let _ = breaker;
    /// ```
    pub fn half_open_rule(mut self, rule: HalfOpenRule) -> Self {
        self.half_open_rule = rule;
        self
    }

    /// Reopens when the breaker has been half-open longer than `max` while a probe still
    /// holds its permit: a probe that never completes cannot keep the breaker half-open (and
    /// rejecting everything) forever. resilience4j's `maxWaitDurationInHalfOpenState` is the
    /// model. Checked when calls arrive, no timer runs: the first call after `max` reopens
    /// the breaker ([`TransitionReason::HalfOpenTimeout`](super::TransitionReason::HalfOpenTimeout), counted in
    /// [`BreakerMetrics::half_open_timeouts`](super::BreakerMetrics::half_open_timeouts)) and is rejected as by any open breaker.
    ///
    /// Defaults to 60 s, the default open time. `Duration::MAX` (or anything beyond about
    /// 584 years) means no bound.
    pub fn max_half_open(mut self, max: Duration) -> Self {
        self.max_half_open = max;
        self
    }

    /// Stays open for `d` after every trip.
    pub fn open_for(mut self, d: Duration) -> Self {
        self.open_backoff = Backoff::constant(d);
        self
    }

    /// Stays open longer after each consecutive trip: the `n`-th trip in a row (without a
    /// close in between) stays open `backoff.delay(n)`, jitter included.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::backoff::{Backoff, Jitter};
    /// use steadfast::circuit_breaker::CircuitBreaker;
    ///
    /// // 5 s after the first trip, then 10 s, 20 s, ... capped at 5 minutes, ±10%.
    /// let breaker = CircuitBreaker::builder()
    ///     .open_backoff(
    ///         Backoff::exponential(Duration::from_secs(5))
    ///             .max(Duration::from_secs(300))
    ///             .jitter(Jitter::Proportional(0.1)),
    ///     )
    ///     .build()
    ///     .unwrap();
    /// # let _ = breaker;
    /// ```
    pub fn open_backoff(mut self, backoff: Backoff) -> Self {
        self.open_backoff = backoff;
        self
    }

    /// Counts calls that failed because their caller cancelled them (the request's
    /// [`CancelToken`](crate::token::CancelToken) had fired) as failures. By default they are
    /// ignored. A call whose token fired with
    /// [`CancelReason::HedgeLost`](crate::token::CancelReason::HedgeLost) (an attempt that lost
    /// a hedge race) is ignored either way.
    pub fn count_cancellations(mut self, yes: bool) -> Self {
        self.count_cancellations = yes;
        self
    }

    /// Counts invalid responses ([`Outcome::Invalid`](crate::classify::Outcome::Invalid), such
    /// as those the validate layer rejects: *semantic* failures) as failures for the
    /// failure-rate and consecutive-failure rules and for half-open probes. On by default.
    ///
    /// Either way they are counted apart, in [`BreakerMetrics::invalid`](super::BreakerMetrics::invalid), and reported as
    /// [`BreakerEvent::Invalid`], never as transport failures. Turned off, an invalid response
    /// counts as a success for the rules: the downstream answered, so it is up, even if what it
    /// said was wrong.
    ///
    /// ```
    /// use steadfast::circuit_breaker::CircuitBreaker;
    ///
    /// // Trip on transport failures only; a model that answers badly is still up.
    /// let breaker = CircuitBreaker::builder().count_invalid(false).build().unwrap();
    /// assert_eq!(breaker.metrics().invalid, 0);
    /// ```
    pub fn count_invalid(mut self, yes: bool) -> Self {
        self.count_invalid = yes;
        self
    }

    /// The state the breaker starts in (closed, forced-open, disabled or metrics-only).
    pub fn initial_state(mut self, state: CircuitState) -> Self {
        self.initial_state = state;
        self
    }

    /// The randomness behind open-time jitter.
    pub fn random(mut self, rng: Arc<dyn RandomSource>) -> Self {
        self.rng = Some(rng);
        self
    }

    /// Calls `listener` for every [`BreakerEvent`]. Listeners run inline: keep them short.
    ///
    /// ```
    /// use steadfast::circuit_breaker::{BreakerEvent, CircuitBreaker};
    ///
    /// let breaker = CircuitBreaker::builder()
    ///     .name("payments")
    ///     .on_event(|event: &BreakerEvent<'_>| {
    ///         if let BreakerEvent::StateTransition { name, from, to, reason } = event {
    ///             eprintln!("breaker {name}: {from} -> {to} ({reason})");
    ///         }
    ///     })
    ///     .build()
    ///     .unwrap();
    /// breaker.force_open(); // prints "breaker payments: closed -> forced open (changed by hand)"
    /// ```
    pub fn on_event(
        mut self,
        listener: impl Fn(&BreakerEvent<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.listeners.push(Arc::new(listener));
        self
    }

    /// Hands this breaker's events to `observer`: when the breaker is built, the observer is
    /// asked for a listener for it ([`Observer::breaker`], given the breaker's
    /// [`name`](Self::name), `"circuit-breaker"` unless set), which then sees every
    /// [`BreakerEvent`] as a listener given to [`on_event`](Self::on_event) would. May be
    /// called several times. For [`KeyedBreakers`](super::KeyedBreakers), each key's breaker
    /// is asked for under its own name.
    pub fn observe(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observers.push(observer);
        self
    }

    /// Checks every setting and builds the breaker.
    pub fn build(self) -> Result<CircuitBreaker, ConfigError> {
        let cfg = self.check()?;
        let window = match self.window {
            SlidingWindow::Count(n) => Window::count(n),
            SlidingWindow::Time { length, buckets } => Window::time(length, buckets),
        };
        let rng = self
            .rng
            .unwrap_or_else(|| Arc::new(SplitMix64::from_entropy()));
        let mut listeners = self.listeners;
        listeners.extend(self.observers.iter().filter_map(|o| o.breaker(&self.name)));
        let core = Core::new(
            Arc::from(&*self.name),
            cfg,
            self.initial_state,
            window,
            rng,
            listeners.into_boxed_slice(),
        );
        Ok(CircuitBreaker {
            core: PerThreadArc::new(core),
        })
    }

    /// The name the breaker gets.
    #[cfg(feature = "reload")]
    pub(super) fn name_ref(&self) -> &str {
        &self.name
    }

    /// The window the breaker counts over.
    #[cfg(feature = "reload")]
    pub(super) fn window_ref(&self) -> SlidingWindow {
        self.window
    }

    /// Checks every setting, and converts them to the state machine's form.
    pub(super) fn check(&self) -> Result<Config, ConfigError> {
        let err =
            |field: &'static str, rule: String| ConfigError::new("circuit breaker", field, rule);
        let percent = |field: &'static str, p: Option<f64>| -> Result<Option<u32>, ConfigError> {
            match p {
                None => Ok(None),
                Some(p) if p.is_finite() && p > 0.0 && p <= 100.0 => {
                    Ok(Some((p * 100.0).round() as u32))
                }
                Some(p) => Err(err(
                    field,
                    format!("must be above 0 and at most 100 (got {p})"),
                )),
            }
        };
        let failure_rate_bp = percent("failure_rate", self.failure_rate)?;
        let slow_rate_bp = percent("slow_call_rate", self.slow_call_rate)?;
        if self.consecutive_failures == Some(0) {
            return Err(err(
                "consecutive_failures",
                "must be at least 1 (got 0)".into(),
            ));
        }
        if failure_rate_bp.is_none()
            && slow_rate_bp.is_none()
            && self.consecutive_failures.is_none()
        {
            return Err(err(
                "failure_rate",
                "is off, and so are the slow-call and consecutive-failure rules: the breaker could never trip".into(),
            ));
        }
        if self.minimum_calls == 0 {
            return Err(err("minimum_calls", "must be at least 1 (got 0)".into()));
        }
        match self.window {
            SlidingWindow::Count(n) => {
                if n == 0 || n > MAX_WINDOW_CALLS {
                    return Err(err(
                        "window",
                        format!("a count window must hold 1 to {MAX_WINDOW_CALLS} calls (got {n})"),
                    ));
                }
                if self.minimum_calls > n {
                    return Err(err(
                        "minimum_calls",
                        format!(
                            "must not exceed the count window's size ({} > {n})",
                            self.minimum_calls
                        ),
                    ));
                }
            }
            SlidingWindow::Time { length, buckets } => {
                if buckets == 0 || buckets > MAX_TIME_BUCKETS {
                    return Err(err(
                        "window",
                        format!(
                            "a time window needs 1 to {MAX_TIME_BUCKETS} buckets (got {buckets})"
                        ),
                    ));
                }
                if length < MIN_BUCKET * buckets {
                    return Err(err(
                        "window",
                        format!("a time window must be at least 1ms per bucket (got {length:?} for {buckets})"),
                    ));
                }
            }
        }
        if self.success_threshold == 0 || self.success_threshold > 0xFFFF {
            return Err(err(
                "success_threshold",
                format!(
                    "must be between 1 and 65535 (got {})",
                    self.success_threshold
                ),
            ));
        }
        let half_open_max_calls = self.half_open_max_calls.unwrap_or(self.success_threshold);
        if half_open_max_calls == 0 || half_open_max_calls > 0xFFFF {
            return Err(err(
                "half_open_max_calls",
                format!("must be between 1 and 65535 (got {half_open_max_calls})"),
            ));
        }
        match self.half_open_rule {
            HalfOpenRule::FirstFailure if self.success_threshold > half_open_max_calls => {
                return Err(err(
                    "success_threshold",
                    format!(
                        "must not exceed half_open_max_calls, the calls one half-open period lets through ({} > {half_open_max_calls})",
                        self.success_threshold
                    ),
                ));
            }
            HalfOpenRule::Rates if failure_rate_bp.is_none() && slow_rate_bp.is_none() => {
                return Err(err(
                    "half_open_rule",
                    "judges probes by the failure and slow-call rates, but both are off".into(),
                ));
            }
            _ => {}
        }
        if self.slow_call_rate.is_some() && self.slow_call_duration.is_zero() {
            return Err(err(
                "slow_call_duration",
                "must be greater than zero".into(),
            ));
        }
        if matches!(
            self.initial_state,
            CircuitState::Open | CircuitState::HalfOpen
        ) {
            return Err(err(
                "initial_state",
                format!(
                    "must be closed, forced open, disabled or metrics only (got {})",
                    self.initial_state
                ),
            ));
        }
        self.open_backoff.validate()?;
        let cfg = Config {
            failure_rate_bp,
            slow_rate_bp,
            slow_threshold: self.slow_call_rate.map(|_| self.slow_call_duration),
            consecutive_failures: self.consecutive_failures,
            minimum_calls: self.minimum_calls,
            half_open_max_calls,
            success_threshold: self.success_threshold,
            half_open_rule: match self.half_open_rule {
                HalfOpenRule::FirstFailure => ProbeRule::FirstFailure,
                HalfOpenRule::Rates => ProbeRule::Rates,
            },
            max_half_open: saturating_nanos(self.max_half_open),
            open_backoff: self.open_backoff.clone(),
            count_cancellations: self.count_cancellations,
            count_invalid: self.count_invalid,
        };
        Ok(cfg)
    }
}
