//! [`Traced`]: the service [`TraceLayer`](super::TraceLayer) builds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use super::carry::CarryTrace;
use super::future::ResponseFuture;
use super::{armed, DecisionTrace};
use crate::token::HasCancelToken;

/// Starts a [`DecisionTrace`] for a sample of requests and puts each request's trace on its
/// response. Built by [`TraceLayer`](super::TraceLayer).
#[derive(Debug, Clone)]
pub struct Traced<S> {
    inner: S,
    every: u64,
    capacity: usize,
    counter: Arc<AtomicU64>,
}

impl<S> Traced<S> {
    pub(super) fn new(inner: S, every: u64, capacity: usize, counter: Arc<AtomicU64>) -> Self {
        Traced {
            inner,
            every,
            capacity,
            counter,
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

    /// Whether this request is the one in `every` to trace.
    fn sampled(&self) -> bool {
        self.every != 0 && self.counter.fetch_add(1, Ordering::Relaxed) % self.every == 0
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
