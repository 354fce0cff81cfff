//! The breaker's public handle, [`CircuitBreaker`], for manual control and metrics, and the
//! two ways a layer may hold it ([`BreakerRef`]). The state machine it steers is in `state.rs`;
//! its settings are in `builder.rs`.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use super::error::{Name, Rejected};
use super::events::CircuitState;
use super::metrics::BreakerMetrics;
use super::state::{kind, Core};
use crate::per_thread_arc::PerThreadArc;
use crate::sync::Ordering;

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
        Rejected::new(Name::Breaker(self.core.clone()), state, retry_after)
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
