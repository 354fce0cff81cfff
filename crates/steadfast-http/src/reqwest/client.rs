//! [`ReqwestClient`]: a stack over reqwest, taking and giving reqwest's own types.

use std::task::{Context, Poll};

use steadfast::BoxError;
use tower_layer::Layer;
use tower_service::Service;

use super::future::ClientFuture;
use super::transport::ReqwestTransport;
use crate::preset::{StandardClientLayer, StandardClientService};

impl StandardClientLayer {
    /// The preset around `client`, taking and giving reqwest's own request and response
    /// (feature `reqwest`); see [`crate::reqwest`].
    pub fn reqwest(
        &self,
        client: ::reqwest::Client,
    ) -> ReqwestClient<StandardClientService<ReqwestTransport>> {
        ReqwestClient::new(self.layer(ReqwestTransport::new(client)))
    }
}

/// A stack of steadfast layers over a [`ReqwestTransport`](super::ReqwestTransport), called
/// with a `reqwest::Request` and answering with a `reqwest::Response`, as code written for
/// reqwest expects: build the request with `client.get(url)...build()?` and send it with
/// `tower::ServiceExt::oneshot`.
///
/// The request becomes an `http::Request` for the stack (its extensions kept, so a
/// [`CancelToken`](steadfast::token::CancelToken) set on it reaches every layer) and the
/// answer a `reqwest::Response` with the request's URL. Errors are the stack's `BoxError`s:
/// downcast them to `reqwest::Error`, [`RetryError`](steadfast::retry::RetryError),
/// [`Rejected`](steadfast::circuit_breaker::Rejected), [`Cancelled`](steadfast::cancel::Cancelled)
/// and the others.
#[derive(Debug, Clone)]
pub struct ReqwestClient<S> {
    inner: S,
}

impl<S> ReqwestClient<S> {
    /// Calls `inner` (a stack over a [`ReqwestTransport`](super::ReqwestTransport)) with
    /// reqwest's requests.
    pub fn new(inner: S) -> Self {
        ReqwestClient { inner }
    }

    /// The stack.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the stack.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S> Service<::reqwest::Request> for ReqwestClient<S>
where
    S: Service<http::Request<::reqwest::Body>, Response = http::Response<::reqwest::Body>>,
    S::Error: Into<BoxError>,
{
    type Response = ::reqwest::Response;
    type Error = BoxError;
    type Future = ClientFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: ::reqwest::Request) -> Self::Future {
        let url = req.url().clone();
        match http::Request::try_from(req) {
            Ok(req) => ClientFuture::Calling {
                fut: self.inner.call(req),
                url: Some(url),
            },
            // The readiness the stack granted stays with it for the next call.
            Err(e) => ClientFuture::Invalid { error: Some(e) },
        }
    }
}
