//! The error a circuit breaker returns for a call it did not let through.

use std::fmt;
use std::time::Duration;

use super::events::CircuitState;
use super::state::Core;
use crate::display::Short;
use crate::per_thread_arc::PerThreadArc;
use crate::trace::DecisionTrace;

/// The circuit breaker rejected the call without sending it.
///
/// Carries the breaker's name, the state that rejected the call, and how long until the
/// breaker will let a probe through (`None` when that is not up to time: forced open, or
/// half-open with every permit of the half-open period handed out).
#[derive(Clone)]
pub struct Rejected {
    name: Name,
    state: CircuitState,
    retry_after: Option<Duration>,
    trace: Option<DecisionTrace>,
}

/// Where a rejection finds its breaker's name: taking it costs no locked instruction (a
/// breaker held by value is counted per thread; a `&'static` one lends its name).
#[derive(Clone)]
pub(crate) enum Name {
    Static(&'static str),
    Breaker(PerThreadArc<Core>),
}

impl Rejected {
    pub(crate) fn new(name: Name, state: CircuitState, retry_after: Option<Duration>) -> Self {
        Rejected {
            name,
            state,
            retry_after,
            trace: None,
        }
    }

    /// This rejection, carrying the decision trace of the request it ends.
    #[cold]
    pub(crate) fn with_trace(mut self, trace: DecisionTrace) -> Self {
        self.trace = Some(trace);
        self
    }

    /// The [decision trace](crate::trace) of the request this rejection ends, when that
    /// request carried one. It holds the breaker's refusal (its state and window counts) and
    /// what the layers above decided before.
    pub fn decision_trace(&self) -> Option<&DecisionTrace> {
        self.trace.as_ref()
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        match &self.name {
            Name::Static(name) => name,
            Name::Breaker(core) => &core.name,
        }
    }

    /// The state that rejected the call.
    pub fn state(&self) -> CircuitState {
        self.state
    }

    /// How long until the breaker admits a probe, when that depends only on time.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Debug for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected")
            .field("name", &self.name())
            .field("state", &self.state)
            .field("retry_after", &self.retry_after)
            .finish()
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "circuit breaker '{}' is {}", self.name(), self.state)?;
        match self.retry_after {
            Some(d) => write!(f, "; next probe in {}", Short(d)),
            None if self.state == CircuitState::HalfOpen => {
                f.write_str("; every probe slot is taken")
            }
            None => Ok(()),
        }
    }
}

impl std::error::Error for Rejected {}
crate::error::as_dyn_error!(Rejected);
