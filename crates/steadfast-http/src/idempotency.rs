//! Which requests are safe to send twice.
//!
//! A retry sends the request again. For an idempotent method (`GET`, `HEAD`, `OPTIONS`,
//! `PUT`, `DELETE`, `TRACE`) a second copy has the same effect as the first, so retrying is
//! safe. A `POST` or `PATCH` that timed out may already have been acted on: sending it again
//! could charge a card twice. By default such requests are retried only when they carry an
//! idempotency key (the `Idempotency-Key` header, which lets the server recognise the
//! duplicate) or when no connection was ever made (the server cannot have seen it).
//!
//! ```
//! use http::{Method, Request};
//! use steadfast_http::idempotency::Idempotency;
//!
//! let rules = Idempotency::default();
//! assert!(rules.allows(&Request::get("/").body(()).unwrap()));
//! assert!(!rules.allows(&Request::post("/pay").body(()).unwrap()));
//! let keyed = Request::post("/pay").header("idempotency-key", "8e03978e").body(()).unwrap();
//! assert!(rules.allows(&keyed));
//!
//! // Opt in for an API whose POSTs are known to be safe.
//! let rules = Idempotency::default().allow_method(Method::POST);
//! assert!(rules.allows(&Request::post("/search").body(()).unwrap()));
//! ```

use http::{HeaderName, Method, Request};
use steadfast::retry::CloneRequest;

/// Decides whether a request may be sent again; see the [module docs](self).
///
/// Start from [`Idempotency::default`] (the methods RFC 9110 defines as idempotent, plus an
/// `idempotency-key` header) or [`Idempotency::any`], and hand it to
/// [`HttpClassifierBuilder::idempotency`](crate::HttpClassifierBuilder::idempotency):
///
/// ```
/// use http::{HeaderName, Method, Request};
/// use steadfast_http::idempotency::Idempotency;
///
/// let rules = Idempotency::default()
///     .key_header(HeaderName::from_static("x-request-id"))
///     .allow_method(Method::PATCH);
/// assert!(rules.allows(&Request::patch("/doc").body(()).unwrap()));
/// assert!(rules.allows(&Request::post("/pay").header("x-request-id", "7f3a").body(()).unwrap()));
/// assert!(!rules.allows(&Request::post("/pay").header("idempotency-key", "7f3a").body(()).unwrap()));
///
/// let methods_only = Idempotency::default().without_key_header();
/// assert!(!methods_only.allows(&Request::post("/pay").header("idempotency-key", "7f3a").body(()).unwrap()));
/// assert!(Idempotency::any().allows(&Request::post("/pay").body(()).unwrap()));
/// ```
#[derive(Debug, Clone)]
pub struct Idempotency {
    /// Methods beyond the idempotent ones that may be retried.
    extra: Vec<Method>,
    key_header: Option<HeaderName>,
    any: bool,
}

/// The header that marks a request as safe to repeat: `idempotency-key`.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

impl Default for Idempotency {
    /// Idempotent methods, plus any request carrying an `idempotency-key` header.
    fn default() -> Self {
        Idempotency {
            extra: Vec::new(),
            key_header: Some(IDEMPOTENCY_KEY),
            any: false,
        }
    }
}

impl Idempotency {
    /// Every request may be retried, whatever its method (for APIs whose every call is safe
    /// to repeat).
    pub fn any() -> Self {
        Idempotency {
            extra: Vec::new(),
            key_header: None,
            any: true,
        }
    }

    /// Also retries requests with `method` (for example `POST` on a search API).
    pub fn allow_method(mut self, method: Method) -> Self {
        if !self.extra.contains(&method) {
            self.extra.push(method);
        }
        self
    }

    /// The header whose presence makes any request retryable (default `idempotency-key`).
    pub fn key_header(mut self, name: HeaderName) -> Self {
        self.key_header = Some(name);
        self
    }

    /// No header makes a request retryable: only the methods decide.
    pub fn without_key_header(mut self) -> Self {
        self.key_header = None;
        self
    }

    /// `true` if `method` is idempotent by its definition in RFC 9110.
    pub fn is_idempotent_method(method: &Method) -> bool {
        matches!(
            *method,
            Method::GET
                | Method::HEAD
                | Method::OPTIONS
                | Method::PUT
                | Method::DELETE
                | Method::TRACE
        )
    }

    /// A request cloner that copies, with `inner`, only the requests these rules allow to be
    /// sent again, and declines the others (`None`): the retry layer then sends them once,
    /// unretried, and the hedge layer sends them once, unhedged. For the hedge layer, which
    /// sends a copy before the first attempt has answered, this is the only place the rules
    /// can apply: give it to `HedgeLayerBuilder::clone_requests`.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http::Request;
    /// use http_body_util::Full;
    /// use steadfast::retry::CloneRequest;
    /// use steadfast_http::replay::{ReplayBody, ReplayCloner};
    /// use steadfast_http::Idempotency;
    ///
    /// let cloner = Idempotency::default().cloner(ReplayCloner);
    /// let body = || ReplayBody::new(Full::new(Bytes::from_static(b"{}")), 1024);
    /// let get = Request::get("/item").body(body()).unwrap();
    /// let pay = Request::post("/pay").body(body()).unwrap();
    /// let keyed = Request::post("/pay").header("idempotency-key", "8e03").body(body()).unwrap();
    /// assert!(cloner.clone_request(&get).is_some());
    /// assert!(cloner.clone_request(&pay).is_none(), "sent once");
    /// assert!(cloner.clone_request(&keyed).is_some());
    /// ```
    pub fn cloner<K>(self, inner: K) -> IdempotentOnly<K> {
        IdempotentOnly { rules: self, inner }
    }

    /// `true` if `req` may be sent again after an attempt that may have reached the server.
    pub fn allows<B>(&self, req: &Request<B>) -> bool {
        self.any
            || Self::is_idempotent_method(req.method())
            || self.extra.contains(req.method())
            || self
                .key_header
                .as_ref()
                .is_some_and(|h| req.headers().contains_key(h))
    }
}

/// Copies only the requests its [`Idempotency`] rules allow to be sent again; made by
/// [`Idempotency::cloner`].
#[derive(Debug, Clone)]
pub struct IdempotentOnly<K> {
    rules: Idempotency,
    inner: K,
}

impl<B, K: CloneRequest<Request<B>>> CloneRequest<Request<B>> for IdempotentOnly<K> {
    fn clone_request(&self, req: &Request<B>) -> Option<Request<B>> {
        if self.rules.allows(req) {
            self.inner.clone_request(req)
        } else {
            None
        }
    }

    fn can_resend(&self, kept: &Request<B>) -> Result<(), &'static str> {
        self.inner.can_resend(kept)
    }
}
