//! The retry middleware service.

use std::task::{Context, Poll};

use tower_service::Service;

use super::future::ResponseFuture;
use super::policy::{CloneAll, CloneRequest, RetryPolicy};
use crate::classify::{AnyError, Classify};
use crate::token::HasCancelToken;
use crate::BoxError;

/// Retries requests to the inner service according to a [`RetryPolicy`].
///
/// Built by [`RetryLayer`](super::RetryLayer). Cloning is cheap when the inner service's
/// clone is: the policy is shared.
///
/// # Readiness
///
/// `poll_ready` forwards to the inner service. `call` sends the first attempt on the service
/// that reported ready and leaves a fresh clone in its place, as tower's own middleware does;
/// the response future keeps the readied service and drives its `poll_ready` again before
/// every retry, after the backoff sleep, so no readiness slot (a concurrency permit, a rate
/// limit token) is held while it sleeps.
#[derive(Debug, Clone)]
pub struct Retry<S, C = AnyError, K = CloneAll> {
    inner: S,
    policy: RetryPolicy<C, K>,
}

impl<S, C, K> Retry<S, C, K> {
    /// Wraps `inner` with `policy`.
    pub fn new(inner: S, policy: RetryPolicy<C, K>) -> Self {
        Retry { inner, policy }
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy<C, K> {
        &self.policy
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

impl<S, Req, C, K> Service<Req> for Retry<S, C, K>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    Req: HasCancelToken,
    C: Classify<Req, S::Response, S::Error> + Clone,
    K: CloneRequest<Req> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, Req, C, K>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let fresh = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, fresh);
        ResponseFuture::new(ready, req, &self.policy.shared)
    }
}
