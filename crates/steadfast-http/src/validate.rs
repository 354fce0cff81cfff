//! Body-aware validation for HTTP: read a response's body (up to a cap) so validators can look
//! at it, and answer invalid requests with a status on servers.
//!
//! * [`BufferLayer`] reads each response body to the end, up to a cap, and hands on a
//!   [`Buffered`] body holding the same bytes (and trailers): validators can read it with
//!   [`Buffered::bytes`], and the caller still gets the whole body. A body larger than the cap
//!   is **not** truncated: the call fails with [`BodyTooLarge`], which keeps the status and
//!   headers and says how far it got. Retry classifiers treat it as a non-retryable failure
//!   (the server answered; a bigger answer next time would not fit either).
//! * [`json`] and [`json_fields`] (feature `json`) are validators for buffered JSON bodies.
//! * [`ValidateRequestsLayer`] (servers): checks requests with steadfast validators and
//!   answers those that fail with `422 Unprocessable Entity` (or the status you choose) and a
//!   body listing the reasons; the response's extensions hold the typed
//!   [`InvalidRequest`].
//!
//! Stack them so that the retry layer retries until the body is right:
//!
//! ```
//! use steadfast::retry::{Backoff, RetryLayer, RetryPolicy};
//! use steadfast::validate::ValidateLayer;
//! use steadfast_http::validate::{json_fields, BufferLayer, Buffered};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // A backend that sends half a JSON document the first time.
//! let calls = Arc::new(AtomicU32::new(0));
//! let backend = service_fn({
//!     let calls = calls.clone();
//!     move |_: http::Request<()>| {
//!         let body = if calls.fetch_add(1, Ordering::SeqCst) == 0 {
//!             r#"{"id": 7, "na"#
//!         } else {
//!             r#"{"id": 7, "name": "widget"}"#
//!         };
//!         async move { Ok::<_, std::io::Error>(http::Response::new(http_body_util::Full::new(bytes::Bytes::from(body)))) }
//!     }
//! });
//! let policy = RetryPolicy::builder().max_attempts(3).backoff(Backoff::none()).build().unwrap();
//! let client = ServiceBuilder::new()
//!     .layer(RetryLayer::new(policy))
//!     .layer(ValidateLayer::builder().response(json_fields(["id", "name"])).build().unwrap())
//!     .layer(BufferLayer::new(64 * 1024))
//!     .service(backend);
//! let res = client.oneshot(http::Request::new(())).await.unwrap();
//! assert_eq!(res.body().bytes(), &br#"{"id": 7, "name": "widget"}"#[..]);
//! assert_eq!(calls.load(Ordering::SeqCst), 2);
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use pin_project::pin_project;
use steadfast::validate::InvalidRequest;
use steadfast::BoxError;
use tower_layer::Layer;
use tower_service::Service;

/// A response body read to the end: its bytes and trailers, handed on as a body.
#[derive(Debug, Clone, Default)]
pub struct Buffered {
    bytes: Bytes,
    trailers: Option<HeaderMap>,
    sent: bool,
}

impl Buffered {
    /// A buffered body of `bytes`.
    pub fn new(bytes: Bytes, trailers: Option<HeaderMap>) -> Self {
        Buffered {
            bytes,
            trailers,
            sent: false,
        }
    }

    /// The whole body.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The trailers, if the body had any.
    pub fn trailers(&self) -> Option<&HeaderMap> {
        self.trailers.as_ref()
    }
}

impl Body for Buffered {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if !self.sent {
            self.sent = true;
            if !self.bytes.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(self.bytes.clone()))));
            }
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }

    fn is_end_stream(&self) -> bool {
        (self.sent || self.bytes.is_empty()) && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        let left = if self.sent {
            0
        } else {
            self.bytes.len() as u64
        };
        SizeHint::with_exact(left)
    }
}

/// A response body was larger than the buffer's cap. The response is not handed on truncated:
/// the call fails with this error, which keeps the status and headers.
#[derive(Debug)]
pub struct BodyTooLarge {
    cap: usize,
    received: u64,
    status: StatusCode,
    headers: HeaderMap,
}

impl BodyTooLarge {
    /// The cap that was exceeded, in bytes.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// How far the buffer got: the bytes of the body received when it gave up, counting the
    /// frame that crossed the cap (so more than [`cap`](Self::cap)). The rest of the body was
    /// not read. 0 when the body's size hint already said it was larger than the cap, so
    /// that nothing was read.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The response's status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The response's headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
}

impl fmt::Display for BodyTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "response body larger than the {}-byte buffer", self.cap)?;
        if self.received > 0 {
            write!(f, ": {} bytes received when it gave up", self.received)?;
        } else {
            f.write_str(": its declared size is larger")?;
        }
        write!(f, " (status {})", self.status)
    }
}

impl std::error::Error for BodyTooLarge {}

/// Reads response bodies into [`Buffered`]; see the [module docs](self).
#[derive(Debug, Clone, Copy)]
pub struct BufferLayer {
    cap: usize,
}

impl BufferLayer {
    /// Buffers bodies of up to `cap` bytes.
    pub fn new(cap: usize) -> Self {
        BufferLayer { cap }
    }
}

impl<S> Layer<S> for BufferLayer {
    type Service = Buffer<S>;
    fn layer(&self, inner: S) -> Buffer<S> {
        Buffer {
            inner,
            cap: self.cap,
        }
    }
}

/// The service made by [`BufferLayer`].
#[derive(Debug, Clone)]
pub struct Buffer<S> {
    inner: S,
    cap: usize,
}

impl<S, Req, B> Service<Req> for Buffer<S>
where
    S: Service<Req, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Response = Response<Buffered>;
    type Error = BoxError;
    type Future = BufferFuture<S::Future, B>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        BufferFuture {
            state: BufferState::Calling {
                fut: self.inner.call(req),
            },
            cap: self.cap,
        }
    }
}

/// Response future of [`Buffer`].
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct BufferFuture<F, B> {
    #[pin]
    state: BufferState<F, B>,
    cap: usize,
}

impl<F, B> fmt::Debug for BufferFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferFuture")
            .field("cap", &self.cap)
            .finish_non_exhaustive()
    }
}

// The reading state holds the response's head while the body arrives; boxing it would cost an
// allocation per call for no gain, as the future is one or the other.
#[allow(clippy::large_enum_variant)]
#[pin_project(project = BufferProj)]
enum BufferState<F, B> {
    Calling {
        #[pin]
        fut: F,
    },
    Reading {
        parts: Option<http::response::Parts>,
        #[pin]
        body: B,
        buf: BytesMut,
        trailers: Option<HeaderMap>,
    },
}

impl<F, B, E> Future for BufferFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<Buffered>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                BufferProj::Calling { fut } => {
                    let res = std::task::ready!(fut.poll(cx)).map_err(Into::into)?;
                    let (parts, body) = res.into_parts();
                    if body.size_hint().lower() > *this.cap as u64 {
                        // Known too large from its size: nothing is read.
                        return Poll::Ready(Err(too_large(*this.cap, 0, parts).into()));
                    }
                    this.state.set(BufferState::Reading {
                        parts: Some(parts),
                        body,
                        buf: BytesMut::new(),
                        trailers: None,
                    });
                }
                BufferProj::Reading {
                    parts,
                    mut body,
                    buf,
                    trailers,
                } => loop {
                    match std::task::ready!(body.as_mut().poll_frame(cx)) {
                        Some(Ok(frame)) => match frame.into_data() {
                            Ok(mut data) => {
                                let received = buf.len() as u64 + data.remaining() as u64;
                                if received > *this.cap as u64 {
                                    let parts = parts.take().expect("polled after completion");
                                    let err = too_large(*this.cap, received, parts);
                                    return Poll::Ready(Err(err.into()));
                                }
                                while data.has_remaining() {
                                    let chunk = data.chunk();
                                    buf.extend_from_slice(chunk);
                                    let n = chunk.len();
                                    data.advance(n);
                                }
                            }
                            Err(frame) => {
                                if let Ok(t) = frame.into_trailers() {
                                    match trailers {
                                        Some(existing) => existing.extend(t),
                                        None => *trailers = Some(t),
                                    }
                                }
                            }
                        },
                        Some(Err(e)) => return Poll::Ready(Err(e.into())),
                        None => {
                            let parts = parts.take().expect("polled after completion");
                            let body = Buffered::new(std::mem::take(buf).freeze(), trailers.take());
                            return Poll::Ready(Ok(Response::from_parts(parts, body)));
                        }
                    }
                },
            }
        }
    }
}

fn too_large(cap: usize, received: u64, parts: http::response::Parts) -> BodyTooLarge {
    BodyTooLarge {
        cap,
        received,
        status: parts.status,
        headers: parts.headers,
    }
}

#[cfg(feature = "json")]
mod json_validators {
    use std::borrow::Cow;
    use std::sync::Arc;

    use http::Response;
    use steadfast::validate::{Reason, ValidationContext, Validator};

    use super::Buffered;

    /// Accepts a buffered response whose body is valid JSON; see [`json`].
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Json;

    /// A validator: the body must be valid JSON.
    pub fn json() -> Json {
        Json
    }

    impl Validator<Response<Buffered>> for Json {
        fn validate(
            &self,
            res: &Response<Buffered>,
            _: &ValidationContext,
            reasons: &mut Vec<Reason>,
        ) {
            if let Err(e) = serde_json::from_slice::<serde_json::Value>(res.body().bytes()) {
                reasons.push(Reason::new(format!("body is not valid JSON: {e}")));
            }
        }
    }

    /// Accepts a buffered response whose body is a JSON object with every one of the given
    /// fields; see [`json_fields`].
    #[derive(Debug, Clone)]
    pub struct JsonFields {
        // Shared: the validate layer clones its response validator into every call's future.
        fields: Arc<[Cow<'static, str>]>,
    }

    /// A validator: the body must be a JSON object holding every field of `fields` (each
    /// missing field is its own reason).
    pub fn json_fields<I, F>(fields: I) -> JsonFields
    where
        I: IntoIterator<Item = F>,
        F: Into<Cow<'static, str>>,
    {
        JsonFields {
            fields: fields.into_iter().map(Into::into).collect(),
        }
    }

    impl Validator<Response<Buffered>> for JsonFields {
        fn validate(
            &self,
            res: &Response<Buffered>,
            _: &ValidationContext,
            reasons: &mut Vec<Reason>,
        ) {
            match serde_json::from_slice::<serde_json::Value>(res.body().bytes()) {
                Ok(serde_json::Value::Object(map)) => {
                    for f in self.fields.iter() {
                        if !map.contains_key(f.as_ref()) {
                            reasons.push(Reason::new(format!("JSON field `{f}` is missing")));
                        }
                    }
                }
                Ok(_) => reasons.push(Reason::new("body is JSON but not an object")),
                Err(e) => reasons.push(Reason::new(format!("body is not valid JSON: {e}"))),
            }
        }
    }
}

#[cfg(feature = "json")]
pub use json_validators::{json, json_fields, Json, JsonFields};

/// Accepts a buffered gRPC answer whose status is `OK`; see [`grpc_status`].
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcStatusOk {
    _priv: (),
}

/// A validator for buffered gRPC answers: the call's `grpc-status` (in the headers of a
/// trailers-only answer, or in the trailers after the messages) must be `OK`. A call whose
/// status came only in the trailers can then be retried like any invalid answer, since the
/// buffer still holds it whole; a streamed answer cannot (see
/// [`grpc_status`](crate::grpc_status) for what the circuit breaker does with those).
///
/// ```
/// use bytes::Bytes;
/// use http::{HeaderMap, Response};
/// use steadfast::validate::{ValidationContext, Validator};
/// use steadfast_http::validate::{grpc_status, Buffered};
///
/// let mut trailers = HeaderMap::new();
/// trailers.insert("grpc-status", "14".parse().unwrap());
/// let res = Response::new(Buffered::new(Bytes::from_static(b"msg"), Some(trailers)));
/// let mut reasons = Vec::new();
/// grpc_status().validate(&res, &ValidationContext::first(), &mut reasons);
/// assert_eq!(reasons[0].to_string(), "gRPC status Unavailable (14)");
/// ```
pub fn grpc_status() -> GrpcStatusOk {
    GrpcStatusOk::default()
}

impl steadfast::validate::Validator<Response<Buffered>> for GrpcStatusOk {
    fn validate(
        &self,
        res: &Response<Buffered>,
        _: &steadfast::validate::ValidationContext,
        reasons: &mut Vec<steadfast::validate::Reason>,
    ) {
        use crate::grpc::GrpcCode;
        let code = GrpcCode::from_headers(res.headers())
            .or_else(|| res.body().trailers().and_then(GrpcCode::from_headers));
        let code = match code {
            Some(code) => code,
            // No status anywhere: a proxy's answer (its HTTP status says it) or a call that
            // ended without one, which gRPC counts as failed.
            None if res.status() == StatusCode::OK => GrpcCode::Unknown,
            None => GrpcCode::from_http_status(res.status()),
        };
        if code != GrpcCode::Ok {
            reasons.push(steadfast::validate::Reason::new(format!(
                "gRPC status {code:?} ({})",
                code as i32
            )));
        }
    }
}

/// Checks requests on a server and answers those that fail with a status and the reasons,
/// instead of calling the service; see the [module docs](self).
///
/// The service keeps its error type, so the layer drops into `axum::Router::layer` as is.
#[derive(Debug, Clone)]
pub struct ValidateRequestsLayer<V> {
    validator: V,
    status: StatusCode,
}

impl<V> ValidateRequestsLayer<V> {
    /// Checks every request with `validator` (several can be combined with
    /// [`steadfast::validate::And`]); failures are answered `422 Unprocessable Entity`.
    pub fn new(validator: V) -> Self {
        ValidateRequestsLayer {
            validator,
            status: StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    /// Answers failures with `status` instead (for example `400 Bad Request`).
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

impl<S, V: Clone> Layer<S> for ValidateRequestsLayer<V> {
    type Service = ValidateRequests<S, V>;
    fn layer(&self, inner: S) -> Self::Service {
        ValidateRequests {
            inner,
            validator: self.validator.clone(),
            status: self.status,
        }
    }
}

/// The service made by [`ValidateRequestsLayer`].
#[derive(Debug, Clone)]
pub struct ValidateRequests<S, V> {
    inner: S,
    validator: V,
    status: StatusCode,
}

/// The body of a rejection: the reasons, one per line.
fn rejection_text(reasons: &[steadfast::validate::Reason]) -> String {
    let mut text = String::from("invalid request:\n");
    for r in reasons {
        text.push_str("- ");
        text.push_str(r.as_str());
        text.push('\n');
    }
    text
}

impl<S, V, ReqB, ResB> Service<Request<ReqB>> for ValidateRequests<S, V>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    V: steadfast::validate::Validator<Request<ReqB>>,
    ResB: From<String>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ValidateRequestsFuture<S::Future, ResB>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        use steadfast::token::HasCancelToken;
        let tag = req.retry_attempt();
        let cx = steadfast::validate::ValidationContext::new(
            tag.map_or(1, |t| t.number()),
            tag.map_or(std::time::Duration::ZERO, |t| t.elapsed()),
        );
        let mut reasons = Vec::new();
        self.validator.validate(&req, &cx, &mut reasons);
        if reasons.is_empty() {
            return ValidateRequestsFuture::Inner {
                fut: self.inner.call(req),
            };
        }
        // The readiness the inner service granted stays with it for the next call.
        let invalid = InvalidRequest::new(reasons, cx.attempt());
        let mut res = Response::new(ResB::from(rejection_text(invalid.reasons())));
        *res.status_mut() = self.status;
        res.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        res.extensions_mut().insert(invalid);
        ValidateRequestsFuture::Rejected {
            response: Some(res),
        }
    }
}

/// Response future of [`ValidateRequests`].
#[pin_project(project = ValidateRequestsProj)]
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub enum ValidateRequestsFuture<F, B> {
    /// The request passed and the inner service is answering.
    Inner {
        /// The inner service's future.
        #[pin]
        fut: F,
    },
    /// The request failed validation; this is the answer.
    Rejected {
        /// The rejection, until it is taken.
        response: Option<Response<B>>,
    },
}

impl<F, B, E> Future for ValidateRequestsFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            ValidateRequestsProj::Inner { fut } => fut.poll(cx),
            ValidateRequestsProj::Rejected { response } => {
                Poll::Ready(Ok(response.take().expect("polled after completion")))
            }
        }
    }
}
