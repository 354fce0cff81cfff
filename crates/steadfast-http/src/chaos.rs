//! HTTP helpers for steadfast's chaos layer: status responses to inject (a `503` with
//! `Retry-After`, a `429`), and predicates that limit injection to some requests (a path, a
//! header).
//!
//! The layer itself, [`ChaosLayer`](steadfast::chaos::ChaosLayer), works around clients and
//! servers alike: around a client, an injected outcome is what the code under test receives
//! instead of the server's answer; around a server (an axum router, say), it is what the
//! server's clients receive.
//!
//! ```
//! use std::time::Duration;
//! use http::{Request, Response, StatusCode};
//! use steadfast::chaos::ChaosLayer;
//! use steadfast_http::chaos::{path_starts_with, StatusOutcome};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let layer = ChaosLayer::builder()
//!     .seed(1)
//!     .when(path_starts_with("/api/"))
//!     .outcome(
//!         StatusOutcome::new(StatusCode::SERVICE_UNAVAILABLE)
//!             .retry_after(Duration::from_secs(2))
//!             .injection()
//!             .rate(1.0),
//!     )
//!     .build()
//!     .unwrap();
//! let app = layer.layer(service_fn(|_: Request<()>| async {
//!     Ok::<_, std::io::Error>(Response::new(String::from("ok")))
//! }));
//!
//! let res = app.clone().oneshot(Request::get("/api/orders").body(()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
//! assert_eq!(res.headers()["retry-after"], "2");
//! let res = app.oneshot(Request::get("/health").body(()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), StatusCode::OK);
//! # }
//! ```

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use steadfast::chaos::OutcomeInjection;

/// A status response to inject: a status code, headers, and an empty (default) body.
///
/// ```
/// use std::time::Duration;
/// use http::{header, HeaderValue, StatusCode};
/// use steadfast_http::chaos::StatusOutcome;
///
/// let busy = StatusOutcome::new(StatusCode::TOO_MANY_REQUESTS)
///     .retry_after(Duration::from_millis(1500))
///     .header(header::CONNECTION, HeaderValue::from_static("close"));
/// let res: http::Response<String> = busy.response();
/// assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
/// assert_eq!(res.headers()["retry-after"], "2"); // whole seconds, rounded up
/// assert_eq!(res.headers()["connection"], "close");
/// ```
#[derive(Debug, Clone)]
pub struct StatusOutcome {
    status: StatusCode,
    headers: HeaderMap,
}

impl StatusOutcome {
    /// A response with `status` and no headers.
    pub fn new(status: StatusCode) -> Self {
        StatusOutcome {
            status,
            headers: HeaderMap::new(),
        }
    }

    /// Adds a header (a header already set under `name` is kept: both are sent).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Sets `Retry-After` to `delay` in whole seconds, rounded up (RFC 9110, section 10.2.3).
    pub fn retry_after(mut self, delay: Duration) -> Self {
        let secs = delay
            .as_secs()
            .saturating_add(u64::from(delay.subsec_nanos() > 0));
        self.headers
            .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
        self
    }

    /// The response, with an empty body.
    pub fn response<B: Default>(&self) -> Response<B> {
        let mut res = Response::new(B::default());
        *res.status_mut() = self.status;
        *res.headers_mut() = self.headers.clone();
        res
    }

    /// An outcome injection that answers with this response (at rate 1.0; set its rate,
    /// switch and predicates as for any injection).
    pub fn injection<ReqB, B>(self) -> OutcomeInjection<Request<ReqB>, Response<B>>
    where
        B: Default,
    {
        OutcomeInjection::from_fn(move |_: &Request<ReqB>| self.response())
    }
}

/// A predicate accepting requests whose path is `path` exactly.
///
/// ```
/// use steadfast_http::chaos::path_is;
/// let pred = path_is("/pay");
/// assert!(pred(&http::Request::get("/pay?x=1").body(()).unwrap()));
/// assert!(!pred(&http::Request::get("/pay/later").body(()).unwrap()));
/// ```
pub fn path_is<B>(path: impl Into<String>) -> impl Fn(&Request<B>) -> bool + Clone + Send + Sync {
    let path = path.into();
    move |req: &Request<B>| req.uri().path() == path
}

/// A predicate accepting requests whose path starts with `prefix`.
///
/// ```
/// use steadfast_http::chaos::path_starts_with;
/// let pred = path_starts_with("/api/");
/// assert!(pred(&http::Request::get("/api/orders").body(()).unwrap()));
/// assert!(!pred(&http::Request::get("/health").body(()).unwrap()));
/// ```
pub fn path_starts_with<B>(
    prefix: impl Into<String>,
) -> impl Fn(&Request<B>) -> bool + Clone + Send + Sync {
    let prefix = prefix.into();
    move |req: &Request<B>| req.uri().path().starts_with(prefix.as_str())
}

/// A predicate accepting requests that carry the header `name` (any value): a test marks the
/// requests it wants chaos in, with `x-chaos: on`, say.
///
/// ```
/// use http::HeaderName;
/// use steadfast_http::chaos::has_header;
/// let pred = has_header(HeaderName::from_static("x-chaos"));
/// assert!(pred(&http::Request::get("/").header("x-chaos", "on").body(()).unwrap()));
/// assert!(!pred(&http::Request::get("/").body(()).unwrap()));
/// ```
pub fn has_header<B>(name: HeaderName) -> impl Fn(&Request<B>) -> bool + Clone + Send + Sync {
    move |req: &Request<B>| req.headers().contains_key(&name)
}

/// A predicate accepting requests with a header `name` equal to `value` (a tenant, a key).
///
/// ```
/// use http::{HeaderName, HeaderValue};
/// use steadfast_http::chaos::header_is;
/// let pred = header_is(HeaderName::from_static("x-tenant"), HeaderValue::from_static("acme"));
/// assert!(pred(&http::Request::get("/").header("x-tenant", "acme").body(()).unwrap()));
/// assert!(!pred(&http::Request::get("/").header("x-tenant", "other").body(()).unwrap()));
/// ```
pub fn header_is<B>(
    name: HeaderName,
    value: HeaderValue,
) -> impl Fn(&Request<B>) -> bool + Clone + Send + Sync {
    move |req: &Request<B>| req.headers().get_all(&name).iter().any(|v| *v == value)
}
