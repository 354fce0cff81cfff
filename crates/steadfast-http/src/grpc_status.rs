//! The gRPC status sent in the trailers, seen by the circuit breaker when a streamed answer
//! ends.
//!
//! A gRPC server that streams messages sends the call's `grpc-status` in the trailers, after
//! the last message. The answer's headers say HTTP 200 and nothing more, so a classifier that
//! judges the call when the headers arrive sees a success. [`GrpcStatusLayer`], put below the
//! circuit breaker (right above the channel), wraps each response body so that the status is
//! read when the body ends; [`GrpcClassifier`](crate::GrpcClassifier) then hands the breaker a
//! [`LateOutcome`](steadfast::classify::LateOutcome), and the breaker records the call when
//! the trailers arrive (with the duration up to then), by the classifier's rules for that
//! status:
//!
//! * trailers with `grpc-status`: the classifier's rule for that code;
//! * a body that ends without one: `UNKNOWN`, as the gRPC HTTP/2 protocol treats a call
//!   without a status;
//! * a body whose stream fails: a failure;
//! * a body dropped before its end (the caller stopped reading): not counted, and a half-open
//!   probe gives its slot back.
//!
//! A trailers-only answer (the status in the headers, as tonic servers answer an error) is
//! judged at once, as without the layer. The retry layer does not wait for the trailers: an
//! answer whose messages are already streaming to the caller cannot be sent again. To retry
//! on a status in the trailers, buffer the answer ([`BufferLayer`](crate::validate::BufferLayer))
//! and check it with the [`grpc_status`](crate::validate::grpc_status) validator.
//!
//! ```
//! use bytes::Bytes;
//! use http::{HeaderMap, Request, Response};
//! use http_body_util::{BodyExt, Full};
//! use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
//! use steadfast_http::grpc_status::GrpcStatusLayer;
//! use steadfast_http::GrpcClassifier;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let breaker = CircuitBreaker::builder().consecutive_failures(1).build().unwrap();
//! let channel = service_fn(|_: Request<()>| async {
//!     // A streamed answer: a message, then `UNAVAILABLE` in the trailers.
//!     let mut trailers = HeaderMap::new();
//!     trailers.insert("grpc-status", "14".parse().unwrap());
//!     let body = Full::new(Bytes::from_static(b"message"))
//!         .with_trailers(async move { Some(Ok(trailers)) });
//!     Ok::<_, std::io::Error>(Response::new(body))
//! });
//! let client = ServiceBuilder::new()
//!     .layer(CircuitBreakerLayer::new(breaker.clone()).classify(GrpcClassifier::default()))
//!     .layer(GrpcStatusLayer::new())
//!     .service(channel);
//!
//! let answer = client.oneshot(Request::new(())).await.unwrap();
//! assert_eq!(breaker.metrics().failures, 0); // the headers said nothing yet
//! let _ = answer.into_body().collect().await; // the caller reads the stream to its end
//! assert_eq!(breaker.metrics().failures, 1); // the trailers said UNAVAILABLE
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};

use http::{HeaderMap, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::grpc_code::GrpcCode;

/// How a watched body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyEnd {
    /// It ended; the status in its trailers (`None` when there was none).
    Ended(Option<GrpcCode>),
    /// Its stream failed.
    Failed,
}

type Callback = Box<dyn FnOnce(BodyEnd) + Send>;

/// Put in a watched response's extensions: where its classifier learns how the body ended.
#[derive(Clone)]
pub(crate) struct StatusWatch {
    callback: Arc<Mutex<Option<Callback>>>,
}

impl StatusWatch {
    fn new() -> Self {
        StatusWatch {
            callback: Arc::new(Mutex::new(None)),
        }
    }

    /// Runs `f` when the body ends (a later call replaces an earlier `f` that has not run).
    pub(crate) fn on_end(&self, f: impl FnOnce(BodyEnd) + Send + 'static) {
        let mut slot = self.callback.lock().unwrap_or_else(PoisonError::into_inner);
        *slot = Some(Box::new(f));
    }

    fn end(&self, how: BodyEnd) {
        let f = self
            .callback
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(f) = f {
            f(how);
        }
    }
}

impl fmt::Debug for StatusWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatusWatch").finish_non_exhaustive()
    }
}

/// Reads the `grpc-status` in each answer's trailers when its body ends; see the
/// [module docs](self) for it under a circuit breaker. Put it below the circuit breaker,
/// right above the channel.
///
/// Only a streamed answer (HTTP 200 without a `grpc-status` header) is watched; a
/// trailers-only answer already says how the call ended:
///
/// ```
/// use http::{Request, Response};
/// use steadfast_http::grpc_status::GrpcStatusLayer;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let channel = service_fn(|req: Request<&'static str>| async move {
///     let res = match *req.body() {
///         "stream" => Response::new(()),
///         _ => Response::builder().header("grpc-status", "5").body(()).unwrap(),
///     };
///     Ok::<_, std::io::Error>(res)
/// });
/// let svc = GrpcStatusLayer::new().layer(channel);
/// let streamed = svc.clone().oneshot(Request::new("stream")).await.unwrap();
/// assert!(streamed.body().is_watching());
/// let trailers_only = svc.oneshot(Request::new("fail")).await.unwrap();
/// assert!(!trailers_only.body().is_watching());
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcStatusLayer {
    _priv: (),
}

impl GrpcStatusLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for GrpcStatusLayer {
    type Service = GrpcStatus<S>;
    fn layer(&self, inner: S) -> GrpcStatus<S> {
        GrpcStatus { inner }
    }
}

/// The service made by [`GrpcStatusLayer`].
#[derive(Debug, Clone)]
pub struct GrpcStatus<S> {
    pub(crate) inner: S,
}

impl<S, Req, B> Service<Req> for GrpcStatus<S>
where
    S: Service<Req, Response = Response<B>>,
{
    type Response = Response<GrpcStatusBody<B>>;
    type Error = S::Error;
    type Future = GrpcStatusFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        GrpcStatusFuture {
            inner: self.inner.call(req),
        }
    }
}

/// The response future of [`GrpcStatus`], the service [`GrpcStatusLayer`] makes.
#[pin_project]
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct GrpcStatusFuture<F> {
    #[pin]
    inner: F,
}

impl<F, B, E> Future for GrpcStatusFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<GrpcStatusBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let res = ready!(self.project().inner.poll(cx))?;
        // Only a streamed answer (HTTP 200, no status yet) has its status still to come.
        let streamed =
            res.status() == http::StatusCode::OK && GrpcCode::from_headers(res.headers()).is_none();
        let (mut parts, body) = res.into_parts();
        let watch = streamed.then(|| {
            let watch = StatusWatch::new();
            parts.extensions.insert(watch.clone());
            watch
        });
        Poll::Ready(Ok(Response::from_parts(
            parts,
            GrpcStatusBody { inner: body, watch },
        )))
    }
}

/// A response body whose end tells the classifier the status in its trailers; made by
/// [`GrpcStatusLayer`]. Its frames are the wrapped body's, unchanged.
#[pin_project]
pub struct GrpcStatusBody<B> {
    #[pin]
    inner: B,
    watch: Option<StatusWatch>,
}

impl<B> GrpcStatusBody<B> {
    /// `true` while the body's end is still to be reported (the answer streamed, and its end
    /// has not come).
    pub fn is_watching(&self) -> bool {
        self.watch.is_some()
    }

    /// The wrapped body; its end is then no longer reported.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B> fmt::Debug for GrpcStatusBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcStatusBody")
            .field("watching", &self.watch.is_some())
            .finish_non_exhaustive()
    }
}

fn status_of(trailers: &HeaderMap) -> Option<GrpcCode> {
    GrpcCode::from_headers(trailers)
}

impl<B: Body> Body for GrpcStatusBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = ready!(this.inner.poll_frame(cx));
        if let Some(watch) = this.watch.as_ref() {
            let end = match &polled {
                Some(Ok(frame)) => frame.trailers_ref().map(|t| BodyEnd::Ended(status_of(t))),
                Some(Err(_)) => Some(BodyEnd::Failed),
                None => Some(BodyEnd::Ended(None)),
            };
            if let Some(end) = end {
                watch.end(end);
                *this.watch = None;
            }
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
