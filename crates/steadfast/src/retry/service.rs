//! The retry middleware service.

use std::task::{Context, Poll};

use tower_service::Service;

use super::clone_request::CloneRequest;
use super::future::ResponseFuture;
use super::policy::{PolicyRef, RetryPolicy};
use super::recover::Recover;
use crate::classify::Classify;
use crate::token::HasCancelToken;
use crate::BoxError;

/// Retries requests to the inner service according to a [`RetryPolicy`].
///
/// Built by [`RetryLayer`](super::RetryLayer). `P` is how the policy is held: a
/// [`RetryPolicy`] by value, or a `&'static RetryPolicy` (see [`PolicyRef`]).
///
/// # Readiness
///
/// `poll_ready` forwards to the inner service. `call` sends the first attempt on the service
/// that reported ready and leaves a fresh clone in its place, as tower's own middleware does;
/// the response future keeps the readied service and drives its `poll_ready` again before
/// every retry, after the backoff sleep, so no readiness slot (a concurrency permit, a rate
/// limit token) is held while it sleeps.
#[derive(Debug, Clone)]
pub struct Retry<S, P = RetryPolicy> {
    inner: S,
    policy: P,
}

impl<S, P> Retry<S, P> {
    /// Wraps `inner` with `policy`.
    pub fn new(inner: S, policy: P) -> Self {
        Retry { inner, policy }
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy<P::Classifier, P::Cloner, P::Recover>
    where
        P: PolicyRef,
    {
        self.policy.policy()
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
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

impl<S, Req, P> Service<Req> for Retry<S, P>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    Req: HasCancelToken,
    P: PolicyRef,
    P::Classifier: Classify<Req, S::Response, S::Error>,
    P::Cloner: CloneRequest<Req>,
    P::Recover: Recover<S::Response>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, Req, P>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let fresh = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, fresh);
        ResponseFuture::new(ready, req, self.policy.clone_here())
    }
}
