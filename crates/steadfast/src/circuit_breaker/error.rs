//! The error a circuit breaker returns for a call it did not let through.

use std::borrow::Cow;
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
}

/// Where a rejection finds its breaker's name: taking it costs no locked instruction (a
/// breaker held by value is counted per thread; a `&'static` one lends its name).
#[derive(Clone)]
pub(crate) enum Name {
    Static(&'static str),
    Breaker(PerThreadArc<Core>),
    /// The rejection of a traced request: the name, and the request's decision trace (kept
    /// here so that an untraced rejection is no larger).
    Traced(ColdDrop<Box<(Cow<'static, str>, DecisionTrace)>>),
}

impl Name {
    fn as_str(&self) -> &str {
        match self {
            Name::Static(name) => name,
            Name::Breaker(core) => &core.name,
            Name::Traced(traced) => traced.get().map_or("", |t| &*t.0),
        }
    }
}

impl Rejected {
    pub(crate) fn new(name: Name, state: CircuitState, retry_after: Option<Duration>) -> Self {
        Rejected {
            name,
            state,
            retry_after,
        }
    }

    /// This rejection, carrying the decision trace of the request it ends.
    #[cold]
    pub(crate) fn with_trace(self, trace: DecisionTrace) -> Self {
        Rejected {
            name: Name::Traced(ColdDrop::new(Box::new((
                Cow::Owned(self.name.as_str().to_owned()),
                trace,
            )))),
            ..self
        }
    }

    /// The [decision trace](crate::trace) of the request this rejection ends, when that
    /// request carried one. It holds the breaker's refusal (its state and window counts) and
    /// what the layers above decided before.
    pub fn decision_trace(&self) -> Option<&DecisionTrace> {
        match &self.name {
            Name::Traced(traced) => traced.get().map(|t| &t.1),
            _ => None,
        }
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        self.name.as_str()
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

/// A value dropped out of line: a field that is almost always absent (a decision trace)
/// adds no drop code to its holder's inlined drop.
#[derive(Clone)]
pub(crate) struct ColdDrop<T>(Option<T>);

impl<T> ColdDrop<T> {
    pub(crate) fn new(value: T) -> Self {
        ColdDrop(Some(value))
    }

    /// The value (always there until the drop).
    pub(crate) fn get(&self) -> Option<&T> {
        self.0.as_ref()
    }
}

impl<T> Drop for ColdDrop<T> {
    #[inline]
    fn drop(&mut self) {
        if let Some(value) = self.0.take() {
            drop_cold(value);
        }
    }
}

#[cold]
#[inline(never)]
fn drop_cold<T>(value: T) {
    drop(value);
}
