//! The hedge middleware service.

use std::fmt;
use std::task::{Context, Poll};

use tower_service::Service;

use super::future::ResponseFuture;
use super::settings::Settings;
use crate::classify::{AnyError, Classify};
use crate::per_thread_arc::PerThreadArc;
use crate::retry::{CloneAll, CloneRequest};
use crate::token::HasCancelToken;
use crate::BoxError;

/// Sends backup attempts of slow requests to the inner service; built by
/// [`HedgeLayer`](super::HedgeLayer).
///
/// # Readiness
///
/// `poll_ready` forwards to the inner service. `call` sends the first attempt on the service
/// that reported ready and leaves a fresh clone in its place, as tower's own middleware does;
/// the response future keeps the readied service and drives its `poll_ready` again for each
/// hedge, once the hedge is due (after its delay, never across it) and paid for, so no
/// readiness slot (a concurrency permit, a rate-limit token) is held while it waits.
pub struct Hedge<S, C = AnyError, K = CloneAll> {
    inner: S,
    settings: PerThreadArc<Settings>,
    classifier: C,
    cloner: K,
}

impl<S, C, K> Hedge<S, C, K> {
    pub(super) fn new(
        inner: S,
        settings: PerThreadArc<Settings>,
        classifier: C,
        cloner: K,
    ) -> Self {
        Hedge {
            inner,
            settings,
            classifier,
            cloner,
        }
    }

    pub(super) fn settings(&self) -> &Settings {
        &self.settings
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

impl<S: Clone, C: Clone, K: Clone> Clone for Hedge<S, C, K> {
    fn clone(&self) -> Self {
        Hedge {
            inner: self.inner.clone(),
            settings: self.settings.clone(),
            classifier: self.classifier.clone(),
            cloner: self.cloner.clone(),
        }
    }
}

impl<S: fmt::Debug, C, K> fmt::Debug for Hedge<S, C, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hedge")
            .field("inner", &self.inner)
            .field("settings", &self.settings)
            .finish()
    }
}

impl<S, Req, C, K> Service<Req> for Hedge<S, C, K>
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
        // Counted on this thread: no locked instruction per request.
        let settings = self.settings.clone_here();
        ResponseFuture::new(
            ready,
            req,
            settings,
            self.classifier.clone(),
            self.cloner.clone(),
        )
    }
}
