//! [`Traced`]: the service [`TraceLayer`](super::TraceLayer) builds.

use std::task::{Context, Poll};

use tower_service::Service;

use super::carry::CarryTrace;
use super::future::ResponseFuture;
use super::{armed, DecisionTrace};
use crate::token::HasCancelToken;

/// Starts a [`DecisionTrace`] for a sample of requests and puts each request's trace on its
/// response. Built by [`TraceLayer`](super::TraceLayer).
///
/// Each service counts its own requests: one made by the layer traces its 1st request, then
/// every `every`th. A clone counts apart from the service it was cloned from (no counter is
/// shared, so the services of a connection or a worker never contend for one), and starts at
/// a random point of its cycle: it too traces exactly 1 of every `every` requests it takes,
/// and services cloned for each request (as axum and `ServiceExt::oneshot` on a clone do)
/// trace 1 request in `every` on average rather than all or none.
#[derive(Debug)]
pub struct Traced<S> {
    inner: S,
    every: u64,
    capacity: usize,
    /// The requests until the next one traced: 1, the next one; 0, none (`every` is 0).
    countdown: u64,
}

impl<S: Clone> Clone for Traced<S> {
    fn clone(&self) -> Self {
        Traced {
            inner: self.inner.clone(),
            every: self.every,
            capacity: self.capacity,
            countdown: random_phase(self.every),
        }
    }
}

/// A uniformly random countdown in `1..=every` (0 for `every` 0): where a clone starts in its
/// cycle. A multiply and a shift, no division; the draw is the thread's own generator's.
fn random_phase(every: u64) -> u64 {
    if every <= 1 {
        return every;
    }
    let draw: u64 = rand::random();
    // The high half of `draw * every` is uniform in `0..every` (to within 2^-64 per value).
    ((u128::from(draw) * u128::from(every)) >> 64) as u64 + 1
}

impl<S> Traced<S> {
    pub(super) fn new(inner: S, every: u64, capacity: usize) -> Self {
        Traced {
            inner,
            every,
            capacity,
            // The first request is traced.
            countdown: every.min(1),
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }

    pub(super) fn every(&self) -> u64 {
        self.every
    }

    pub(super) fn capacity_of(&self) -> usize {
        self.capacity
    }

    /// Whether this request is the one in `every` to trace: a countdown of this service's
    /// own, one compare and one store per request, no shared counter and no division.
    #[inline]
    fn sampled(&mut self) -> bool {
        match self.countdown {
            0 => false,
            1 => {
                self.countdown = self.every;
                true
            }
            n => {
                self.countdown = n - 1;
                false
            }
        }
    }
}

impl<S, Req> Service<Req> for Traced<S>
where
    S: Service<Req>,
    S::Response: CarryTrace,
    Req: HasCancelToken,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Req) -> Self::Future {
        let carried = if armed() {
            req.decision_trace().cloned()
        } else {
            None
        };
        let trace = match carried {
            Some(trace) => Some(trace),
            None if self.sampled() => {
                let trace = DecisionTrace::with_capacity(self.capacity);
                // A request type with nowhere to keep a trace cannot be traced.
                req.set_decision_trace(trace.clone()).ok().map(|()| trace)
            }
            None => None,
        };
        ResponseFuture::new(self.inner.call(req), trace)
    }
}
