//! The cancel middleware service.

use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use super::future::ResponseFuture;
use super::plan::{prepare, Config, Prepared};
use crate::token::HasCancelToken;
use crate::BoxError;

/// Races the inner service against the request's [`CancelToken`](crate::token::CancelToken); see
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
        match prepare(&self.config, &mut req) {
            Prepared::Refused(reason) => ResponseFuture::cancelled(reason),
            Prepared::Ready(parts) => ResponseFuture::new(self.inner.call(req), parts),
            Prepared::Deferred(later) => ResponseFuture::deferred(self.inner.call(req), later),
        }
    }
}
