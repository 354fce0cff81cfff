//! What a breaker records into a request's [decision trace](crate::trace): its admission
//! of the call, and how the call was counted. Out of line: only traced requests come here.

use std::borrow::Cow;
use std::time::Duration;

use super::events::CircuitState;
use super::state::{CallResult, Core, Permit};
use crate::trace::{Decision, DecisionTrace};

impl Core {
    /// Appends the breaker's admission of a call to `trace`: the state it was admitted (or
    /// refused) under, and the window's failures and calls now.
    #[cold]
    #[inline(never)]
    pub(crate) fn trace_admission(
        &self,
        trace: &DecisionTrace,
        state: CircuitState,
        permitted: bool,
    ) {
        let counts = self.window().counts();
        trace.record(
            String::from(&*self.name),
            Decision::Admission {
                state: Cow::Borrowed(trace_state_name(state)),
                permitted,
                failures: counts.failures,
                calls: counts.total,
            },
        );
    }

    /// How a call admitted under `permit` that lasted `duration` is recorded as `result`:
    /// `success`, `failure`, `slow`, `invalid` or `ignored`.
    pub(crate) fn recorded_name(
        &self,
        permit: Permit,
        result: CallResult,
        duration: Option<Duration>,
    ) -> &'static str {
        let slow = match (duration, self.config().slow_threshold) {
            (Some(d), Some(t)) => d > t,
            _ => false,
        };
        match result {
            _ if !permit.records() => "ignored",
            CallResult::Ignored => "ignored",
            _ if slow => "slow",
            CallResult::Success => "success",
            CallResult::Failure => "failure",
            CallResult::Invalid => "invalid",
        }
    }

    /// Appends to `trace` that a call is recorded as `outcome` (see
    /// [`recorded_name`](Self::recorded_name)).
    #[cold]
    #[inline(never)]
    pub(crate) fn trace_recorded(&self, trace: &DecisionTrace, outcome: &'static str) {
        trace.record(
            String::from(&*self.name),
            Decision::Recorded {
                outcome: Cow::Borrowed(outcome),
            },
        );
    }
}

/// A state's name in a decision trace.
pub(crate) fn trace_state_name(state: CircuitState) -> &'static str {
    match state {
        CircuitState::Closed => "closed",
        CircuitState::Open => "open",
        CircuitState::HalfOpen => "half_open",
        CircuitState::ForcedOpen => "forced_open",
        CircuitState::Disabled => "disabled",
        CircuitState::MetricsOnly => "metrics_only",
    }
}
