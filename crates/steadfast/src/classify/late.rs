//! Outcomes that are known only after the answer has been read to its end.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::outcome::Outcome;

/// Where the outcome of an answer arrives when it is known only once the answer has been
/// read to its end: a gRPC call that streams its messages and sends its status in the
/// trailers after them.
///
/// The side that reads the answer (a response body, say) [`settle`](Self::settle)s it; the
/// side that waits for it registers what to do with [`on_settled`](Self::on_settled). Both
/// hold a clone. The first outcome wins; later ones are ignored. Whatever was registered and
/// never settled is dropped with the last clone, so a circuit breaker waiting on it gives its
/// permit back instead of counting the call.
///
/// A classifier hands one out through
/// [`Classify::late_outcome`](crate::classify::Classify::late_outcome); the circuit breaker
/// then records the call when it is settled instead of when the answer's headers arrived.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use steadfast::classify::{LateOutcome, Outcome};
///
/// let late = LateOutcome::new();
/// let seen = Arc::new(Mutex::new(None));
/// let s = seen.clone();
/// late.on_settled(move |outcome| *s.lock().unwrap() = Some(outcome));
/// assert!(late.clone().settle(Outcome::NonRetryable)); // the body ended with a failure
/// assert!(!late.settle(Outcome::Success)); // the first outcome wins
/// assert_eq!(*seen.lock().unwrap(), Some(Outcome::NonRetryable));
/// ```
#[derive(Clone, Default)]
pub struct LateOutcome {
    state: Arc<Mutex<State>>,
}

type Callback = Box<dyn FnOnce(Outcome) + Send>;

#[derive(Default)]
enum State {
    #[default]
    Open,
    Waiting(Callback),
    Settled(Outcome),
    Done,
}

impl LateOutcome {
    /// An outcome still to come.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Callbacks run outside the lock, so a poisoned lock only means a panic elsewhere.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reports the outcome: `true` if this was the first, which is the one that counts.
    pub fn settle(&self, outcome: Outcome) -> bool {
        let mut st = self.lock();
        match std::mem::take(&mut *st) {
            State::Open => {
                *st = State::Settled(outcome);
                true
            }
            State::Waiting(f) => {
                *st = State::Done;
                drop(st);
                f(outcome);
                true
            }
            other => {
                *st = other;
                false
            }
        }
    }

    /// `true` once an outcome has been reported.
    pub fn is_settled(&self) -> bool {
        matches!(*self.lock(), State::Settled(_) | State::Done)
    }

    /// Runs `f` with the outcome once it is reported (at once if it already was). Only one
    /// callback is kept: a second replaces one that has not run yet.
    pub fn on_settled(&self, f: impl FnOnce(Outcome) + Send + 'static) {
        let mut st = self.lock();
        match std::mem::take(&mut *st) {
            State::Settled(outcome) => {
                *st = State::Done;
                drop(st);
                f(outcome);
            }
            State::Done => *st = State::Done,
            State::Open | State::Waiting(_) => *st = State::Waiting(Box::new(f)),
        }
    }
}

impl fmt::Debug for LateOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &*self.lock() {
            State::Open => "open",
            State::Waiting(_) => "waiting",
            State::Settled(_) | State::Done => "settled",
        };
        f.debug_struct("LateOutcome")
            .field("state", &state)
            .finish()
    }
}
