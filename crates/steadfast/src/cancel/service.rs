//! The cancel middleware service.

use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::Instant;
use tower_service::Service;

use super::future::ResponseFuture;
use super::layer::Config;
use crate::token::{CancelReason, CancelToken, HasCancelToken};
use crate::BoxError;

/// Races the inner service against the request's [`CancelToken`]; see
/// [`CancelLayer`](super::CancelLayer).
#[derive(Debug, Clone)]
pub struct Cancel<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> Cancel<S> {
    pub(crate) fn new(inner: S, config: Arc<Config>) -> Self {
        Cancel { inner, config }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Req> Service<Req> for Cancel<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    Req: HasCancelToken,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: Req) -> Self::Future {
        let cfg = &*self.config;
        if !cfg.has_sources() {
            if let Some(token) = req.cancel_token() {
                // The caller's token, as it is: no allocation, and the caller's to cancel.
                let token = token.clone();
                if let Some(reason) = token.reason() {
                    return ResponseFuture::cancelled(reason);
                }
                return ResponseFuture::new(self.inner.call(req), token, None, None, None, false);
            }
        }

        // The earliest of the deadline and the timeout, and the reason it would give.
        let timeout = cfg
            .timeout
            .map(|d| (Instant::now() + d, CancelReason::Timeout(d)));
        let limit = match (cfg.deadline, timeout) {
            (Some(d), Some((t, r))) if t < d => Some((t, r)),
            (Some(d), _) => Some((d, CancelReason::Deadline)),
            (None, t) => t,
        };
        let deadline = limit.as_ref().map(|(at, _)| *at);

        let caller = req.cancel_token().cloned();
        // The token descends from the caller's if there is one, else from the parent; a parent
        // that is not an ancestor is watched by the future instead.
        let (base, watch_parent) = match (&caller, &cfg.parent) {
            (Some(c), Some(p)) => (Some(c), Some(p.clone())),
            (Some(c), None) => (Some(c), None),
            (None, Some(p)) => (Some(p), None),
            (None, None) => (None, None),
        };
        let token = match (base, deadline) {
            (Some(b), Some(d)) => b.child_with_deadline(d),
            (Some(b), None) => b.child(),
            (None, Some(d)) => CancelToken::with_deadline(d),
            (None, None) => CancelToken::new(),
        };
        if let Some(reason) = token
            .reason()
            .or_else(|| watch_parent.as_ref().and_then(CancelToken::reason))
        {
            return ResponseFuture::cancelled(reason);
        }
        req.set_cancel_token(token.clone());
        let fut = self.inner.call(req);
        ResponseFuture::new(fut, token, limit, watch_parent, caller, true)
    }
}
