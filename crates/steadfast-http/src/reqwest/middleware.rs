//! [`SteadfastMiddleware`]: the client preset inside a `reqwest_middleware` chain.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Extensions;
use http_body::Body;
use pin_project::pin_project;
use reqwest_middleware::{Error, Next};
use steadfast::BoxError;
use tower::ServiceExt;
use tower_service::Service;

use super::convert::{from_http_response, to_http_response, to_reqwest_request};
use crate::preset::StandardClientLayer;

/// The client preset's layers, its concurrency limit apart, as a
/// `reqwest_middleware::Middleware`: the total timeout, body replay, retries, the breaker,
/// the attempt timeout, the attempt header and the deadline header run around the rest of
/// the chain, which each attempt calls again.
///
/// ```
/// use steadfast_http::preset::standard_http_client;
/// use steadfast_http::reqwest::SteadfastMiddleware;
///
/// let layer = standard_http_client().name("inventory").build().unwrap();
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(SteadfastMiddleware::new(layer))
///     .build();
/// # let _ = client;
/// ```
///
/// Each attempt gets a copy of the request's extensions as they were when the middleware was
/// called, and the extensions the last attempt left are the request's afterwards. An error of
/// the chain below comes back as it was (`reqwest_middleware::Error`); steadfast's own
/// ([`RetryError`](steadfast::retry::RetryError),
/// [`Rejected`](steadfast::circuit_breaker::Rejected),
/// [`Cancelled`](steadfast::cancel::Cancelled)) come back as `Error::Middleware`, whose
/// `anyhow::Error` downcasts to them.
///
/// The concurrency limit is left out: a middleware is called once per request and holds no
/// readiness to refuse with; put a limit around the `ClientWithMiddleware` if you need one.
#[derive(Debug, Clone)]
pub struct SteadfastMiddleware {
    layer: StandardClientLayer,
}

impl SteadfastMiddleware {
    /// Runs `layer`'s layers (its concurrency limit apart) around the rest of the chain.
    pub fn new(layer: StandardClientLayer) -> Self {
        SteadfastMiddleware { layer }
    }

    /// The layers, to read the breaker's state and the retry policy.
    pub fn layer(&self) -> &StandardClientLayer {
        &self.layer
    }
}

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for SteadfastMiddleware {
    async fn handle(
        &self,
        req: ::reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<::reqwest::Response> {
        let url = req.url().clone();
        let req = http::Request::try_from(req).map_err(Error::Reqwest)?;
        let last = Arc::new(Mutex::new(None));
        let transport = NextTransport {
            next,
            extensions: extensions.clone(),
            last: last.clone(),
        };
        let result = self.layer.stack(transport).oneshot(req).await;
        if let Some(ext) = last.lock().unwrap_or_else(PoisonError::into_inner).take() {
            *extensions = ext;
        }
        match result {
            Ok(res) => Ok(from_http_response(res, url)),
            Err(e) => Err(into_middleware_error(e)),
        }
    }
}

/// The stack's error as the chain's: the chain's own as it was, steadfast's as an
/// `anyhow::Error` that downcasts to its type.
fn into_middleware_error(e: BoxError) -> Error {
    use steadfast::cancel::Cancelled;
    use steadfast::circuit_breaker::Rejected;
    use steadfast::retry::RetryError;

    let e = match e.downcast::<Error>() {
        Ok(e) => return *e,
        Err(e) => e,
    };
    let e = match e.downcast::<RetryError>() {
        Ok(e) => return Error::Middleware(anyhow::Error::new(*e)),
        Err(e) => e,
    };
    let e = match e.downcast::<Rejected>() {
        Ok(e) => return Error::Middleware(anyhow::Error::new(*e)),
        Err(e) => e,
    };
    match e.downcast::<Cancelled>() {
        Ok(e) => Error::Middleware(anyhow::Error::new(*e)),
        Err(e) => Error::Middleware(anyhow::Error::from_boxed(e)),
    }
}

/// The rest of a `reqwest_middleware` chain as the innermost service of the stack: each call
/// (each attempt) runs the chain again with a copy of the request's extensions.
#[derive(Clone)]
pub struct NextTransport<'a> {
    next: Next<'a>,
    extensions: Extensions,
    last: Arc<Mutex<Option<Extensions>>>,
}

impl std::fmt::Debug for NextTransport<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NextTransport").finish_non_exhaustive()
    }
}

impl<'a, B> Service<http::Request<B>> for NextTransport<'a>
where
    B: Body + Send + Sync + 'static,
    B::Data: Into<Bytes>,
    B::Error: Into<BoxError>,
{
    type Response = http::Response<::reqwest::Body>;
    type Error = Error;
    type Future = MiddlewareFuture<'a>;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let next = self.next.clone();
        let mut extensions = self.extensions.clone();
        let last = self.last.clone();
        let req = to_reqwest_request(req);
        MiddlewareFuture {
            // The chain below is boxed futures already; running it takes one more box.
            fut: Box::pin(async move {
                let req = req.map_err(Error::Reqwest)?;
                let result = next.run(req, &mut extensions).await;
                *last.lock().unwrap_or_else(PoisonError::into_inner) = Some(extensions);
                result
            }),
        }
    }
}

/// Response future of [`NextTransport`]: the chain's answer as an `http::Response`.
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct MiddlewareFuture<'a> {
    #[pin]
    fut: Pin<Box<dyn Future<Output = reqwest_middleware::Result<::reqwest::Response>> + Send + 'a>>,
}

impl std::fmt::Debug for MiddlewareFuture<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MiddlewareFuture").finish_non_exhaustive()
    }
}

impl Future for MiddlewareFuture<'_> {
    type Output = Result<http::Response<::reqwest::Body>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().fut.poll(cx).map_ok(to_http_response)
    }
}
