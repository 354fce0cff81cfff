//! The chaos middleware service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use super::config::Config;
use super::future::ResponseFuture;
use crate::token::HasCancelToken;
use crate::BoxError;

/// Injects faults, outcomes, latency and behaviour into a share of the requests of the
/// service it wraps; built by [`ChaosLayer`](super::ChaosLayer).
///
/// While the layer's switch is off, a request goes straight to the inner service: the layer
/// reads its switch, and its response future only polls the inner one. No random number is
/// drawn, no predicate runs and nothing is allocated. While it is on, the request meets the
/// injections in a fixed order, each deciding on its own whether it fires:
///
/// 1. **behaviour**: your closure runs on the request;
/// 2. **latency**: the answer will come back after a delay;
/// 3. **fault**: the answer is an error, and the inner service is not called;
/// 4. **outcome** (only if the fault did not fire): the answer is your response, and the inner
///    service is not called.
///
/// Errors of the inner service pass through unchanged (boxed). A request that is delayed, or
/// answered by the layer, takes one allocation for its delay and its answer.
///
/// # Readiness and latency
///
/// `poll_ready` is the inner service's: whether a request will be injected into is only known
/// once it is given to `call`. A request that gets a fault or an outcome does not call the
/// inner service, so the readiness it granted is not used: it stays with the inner service
/// for this service's next `call`, and is given back when this service is dropped.
///
/// A delayed request calls the inner service in `call`, while it is ready, and the response
/// future sleeps before it polls the inner future for the first time. So the inner service's
/// readiness (a concurrency permit, a connection slot, a buffer's place) is used at once
/// and never held by a sleeping request: other requests through clones of this service are
/// not held up. The request counts as in flight during the delay, as it would behind a slow
/// network. Most services (hyper's client, axum's routers, `service_fn`) start their work
/// when their future is first polled, so the request reaches them after the delay; a service
/// that starts its work in `call` (tower's `Buffer`) starts at once, and its caller sees the
/// answer no sooner than the delay. A delayed fault or outcome comes back after the delay.
pub struct Chaos<S, Req, Res> {
    inner: S,
    config: Arc<Config<Req, Res>>,
}

impl<S, Req, Res> Chaos<S, Req, Res> {
    pub(crate) fn new(inner: S, config: Arc<Config<Req, Res>>) -> Self {
        Chaos { inner, config }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The layer's settings (for the service's description).
    pub(crate) fn config_ref(&self) -> &Config<Req, Res> {
        &self.config
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, Req, Res> Clone for Chaos<S, Req, Res> {
    fn clone(&self) -> Self {
        Chaos {
            inner: self.inner.clone(),
            config: self.config.clone(),
        }
    }
}

impl<S: fmt::Debug, Req, Res> fmt::Debug for Chaos<S, Req, Res> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chaos")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .finish()
    }
}

impl<S, Req, Res> Service<Req> for Chaos<S, Req, Res>
where
    S: Service<Req, Response = Res>,
    S::Error: Into<BoxError>,
    Req: HasCancelToken,
{
    type Response = Res;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, Res>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        if !self.config.switch.is_on() {
            return ResponseFuture::called(self.inner.call(req));
        }
        self.call_with_chaos(req)
    }
}

impl<S, Req, Res> Chaos<S, Req, Res>
where
    S: Service<Req, Response = Res>,
    Req: HasCancelToken,
{
    /// `call` while the switch is on: kept out of line, so the path taken while it is off
    /// stays a read of the switch and the inner call.
    #[cold]
    #[inline(never)]
    fn call_with_chaos(&mut self, mut req: Req) -> ResponseFuture<S::Future, Res> {
        let plan = self.config.plan(&mut req);
        match (plan.answer, plan.delay) {
            (Some(answer), delay) => ResponseFuture::injected(answer, delay),
            (None, None) => ResponseFuture::called(self.inner.call(req)),
            (None, Some(delay)) => ResponseFuture::delayed(self.inner.call(req), delay),
        }
    }
}
