//! The cancel layer for HTTP servers: cancellations answered with a status, and the token kept
//! alive while the response body streams.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use pin_project::{pin_project, pinned_drop};
use tower_layer::Layer;
use tower_service::Service;

use super::future::ResponseFuture;
use super::layer::CancelLayer;
use super::plan::{prepare, Config, Prepared};
use crate::token::{CancelReason, CancelToken};

/// The status a cancelled request is answered with.
///
/// | reason | status |
/// | --- | --- |
/// | timeout, deadline | 504 Gateway Timeout |
/// | shutdown, signal, condition, manual | 503 Service Unavailable |
/// | client disconnected | 499 (nobody reads it; the convention for "client closed request") |
pub fn status_for(reason: &CancelReason) -> StatusCode {
    match reason {
        CancelReason::Timeout(_) | CancelReason::Deadline => StatusCode::GATEWAY_TIMEOUT,
        CancelReason::ClientDisconnected => {
            StatusCode::from_u16(499).expect("499 is a valid status code")
        }
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The gRPC status a cancelled call is answered with, by [`CancelLayer::for_grpc`].
///
/// | reason | gRPC status |
/// | --- | --- |
/// | timeout, deadline | `DEADLINE_EXCEEDED` (4) |
/// | shutdown, signal | `UNAVAILABLE` (14): another server may take the call |
/// | client disconnected, condition, manual | `CANCELLED` (1) |
pub fn grpc_status_for(reason: &CancelReason) -> u8 {
    match reason {
        CancelReason::Timeout(_) | CancelReason::Deadline => 4,
        CancelReason::Shutdown | CancelReason::Signal(_) => 14,
        _ => 1,
    }
}

impl CancelLayer {
    /// The same layer for a gRPC server (tonic's `Server::layer`, say): a cancelled call is
    /// answered with a trailers-only gRPC response whose status says why (see
    /// [`grpc_status_for`]), as gRPC clients expect; otherwise as [`for_http`](Self::for_http).
    pub fn for_grpc(self) -> HttpCancelLayer {
        HttpCancelLayer {
            config: self.config,
            grpc: true,
        }
    }

    /// The same layer for an HTTP server: a cancelled request is answered with a status (see
    /// [`status_for`]) instead of failing, so the service keeps its error type and drops into
    /// `axum::Router::layer` as is; and the request's token stays alive while the response
    /// body streams, firing with `ClientDisconnected` if the body is dropped before its end.
    ///
    /// The body watches the token only while something else still holds it (a task the
    /// handler spawned, a child token, a registry of operations): when the answer leaves the
    /// layer and nothing but the layer holds the token, nobody could see it fire, so the
    /// token is dropped there and the body passes through unwatched
    /// ([`CancelBody::is_watching`]).
    pub fn for_http(self) -> HttpCancelLayer {
        HttpCancelLayer {
            config: self.config,
            grpc: false,
        }
    }
}

/// [`CancelLayer`] for HTTP servers; made by [`CancelLayer::for_http`].
///
/// The response body type must implement `Default` (axum's, hyper's `Empty` and `Full` do):
/// a status answer carries an empty body. The cancellation reason is put in the status
/// response's extensions.
#[derive(Debug, Clone)]
pub struct HttpCancelLayer {
    config: Arc<Config>,
    grpc: bool,
}

impl<S> Layer<S> for HttpCancelLayer {
    type Service = HttpCancel<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpCancel {
            inner,
            config: self.config.clone(),
            grpc: self.grpc,
        }
    }
}

/// The service made by [`HttpCancelLayer`].
#[derive(Debug, Clone)]
pub struct HttpCancel<S> {
    inner: S,
    config: Arc<Config>,
    grpc: bool,
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
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        let inner = match prepare(&self.config, &mut req) {
            Prepared::Refused(reason) => ResponseFuture::cancelled(reason),
            Prepared::Ready(parts) => ResponseFuture::new(self.inner.call(req), parts),
            // Not for `http::Request`, which carries its token; nothing could see the token
            // while the body streams either.
            Prepared::Deferred(later) => ResponseFuture::deferred(self.inner.call(req), later),
        };
        HttpResponseFuture {
            inner,
            grpc: self.grpc,
            _body: PhantomData,
        }
    }
}

/// Response future of [`HttpCancel`].
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct HttpResponseFuture<F, B> {
    #[pin]
    inner: ResponseFuture<F>,
    grpc: bool,
    _body: PhantomData<fn() -> B>,
}

impl<F, B> fmt::Debug for HttpResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponseFuture")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<F, B, E> Future for HttpResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body + Default,
{
    type Output = Result<Response<CancelBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        match ready!(this.inner.as_mut().poll_race(cx)) {
            Ok(Ok(resp)) => {
                // The answer is in: the body takes the layer's own token, and keeps it only if
                // someone else still holds it (see `for_http`).
                let token = this
                    .inner
                    .take_owned_token()
                    .and_then(|mut t| (!t.is_sole()).then_some(t));
                Poll::Ready(Ok(resp.map(|b| CancelBody::new(b, token))))
            }
            Ok(Err(e)) => Poll::Ready(Err(e)),
            Err(reason) => {
                let mut resp = Response::new(CancelBody::new(B::default(), None));
                if *this.grpc {
                    let headers = resp.headers_mut();
                    headers.insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/grpc"),
                    );
                    headers.insert("grpc-status", u16::from(grpc_status_for(&reason)).into());
                    // grpc-message is percent-encoded; the reasons' texts are plain ASCII
                    // except for user messages, which are left out if they would need it.
                    let text = reason.to_string();
                    if let Ok(v) = http::HeaderValue::from_str(&text) {
                        if text.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'%') {
                            headers.insert("grpc-message", v);
                        }
                    }
                } else {
                    *resp.status_mut() = status_for(&reason);
                }
                resp.extensions_mut().insert(reason);
                Poll::Ready(Ok(resp))
            }
        }
    }
}

/// A response body that keeps the request's token: dropped before its end (the client went
/// away mid-stream), it cancels the token with `ClientDisconnected`.
#[pin_project(PinnedDrop)]
pub struct CancelBody<B: Body> {
    #[pin]
    inner: B,
    token: Option<CancelToken>,
}

impl<B: Body> CancelBody<B> {
    /// Wraps `inner`; `token` (if any) is cancelled if the body is dropped before its end.
    pub fn new(inner: B, token: Option<CancelToken>) -> Self {
        CancelBody { inner, token }
    }

    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// `true` while the body holds a token to cancel if it is dropped before its end: the
    /// cancel layer gives it one only when something besides the layer still held the request's
    /// token as the answer left it (see [`CancelLayer::for_http`]); it lets go at the end.
    pub fn is_watching(&self) -> bool {
        self.token.is_some()
    }
}

impl<B: Body + Default> CancelBody<B> {
    /// The wrapped body, without the wrapper: a body that was watching a token no longer
    /// does (its token is dropped uncancelled). For handing a framework back its own body
    /// type when [`is_watching`](Self::is_watching) is `false`.
    pub fn into_inner(mut self) -> B {
        // The emptied wrapper is dropped with its token taken, so it cancels nothing.
        self.token = None;
        std::mem::take(&mut self.inner)
    }
}

impl<B: Body> fmt::Debug for CancelBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelBody")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl<B: Body> Body for CancelBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if frame.is_none() {
            // The whole body was sent: nothing left to cancel.
            *this.token = None;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[pinned_drop]
impl<B: Body> PinnedDrop for CancelBody<B> {
    fn drop(self: Pin<&mut Self>) {
        let this = self.project();
        if let Some(token) = this.token.take() {
            // Finished bodies are often dropped without the final poll; only a body that still
            // had something to send means the client left early.
            if !this.inner.is_end_stream() {
                token.cancel_with(CancelReason::ClientDisconnected);
            }
        }
    }
}
