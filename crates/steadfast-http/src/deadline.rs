//! Deadline propagation: the time a request has left travels with it to the next hop.
//!
//! * [`PropagateDeadlineLayer`] (outbound, under the retry layer so each attempt sends the
//!   time left *now*): writes the remaining time of the request's
//!   [`CancelToken`] as `grpc-timeout` on gRPC requests and as a
//!   milliseconds header (default `x-request-timeout-ms`) on the others.
//! * [`AcceptDeadlineLayer`] (inbound, outside steadfast's `CancelLayer`): reads those headers
//!   and gives the request a token with that deadline, capped by the server's own limit; the
//!   cancel layer under it fires the token when the deadline passes, so the handler and every
//!   call it makes stop together.
//!
//! ```
//! use std::time::Duration;
//! use steadfast::cancel::CancelLayer;
//! use steadfast::token::{CancelToken, HasCancelToken};
//! use steadfast_http::deadline::{AcceptDeadlineLayer, PropagateDeadlineLayer};
//! use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! // The server: honours the caller's deadline, never more than 30 s.
//! let server = ServiceBuilder::new()
//!     .layer(AcceptDeadlineLayer::new().max(Duration::from_secs(30)))
//!     .layer(CancelLayer::new())
//!     .service_fn(|req: http::Request<()>| async move {
//!         Ok::<_, std::convert::Infallible>(req.cancel_token().unwrap().remaining())
//!     });
//!
//! // The client: its request has 2 s left; the header says so.
//! let client = PropagateDeadlineLayer::new().layer(service_fn(|req: http::Request<()>| {
//!     let server = server.clone();
//!     async move {
//!         assert_eq!(req.headers()["x-request-timeout-ms"], "2000");
//!         server.oneshot(req).await
//!     }
//! }));
//! let token = CancelToken::with_deadline(tokio::time::Instant::now() + Duration::from_secs(2));
//! let mut req = http::Request::new(());
//! req.set_cancel_token(token).unwrap();
//! let left = client.oneshot(req).await.unwrap();
//! assert_eq!(left, Some(Duration::from_secs(2)));
//! # }
//! ```

use std::task::{Context, Poll};
use std::time::Duration;

use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, Request};
use steadfast::token::{CancelToken, HasCancelToken};
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

use crate::grpc_timeout::{encode_grpc_timeout, parse_grpc_timeout, GRPC_TIMEOUT};

/// The default milliseconds header: `x-request-timeout-ms`.
pub const REQUEST_TIMEOUT_MS: HeaderName = HeaderName::from_static("x-request-timeout-ms");

/// `true` for a gRPC request (its content type is `application/grpc` or a variant of it).
pub fn is_grpc(headers: &HeaderMap) -> bool {
    crate::headers::get(headers, &CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"))
}

/// Reads a whole number of milliseconds; anything else (signs, spaces inside, overflow) is
/// ignored.
fn parse_millis(value: &HeaderValue) -> Option<Duration> {
    let s = value.to_str().ok()?.trim();
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>().ok().map(Duration::from_millis)
}

/// Writes the time left on each request's token as headers; see the [module docs](self).
///
/// The time is rounded down to the millisecond (to the unit of `grpc-timeout` for gRPC
/// requests), so the next hop never thinks it has more time than it has. A tighter value the
/// caller already set is left as it is; a request without a token, or whose token has no
/// deadline, gets no header.
///
/// ```
/// use std::time::Duration;
/// use steadfast::token::{CancelToken, HasCancelToken};
/// use steadfast_http::deadline::PropagateDeadlineLayer;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let echo = service_fn(|req: http::Request<()>| async move {
///     Ok::<_, std::convert::Infallible>(req.headers().clone())
/// });
/// let svc = PropagateDeadlineLayer::new().header(http::HeaderName::from_static("x-budget-ms")).layer(echo);
/// let token = CancelToken::with_deadline(tokio::time::Instant::now() + Duration::from_millis(750));
///
/// let mut plain = http::Request::new(());
/// plain.set_cancel_token(token.clone()).unwrap();
/// assert_eq!(svc.clone().oneshot(plain).await.unwrap()["x-budget-ms"], "750");
///
/// let mut grpc = http::Request::builder().header("content-type", "application/grpc").body(()).unwrap();
/// grpc.set_cancel_token(token).unwrap();
/// let headers = svc.oneshot(grpc).await.unwrap();
/// assert_eq!(headers["grpc-timeout"], "750m");
/// assert!(!headers.contains_key("x-budget-ms"));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PropagateDeadlineLayer {
    pub(crate) header: Option<HeaderName>,
}

impl Default for PropagateDeadlineLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl PropagateDeadlineLayer {
    /// `grpc-timeout` for gRPC requests, `x-request-timeout-ms` for the others.
    pub fn new() -> Self {
        PropagateDeadlineLayer {
            header: Some(REQUEST_TIMEOUT_MS),
        }
    }

    /// Uses `name` for the milliseconds header.
    pub fn header(mut self, name: HeaderName) -> Self {
        self.header = Some(name);
        self
    }

    /// Writes only `grpc-timeout`, on gRPC requests.
    pub fn grpc_only(mut self) -> Self {
        self.header = None;
        self
    }
}

impl<S> Layer<S> for PropagateDeadlineLayer {
    type Service = PropagateDeadline<S>;
    fn layer(&self, inner: S) -> Self::Service {
        PropagateDeadline {
            inner,
            header: self.header.clone(),
        }
    }
}

/// The service made by [`PropagateDeadlineLayer`].
#[derive(Debug, Clone)]
pub struct PropagateDeadline<S> {
    pub(crate) inner: S,
    pub(crate) header: Option<HeaderName>,
}

impl<S, B> Service<Request<B>> for PropagateDeadline<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> S::Future {
        if let Some(left) = req.cancel_token().and_then(CancelToken::remaining) {
            let headers = req.headers_mut();
            if is_grpc(headers) {
                // A tighter value already set by the caller stands.
                let current = headers.get(GRPC_TIMEOUT).and_then(parse_grpc_timeout);
                if current.is_none_or(|c| left < c) {
                    headers.insert(GRPC_TIMEOUT, encode_grpc_timeout(left));
                }
            } else if let Some(name) = &self.header {
                let current = headers.get(name).and_then(parse_millis);
                // Round down, as grpc-timeout does: the callee must not think it has more.
                let millis = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
                if current.is_none_or(|c| Duration::from_millis(millis) < c) {
                    headers.insert(name.clone(), HeaderValue::from(millis));
                }
            }
        }
        self.inner.call(req)
    }
}

/// Gives each request a token whose deadline the caller sent; see the [module docs](self) for
/// it in a server, under steadfast's `CancelLayer`.
///
/// When both headers are present the shorter time wins; a value that cannot be read is
/// ignored. [`requested`](Self::requested) says what a request asked for:
///
/// ```
/// use std::time::Duration;
/// use http::HeaderMap;
/// use steadfast_http::deadline::AcceptDeadlineLayer;
///
/// let layer = AcceptDeadlineLayer::new().max(Duration::from_secs(5));
/// let mut headers = HeaderMap::new();
/// assert_eq!(layer.requested(&headers), None);
/// headers.insert("grpc-timeout", "2S".parse().unwrap());
/// assert_eq!(layer.requested(&headers), Some(Duration::from_secs(2)));
/// headers.insert("x-request-timeout-ms", "1200".parse().unwrap());
/// assert_eq!(layer.requested(&headers), Some(Duration::from_millis(1200)));
/// headers.insert("grpc-timeout", "1H".parse().unwrap());
/// headers.remove("x-request-timeout-ms");
/// assert_eq!(layer.requested(&headers), Some(Duration::from_secs(5))); // capped
/// ```
#[derive(Debug, Clone)]
pub struct AcceptDeadlineLayer {
    pub(crate) header: Option<HeaderName>,
    pub(crate) max: Option<Duration>,
}

impl Default for AcceptDeadlineLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl AcceptDeadlineLayer {
    /// Reads `grpc-timeout` and `x-request-timeout-ms`, with no cap.
    pub fn new() -> Self {
        AcceptDeadlineLayer {
            header: Some(REQUEST_TIMEOUT_MS),
            max: None,
        }
    }

    /// Reads `name` as the milliseconds header.
    pub fn header(mut self, name: HeaderName) -> Self {
        self.header = Some(name);
        self
    }

    /// Reads only `grpc-timeout`.
    pub fn grpc_only(mut self) -> Self {
        self.header = None;
        self
    }

    /// Never accepts more time than `max`, whatever the caller asks; requests that send no
    /// deadline are left alone (give the cancel layer a timeout for those).
    pub fn max(mut self, max: Duration) -> Self {
        self.max = Some(max);
        self
    }

    /// The time the caller gave `headers`, capped; `None` if it sent none that can be read.
    pub fn requested(&self, headers: &HeaderMap) -> Option<Duration> {
        let (grpc, plain) = match &self.header {
            Some(h) => crate::headers::get_two(headers, &GRPC_TIMEOUT, h),
            None => (crate::headers::get(headers, &GRPC_TIMEOUT), None),
        };
        let grpc = grpc.and_then(parse_grpc_timeout);
        let plain = plain.and_then(parse_millis);
        let asked = match (grpc, plain) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }?;
        Some(match self.max {
            Some(max) => asked.min(max),
            None => asked,
        })
    }
}

impl<S> Layer<S> for AcceptDeadlineLayer {
    type Service = AcceptDeadline<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AcceptDeadline {
            inner,
            config: self.clone(),
        }
    }
}

/// The service made by [`AcceptDeadlineLayer`].
#[derive(Debug, Clone)]
pub struct AcceptDeadline<S> {
    pub(crate) inner: S,
    pub(crate) config: AcceptDeadlineLayer,
}

impl<S, B> Service<Request<B>> for AcceptDeadline<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> S::Future {
        // A time too long to add to the clock never runs out: the request is then left without
        // a deadline, as if it had sent none.
        let deadline = self
            .config
            .requested(req.headers())
            .and_then(|left| Instant::now().checked_add(left));
        if let Some(deadline) = deadline {
            let token = match req.cancel_token() {
                Some(t) => t.child_with_deadline(deadline),
                None => CancelToken::with_deadline(deadline),
            };
            // An `http::Request` always takes it.
            let _ = req.set_cancel_token(token);
        }
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_are_strict() {
        let p = |s: &str| parse_millis(&HeaderValue::from_str(s).unwrap());
        assert_eq!(p("1500"), Some(Duration::from_millis(1500)));
        assert_eq!(p(" 20 "), Some(Duration::from_millis(20)));
        for bad in ["", "-5", "1.5", "1e3", "99999999999999999999", "12 3"] {
            assert_eq!(p(bad), None, "{bad:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn outbound_headers_carry_the_time_left_and_respect_a_tighter_one() {
        use tower::ServiceExt;
        let echo = tower::service_fn(|req: Request<()>| async move {
            Ok::<_, std::convert::Infallible>(req.headers().clone())
        });
        let svc = PropagateDeadlineLayer::new().layer(echo);
        let token = CancelToken::with_deadline(Instant::now() + Duration::from_millis(1500));
        let send = |grpc: bool, preset: Option<(&'static str, &'static str)>| {
            let mut b = Request::builder();
            if grpc {
                b = b.header(CONTENT_TYPE, "application/grpc+proto");
            }
            if let Some((k, v)) = preset {
                b = b.header(k, v);
            }
            let mut req = b.body(()).unwrap();
            req.set_cancel_token(token.clone()).unwrap();
            svc.clone().oneshot(req)
        };
        let h = send(false, None).await.unwrap();
        assert_eq!(h[REQUEST_TIMEOUT_MS], "1500");
        assert!(!h.contains_key(GRPC_TIMEOUT));
        let h = send(true, None).await.unwrap();
        assert_eq!(
            parse_grpc_timeout(&h[GRPC_TIMEOUT]),
            Some(Duration::from_millis(1500))
        );
        assert!(!h.contains_key(REQUEST_TIMEOUT_MS));
        // A tighter value the caller set stands; a looser one is replaced.
        let h = send(false, Some(("x-request-timeout-ms", "200")))
            .await
            .unwrap();
        assert_eq!(h[REQUEST_TIMEOUT_MS], "200");
        let h = send(false, Some(("x-request-timeout-ms", "9000")))
            .await
            .unwrap();
        assert_eq!(h[REQUEST_TIMEOUT_MS], "1500");
        let h = send(true, Some(("grpc-timeout", "100m"))).await.unwrap();
        assert_eq!(h[GRPC_TIMEOUT], "100m");
        // No token, no header.
        let h = svc.clone().oneshot(Request::new(())).await.unwrap();
        assert!(h.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn the_longest_times_the_headers_carry_are_accepted() {
        use tower::ServiceExt;
        let deadline_of = tower::service_fn(|req: Request<()>| async move {
            Ok::<_, std::convert::Infallible>(req.cancel_token().and_then(CancelToken::deadline))
        });
        let svc = AcceptDeadlineLayer::new().layer(deadline_of);
        for (name, value) in [
            (REQUEST_TIMEOUT_MS, "9999999999999999999"),
            (GRPC_TIMEOUT, "99999999H"),
        ] {
            let req = Request::builder().header(name, value).body(()).unwrap();
            let deadline = svc.clone().oneshot(req).await.unwrap();
            assert!(deadline.is_none_or(|d| d > Instant::now() + Duration::from_secs(1 << 30)));
        }
    }

    #[test]
    fn the_tighter_of_two_headers_and_the_cap_win() {
        let layer = AcceptDeadlineLayer::new().max(Duration::from_secs(10));
        let mut h = HeaderMap::new();
        assert_eq!(layer.requested(&h), None);
        h.insert(GRPC_TIMEOUT, HeaderValue::from_static("5S"));
        assert_eq!(layer.requested(&h), Some(Duration::from_secs(5)));
        h.insert(REQUEST_TIMEOUT_MS, HeaderValue::from_static("3000"));
        assert_eq!(layer.requested(&h), Some(Duration::from_secs(3)));
        h.insert(GRPC_TIMEOUT, HeaderValue::from_static("1H"));
        h.remove(REQUEST_TIMEOUT_MS);
        assert_eq!(layer.requested(&h), Some(Duration::from_secs(10)));
        h.insert(GRPC_TIMEOUT, HeaderValue::from_static("garbage"));
        assert_eq!(layer.requested(&h), None);
    }
}
