//! The breaker itself: configuration, the state machine, and the handle for manual control.

use std::borrow::Cow;
use std::fmt;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::error::{Name, Rejected};
use super::events::{BreakerEvent, BreakerMetrics, CircuitState, TransitionReason};
use super::window::{Window, MAX_TIME_BUCKETS, MAX_WINDOW_CALLS, MIN_BUCKET};
use crate::backoff::Backoff;
use crate::config::ConfigError;
use crate::per_thread_arc::PerThreadArc;
use crate::random::{RandomSource, SplitMix64};
use crate::sync::{AtomicU32, AtomicU64, Ordering};

type Listener = Arc<dyn Fn(&BreakerEvent<'_>) + Send + Sync>;

/// Which calls the breaker's rates are computed over.
///
/// Both windows count exactly: a count window holds the outcomes of exactly its last `n`
/// calls, and a time window counts every call of its live buckets, up to 2^64 − 1 calls, so
/// its rates are exact at any call rate. Recording a call takes a few uncontended atomic
/// operations and no lock (see the [module docs](super)).
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

/// How a call ended, as the breaker records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallResult {
    Success,
    Failure,
    /// The call completed but its response was judged invalid: a semantic failure.
    Invalid,
    Ignored,
}

/// A call the breaker let through. Probes hold a half-open permit until they finish.
///
/// One non-zero word, so that a response future's `Option<Permit>` is 8 bytes moved as one:
/// bit 63 is always set, bit 62 marks a probe, and the rest is the state word when the call
/// was admitted (whose generation would need 2^59 transitions to reach bit 62).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Permit {
    raw: NonZeroU64,
}

const PERMIT_SET: u64 = 1 << 63;
const PERMIT_PROBE: u64 = 1 << 62;

impl Permit {
    #[inline]
    fn new(word: u64, probe: bool) -> Self {
        debug_assert!(word & (PERMIT_SET | PERMIT_PROBE) == 0);
        let probe = if probe { PERMIT_PROBE } else { 0 };
        Permit {
            raw: NonZeroU64::new(word | probe | PERMIT_SET).expect("bit 63 is set"),
        }
    }

    /// The state word when the call was admitted.
    #[inline]
    fn word(self) -> u64 {
        self.raw.get() & !(PERMIT_SET | PERMIT_PROBE)
    }

    /// `true` for a half-open probe.
    #[inline]
    fn probe(self) -> bool {
        self.raw.get() & PERMIT_PROBE != 0
    }

    pub(crate) fn records(&self) -> bool {
        kind(self.word()) != CircuitState::Disabled
    }
}

const KIND_BITS: u32 = 3;

fn kind(word: u64) -> CircuitState {
    CircuitState::from_bits(word)
}

fn generation(word: u64) -> u64 {
    word >> KIND_BITS
}

/// A generation-tagged pair of 16-bit counts: `generation (32) | a (16) | b (16)`.
///
/// The half-open word holds `permits handed out | probes completed` (completed and counted:
/// successes under [`HalfOpenRule::FirstFailure`], every judged probe under
/// [`HalfOpenRule::Rates`]); probes in flight are the difference. The verdict word of the
/// rate rule holds `failed | slow`.
fn unpack_half_open(w: u64) -> (u32, u32, u32) {
    (
        (w >> 32) as u32,
        ((w >> 16) & 0xFFFF) as u32,
        (w & 0xFFFF) as u32,
    )
}

fn pack_half_open(gen: u32, a: u32, b: u32) -> u64 {
    (u64::from(gen) << 32) | (u64::from(a.min(0xFFFF)) << 16) | u64::from(b.min(0xFFFF))
}

/// A duration as nanoseconds, saturating at `u64::MAX` (about 584 years: never, in practice).
fn saturating_nanos(d: Duration) -> u64 {
    d.as_nanos().min(u128::from(u64::MAX)) as u64
}

/// The default bound on how long the breaker stays half-open with a probe outstanding: the
/// default open time.
const DEFAULT_MAX_HALF_OPEN: Duration = Duration::from_secs(60);

struct Config {
    failure_rate_bp: Option<u32>,
    slow_rate_bp: Option<u32>,
    slow_threshold: Option<Duration>,
    consecutive_failures: Option<u32>,
    minimum_calls: u32,
    /// Permits for one half-open period, in total.
    half_open_max_calls: u32,
    success_threshold: u32,
    half_open_rule: HalfOpenRule,
    /// How long half-open may last with a probe outstanding, in nanoseconds (`u64::MAX`:
    /// unbounded).
    max_half_open: u64,
    open_backoff: Backoff,
    count_cancellations: bool,
    /// Whether invalid responses count as failures for the rules (else as successes).
    count_invalid: bool,
}

// Aligned so that the `Arc`'s reference counts, written by every call, sit on cache lines of
// their own instead of sharing one with the state word every call reads.
#[repr(align(128))]
pub(crate) struct Core {
    name: Arc<str>,
    cfg: Config,
    origin: Instant,
    /// `generation << 3 | state`: every transition bumps the generation.
    state: AtomicU64,
    window: Window,
    consecutive: AtomicU32,
    open_until: AtomicU64,
    entered_at: AtomicU64,
    trips_in_row: AtomicU32,
    last_open: AtomicU64,
    half_open: AtomicU64,
    /// Failed and slow probes of the current half-open period, for [`HalfOpenRule::Rates`].
    probe_verdicts: AtomicU64,
    half_open_timeouts: AtomicU64,
    failures: AtomicU64,
    invalid: AtomicU64,
    slow: AtomicU64,
    rejections: AtomicU64,
    ignored: AtomicU64,
    trips: AtomicU64,
    probe_calls: AtomicU64,
    rng: Arc<dyn RandomSource>,
    listeners: Box<[Listener]>,
}

/// A circuit breaker: a shared state machine that stops calls to a failing downstream and
/// lets them through again once it recovers.
///
/// Cheap to clone (one `Arc`); every clone, and every service built from it, is the same
/// breaker. Use it with [`CircuitBreakerLayer`](super::CircuitBreakerLayer), share it by name
/// through a [`Registry`](super::Registry), and steer it by hand with the methods below.
///
/// ```
/// use std::time::Duration;
/// use steadfast::circuit_breaker::{CircuitBreaker, CircuitState, SlidingWindow};
///
/// let breaker = CircuitBreaker::builder()
///     .name("payments")
///     .failure_rate(50.0)
///     .minimum_calls(10)
///     .window(SlidingWindow::count(20))
///     .open_for(Duration::from_secs(5))
///     .build()
///     .unwrap();
/// assert_eq!(breaker.state(), CircuitState::Closed);
/// breaker.force_open();
/// assert_eq!(breaker.state(), CircuitState::ForcedOpen);
/// breaker.reset();
/// assert_eq!(breaker.state(), CircuitState::Closed);
/// ```
///
/// # Invariants
///
/// * The state and a generation live in one atomic word; every transition is a single
///   compare-and-swap from the exact word it was decided on, so of two racing transitions
///   only one happens, and each transition bumps the generation.
/// * A call records its result only if the state word is still the one it was admitted
///   under: results of calls admitted before a transition are discarded.
/// * Half-open permits live in one word (permits handed out, probes completed) tagged with the
///   low 32 bits of the generation; a probe records its completion, or gives its permit back
///   when it is dropped or ignored, only in its own generation, so a cancelled probe can never
///   leave the breaker stuck half-open and a late one can never free a permit of a later
///   half-open period. A period never hands out more than `half_open_max_calls` permits.
/// * A probe that never completes holds its permit until `max_half_open` has passed; the next
///   call then reopens the breaker.
/// * The open deadline is written before the transition to open is published; a transition
///   that loses its race may still overwrite it with a deadline computed at the same moment.
///
/// # Cloning
///
/// Clones share one breaker. Its references are counted per thread: cloning and dropping on
/// the thread that made a clone changes no shared counter, which is what lets the layer keep a
/// breaker held by value alive from every response future without two locked instructions per
/// call. Each thread that uses a breaker keeps a small slot for it, for up to 32 breakers per
/// thread (beyond that, clones are counted atomically, as an `Arc`'s are). A breaker's state is freed once every clone is gone and every thread that used it
/// has let its slot go: when the thread ends, or when it needs the room for another value.
#[derive(Clone)]
pub struct CircuitBreaker {
    pub(crate) core: PerThreadArc<Core>,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.core.name)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl CircuitBreaker {
    /// Starts a builder with the defaults: trips at a 50% failure rate over the last 100
    /// calls once 100 calls were seen, stays open 60 s, then lets one probe through and
    /// closes on its success (reopens on its failure, or if it has not answered within
    /// 60 s). Slow-call and consecutive-failure rules are off.
    pub fn builder() -> CircuitBreakerBuilder {
        CircuitBreakerBuilder::default()
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// The current state. An open breaker whose open time has passed still reads `Open`
    /// until a call arrives and moves it to half-open.
    pub fn state(&self) -> CircuitState {
        kind(self.core.state.load(Ordering::Acquire))
    }

    /// Holds the breaker open: every call is rejected until another manual change.
    pub fn force_open(&self) {
        self.core.set_state(CircuitState::ForcedOpen, None);
    }

    /// Closes the breaker, clearing its window. The escalation of the open time is kept
    /// (the next trip counts as the next in a row); [`reset`](Self::reset) clears it too.
    pub fn close(&self) {
        self.core.set_state(CircuitState::Closed, None);
    }

    /// Closes the breaker and clears everything it has learnt: window, consecutive failures
    /// and the escalation of its open time. Lifetime counters are kept.
    pub fn reset(&self) {
        self.core.trips_in_row.store(0, Ordering::Release);
        self.core.set_state(CircuitState::Closed, None);
    }

    /// Lets every call through and records nothing.
    pub fn disable(&self) {
        self.core.set_state(CircuitState::Disabled, None);
    }

    /// Records calls (metrics and events) but never trips.
    pub fn metrics_only(&self) {
        self.core.set_state(CircuitState::MetricsOnly, None);
    }

    /// Opens the breaker for `duration`; after it, the breaker probes as after a trip.
    pub fn isolate(&self, duration: Duration) {
        self.core.set_state(CircuitState::Open, Some(duration));
    }

    /// The state and counters now.
    ///
    /// ```
    /// use steadfast::circuit_breaker::{CircuitBreaker, CircuitState};
    ///
    /// let breaker = CircuitBreaker::builder().minimum_calls(10).build().unwrap();
    /// let m = breaker.metrics();
    /// assert_eq!(m.state, CircuitState::Closed);
    /// assert_eq!(m.failure_rate, None, "not judged before ten calls");
    /// assert_eq!((m.successes, m.failures, m.rejections), (0, 0, 0));
    /// ```
    pub fn metrics(&self) -> BreakerMetrics {
        self.core.metrics()
    }

    /// Asks to make a call now, as the layer does, without making one: `Ok` if a call
    /// would be let through (a half-open permit is not kept), the rejection otherwise.
    pub fn check(&self) -> Result<(), Rejected> {
        match self.core.try_acquire() {
            Ok(p) => {
                self.core.release(p);
                Ok(())
            }
            Err(r) => Err(BreakerRef::rejected(self, r.state, r.retry_after)),
        }
    }

    /// While open: how long after `now` the open time ends (zero once it has); `None` in any
    /// other state. Unlike [`check`](Self::check), counts nothing and changes nothing.
    pub(crate) fn open_remaining(&self, now: Instant) -> Option<Duration> {
        if kind(self.core.state.load(Ordering::Acquire)) != CircuitState::Open {
            return None;
        }
        let until = self.core.open_until.load(Ordering::Acquire);
        let now = now.saturating_duration_since(self.core.origin).as_nanos();
        Some(Duration::from_nanos(
            until.saturating_sub(now.min(u128::from(u64::MAX)) as u64),
        ))
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A call the breaker did not let through, as the breaker's core reports it; the handle the
/// call went through turns it into a [`Rejected`] (see [`BreakerRef::rejected`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refusal {
    pub(crate) state: CircuitState,
    pub(crate) retry_after: Option<Duration>,
}

/// How a circuit breaker layer holds its breaker: a [`CircuitBreaker`] (an `Arc`, cloned into
/// every response future so it can record the result) or a `&'static CircuitBreaker` (a
/// pointer: no reference count is touched per call, the cheapest closed path).
///
/// ```
/// use std::sync::LazyLock;
/// use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
///
/// static INVENTORY: LazyLock<CircuitBreaker> =
///     LazyLock::new(|| CircuitBreaker::builder().name("inventory").build().unwrap());
///
/// let layer = CircuitBreakerLayer::new(&*INVENTORY);
/// # let _ = layer;
/// ```
///
/// Sealed: implemented only for the two forms above.
pub trait BreakerRef: Clone + sealed::Sealed {
    /// The breaker.
    fn breaker(&self) -> &CircuitBreaker;

    /// What a response future holds to record its call's result.
    #[doc(hidden)]
    type Handle: BreakerHandle;

    /// The handle for one call.
    #[doc(hidden)]
    fn handle(&self) -> Self::Handle;

    /// Makes handles taken on this thread from now on cheap to take and to drop (a breaker held
    /// by value counts its references per thread; see `CircuitBreaker`'s docs).
    #[doc(hidden)]
    #[inline]
    fn localize(&mut self) {}

    /// The error for a call this breaker refused in `state`, admitting a probe after
    /// `retry_after` when that depends only on time.
    #[doc(hidden)]
    fn rejected(&self, state: CircuitState, retry_after: Option<Duration>) -> Rejected;
}

/// What a response future holds to reach its breaker.
#[doc(hidden)]
pub trait BreakerHandle: sealed::Sealed {
    /// The breaker.
    fn breaker(&self) -> &CircuitBreaker;
}

impl sealed::Sealed for CircuitBreaker {}
impl BreakerRef for CircuitBreaker {
    #[inline]
    fn breaker(&self) -> &CircuitBreaker {
        self
    }

    type Handle = CircuitBreaker;

    #[inline]
    fn handle(&self) -> CircuitBreaker {
        self.clone()
    }

    #[inline]
    fn localize(&mut self) {
        self.core.localize();
    }

    fn rejected(&self, state: CircuitState, retry_after: Option<Duration>) -> Rejected {
        Rejected::new(Name::Breaker(self.clone()), state, retry_after)
    }
}

impl BreakerHandle for CircuitBreaker {
    #[inline]
    fn breaker(&self) -> &CircuitBreaker {
        self
    }
}

impl sealed::Sealed for &'static CircuitBreaker {}
impl BreakerRef for &'static CircuitBreaker {
    #[inline]
    fn breaker(&self) -> &CircuitBreaker {
        self
    }

    type Handle = &'static CircuitBreaker;

    #[inline]
    fn handle(&self) -> &'static CircuitBreaker {
        self
    }

    fn rejected(&self, state: CircuitState, retry_after: Option<Duration>) -> Rejected {
        let breaker: &'static CircuitBreaker = self;
        Rejected::new(Name::Static(breaker.name()), state, retry_after)
    }
}

impl BreakerHandle for &'static CircuitBreaker {
    #[inline]
    fn breaker(&self) -> &CircuitBreaker {
        self
    }
}

impl Core {
    fn now(&self) -> u64 {
        Instant::now()
            .saturating_duration_since(self.origin)
            .as_nanos()
            .min(u128::from(u64::MAX)) as u64
    }

    /// `true` when call durations are measured (slow-call rules on).
    #[inline]
    pub(crate) fn measures_duration(&self) -> bool {
        self.cfg.slow_threshold.is_some()
    }

    pub(crate) fn counts_cancellations(&self) -> bool {
        self.cfg.count_cancellations
    }

    #[inline]
    fn emit(&self, event: BreakerEvent<'_>) {
        for l in self.listeners.iter() {
            l(&event);
        }
    }

    /// A refusal; with `count`, a rejection: counted, and told to the listeners.
    fn refuse(&self, state: CircuitState, retry_after: Option<Duration>, count: bool) -> Refusal {
        if count {
            self.rejections.fetch_add(1, Ordering::Relaxed);
            if !self.listeners.is_empty() {
                self.emit(BreakerEvent::CallRejected {
                    name: &self.name,
                    state,
                });
            }
            tracing::trace!(breaker = %self.name, %state, "call rejected");
        }
        Refusal { state, retry_after }
    }

    /// Admits a call or rejects it.
    #[inline]
    pub(crate) fn try_acquire(&self) -> Result<Permit, Refusal> {
        let word = self.state.load(Ordering::Acquire);
        match kind(word) {
            CircuitState::Closed | CircuitState::MetricsOnly | CircuitState::Disabled => {
                if !self.listeners.is_empty() {
                    self.emit(BreakerEvent::CallPermitted {
                        name: &self.name,
                        state: kind(word),
                    });
                }
                Ok(Permit::new(word, false))
            }
            _ => self.acquire_slow(word),
        }
    }

    #[cold]
    fn acquire_slow(&self, word: u64) -> Result<Permit, Refusal> {
        self.admit_slow(word, true)
    }

    /// Admission outside the closed states. `count`: a refusal is a rejection (counted, and
    /// told to the listeners); backpressure's rechecks pass `false`.
    fn admit_slow(&self, mut word: u64, count: bool) -> Result<Permit, Refusal> {
        loop {
            match kind(word) {
                CircuitState::Open => {
                    let now = self.now();
                    let until = self.open_until.load(Ordering::Acquire);
                    if now < until {
                        return Err(self.refuse(
                            CircuitState::Open,
                            Some(Duration::from_nanos(until - now)),
                            count,
                        ));
                    }
                    self.transition(
                        word,
                        CircuitState::HalfOpen,
                        TransitionReason::OpenTimeElapsed,
                    );
                    word = self.state.load(Ordering::Acquire);
                }
                CircuitState::HalfOpen => {
                    if self.half_open_expired(word) {
                        self.transition(
                            word,
                            CircuitState::Open,
                            TransitionReason::HalfOpenTimeout,
                        );
                        word = self.state.load(Ordering::Acquire);
                        continue;
                    }
                    return self.acquire_probe(word, count);
                }
                CircuitState::ForcedOpen => {
                    return Err(self.refuse(CircuitState::ForcedOpen, None, count));
                }
                // Closed again (or disabled) since the caller looked.
                _ if count => return self.try_acquire(),
                _ => return Ok(Permit::new(word, false)),
            }
        }
    }

    /// Backpressure's readiness check: `Ok(None)` when the breaker lets calls through without
    /// a permit to hold (closed, disabled, metrics-only), `Ok(Some(probe))` when it admitted
    /// a half-open probe for the caller, and the refusal otherwise. A refusal here is not a
    /// rejection: nothing is counted and no event is sent.
    pub(crate) fn poll_admission(&self) -> Result<Option<Permit>, Refusal> {
        let word = self.state.load(Ordering::Acquire);
        match kind(word) {
            CircuitState::Closed | CircuitState::MetricsOnly | CircuitState::Disabled => Ok(None),
            _ => self
                .admit_slow(word, false)
                .map(|p| if p.probe() { Some(p) } else { None }),
        }
    }

    /// `true` if the permit was taken under the state the breaker is in now.
    #[inline]
    pub(crate) fn is_current(&self, permit: Permit) -> bool {
        self.state.load(Ordering::Acquire) == permit.word()
    }

    /// `true` when the half-open period of `word` has lasted longer than `max_half_open`
    /// while a probe still holds its permit: that probe has hung, and the breaker must
    /// reopen instead of waiting for it forever.
    fn half_open_expired(&self, word: u64) -> bool {
        let max = self.cfg.max_half_open;
        if max == u64::MAX {
            return false;
        }
        let entered = self.entered_at.load(Ordering::Acquire);
        if self.now().saturating_sub(entered) <= max {
            return false;
        }
        let (g, issued, done) = unpack_half_open(self.half_open.load(Ordering::Acquire));
        g == generation(word) as u32 && issued > done
    }

    fn acquire_probe(&self, word: u64, count: bool) -> Result<Permit, Refusal> {
        let gen = generation(word) as u32;
        let mut cur = self.half_open.load(Ordering::Acquire);
        loop {
            let (g, issued, done) = unpack_half_open(cur);
            let (issued, done) = if g == gen { (issued, done) } else { (0, 0) };
            // A total for the period, not a bound on probes at once: completed probes keep
            // their permits.
            if issued >= self.cfg.half_open_max_calls {
                return Err(self.refuse(CircuitState::HalfOpen, None, count));
            }
            let next = pack_half_open(gen, issued + 1, done);
            match self.half_open.compare_exchange_weak(
                cur,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        if !self.listeners.is_empty() {
            self.emit(BreakerEvent::CallPermitted {
                name: &self.name,
                state: CircuitState::HalfOpen,
            });
        }
        Ok(Permit::new(word, true))
    }

    /// Gives a probe's permit back to its half-open period (the call was dropped, or its
    /// result ignored), so another call may use it.
    fn give_back_probe(&self, permit: Permit) {
        let gen = generation(permit.word()) as u32;
        let mut cur = self.half_open.load(Ordering::Acquire);
        loop {
            let (g, issued, done) = unpack_half_open(cur);
            if g != gen {
                return;
            }
            let next = pack_half_open(gen, issued.saturating_sub(1), done);
            match self.half_open.compare_exchange_weak(
                cur,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Counts a probe as completed in its half-open period; returns the completed probes so
    /// far, or `None` if the period is over.
    fn complete_probe(&self, permit: Permit) -> Option<u32> {
        let gen = generation(permit.word()) as u32;
        let mut cur = self.half_open.load(Ordering::Acquire);
        loop {
            let (g, issued, done) = unpack_half_open(cur);
            if g != gen {
                return None;
            }
            let next = pack_half_open(gen, issued, done + 1);
            match self.half_open.compare_exchange_weak(
                cur,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(done + 1),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Adds a probe's verdict to its period's failed and slow counts ([`HalfOpenRule::Rates`]);
    /// returns them, or `None` if the period is over. Called before the probe is counted as
    /// completed, so that whoever completes the last probe sees every verdict.
    fn count_probe_verdict(&self, permit: Permit, failed: bool, slow: bool) -> Option<(u32, u32)> {
        let gen = generation(permit.word()) as u32;
        let mut cur = self.probe_verdicts.load(Ordering::Acquire);
        loop {
            let (g, f, sl) = unpack_half_open(cur);
            let (f, sl) = if g == gen {
                (f, sl)
            } else if self.is_current(permit) {
                // The counts of an earlier period: the first verdict of this one starts over.
                (0, 0)
            } else {
                return None;
            };
            let counts = (f + u32::from(failed), sl + u32::from(slow));
            let next = pack_half_open(gen, counts.0, counts.1);
            match self.probe_verdicts.compare_exchange_weak(
                cur,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(counts),
                Err(actual) => cur = actual,
            }
        }
    }

    /// A call ended without a result to record (its future was dropped).
    pub(crate) fn release(&self, permit: Permit) {
        if permit.probe() {
            self.give_back_probe(permit);
        }
    }

    /// Records how an admitted call ended.
    #[inline]
    pub(crate) fn on_result(&self, permit: Permit, result: CallResult, duration: Option<Duration>) {
        if !permit.records() {
            return;
        }
        // Slow means longer than the threshold, as in resilience4j.
        let slow = match (duration, self.cfg.slow_threshold) {
            (Some(d), Some(t)) => d > t,
            _ => false,
        };
        if permit.probe() {
            self.on_probe_result(permit, result, slow, duration);
            return;
        }
        if self.state.load(Ordering::Acquire) != permit.word() {
            // Admitted under an earlier generation: not counted.
            return;
        }
        if result == CallResult::Ignored {
            self.on_ignored();
            return;
        }
        let failure = self.counts_as_failure(result);
        self.window.record(failure, slow);
        if result != CallResult::Success || slow {
            self.on_bad_call(permit.word(), result, failure, slow, duration);
        } else if self.cfg.consecutive_failures.is_some()
            && self.consecutive.load(Ordering::Relaxed) != 0
        {
            self.consecutive.store(0, Ordering::Relaxed);
        }
        if result == CallResult::Success && !self.listeners.is_empty() {
            self.emit(BreakerEvent::Success {
                name: &self.name,
                duration,
            });
        }
    }

    /// Whether `result` counts as a failure for the breaker's rules.
    #[inline]
    fn counts_as_failure(&self, result: CallResult) -> bool {
        match result {
            CallResult::Failure => true,
            CallResult::Invalid => self.cfg.count_invalid,
            CallResult::Success | CallResult::Ignored => false,
        }
    }

    /// Counts a failure or a semantic failure apart, and tells the listeners.
    fn count_failed(&self, result: CallResult, duration: Option<Duration>) {
        let name = &*self.name;
        match result {
            CallResult::Failure => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                if !self.listeners.is_empty() {
                    self.emit(BreakerEvent::Failure { name, duration });
                }
            }
            CallResult::Invalid => {
                self.invalid.fetch_add(1, Ordering::Relaxed);
                if !self.listeners.is_empty() {
                    self.emit(BreakerEvent::Invalid { name, duration });
                }
            }
            CallResult::Success | CallResult::Ignored => {}
        }
    }

    fn on_ignored(&self) {
        self.ignored.fetch_add(1, Ordering::Relaxed);
        if !self.listeners.is_empty() {
            self.emit(BreakerEvent::Ignored { name: &self.name });
        }
    }

    /// A call that failed, was invalid, or was slow. `failure` says whether it counts as a
    /// failure for the rules.
    #[cold]
    fn on_bad_call(
        &self,
        word: u64,
        result: CallResult,
        failure: bool,
        slow: bool,
        duration: Option<Duration>,
    ) {
        if slow {
            self.slow.fetch_add(1, Ordering::Relaxed);
            if !self.listeners.is_empty() {
                self.emit(BreakerEvent::Slow {
                    name: &self.name,
                    duration: duration.unwrap_or_default(),
                });
            }
        }
        let mut reason = None;
        self.count_failed(result, duration);
        if failure {
            if let Some(limit) = self.cfg.consecutive_failures {
                let n = self.consecutive.fetch_add(1, Ordering::AcqRel) + 1;
                if n >= limit {
                    reason = Some(TransitionReason::ConsecutiveFailures(n));
                }
            }
        } else if self.cfg.consecutive_failures.is_some() {
            self.consecutive.store(0, Ordering::Relaxed);
        }
        if kind(word) != CircuitState::Closed {
            return;
        }
        if reason.is_none() {
            reason = self.rate_reached();
        }
        if let Some(reason) = reason {
            self.transition(word, CircuitState::Open, reason);
        }
    }

    /// The rate rule the window's counts, as the last call left them, break, if any.
    fn rate_reached(&self) -> Option<TransitionReason> {
        let counts = self.window.recorded();
        if counts.total < u64::from(self.cfg.minimum_calls) || counts.total == 0 {
            return None;
        }
        // In 128 bits: a time window's counts may use all 64.
        let total = u128::from(counts.total);
        if let Some(bp) = self.cfg.failure_rate_bp {
            if u128::from(counts.failures) * 10_000 >= u128::from(bp) * total {
                return Some(TransitionReason::FailureRate {
                    rate: rate(counts.failures, counts.total),
                });
            }
        }
        if let Some(bp) = self.cfg.slow_rate_bp {
            if u128::from(counts.slow) * 10_000 >= u128::from(bp) * total {
                return Some(TransitionReason::SlowCallRate {
                    rate: rate(counts.slow, counts.total),
                });
            }
        }
        None
    }

    #[cold]
    fn on_probe_result(
        &self,
        permit: Permit,
        result: CallResult,
        slow: bool,
        duration: Option<Duration>,
    ) {
        if result == CallResult::Ignored {
            self.give_back_probe(permit);
            self.on_ignored();
            return;
        }
        let failed = self.counts_as_failure(result);
        let slow = slow && self.cfg.slow_rate_bp.is_some();
        if result == CallResult::Success {
            if !self.listeners.is_empty() {
                self.emit(BreakerEvent::Success {
                    name: &self.name,
                    duration,
                });
            }
        } else {
            // A failure, or an invalid response (which, when it does not count as a failure,
            // means the downstream answered: the probe succeeded).
            self.count_failed(result, duration);
        }
        if slow {
            self.slow.fetch_add(1, Ordering::Relaxed);
        }
        match self.cfg.half_open_rule {
            HalfOpenRule::FirstFailure => {
                if failed || slow {
                    self.transition(
                        permit.word(),
                        CircuitState::Open,
                        TransitionReason::ProbeFailed,
                    );
                } else if let Some(successes) = self.complete_probe(permit) {
                    if successes >= self.cfg.success_threshold {
                        self.transition(
                            permit.word(),
                            CircuitState::Closed,
                            TransitionReason::ProbesSucceeded(successes),
                        );
                    }
                }
            }
            HalfOpenRule::Rates => self.judge_probe_rates(permit, failed, slow),
        }
        // Probe successes count as calls too, so lifetime success counts stay truthful.
        self.probe_calls.fetch_add(1, Ordering::Relaxed);
    }

    /// [`HalfOpenRule::Rates`]: records one probe, and decides once the rates over the
    /// period's permitted calls are certain.
    fn judge_probe_rates(&self, permit: Permit, failed: bool, slow: bool) {
        let n = self.cfg.half_open_max_calls;
        let reached = |count: u32, bp: Option<u32>| {
            bp.is_some_and(|bp| u64::from(count) * 10_000 >= u64::from(bp) * u64::from(n))
        };
        let verdict = |f: u32, sl: u32| {
            if reached(f, self.cfg.failure_rate_bp) {
                Some(TransitionReason::FailureRate {
                    rate: rate(f.into(), n.into()),
                })
            } else if reached(sl, self.cfg.slow_rate_bp) {
                Some(TransitionReason::SlowCallRate {
                    rate: rate(sl.into(), n.into()),
                })
            } else {
                None
            }
        };
        if failed || slow {
            let Some((f, sl)) = self.count_probe_verdict(permit, failed, slow) else {
                return;
            };
            // Every one of the period's calls completes or gives its permit back to another
            // call, so the rate is over exactly `n` calls: reached now, it stays reached.
            if let Some(reason) = verdict(f, sl) {
                self.transition(permit.word(), CircuitState::Open, reason);
                return;
            }
        }
        if self.complete_probe(permit) == Some(n) {
            // The last of the period's calls: every other verdict was counted before its
            // call was counted as completed.
            let (g, f, sl) = unpack_half_open(self.probe_verdicts.load(Ordering::Acquire));
            let (f, sl) = if g == generation(permit.word()) as u32 {
                (f, sl)
            } else {
                (0, 0)
            };
            let (to, reason) = match verdict(f, sl) {
                Some(reason) => (CircuitState::Open, reason),
                None => (
                    CircuitState::Closed,
                    TransitionReason::ProbeRates {
                        failure_rate: rate(f.into(), n.into()),
                        slow_call_rate: rate(sl.into(), n.into()),
                    },
                ),
            };
            self.transition(permit.word(), to, reason);
        }
    }

    /// Moves from exactly `from` to `to`; `false` if another transition got there first.
    fn transition(&self, from: u64, to: CircuitState, reason: TransitionReason) -> bool {
        if self.state.load(Ordering::Acquire) != from {
            // Decided on a state that is already gone (a late probe, a lost race): leave the
            // current state's open deadline and entry time alone.
            return false;
        }
        let next_trips = self.trips_in_row.load(Ordering::Acquire).saturating_add(1);
        if to == CircuitState::Open {
            let prev = Duration::from_nanos(self.last_open.load(Ordering::Acquire));
            let d = self.cfg.open_backoff.delay(next_trips, prev, &*self.rng);
            self.store_open_for(d);
        }
        // Written before the transition is published, as the open deadline is, so that no
        // caller that sees the new state reads the time the previous state was entered.
        self.entered_at.store(self.now(), Ordering::Release);
        let to_word = ((generation(from) + 1) << KIND_BITS) | to.bits();
        if self
            .state
            .compare_exchange(from, to_word, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        self.after_transition(kind(from), to, reason, Some(next_trips));
        true
    }

    fn store_open_for(&self, d: Duration) {
        let d = saturating_nanos(d);
        self.last_open.store(d, Ordering::Release);
        self.open_until
            .store(self.now().saturating_add(d), Ordering::Release);
    }

    fn after_transition(
        &self,
        from: CircuitState,
        to: CircuitState,
        reason: TransitionReason,
        trips_in_row: Option<u32>,
    ) {
        match to {
            CircuitState::Closed => {
                self.window.reset();
                self.consecutive.store(0, Ordering::Release);
                if reason != TransitionReason::Manual {
                    self.trips_in_row.store(0, Ordering::Release);
                }
            }
            CircuitState::Open => {
                self.trips.fetch_add(1, Ordering::Relaxed);
                if reason == TransitionReason::HalfOpenTimeout {
                    self.half_open_timeouts.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(n) = trips_in_row {
                    self.trips_in_row.store(n, Ordering::Release);
                }
            }
            _ => {}
        }
        match to {
            CircuitState::Open | CircuitState::ForcedOpen => {
                tracing::warn!(breaker = %self.name, %from, %to, %reason, "circuit breaker opened")
            }
            _ => {
                tracing::info!(breaker = %self.name, %from, %to, %reason, "circuit breaker state changed")
            }
        }
        self.emit(BreakerEvent::StateTransition {
            name: &self.name,
            from,
            to,
            reason,
        });
    }

    /// A manual change: from whatever state, to `to`.
    fn set_state(&self, to: CircuitState, open_for: Option<Duration>) {
        if let Some(d) = open_for {
            self.store_open_for(d);
        }
        self.entered_at.store(self.now(), Ordering::Release);
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            let next = ((generation(cur) + 1) << KIND_BITS) | to.bits();
            match self
                .state
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        self.after_transition(kind(cur), to, TransitionReason::Manual, None);
    }

    fn metrics(&self) -> BreakerMetrics {
        let counts = self.window.counts();
        let judged = counts.total >= u64::from(self.cfg.minimum_calls) && counts.total > 0;
        let failures = self.failures.load(Ordering::Relaxed);
        let invalid = self.invalid.load(Ordering::Relaxed);
        let ignored = self.ignored.load(Ordering::Relaxed);
        let calls = self.window.calls() + self.probe_calls.load(Ordering::Relaxed);
        BreakerMetrics {
            state: kind(self.state.load(Ordering::Acquire)),
            failure_rate: judged.then(|| rate(counts.failures, counts.total)),
            slow_call_rate: judged.then(|| rate(counts.slow, counts.total)),
            window_calls: counts.total,
            window_failures: counts.failures,
            window_slow: counts.slow,
            successes: calls.saturating_sub(failures.saturating_add(invalid)),
            failures,
            invalid,
            slow: self.slow.load(Ordering::Relaxed),
            rejections: self.rejections.load(Ordering::Relaxed),
            ignored,
            trips: self.trips.load(Ordering::Relaxed),
            half_open_timeouts: self.half_open_timeouts.load(Ordering::Relaxed),
        }
    }
}

fn rate(part: u64, total: u64) -> f32 {
    if total == 0 {
        0.0
    } else {
        (part as f64 * 100.0 / total as f64) as f32
    }
}

/// Builds a [`CircuitBreaker`]; every setting is checked by [`build`](Self::build).
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
    /// the breaker ([`TransitionReason::HalfOpenTimeout`], counted in
    /// [`BreakerMetrics::half_open_timeouts`]) and is rejected as by any open breaker.
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
    /// ignored.
    pub fn count_cancellations(mut self, yes: bool) -> Self {
        self.count_cancellations = yes;
        self
    }

    /// Counts invalid responses ([`Outcome::Invalid`](crate::classify::Outcome::Invalid), such
    /// as those the validate layer rejects: *semantic* failures) as failures for the
    /// failure-rate and consecutive-failure rules and for half-open probes. On by default.
    ///
    /// Either way they are counted apart, in [`BreakerMetrics::invalid`], and reported as
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

    /// Checks every setting and builds the breaker.
    pub fn build(self) -> Result<CircuitBreaker, ConfigError> {
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
        let window = match self.window {
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
                Window::count(n)
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
                Window::time(length, buckets)
            }
        };
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
        let core = Core {
            name: Arc::from(&*self.name),
            cfg: Config {
                failure_rate_bp,
                slow_rate_bp,
                slow_threshold: self.slow_call_rate.map(|_| self.slow_call_duration),
                consecutive_failures: self.consecutive_failures,
                minimum_calls: self.minimum_calls,
                half_open_max_calls,
                success_threshold: self.success_threshold,
                half_open_rule: self.half_open_rule,
                max_half_open: saturating_nanos(self.max_half_open),
                open_backoff: self.open_backoff,
                count_cancellations: self.count_cancellations,
                count_invalid: self.count_invalid,
            },
            origin: Instant::now(),
            state: AtomicU64::new(self.initial_state.bits()),
            window,
            consecutive: AtomicU32::new(0),
            open_until: AtomicU64::new(0),
            entered_at: AtomicU64::new(0),
            trips_in_row: AtomicU32::new(0),
            last_open: AtomicU64::new(0),
            half_open: AtomicU64::new(0),
            probe_verdicts: AtomicU64::new(0),
            half_open_timeouts: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            invalid: AtomicU64::new(0),
            slow: AtomicU64::new(0),
            rejections: AtomicU64::new(0),
            ignored: AtomicU64::new(0),
            trips: AtomicU64::new(0),
            probe_calls: AtomicU64::new(0),
            rng: self
                .rng
                .unwrap_or_else(|| Arc::new(SplitMix64::from_entropy())),
            listeners: self.listeners.into_boxed_slice(),
        };
        Ok(CircuitBreaker {
            core: PerThreadArc::new(core),
        })
    }
}
