//! A ready-made classifier for gRPC clients (a tonic `Channel`, or any service speaking gRPC
//! over `http`).
//!
//! gRPC answers every call with HTTP 200 and puts the call's status in a `grpc-status`
//! field: in the response headers when the server fails the call before sending a message
//! (a "trailers-only" response, which is how tonic servers answer an `Err(Status)`), or in the
//! trailers after the body. [`GrpcClassifier`] reads it from the headers, which is where every
//! status that can still be retried is: once a message has been streamed to the caller, the
//! call cannot be retried anyway.
//!
//! | status | default | retried | breaker |
//! |---|---|---|---|
//! | `OK` | success | no | success |
//! | `UNAVAILABLE` | retryable | yes | failure |
//! | `RESOURCE_EXHAUSTED` | retryable, after `grpc-retry-pushback-ms` if present (not at all if it is negative or unreadable) | yes | failure |
//! | `DEADLINE_EXCEEDED` | failure, configurable | no | failure |
//! | `INTERNAL`, `UNKNOWN`, `DATA_LOSS`, `UNIMPLEMENTED` | failure, configurable | no | failure |
//! | `CANCELLED` | ignored | no | not counted |
//! | the caller's errors (`INVALID_ARGUMENT`, `NOT_FOUND`, ...) | success: the server answered | no | success |
//!
//! A non-200 HTTP status without `grpc-status` (a proxy's answer) is mapped to a gRPC code
//! as the gRPC specification says (502, 503, 504 and 429 become `UNAVAILABLE`).
//!
//! Server pushback follows gRFC A6 for every retryable status. A `grpc-retry-pushback-ms` of
//! zero or more milliseconds is [`Outcome::PushedBack`]: the retry waits exactly that long
//! (clamped to the hint maximum), and the backoff after it starts again from its first delay.
//! A negative or unreadable value is [`Outcome::DoNotRetry`]: the retry layer stops with
//! `StopReason::ServerRefused` and returns the answer as it is. No pushback leaves the delay to
//! the client's backoff.
//!
//! ```
//! use std::time::Duration;
//! use http::{Request, Response};
//! use steadfast::classify::{Attempt, Classify, Outcome};
//! use steadfast_http::grpc::{GrpcClassifier, GrpcCode};
//! use steadfast_http::Rule;
//!
//! let classify = GrpcClassifier::builder().code(GrpcCode::DeadlineExceeded, Rule::Retry).build();
//! let req = Request::post("/echo.Echo/Say").body(()).unwrap();
//! let ctx = Attempt::first(&req);
//! let answer = |status: &str, pushback: Option<&str>| {
//!     let mut res = Response::builder().header("grpc-status", status);
//!     if let Some(p) = pushback {
//!         res = res.header("grpc-retry-pushback-ms", p);
//!     }
//!     let res = res.body(()).unwrap();
//!     Classify::<_, _, std::io::Error>::classify(&classify, &ctx, Ok(&res))
//! };
//! assert_eq!(answer("0", None), Outcome::Success);
//! assert_eq!(answer("14", None), Outcome::retryable());
//! assert_eq!(answer("8", Some("250")), Outcome::pushed_back(Duration::from_millis(250)));
//! assert_eq!(answer("8", Some("-1")), Outcome::DoNotRetry);
//! assert_eq!(answer("14", Some("soon")), Outcome::DoNotRetry); // unreadable: gRFC A6 says stop
//! assert_eq!(answer("4", None), Outcome::retryable()); // DEADLINE_EXCEEDED, as configured
//! assert_eq!(answer("5", None), Outcome::Success); // NOT_FOUND: the server answered
//! ```

use std::borrow::Cow;
use std::sync::Arc;

use http::{Request, Response};
use steadfast::classify::{Attempt, Classify, LateOutcome, Outcome};

use crate::classify::{
    error_outcome, error_outcome_explained, guard, retry_per_hint, with_guard, with_hint, Rule,
};
pub use crate::grpc_code::GrpcCode;
use crate::grpc_status::{BodyEnd, StatusWatch};
use crate::hint::{HintSource, ServerHints};
use crate::idempotency::Idempotency;
use crate::transport::ClientError;

#[derive(Debug)]
struct Rules {
    codes: [Rule; 17],
    unknown_errors: Rule,
    hints: ServerHints,
    idempotency: Idempotency,
}

/// Classifies gRPC answers and client errors; see the [module docs](self) for the rules.
///
/// Clones share one set of rules. Give it to the retry layer and the circuit breaker alike:
///
/// ```
/// use steadfast::retry::{Backoff, RetryLayer, RetryPolicy};
/// use steadfast_http::GrpcClassifier;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
/// let channel = service_fn({
///     let calls = calls.clone();
///     move |_: http::Request<()>| {
///         // `UNAVAILABLE` once (a trailers-only answer), then `OK`.
///         let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
///         let status = if n == 0 { "14" } else { "0" };
///         let res = http::Response::builder().header("grpc-status", status).body(()).unwrap();
///         async move { Ok::<_, std::io::Error>(res) }
///     }
/// });
/// let policy = RetryPolicy::builder()
///     .max_attempts(3)
///     .backoff(Backoff::none())
///     .classify(GrpcClassifier::default())
///     .build()
///     .unwrap();
/// let client = RetryLayer::new(policy).layer(channel);
/// let res = client.oneshot(http::Request::post("/echo.Echo/Say").body(()).unwrap()).await.unwrap();
/// assert_eq!(res.headers()["grpc-status"], "0");
/// assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct GrpcClassifier {
    rules: Arc<Rules>,
}

impl Default for GrpcClassifier {
    fn default() -> Self {
        GrpcClassifier::builder().build()
    }
}

impl GrpcClassifier {
    /// Starts from the defaults in the [module docs](self).
    pub fn builder() -> GrpcClassifierBuilder {
        let codes = GrpcCode::ALL.map(|c| match c {
            GrpcCode::Ok => Rule::Success,
            GrpcCode::Unavailable | GrpcCode::ResourceExhausted => Rule::Retry,
            GrpcCode::Cancelled => Rule::Ignore,
            GrpcCode::DeadlineExceeded
            | GrpcCode::Internal
            | GrpcCode::Unknown
            | GrpcCode::DataLoss
            | GrpcCode::Unimplemented => Rule::Fail,
            _ => Rule::Success,
        });
        GrpcClassifierBuilder {
            rules: Rules {
                codes,
                unknown_errors: Rule::Retry,
                hints: ServerHints::builder()
                    .sources([HintSource::GrpcRetryPushback])
                    .build()
                    .expect("one source and the default clamp are valid"),
                // Every gRPC call is a POST; retrying is the client's decision, as in gRPC's
                // own retry policy, so all methods are allowed unless the user says otherwise.
                idempotency: Idempotency::any(),
            },
        }
    }

    /// The rule for `code`.
    pub fn rule(&self, code: GrpcCode) -> Rule {
        self.rules.codes[code as usize]
    }

    /// The outcome of a response from its headers (and HTTP status).
    pub fn classify_response<B>(&self, res: &Response<B>) -> Outcome {
        let code = GrpcCode::from_headers(res.headers())
            .unwrap_or_else(|| GrpcCode::from_http_status(res.status()));
        match self.rule(code) {
            Rule::Retry => retry_per_hint(&self.rules.hints, res.headers()),
            other => other.outcome(),
        }
    }
}

/// Builds a [`GrpcClassifier`], starting from the defaults in the [module docs](self); from
/// [`GrpcClassifier::builder`].
///
/// ```
/// use http::{Request, Response};
/// use steadfast::classify::{Attempt, Classify, Outcome};
/// use steadfast_http::{GrpcClassifier, GrpcCode, Rule};
///
/// let classifier = GrpcClassifier::builder()
///     .code(GrpcCode::Aborted, Rule::Retry) // a lost transaction race: try again
///     .code(GrpcCode::NotFound, Rule::Fail) // here, a missing row means a broken backend
///     .build();
/// assert_eq!(classifier.rule(GrpcCode::Aborted), Rule::Retry);
///
/// let req = Request::post("/store.Store/Get").body(()).unwrap();
/// let res = Response::builder().header("grpc-status", "5").body(()).unwrap();
/// let outcome = Classify::<_, _, std::io::Error>::classify(&classifier, &Attempt::first(&req), Ok(&res));
/// assert_eq!(outcome, Outcome::NonRetryable);
/// ```
#[derive(Debug)]
pub struct GrpcClassifierBuilder {
    rules: Rules,
}

impl GrpcClassifierBuilder {
    /// Sets the rule for one status code.
    pub fn code(mut self, code: GrpcCode, rule: Rule) -> Self {
        self.rules.codes[code as usize] = rule;
        self
    }

    /// What to do with errors that are not recognisably the network's (default: retry).
    pub fn unknown_errors(mut self, rule: Rule) -> Self {
        self.rules.unknown_errors = rule;
        self
    }

    /// Which server hints to read (default: `grpc-retry-pushback-ms` only), and their clamp.
    pub fn hints(mut self, hints: ServerHints) -> Self {
        self.rules.hints = hints;
        self
    }

    /// Which calls may be sent twice (default: every call; use
    /// [`Idempotency::default`] plus an idempotency-key header to be stricter).
    pub fn idempotency(mut self, idempotency: Idempotency) -> Self {
        self.rules.idempotency = idempotency;
        self
    }

    /// The classifier.
    pub fn build(self) -> GrpcClassifier {
        GrpcClassifier {
            rules: Arc::new(self.rules),
        }
    }
}

impl<B, RB, E> Classify<Request<B>, Response<RB>, E> for GrpcClassifier
where
    E: ClientError,
{
    fn classify(
        &self,
        attempt: &Attempt<'_, Request<B>>,
        result: Result<&Response<RB>, &E>,
    ) -> Outcome {
        let (outcome, never_sent) = match result {
            Ok(res) => (self.classify_response(res), false),
            Err(e) => {
                let e = e.as_dyn_error();
                match crate::transport::find_status(e) {
                    Some(status) => (self.rule(status).outcome(), false),
                    None => error_outcome(e, self.rules.unknown_errors),
                }
            }
        };
        guard(outcome, never_sent, &self.rules.idempotency, attempt)
    }

    /// Rules: `"grpc UNAVAILABLE"` (with the pushback that set the delay, or refused a
    /// retry: `"grpc UNAVAILABLE, grpc-retry-pushback-ms 500ms"`), a `tonic::Status` in the
    /// error (`"grpc status UNAVAILABLE"`), the client error's kind (`"connect error"`,
    /// `"timeout"`...), and `", not idempotent"` when the idempotency check stopped a retry.
    fn explain(
        &self,
        attempt: &Attempt<'_, Request<B>>,
        result: Result<&Response<RB>, &E>,
    ) -> (Outcome, Option<Cow<'static, str>>) {
        let (outcome, never_sent, text) = match result {
            Ok(res) => {
                let code = GrpcCode::from_headers(res.headers())
                    .unwrap_or_else(|| GrpcCode::from_http_status(res.status()));
                let text = format!("grpc {}", code.name());
                match self.rule(code) {
                    Rule::Retry => {
                        let (outcome, source) = self.rules.hints.outcome_sourced(res.headers());
                        (outcome, false, with_hint(text, outcome, source))
                    }
                    other => (other.outcome(), false, text),
                }
            }
            Err(e) => {
                let e = e.as_dyn_error();
                match crate::transport::find_status(e) {
                    Some(status) => (
                        self.rule(status).outcome(),
                        false,
                        format!("grpc status {}", status.name()),
                    ),
                    None => {
                        let (outcome, never_sent, rule) =
                            error_outcome_explained(e, self.rules.unknown_errors);
                        (outcome, never_sent, rule.to_owned())
                    }
                }
            }
        };
        let guarded = guard(outcome, never_sent, &self.rules.idempotency, attempt);
        (guarded, Some(with_guard(text, outcome, guarded)))
    }

    /// The rules look at the status, the error and the request, never at the time.
    fn reads_elapsed(&self) -> bool {
        false
    }

    /// A streamed answer watched by [`GrpcStatusLayer`](crate::grpc_status::GrpcStatusLayer)
    /// is judged again when its body ends, by the rule for the status in its trailers.
    fn late_outcome(&self, response: &Response<RB>) -> Option<LateOutcome> {
        let watch = response.extensions().get::<StatusWatch>()?;
        let late = LateOutcome::new();
        let settle = late.clone();
        let rules = Arc::clone(&self.rules);
        watch.on_end(move |end| {
            let outcome = match end {
                // A call that ends without a status failed, as gRPC's protocol says.
                BodyEnd::Ended(code) => rules.codes[code.unwrap_or(GrpcCode::Unknown) as usize],
                BodyEnd::Failed => Rule::Retry,
            };
            settle.settle(outcome.outcome());
        });
        Some(late)
    }
}

/// Turns each request's body into tonic's body type, so that layers which change the body
/// (such as [`ReplayLayer`](crate::replay::ReplayLayer)) can sit in front of a tonic
/// `Channel`. Put it last, right above the channel.
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::{BodyExt, Full};
/// use steadfast_http::grpc::TonicBodyLayer;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// // Stands in for a tonic `Channel`: it takes only tonic's body type.
/// let channel = service_fn(|req: http::Request<tonic::body::Body>| async move {
///     let bytes = req.into_body().collect().await?.to_bytes();
///     Ok::<_, tonic::Status>(bytes.len())
/// });
/// let svc = TonicBodyLayer.layer(channel);
/// let req = http::Request::post("/echo.Echo/Say").body(Full::new(Bytes::from_static(b"hello"))).unwrap();
/// assert_eq!(svc.oneshot(req).await.unwrap(), 5);
/// # }
/// ```
///
/// In front of a real channel, with retries of streamed request bodies:
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use steadfast::retry::{RetryLayer, RetryPolicy};
/// use steadfast_http::grpc::{GrpcClassifier, TonicBodyLayer};
/// use steadfast_http::replay::{ReplayCloner, ReplayLayer};
/// use tower::ServiceBuilder;
///
/// let channel = tonic::transport::Endpoint::from_static("http://127.0.0.1:50051").connect().await?;
/// let policy = RetryPolicy::builder()
///     .classify(GrpcClassifier::default())
///     .clone_requests(ReplayCloner)
///     .build()?;
/// let channel = ServiceBuilder::new()
///     .layer(ReplayLayer::new())
///     .layer(RetryLayer::new(policy))
///     .layer(TonicBodyLayer)
///     .service(channel);
/// // Hand `channel` to a generated client: `EchoClient::new(channel)`.
/// # let _ = channel; Ok(()) }
/// ```
#[cfg(feature = "tonic")]
#[derive(Debug, Clone, Copy, Default)]
pub struct TonicBodyLayer;

#[cfg(feature = "tonic")]
impl<S> tower_layer::Layer<S> for TonicBodyLayer {
    type Service = TonicBody<S>;
    fn layer(&self, inner: S) -> TonicBody<S> {
        TonicBody { inner }
    }
}

/// The service made by [`TonicBodyLayer`].
#[cfg(feature = "tonic")]
#[derive(Debug, Clone)]
pub struct TonicBody<S> {
    pub(crate) inner: S,
}

#[cfg(feature = "tonic")]
impl<S, B> tower_service::Service<Request<B>> for TonicBody<S>
where
    S: tower_service::Service<Request<tonic::body::Body>>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<steadfast::BoxError>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    #[inline]
    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> S::Future {
        self.inner.call(req.map(tonic::body::Body::new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, StatusCode};

    #[test]
    fn codes_read_from_numbers_headers_and_http_statuses() {
        assert_eq!(GrpcCode::from_i32(14), GrpcCode::Unavailable);
        assert_eq!(GrpcCode::from_i32(17), GrpcCode::Unknown);
        assert_eq!(GrpcCode::from_i32(-1), GrpcCode::Unknown);
        let mut h = HeaderMap::new();
        assert_eq!(GrpcCode::from_headers(&h), None);
        h.insert("grpc-status", "x".parse().unwrap());
        assert_eq!(GrpcCode::from_headers(&h), None);
        h.insert("grpc-status", " 8 ".parse().unwrap());
        assert_eq!(
            GrpcCode::from_headers(&h),
            Some(GrpcCode::ResourceExhausted)
        );
        for (status, code) in [
            (200, GrpcCode::Ok),
            (400, GrpcCode::Internal),
            (401, GrpcCode::Unauthenticated),
            (403, GrpcCode::PermissionDenied),
            (404, GrpcCode::Unimplemented),
            (429, GrpcCode::Unavailable),
            (502, GrpcCode::Unavailable),
            (503, GrpcCode::Unavailable),
            (504, GrpcCode::Unavailable),
            (500, GrpcCode::Unknown),
        ] {
            assert_eq!(
                GrpcCode::from_http_status(StatusCode::from_u16(status).unwrap()),
                code
            );
        }
    }

    #[test]
    fn pushback_follows_grfc_a6() {
        let c = GrpcClassifier::default();
        let answer = |status: &str, pushback: &str| {
            let res = Response::builder()
                .header("grpc-status", status)
                .header("grpc-retry-pushback-ms", pushback)
                .body(())
                .unwrap();
            c.classify_response(&res)
        };
        assert_eq!(
            answer("8", "500"),
            Outcome::pushed_back(std::time::Duration::from_millis(500))
        );
        for refusal in ["-1", "soon", "1.5", "", "0x10", "12abc"] {
            assert_eq!(answer("14", refusal), Outcome::DoNotRetry, "{refusal:?}");
        }
        // Only retryable statuses read it.
        assert_eq!(answer("13", "-1"), Outcome::NonRetryable);
        assert_eq!(answer("0", "soon"), Outcome::Success);
    }

    #[test]
    fn a_proxys_503_without_grpc_status_is_retried() {
        let c = GrpcClassifier::default();
        let res = Response::builder().status(503).body(()).unwrap();
        assert_eq!(c.classify_response(&res), Outcome::retryable());
        let res = Response::builder().status(500).body(()).unwrap();
        assert_eq!(c.classify_response(&res), Outcome::NonRetryable);
        let res = Response::builder()
            .header("grpc-status", "1")
            .body(())
            .unwrap();
        assert_eq!(c.classify_response(&res), Outcome::Ignored);
    }
}
