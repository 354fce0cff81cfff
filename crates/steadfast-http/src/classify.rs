//! A ready-made classifier for HTTP clients, shared by the retry layer and the circuit
//! breaker.
//!
//! [`HttpClassifier`] turns each `Result<http::Response<_>, E>` into a steadfast
//! [`Outcome`]:
//!
//! | result | outcome | retried | breaker |
//! |---|---|---|---|
//! | 1xx, 2xx, 3xx | success | no | success |
//! | 408, 429, 502, 503, 504 | retryable, with the server's hint if it gave one (`Retry-After`, RFC 9110) | yes | failure |
//! | other 4xx | success: the server answered, the request was wrong | no | success |
//! | other 5xx | non-retryable failure | no | failure |
//! | connection refused, reset, closed early; timeouts | retryable | yes | failure |
//! | request cancelled (client left, shutdown) | ignored | no | not counted |
//! | breaker open | non-retryable | no | not counted by the breaker that refused it |
//! | any other error | retryable (configurable) | yes | failure |
//!
//! Every row can be changed per status with [`HttpClassifierBuilder::status`]. Retryable
//! outcomes also pass two safety checks: a server hint of "do not retry" makes them final
//! ([`Outcome::DoNotRetry`], see [`ServerHints::outcome`](crate::hint::ServerHints::outcome)),
//! and a request that is not safe to send twice (see [`Idempotency`]) is not retried unless
//! no connection was ever made.
//!
//! For a request that carries a [decision trace](steadfast::trace), the layers ask for the
//! rule behind each verdict ([`Classify::explain`]): `"status 503"`, `"status 503, retry-after
//! 2s"` (the header that set the delay), `"connect error"`, `"timeout"`, with `", not
//! idempotent"` when the idempotency check stopped a retry. The gRPC classifier names the code:
//! `"grpc UNAVAILABLE, grpc-retry-pushback-ms 500ms"`.
//!
//! ```
//! use std::time::Duration;
//! use http::{Request, Response, StatusCode};
//! use steadfast::classify::{Attempt, Classify, Outcome};
//! use steadfast_http::HttpClassifier;
//!
//! let classify = HttpClassifier::default();
//! let req = Request::get("/items").body(()).unwrap();
//! let ctx = Attempt::first(&req);
//! let answer = |status: u16, retry_after: Option<&str>| {
//!     let mut res = Response::builder().status(status);
//!     if let Some(v) = retry_after {
//!         res = res.header("retry-after", v);
//!     }
//!     let res = res.body(()).unwrap();
//!     Classify::<_, _, std::io::Error>::classify(&classify, &ctx, Ok(&res))
//! };
//! assert_eq!(answer(200, None), Outcome::Success);
//! assert_eq!(answer(404, None), Outcome::Success);
//! assert_eq!(answer(500, None), Outcome::NonRetryable);
//! assert_eq!(answer(503, None), Outcome::retryable());
//! assert_eq!(answer(429, Some("7")), Outcome::retry_after(Duration::from_secs(7)));
//!
//! // A POST is not retried after a 503 (it may have been acted on)...
//! let post = Request::post("/pay").body(()).unwrap();
//! let res = Response::builder().status(503).body(()).unwrap();
//! let ctx = Attempt::first(&post);
//! assert_eq!(Classify::<_, _, std::io::Error>::classify(&classify, &ctx, Ok(&res)),
//!            Outcome::NonRetryable);
//! // ...but a refused connection is: it never reached the server.
//! let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
//! assert_eq!(Classify::<_, http::Response<()>, _>::classify(&classify, &ctx, Err(&refused)),
//!            Outcome::retryable());
//! ```

use std::borrow::Cow;
use std::sync::Arc;

use http::{Request, Response, StatusCode};
use steadfast::classify::{Attempt, Classify, Outcome};

use crate::hint::{HintSource, ServerHints};
use crate::idempotency::Idempotency;
use crate::transport::{error_kind, ClientError, ErrorKind};

/// What a classifier does with one status code (or gRPC status).
///
/// Given to [`HttpClassifierBuilder::status`] and
/// [`GrpcClassifierBuilder::code`](crate::grpc::GrpcClassifierBuilder::code):
///
/// ```
/// use http::StatusCode;
/// use steadfast_http::{HttpClassifier, Rule};
///
/// let classifier = HttpClassifier::builder()
///     .status(StatusCode::INTERNAL_SERVER_ERROR, Rule::Retry)
///     .status(StatusCode::NOT_FOUND, Rule::Ignore)
///     .build();
/// assert_eq!(classifier.rule(StatusCode::INTERNAL_SERVER_ERROR), Rule::Retry);
/// assert_eq!(classifier.rule(StatusCode::NOT_FOUND), Rule::Ignore);
/// assert_eq!(classifier.rule(StatusCode::NOT_IMPLEMENTED), Rule::Fail); // the default
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// A success: not retried, counted as a success by a breaker.
    Success,
    /// A transient failure: retried (after the server's hint, if any), a breaker failure.
    Retry,
    /// A failure that is not retried, but counts as a breaker failure.
    Fail,
    /// Neither: not retried and not counted by a breaker.
    Ignore,
}

impl Rule {
    pub(crate) fn outcome(self) -> Outcome {
        match self {
            Rule::Success => Outcome::Success,
            Rule::Retry => Outcome::retryable(),
            Rule::Fail => Outcome::NonRetryable,
            Rule::Ignore => Outcome::Ignored,
        }
    }
}

/// The lowest and highest status codes `http` accepts.
const FIRST: u16 = 100;
const LAST: u16 = 999;

#[derive(Debug)]
struct Rules {
    /// One rule per status code from 100 to 999.
    statuses: Box<[Rule]>,
    unknown_errors: Rule,
    hints: ServerHints,
    idempotency: Idempotency,
}

/// Classifies HTTP responses and client errors; see the [module docs](self) for the rules.
///
/// Clones share one set of rules. Server hints are read only for responses whose status is
/// retried. Give it to the retry layer and the circuit breaker alike:
///
/// ```
/// use std::time::Duration;
/// use steadfast::retry::{Backoff, RetryLayer, RetryPolicy};
/// use steadfast_http::HttpClassifier;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let tries = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
/// let server = service_fn({
///     let tries = tries.clone();
///     move |_: http::Request<()>| {
///         // Busy twice (asking for one second each time), then fine.
///         let n = tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
///         let res = if n < 2 {
///             http::Response::builder().status(503).header("retry-after", "1")
///         } else {
///             http::Response::builder().status(200)
///         };
///         async move { Ok::<_, std::io::Error>(res.body(()).unwrap()) }
///     }
/// });
/// let policy = RetryPolicy::builder()
///     .max_attempts(4)
///     .backoff(Backoff::constant(Duration::from_millis(10)))
///     .classify(HttpClassifier::default())
///     .build()
///     .unwrap();
/// let client = RetryLayer::new(policy).layer(server);
///
/// let started = tokio::time::Instant::now();
/// let res = client.oneshot(http::Request::get("/").body(()).unwrap()).await.unwrap();
/// assert_eq!(res.status(), 200);
/// assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 3);
/// assert_eq!(started.elapsed(), Duration::from_secs(2)); // the server's hint, twice
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct HttpClassifier {
    rules: Arc<Rules>,
}

impl Default for HttpClassifier {
    fn default() -> Self {
        HttpClassifier::builder().build()
    }
}

impl HttpClassifier {
    /// Starts from the defaults in the [module docs](self).
    pub fn builder() -> HttpClassifierBuilder {
        let statuses = (FIRST..=LAST)
            .map(|code| match code {
                408 | 429 | 502 | 503 | 504 => Rule::Retry,
                500..=599 => Rule::Fail,
                _ => Rule::Success,
            })
            .collect();
        HttpClassifierBuilder {
            rules: Rules {
                statuses,
                unknown_errors: Rule::Retry,
                hints: ServerHints::default(),
                idempotency: Idempotency::default(),
            },
        }
    }

    /// The rule for `status`.
    pub fn rule(&self, status: StatusCode) -> Rule {
        self.rules.statuses[usize::from(status.as_u16() - FIRST)]
    }

    /// The outcome of a response, before the idempotency check.
    pub fn classify_response<B>(&self, res: &Response<B>) -> Outcome {
        match self.rule(res.status()) {
            Rule::Retry => retry_per_hint(&self.rules.hints, res.headers()),
            other => other.outcome(),
        }
    }

    /// The outcome of a client error, and whether the request surely never reached the
    /// server.
    pub fn classify_error(&self, err: &(dyn std::error::Error + 'static)) -> (Outcome, bool) {
        error_outcome(err, self.rules.unknown_errors)
    }

    fn idempotency(&self) -> &Idempotency {
        &self.rules.idempotency
    }
}

/// Builds an [`HttpClassifier`], starting from the defaults in the [module docs](self); from
/// [`HttpClassifier::builder`].
///
/// ```
/// use std::time::Duration;
/// use http::{Request, Response, StatusCode};
/// use steadfast::classify::{Attempt, Classify, Outcome};
/// use steadfast_http::hint::{HintSource, ServerHints};
/// use steadfast_http::idempotency::Idempotency;
/// use steadfast_http::{HttpClassifier, Rule};
///
/// let classifier = HttpClassifier::builder()
///     .statuses(500..=599, Rule::Retry) // every 5xx is worth another try here
///     .hints(ServerHints::builder().sources([HintSource::RetryAfter]).max(Duration::from_secs(5)).build().unwrap())
///     .idempotency(Idempotency::any()) // and every call is safe to repeat
///     .build();
///
/// let post = Request::post("/jobs").body(()).unwrap();
/// let res = Response::builder().status(StatusCode::INTERNAL_SERVER_ERROR).header("retry-after", "30").body(()).unwrap();
/// let outcome = Classify::<_, _, std::io::Error>::classify(&classifier, &Attempt::first(&post), Ok(&res));
/// assert_eq!(outcome, Outcome::retry_after(Duration::from_secs(5))); // the hint, clamped
/// ```
#[derive(Debug)]
pub struct HttpClassifierBuilder {
    rules: Rules,
}

impl HttpClassifierBuilder {
    /// Sets the rule for one status code.
    pub fn status(mut self, status: StatusCode, rule: Rule) -> Self {
        self.rules.statuses[usize::from(status.as_u16() - FIRST)] = rule;
        self
    }

    /// Sets the rule for every status code in `codes` (for example `500..=599`); codes
    /// outside 100–999 are skipped.
    pub fn statuses(mut self, codes: impl IntoIterator<Item = u16>, rule: Rule) -> Self {
        for code in codes {
            if (FIRST..=LAST).contains(&code) {
                self.rules.statuses[usize::from(code - FIRST)] = rule;
            }
        }
        self
    }

    /// What to do with errors that are not recognisably the network's (default: retry).
    pub fn unknown_errors(mut self, rule: Rule) -> Self {
        self.rules.unknown_errors = rule;
        self
    }

    /// Which server hints to read, and their clamp.
    pub fn hints(mut self, hints: ServerHints) -> Self {
        self.rules.hints = hints;
        self
    }

    /// Which requests may be sent twice (default: [`Idempotency::default`]).
    pub fn idempotency(mut self, idempotency: Idempotency) -> Self {
        self.rules.idempotency = idempotency;
        self
    }

    /// The classifier.
    pub fn build(self) -> HttpClassifier {
        HttpClassifier {
            rules: Arc::new(self.rules),
        }
    }
}

/// A retryable outcome, after the server's hint if it gave one; a refusal if it said not to
/// retry. See [`ServerHints::outcome`].
pub(crate) fn retry_per_hint(hints: &ServerHints, headers: &http::HeaderMap) -> Outcome {
    hints.outcome(headers)
}

/// The outcome of a client error (with `unknown` for errors that are not recognisably the
/// network's), and whether the request surely never reached the server. Shared by the HTTP and
/// gRPC classifiers.
pub(crate) fn error_outcome(
    err: &(dyn std::error::Error + 'static),
    unknown: Rule,
) -> (Outcome, bool) {
    let (outcome, never_sent, _) = error_outcome_explained(err, unknown);
    (outcome, never_sent)
}

/// [`error_outcome`], with the rule that gave it for a decision trace (`"connect error"`,
/// `"timeout"`...).
#[inline]
pub(crate) fn error_outcome_explained(
    err: &(dyn std::error::Error + 'static),
    unknown: Rule,
) -> (Outcome, bool, &'static str) {
    if steadfast::classify::find_source::<crate::validate::BodyTooLarge>(err).is_some() {
        return (Outcome::NonRetryable, false, "body too large");
    }
    match error_kind(err) {
        ErrorKind::Connect => (Outcome::retryable(), true, "connect error"),
        ErrorKind::Transport => (Outcome::retryable(), false, "transport error"),
        ErrorKind::Timeout => (Outcome::retryable(), false, "timeout"),
        ErrorKind::Cancelled => (Outcome::Ignored, false, "cancelled"),
        ErrorKind::Rejected => (Outcome::NonRetryable, true, "rejected by a circuit breaker"),
        _ => (unknown.outcome(), false, "unknown error"),
    }
}

/// The rule text for a response judged `rule_text` whose retry outcome, read from its
/// hints, is `outcome` (from the header `source`): `"status 503, retry-after 2s"`.
pub(crate) fn with_hint(rule_text: String, outcome: Outcome, source: Option<HintSource>) -> String {
    match (outcome, source) {
        (Outcome::DoNotRetry, Some(source)) => {
            format!("{rule_text}, {} refused a retry", source.header_name())
        }
        (outcome, Some(source)) => match outcome.hint() {
            Some(delay) => format!("{rule_text}, {} {delay:?}", source.header_name()),
            None => rule_text,
        },
        (_, None) => rule_text,
    }
}

/// The rule text once the idempotency check had its say: `guarded` differs from `outcome`
/// when it stopped a retry.
pub(crate) fn with_guard(
    rule_text: String,
    outcome: Outcome,
    guarded: Outcome,
) -> Cow<'static, str> {
    if outcome == guarded {
        Cow::Owned(rule_text)
    } else {
        Cow::Owned(format!("{rule_text}, not idempotent"))
    }
}

/// Applies the idempotency rule to a retryable outcome.
pub(crate) fn guard<B>(
    outcome: Outcome,
    never_sent: bool,
    idempotency: &Idempotency,
    attempt: &Attempt<'_, Request<B>>,
) -> Outcome {
    if !outcome.is_retryable() || never_sent {
        return outcome;
    }
    match attempt.request {
        Some(req) if !idempotency.allows(req) => Outcome::NonRetryable,
        _ => outcome,
    }
}

impl<B, RB, E> Classify<Request<B>, Response<RB>, E> for HttpClassifier
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
            Err(e) => self.classify_error(e.as_dyn_error()),
        };
        guard(outcome, never_sent, self.idempotency(), attempt)
    }

    /// Rules: `"status 503"` (with the hint that set the delay: `"status 503, retry-after
    /// 2s"`), the client error's kind (`"connect error"`, `"transport error"`, `"timeout"`,
    /// `"cancelled"`, `"rejected by a circuit breaker"`, `"body too large"`, `"unknown
    /// error"`), and `", not idempotent"` when the idempotency check stopped a retry.
    fn explain(
        &self,
        attempt: &Attempt<'_, Request<B>>,
        result: Result<&Response<RB>, &E>,
    ) -> (Outcome, Option<Cow<'static, str>>) {
        let (outcome, never_sent, text) = match result {
            Ok(res) => {
                let status = res.status().as_u16();
                let text = format!("status {status}");
                match self.rule(res.status()) {
                    Rule::Retry => {
                        let (outcome, source) = self.rules.hints.outcome_sourced(res.headers());
                        (outcome, false, with_hint(text, outcome, source))
                    }
                    other => (other.outcome(), false, text),
                }
            }
            Err(e) => {
                let (outcome, never_sent, rule) =
                    error_outcome_explained(e.as_dyn_error(), self.rules.unknown_errors);
                (outcome, never_sent, rule.to_owned())
            }
        };
        let guarded = guard(outcome, never_sent, self.idempotency(), attempt);
        (guarded, Some(with_guard(text, outcome, guarded)))
    }

    /// The rules look at the status, the error and the request, never at the time.
    fn reads_elapsed(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn answer(c: &HttpClassifier, method: Method, status: u16) -> Outcome {
        let req = Request::builder().method(method).body(()).unwrap();
        let res = Response::builder().status(status).body(()).unwrap();
        Classify::<_, _, std::io::Error>::classify(c, &Attempt::first(&req), Ok(&res))
    }

    #[test]
    fn statuses_can_be_given_other_rules() {
        let c = HttpClassifier::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR, Rule::Retry)
            .statuses(400..=499, Rule::Ignore)
            .statuses([42, 1000], Rule::Fail) // outside 100-999: skipped, no panic
            .build();
        assert_eq!(answer(&c, Method::GET, 500), Outcome::retryable());
        assert_eq!(answer(&c, Method::GET, 404), Outcome::Ignored);
        assert_eq!(answer(&c, Method::GET, 429), Outcome::Ignored);
        assert_eq!(answer(&c, Method::GET, 501), Outcome::NonRetryable);
        assert_eq!(c.rule(StatusCode::OK), Rule::Success);
    }

    #[test]
    fn idempotency_settings_decide_for_unsafe_methods() {
        let strict = HttpClassifier::builder()
            .idempotency(Idempotency::default().without_key_header())
            .build();
        let keyed = Request::post("/")
            .header("idempotency-key", "k")
            .body(())
            .unwrap();
        let res = Response::builder().status(503).body(()).unwrap();
        let outcome =
            Classify::<_, _, std::io::Error>::classify(&strict, &Attempt::first(&keyed), Ok(&res));
        assert_eq!(outcome, Outcome::NonRetryable);

        let custom = HttpClassifier::builder()
            .idempotency(
                Idempotency::default().key_header(http::HeaderName::from_static("x-op-id")),
            )
            .build();
        let req = Request::patch("/").header("x-op-id", "1").body(()).unwrap();
        let outcome =
            Classify::<_, _, std::io::Error>::classify(&custom, &Attempt::first(&req), Ok(&res));
        assert_eq!(outcome, Outcome::retryable());

        let any = HttpClassifier::builder()
            .idempotency(Idempotency::any())
            .build();
        assert_eq!(answer(&any, Method::POST, 503), Outcome::retryable());
        assert_eq!(
            answer(&HttpClassifier::default(), Method::POST, 503),
            Outcome::NonRetryable
        );
        assert_eq!(
            answer(&HttpClassifier::default(), Method::PUT, 503),
            Outcome::retryable()
        );
    }
}
