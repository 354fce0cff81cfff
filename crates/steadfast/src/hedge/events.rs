//! What the hedge layer tells its listeners while it works.

use std::fmt;
use std::time::Duration;

use crate::classify::Outcome;

/// Something the hedge layer did, for a listener given to
/// [`HedgeLayerBuilder::on_event`](super::HedgeLayerBuilder::on_event).
///
/// Listeners run inline, on the task that drives the request: keep them short. A request
/// whose first attempt answers before any hedge is sent sends one event,
/// [`HedgeEvent::Won`], and only when a listener is registered.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use steadfast::hedge::{HedgeEvent, HedgeLayer};
///
/// let sent = Arc::new(AtomicU32::new(0));
/// let layer = HedgeLayer::builder()
///     .on_event({
///         let sent = sent.clone();
///         move |e: &HedgeEvent| {
///             if let HedgeEvent::HedgeSent { .. } = e {
///                 sent.fetch_add(1, Ordering::Relaxed);
///             }
///         }
///     })
///     .build()
///     .unwrap();
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum HedgeEvent {
    /// Attempt `attempt` (from 2) was sent while `in_flight` others were still running.
    HedgeSent {
        /// The attempt, from 2.
        attempt: u32,
        /// Attempts still running when it was sent.
        in_flight: u32,
    },
    /// Attempt `attempt` answered with a non-fatal failure; the other attempts keep running.
    AttemptFailed {
        /// The attempt, from 1.
        attempt: u32,
        /// Its classified outcome.
        outcome: Outcome,
    },
    /// The server's answer to attempt `attempt` postponed the next hedge by `delay` (a
    /// `Retry-After` or a gRPC pushback, as the classifier read it).
    PushedBack {
        /// The attempt that carried the hint.
        attempt: u32,
        /// How long the next hedge waits.
        delay: Duration,
    },
    /// No further hedge is sent for this request, for `reason`; the attempts in flight keep
    /// running.
    Stopped {
        /// Why.
        reason: HedgeStop,
    },
    /// Attempt `attempt`'s answer ended the request (a success, or a fatal failure), after
    /// `attempts` attempts were sent.
    Won {
        /// The attempt whose answer is returned, from 1.
        attempt: u32,
        /// Attempts sent in all.
        attempts: u32,
        /// Its classified outcome.
        outcome: Outcome,
        /// Time from the request's call to this answer.
        elapsed: Duration,
    },
    /// The attempts still running when the request ended, `count` of them, were cancelled
    /// with [`CancelReason::HedgeLost`](crate::token::CancelReason::HedgeLost) and dropped.
    LosersCancelled {
        /// How many.
        count: u32,
    },
    /// Every attempt failed with a non-fatal outcome; the last failure is returned.
    Exhausted {
        /// Attempts sent in all.
        attempts: u32,
        /// Time from the request's call to the last failure.
        elapsed: Duration,
    },
}

/// Why the hedge layer sends no further hedge for a request, in [`HedgeEvent::Stopped`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HedgeStop {
    /// The budget refused a hedge.
    BudgetExhausted,
    /// An attempt's answer asked that nothing more be sent
    /// ([`Outcome::DoNotRetry`](crate::classify::Outcome::DoNotRetry): a negative or unreadable
    /// `grpc-retry-pushback-ms`, as gRFC A6 reads it).
    ServerRefused,
    /// The kept copy of the request can no longer be sent
    /// ([`CloneRequest::can_resend`](crate::retry::CloneRequest::can_resend) said no, or the
    /// copy could not be cloned again).
    NotReplayable,
    /// The request's token is cancelled or draining: no new work starts for it.
    Draining,
    /// The inner service failed while getting ready for a hedge.
    NotReady,
    /// An open circuit breaker below refused a hedge: the attempts it had already let
    /// through keep running, and no more are sent into it.
    CircuitOpen,
}

impl fmt::Display for HedgeStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HedgeStop::BudgetExhausted => "budget exhausted",
            HedgeStop::ServerRefused => "server refused further attempts",
            HedgeStop::NotReplayable => "request not replayable",
            HedgeStop::Draining => "request cancelled or draining",
            HedgeStop::NotReady => "inner service failed to get ready",
            HedgeStop::CircuitOpen => "circuit breaker open",
        })
    }
}
