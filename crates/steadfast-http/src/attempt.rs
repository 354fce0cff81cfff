//! Attempt counts across hops: telling the next server that a request is a retry, and not
//! retrying again behind a caller that already retries.
//!
//! When every hop of a call chain retries three times, one failure deep in the chain becomes
//! 3 × 3 × 3 requests. Two layers stop that:
//!
//! * [`AttemptHeaderLayer`] (outbound, under the retry layer): on every retry it writes the
//!   attempt number in a header (`x-retry-attempt: 2`, configurable), and on gRPC requests
//!   also `grpc-previous-rpc-attempts`, as gRPC's own retries do (gRFC A6). First attempts
//!   carry no header unless you ask for it.
//! * [`UpstreamRetriesLayer`] (inbound, outside steadfast's `CancelLayer`): a request that
//!   arrives as a retry gets a token whose work is not retried
//!   ([`CancelToken::child_without_retries`]): the outbound calls its handler makes (carrying
//!   that token) are tried once, and the retrying is left to the caller.
//!
//! ```
//! use std::time::Duration;
//! use steadfast::token::HasCancelToken;
//! use steadfast_http::attempt::UpstreamRetriesLayer;
//! use tower::{Layer, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let server = UpstreamRetriesLayer::new().layer(service_fn(|req: http::Request<()>| async move {
//!     Ok::<_, std::convert::Infallible>(req.cancel_token().map(|t| t.retries_allowed()))
//! }));
//! let retry = http::Request::get("/").header("x-retry-attempt", "2").body(()).unwrap();
//! assert_eq!(server.clone().oneshot(retry).await.unwrap(), Some(false));
//! let first = http::Request::get("/").body(()).unwrap();
//! assert_eq!(server.oneshot(first).await.unwrap(), None); // left alone
//! # }
//! ```

use std::task::{Context, Poll};

use http::{HeaderMap, HeaderName, HeaderValue, Request};
use steadfast::token::{CancelToken, HasCancelToken};
use tower_layer::Layer;
use tower_service::Service;

use crate::deadline::is_grpc;

/// The default attempt header: `x-retry-attempt`.
pub const RETRY_ATTEMPT: HeaderName = HeaderName::from_static("x-retry-attempt");

/// gRPC's header for the attempts made before this one.
pub const GRPC_PREVIOUS_ATTEMPTS: HeaderName =
    HeaderName::from_static("grpc-previous-rpc-attempts");

fn parse_count(value: &HeaderValue) -> Option<u32> {
    let s = value.to_str().ok()?.trim();
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Writes the attempt number on retried requests; see the [module docs](self).
///
/// Put it under the retry layer, which tags each attempt of a request with its number.
///
/// ```
/// use std::time::Duration;
/// use steadfast::retry::{Backoff, RetryLayer, RetryPolicy};
/// use steadfast_http::attempt::AttemptHeaderLayer;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
/// let server = service_fn({
///     let seen = seen.clone();
///     move |req: http::Request<()>| {
///         let mut seen = seen.lock().unwrap();
///         seen.push(req.headers().get("x-retry-attempt").cloned());
///         let status = if seen.len() < 3 { 503 } else { 200 };
///         async move { Ok::<_, std::io::Error>(http::Response::builder().status(status).body(()).unwrap()) }
///     }
/// });
/// let policy = RetryPolicy::builder()
///     .max_attempts(3)
///     .backoff(Backoff::none())
///     .classify(steadfast_http::HttpClassifier::default())
///     .build()
///     .unwrap();
/// let client = ServiceBuilder::new()
///     .layer(RetryLayer::new(policy))
///     .layer(AttemptHeaderLayer::new())
///     .service(server);
///
/// let res = client.oneshot(http::Request::get("/").body(()).unwrap()).await.unwrap();
/// assert_eq!(res.status(), 200);
/// let seen = seen.lock().unwrap();
/// assert_eq!(seen[0], None); // a first attempt carries nothing
/// assert_eq!(seen[1].as_ref().unwrap(), "2");
/// assert_eq!(seen[2].as_ref().unwrap(), "3");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AttemptHeaderLayer {
    pub(crate) header: HeaderName,
    pub(crate) first_too: bool,
}

impl Default for AttemptHeaderLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl AttemptHeaderLayer {
    /// Writes `x-retry-attempt` on retries.
    pub fn new() -> Self {
        AttemptHeaderLayer {
            header: RETRY_ATTEMPT,
            first_too: false,
        }
    }

    /// Uses `name` instead of `x-retry-attempt`.
    pub fn header(mut self, name: HeaderName) -> Self {
        self.header = name;
        self
    }

    /// Also writes `1` on first attempts.
    pub fn on_first_attempts(mut self) -> Self {
        self.first_too = true;
        self
    }
}

impl<S> Layer<S> for AttemptHeaderLayer {
    type Service = AttemptHeader<S>;
    fn layer(&self, inner: S) -> AttemptHeader<S> {
        AttemptHeader {
            inner,
            config: self.clone(),
        }
    }
}

/// The service made by [`AttemptHeaderLayer`].
#[derive(Debug, Clone)]
pub struct AttemptHeader<S> {
    pub(crate) inner: S,
    pub(crate) config: AttemptHeaderLayer,
}

impl<S, B> Service<Request<B>> for AttemptHeader<S>
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
        let number = req.retry_attempt().map(|a| a.number());
        if let Some(n) = number.or(self.config.first_too.then_some(1)) {
            let headers = req.headers_mut();
            headers.insert(self.config.header.clone(), HeaderValue::from(n));
            if n > 1 && is_grpc(headers) {
                headers.insert(GRPC_PREVIOUS_ATTEMPTS, HeaderValue::from(n - 1));
            }
        }
        self.inner.call(req)
    }
}

/// Gives requests that arrive as retries a token whose work is not retried; see the
/// [module docs](self) for it in a server.
///
/// ```
/// use http::HeaderMap;
/// use steadfast_http::attempt::UpstreamRetriesLayer;
///
/// let layer = UpstreamRetriesLayer::new();
/// let mut headers = HeaderMap::new();
/// assert!(!layer.is_retry(&headers));
/// headers.insert("grpc-previous-rpc-attempts", "1".parse().unwrap());
/// assert!(layer.is_retry(&headers));
///
/// let custom = UpstreamRetriesLayer::new().header(http::HeaderName::from_static("x-try"));
/// let mut headers = HeaderMap::new();
/// headers.insert("x-try", "2".parse().unwrap());
/// assert!(custom.is_retry(&headers));
/// ```
#[derive(Debug, Clone)]
pub struct UpstreamRetriesLayer {
    pub(crate) header: HeaderName,
}

impl Default for UpstreamRetriesLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl UpstreamRetriesLayer {
    /// Reads `x-retry-attempt` and `grpc-previous-rpc-attempts`.
    pub fn new() -> Self {
        UpstreamRetriesLayer {
            header: RETRY_ATTEMPT,
        }
    }

    /// Reads `name` instead of `x-retry-attempt`.
    pub fn header(mut self, name: HeaderName) -> Self {
        self.header = name;
        self
    }

    /// `true` if `headers` say the request is a retry (attempt 2 or later).
    pub fn is_retry(&self, headers: &HeaderMap) -> bool {
        let (attempt, previous) =
            crate::headers::get_two(headers, &self.header, &GRPC_PREVIOUS_ATTEMPTS);
        attempt.and_then(parse_count).is_some_and(|n| n >= 2)
            || previous.and_then(parse_count).is_some_and(|n| n >= 1)
    }
}

impl<S> Layer<S> for UpstreamRetriesLayer {
    type Service = UpstreamRetries<S>;
    fn layer(&self, inner: S) -> UpstreamRetries<S> {
        UpstreamRetries {
            inner,
            config: self.clone(),
        }
    }
}

/// The service made by [`UpstreamRetriesLayer`].
#[derive(Debug, Clone)]
pub struct UpstreamRetries<S> {
    pub(crate) inner: S,
    pub(crate) config: UpstreamRetriesLayer,
}

impl<S, B> Service<Request<B>> for UpstreamRetries<S>
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
        if self.config.is_retry(req.headers()) {
            let token = match req.cancel_token() {
                Some(t) => t.child_without_retries(),
                None => CancelToken::new().child_without_retries(),
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
    fn counts_are_strict() {
        let p = |s: &str| parse_count(&HeaderValue::from_str(s).unwrap());
        assert_eq!(p("2"), Some(2));
        assert_eq!(p(" 3 "), Some(3));
        for bad in ["", "-1", "1.0", "x", "9999999999"] {
            assert_eq!(p(bad), None, "{bad:?}");
        }
    }

    #[tokio::test]
    async fn retries_get_the_header_and_first_attempts_only_when_asked() {
        use std::time::Duration;
        use steadfast::token::RetryAttempt;
        use tower::ServiceExt;
        let echo = tower::service_fn(|req: Request<()>| async move {
            Ok::<_, std::convert::Infallible>(req.headers().clone())
        });
        let plain = AttemptHeaderLayer::new().layer(echo);
        assert!(plain
            .clone()
            .oneshot(Request::new(()))
            .await
            .unwrap()
            .is_empty());
        let first_too = AttemptHeaderLayer::new()
            .header(HeaderName::from_static("x-try"))
            .on_first_attempts()
            .layer(echo);
        assert_eq!(
            first_too.oneshot(Request::new(())).await.unwrap()["x-try"],
            "1"
        );
        let mut retry = Request::builder()
            .header(http::header::CONTENT_TYPE, "application/grpc")
            .body(())
            .unwrap();
        retry.set_retry_attempt(RetryAttempt::new(3, Duration::ZERO));
        let h = plain.oneshot(retry).await.unwrap();
        assert_eq!(h[RETRY_ATTEMPT], "3");
        assert_eq!(h[GRPC_PREVIOUS_ATTEMPTS], "2");
    }

    #[test]
    fn retries_are_recognised_by_either_header() {
        let layer = UpstreamRetriesLayer::new();
        let mut h = HeaderMap::new();
        assert!(!layer.is_retry(&h));
        h.insert(RETRY_ATTEMPT, HeaderValue::from_static("1"));
        assert!(!layer.is_retry(&h));
        h.insert(RETRY_ATTEMPT, HeaderValue::from_static("2"));
        assert!(layer.is_retry(&h));
        let mut g = HeaderMap::new();
        g.insert(GRPC_PREVIOUS_ATTEMPTS, HeaderValue::from_static("1"));
        assert!(layer.is_retry(&g));
    }
}
