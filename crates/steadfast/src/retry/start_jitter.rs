//! The random wait before each request's first attempt, for services: [`StartJitter`], made
//! by [`RetryLayer::with_start_jitter`](super::RetryLayer::with_start_jitter).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::time::{sleep, Sleep};
use tower_layer::Layer;
use tower_service::Service;

use super::policy::PolicyRef;
use super::service::Retry;

/// Makes [`StartJitter`] services around [`Retry`] services; see
/// [`RetryLayer::with_start_jitter`](super::RetryLayer::with_start_jitter).
#[derive(Debug, Clone)]
pub struct StartJitterLayer<P> {
    policy: P,
}

impl<P> StartJitterLayer<P> {
    pub(crate) fn new(policy: P) -> Self {
        StartJitterLayer { policy }
    }

    /// The policy, for the layer's description.
    pub(crate) fn policy_ref(&self) -> &P {
        &self.policy
    }
}

impl<S, P: Clone> Layer<S> for StartJitterLayer<P> {
    type Service = StartJitter<Retry<S, P>, P>;

    fn layer(&self, inner: S) -> Self::Service {
        StartJitter {
            inner: Retry::new(inner, self.policy.clone()),
            policy: self.policy.clone(),
            over: false,
            sleep: None,
        }
    }
}

/// Waits a random time (the policy's
/// [`start_jitter`](super::RetryPolicyBuilder::start_jitter)) before each request, in
/// `poll_ready`, and only then asks the inner service for readiness: no readiness (a
/// concurrency permit, a rate-limit token) is held while it waits. Each `call` starts a new
/// wait for the next request; a clone starts with none under way. Made by
/// [`RetryLayer::with_start_jitter`](super::RetryLayer::with_start_jitter), which documents
/// an example.
pub struct StartJitter<S, P> {
    inner: S,
    policy: P,
    /// The wait for the next request is over.
    over: bool,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<S: Clone, P: Clone> Clone for StartJitter<S, P> {
    fn clone(&self) -> Self {
        StartJitter {
            inner: self.inner.clone(),
            policy: self.policy.clone(),
            over: false,
            sleep: None,
        }
    }
}

impl<S: fmt::Debug, P> fmt::Debug for StartJitter<S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StartJitter")
            .field("inner", &self.inner)
            .field("over", &self.over)
            .field("waiting", &self.sleep.is_some())
            .finish_non_exhaustive()
    }
}

impl<S, P> StartJitter<S, P> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The policy, for the service's description.
    pub(crate) fn policy_ref(&self) -> &P {
        &self.policy
    }
}

impl<S, Req, P> Service<Req> for StartJitter<S, P>
where
    S: Service<Req>,
    P: PolicyRef,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if !self.over {
            if self.sleep.is_none() {
                let delay = self.policy.policy().settings.start_delay();
                let delay = delay.unwrap_or_default();
                if !delay.is_zero() {
                    self.sleep = Some(Box::pin(sleep(delay)));
                }
            }
            if let Some(s) = self.sleep.as_mut() {
                ready!(s.as_mut().poll(cx));
                self.sleep = None;
            }
            self.over = true;
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        self.over = false;
        self.inner.call(req)
    }
}
