//! What a hedged request keeps once it has more than its first attempt to think about: the
//! hedges in flight, the last failure, and what the next hedge waits for.

use std::future::Future;
use std::pin::Pin;

use tokio::time::Instant;

use crate::token::{CancelReason, CancelToken, WaitForCancellationFuture};
use crate::BoxError;

/// When the next hedge is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Plan {
    /// Never: the request sends no further hedge.
    Stopped,
    /// After a non-fatal failure ([`HedgeMode::Fallback`](super::HedgeMode::Fallback)).
    Idle,
    /// After the latency mode's first delay, counted from the first poll that finds the first
    /// attempt still running (the timer is made then, so a request answered at once makes
    /// none).
    Unarmed,
    /// When the timer ends.
    Timer,
    /// Now, once the service is ready.
    Now,
}

/// A hedge in flight: its future (boxed: hedges are the exception), its token and its number.
pub(super) struct Running<F> {
    pub(super) fut: Pin<Box<F>>,
    pub(super) token: Option<CancelToken>,
    pub(super) attempt: u32,
    /// When it was sent, for a latency histogram.
    pub(super) sent_at: Option<Instant>,
}

/// The part of a response future made when its first attempt fails or its first hedge is
/// sent; a request answered by its first attempt never makes it.
pub(super) struct Cold<F, Res> {
    pub(super) hedges: Vec<Running<F>>,
    /// The last non-fatal failure, returned if no attempt succeeds.
    pub(super) last: Option<Result<Res, BoxError>>,
    /// The request's token, watched while no attempt is in flight and a hedge waits.
    pub(super) cancelled: Option<Pin<Box<WaitForCancellationFuture>>>,
}

impl<F, Res> Default for Cold<F, Res> {
    fn default() -> Self {
        Cold {
            hedges: Vec::new(),
            last: None,
            cancelled: None,
        }
    }
}

impl<F: Future, Res> Cold<F, Res> {
    /// Cancels every hedge but `winner` with [`CancelReason::HedgeLost`] and drops them;
    /// returns how many there were.
    pub(super) fn cancel_losers(&mut self, winner: u32) -> u32 {
        let mut n = 0;
        for h in self.hedges.drain(..) {
            if h.attempt != winner {
                if let Some(t) = &h.token {
                    t.cancel_with(CancelReason::HedgeLost);
                }
                n += 1;
            }
        }
        n
    }
}
