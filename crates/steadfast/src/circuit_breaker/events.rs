//! States and events of a circuit breaker.

use std::fmt;
use std::time::Duration;

/// The state of a circuit breaker.
///
/// ```
/// use steadfast::circuit_breaker::{CircuitBreaker, CircuitState};
///
/// // Start in the manual "metrics only" state: record, never trip (a dry run of the rules).
/// let breaker = CircuitBreaker::builder()
///     .initial_state(CircuitState::MetricsOnly)
///     .build()
///     .unwrap();
/// assert_eq!(breaker.state(), CircuitState::MetricsOnly);
/// assert!(!breaker.state().rejects());
/// breaker.force_open();
/// assert!(breaker.state().rejects());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CircuitState {
    /// Calls pass and are recorded; the breaker trips when a rule says so.
    Closed,
    /// Calls are rejected until the open time has passed.
    Open,
    /// A limited number of probe calls pass in total; they decide whether the breaker closes
    /// or reopens (see [`HalfOpenRule`](super::HalfOpenRule)).
    HalfOpen,
    /// Held open by hand: every call is rejected until someone changes the state.
    ForcedOpen,
    /// Every call passes and nothing is recorded.
    Disabled,
    /// Calls pass and are recorded (metrics, events), but the breaker never trips.
    MetricsOnly,
}

impl CircuitState {
    pub(crate) const fn from_bits(bits: u64) -> Self {
        match bits & 0b111 {
            0 => CircuitState::Closed,
            1 => CircuitState::Open,
            2 => CircuitState::HalfOpen,
            3 => CircuitState::ForcedOpen,
            4 => CircuitState::Disabled,
            _ => CircuitState::MetricsOnly,
        }
    }

    pub(crate) const fn bits(self) -> u64 {
        match self {
            CircuitState::Closed => 0,
            CircuitState::Open => 1,
            CircuitState::HalfOpen => 2,
            CircuitState::ForcedOpen => 3,
            CircuitState::Disabled => 4,
            CircuitState::MetricsOnly => 5,
        }
    }

    /// `true` for the states that reject calls (open and forced-open).
    pub const fn rejects(self) -> bool {
        matches!(self, CircuitState::Open | CircuitState::ForcedOpen)
    }
}

impl fmt::Display for CircuitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half-open",
            CircuitState::ForcedOpen => "forced open",
            CircuitState::Disabled => "disabled",
            CircuitState::MetricsOnly => "metrics only",
        })
    }
}

/// Why a breaker changed state.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum TransitionReason {
    /// The failure rate over the window (or, under
    /// [`HalfOpenRule::Rates`](super::HalfOpenRule::Rates), over the half-open period's
    /// permitted calls) reached the threshold.
    FailureRate {
        /// The rate, in percent.
        rate: f32,
    },
    /// The slow-call rate over the window (or over the half-open period's permitted calls)
    /// reached the threshold.
    SlowCallRate {
        /// The rate, in percent.
        rate: f32,
    },
    /// This many failures in a row.
    ConsecutiveFailures(u32),
    /// The open time passed and a call arrived: probing.
    OpenTimeElapsed,
    /// A probe failed while half-open.
    ProbeFailed,
    /// Enough probes succeeded while half-open.
    ProbesSucceeded(u32),
    /// Under [`HalfOpenRule::Rates`](super::HalfOpenRule::Rates), every permitted probe
    /// completed and their rates stayed under the thresholds.
    ProbeRates {
        /// The probes' failure rate, in percent.
        failure_rate: f32,
        /// The probes' slow-call rate, in percent.
        slow_call_rate: f32,
    },
    /// The breaker stayed half-open longer than
    /// [`max_half_open`](super::CircuitBreakerBuilder::max_half_open) with a probe still
    /// out (a probe that hung).
    HalfOpenTimeout,
    /// Someone changed the state through the handle.
    Manual,
}

impl fmt::Display for TransitionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransitionReason::FailureRate { rate } => write!(f, "failure rate {rate:.1}%"),
            TransitionReason::SlowCallRate { rate } => write!(f, "slow-call rate {rate:.1}%"),
            TransitionReason::ConsecutiveFailures(1) => f.write_str("a failure"),
            TransitionReason::ConsecutiveFailures(n) => write!(f, "{n} consecutive failures"),
            TransitionReason::OpenTimeElapsed => f.write_str("open time elapsed"),
            TransitionReason::ProbeFailed => f.write_str("a probe call failed"),
            TransitionReason::ProbesSucceeded(1) => f.write_str("the probe call succeeded"),
            TransitionReason::ProbesSucceeded(n) => write!(f, "{n} probe calls succeeded"),
            TransitionReason::ProbeRates {
                failure_rate,
                slow_call_rate,
            } => write!(
                f,
                "probe failure rate {failure_rate:.1}%, slow-call rate {slow_call_rate:.1}%"
            ),
            TransitionReason::HalfOpenTimeout => {
                f.write_str("a probe still out after the half-open time limit")
            }
            TransitionReason::Manual => f.write_str("changed by hand"),
        }
    }
}

/// Something a circuit breaker did. Listeners run inline on the task that caused the event.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum BreakerEvent<'a> {
    /// The breaker changed state.
    StateTransition {
        /// The breaker's name.
        name: &'a str,
        /// The state it left.
        from: CircuitState,
        /// The state it entered.
        to: CircuitState,
        /// Why.
        reason: TransitionReason,
    },
    /// A call was let through.
    CallPermitted {
        /// The breaker's name.
        name: &'a str,
        /// The state it was let through in.
        state: CircuitState,
    },
    /// A call was rejected.
    CallRejected {
        /// The breaker's name.
        name: &'a str,
        /// The state that rejected it.
        state: CircuitState,
    },
    /// A call succeeded.
    Success {
        /// The breaker's name.
        name: &'a str,
        /// How long it took, when the breaker measures durations (slow-call rules on).
        duration: Option<Duration>,
    },
    /// A call failed.
    Failure {
        /// The breaker's name.
        name: &'a str,
        /// How long it took, when measured.
        duration: Option<Duration>,
    },
    /// A call took longer than the slow-call threshold (sent in addition to its success or
    /// failure).
    Slow {
        /// The breaker's name.
        name: &'a str,
        /// How long it took.
        duration: Duration,
    },
    /// A call's response was judged invalid ([`Outcome::Invalid`](crate::classify::Outcome::Invalid),
    /// for example by the validate layer): a *semantic* failure, reported instead of
    /// [`Failure`](Self::Failure) or [`Success`](Self::Success). Whether it counts toward the
    /// failure rate is the breaker's
    /// [`count_invalid`](super::CircuitBreakerBuilder::count_invalid) setting.
    Invalid {
        /// The breaker's name.
        name: &'a str,
        /// How long it took, when measured.
        duration: Option<Duration>,
    },
    /// A call's result was ignored (a cancellation, or classified as ignored).
    Ignored {
        /// The breaker's name.
        name: &'a str,
    },
}
