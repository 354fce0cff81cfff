//! The HTTP cancel service.

use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use steadfast::cancel::Cancel;
use tower_service::Service;

use super::body::CancelBody;
use super::future::HttpResponseFuture;

/// The service made by [`HttpCancelLayer`](super::HttpCancelLayer): steadfast's
/// [`Cancel`] service, answering a cancelled request with a status instead of an error.
#[derive(Debug, Clone)]
pub struct HttpCancel<S> {
    pub(crate) inner: Cancel<S>,
    pub(crate) grpc: bool,
}

impl<S> HttpCancel<S> {
    pub(crate) fn new(inner: Cancel<S>, grpc: bool) -> Self {
        HttpCancel { inner, grpc }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        self.inner.get_ref()
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner.into_inner()
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for HttpCancel<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: Body + Default,
{
    type Response = Response<CancelBody<ResB>>;
    type Error = S::Error;
    type Future = HttpResponseFuture<S::Future, ResB>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.get_mut().poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        HttpResponseFuture::new(self.inner.race(req), self.grpc)
    }
}
