//! The errors of the validate layer: a response that failed validation, and a request that
//! was rejected before it was sent.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use super::reason::Reason;
use super::validator::ValidationContext;
use crate::trace::DecisionTrace;

fn write_reasons(f: &mut fmt::Formatter<'_>, reasons: &[Reason]) -> fmt::Result {
    for (i, r) in reasons.iter().enumerate() {
        if i > 0 {
            f.write_str("; ")?;
        }
        write!(f, "{r}")?;
    }
    Ok(())
}

/// The reasons a response failed validation, and the attempt it came from: the part of an
/// [`Invalid`] that does not depend on the response's type.
///
/// Every `Invalid<Res>` has one as its [`source`](StdError::source), so code that does not
/// know `Res` (a classifier, a log line, a circuit breaker) can still recognise an invalid
/// response and read why: [`classify::is_invalid`](crate::classify::is_invalid) looks for it,
/// and so can [`find_source`](crate::classify::find_source).
///
/// ```
/// use steadfast::classify::find_source;
/// use steadfast::validate::{ValidationContext, Invalid, InvalidResponse, Reason};
///
/// let err: steadfast::BoxError =
///     Box::new(Invalid::new("{oops".to_string(), vec![Reason::from("not valid JSON")], ValidationContext::first()));
/// let why = find_source::<InvalidResponse>(&*err).unwrap();
/// assert_eq!(why.reasons()[0].as_str(), "not valid JSON");
/// assert_eq!(why.attempt(), 1);
/// ```
///
/// Two are equal when their reasons, attempts and elapsed times are.
#[derive(Debug, Clone)]
pub struct InvalidResponse {
    reasons: Vec<Reason>,
    attempt: u32,
    elapsed: Duration,
    trace: Option<DecisionTrace>,
}

impl PartialEq for InvalidResponse {
    fn eq(&self, other: &Self) -> bool {
        (&self.reasons, self.attempt, self.elapsed)
            == (&other.reasons, other.attempt, other.elapsed)
    }
}

impl Eq for InvalidResponse {}

impl InvalidResponse {
    /// The [decision trace](crate::trace) of the request whose response this is, when it
    /// carried one: it ends with one entry per reason.
    pub fn decision_trace(&self) -> Option<&DecisionTrace> {
        self.trace.as_ref()
    }

    /// The reasons, one per failed check, in the order the validators ran.
    pub fn reasons(&self) -> &[Reason] {
        &self.reasons
    }

    /// The attempt the response came from (1 unless a retry layer above tagged the request;
    /// see [`RetryAttempt`](crate::token::RetryAttempt)).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The elapsed time the validators saw (see [`ValidationContext::elapsed`]).
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }
}

impl fmt::Display for InvalidResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_reasons(f, &self.reasons)
    }
}

impl StdError for InvalidResponse {}

/// A response that failed validation: the response itself, kept so the caller (or a
/// [`best_of`](super::best_of) recovery) can still use it, and why it failed.
///
/// The validate layer returns it boxed as a [`BoxError`](crate::BoxError); downcast it with
/// the response type, or find its [`InvalidResponse`] source without knowing that type. The
/// retry layer retries it (its default classifier does, and records it as
/// [`Outcome::Invalid`](crate::classify::Outcome::Invalid)); a circuit breaker counts it as a
/// semantic failure.
///
/// ```
/// use steadfast::validate::{ValidationContext, Invalid, Reason};
///
/// let err: steadfast::BoxError = Box::new(Invalid::new(
///     String::from("{\"answer\":"),
///     vec![Reason::from("not valid JSON"), Reason::from("no answer")],
///     ValidationContext::first(),
/// ));
/// assert_eq!(err.to_string(), "response failed validation");
/// let invalid = err.downcast::<Invalid<String>>().unwrap();
/// assert_eq!(invalid.reasons().len(), 2);
/// assert_eq!(invalid.into_response(), "{\"answer\":");
/// ```
pub struct Invalid<Res> {
    response: Res,
    why: InvalidResponse,
}

impl<Res> Invalid<Res> {
    /// An invalid `response`, rejected for `reasons` in the attempt `cx` describes.
    pub fn new(response: Res, reasons: Vec<Reason>, cx: ValidationContext) -> Self {
        Invalid {
            response,
            why: InvalidResponse {
                reasons,
                attempt: cx.attempt(),
                elapsed: cx.elapsed(),
                trace: None,
            },
        }
    }

    /// This error, carrying the decision trace of the request it ends.
    pub(crate) fn with_trace(mut self, trace: DecisionTrace) -> Self {
        self.why.trace = Some(trace);
        self
    }

    /// The [decision trace](crate::trace) of the request whose response this is, when it
    /// carried one: it ends with one entry per reason.
    pub fn decision_trace(&self) -> Option<&DecisionTrace> {
        self.why.trace.as_ref()
    }

    /// The response.
    pub fn response(&self) -> &Res {
        &self.response
    }

    /// The response, mutably.
    pub fn response_mut(&mut self) -> &mut Res {
        &mut self.response
    }

    /// The reasons, one per failed check, in the order the validators ran.
    pub fn reasons(&self) -> &[Reason] {
        &self.why.reasons
    }

    /// The attempt the response came from.
    pub fn attempt(&self) -> u32 {
        self.why.attempt
    }

    /// The elapsed time the validators saw.
    pub fn elapsed(&self) -> Duration {
        self.why.elapsed
    }

    /// The part that does not depend on the response type (also the error's source).
    pub fn details(&self) -> &InvalidResponse {
        &self.why
    }

    /// Takes the response out.
    pub fn into_response(self) -> Res {
        self.response
    }

    /// Takes the response and the reasons out.
    pub fn into_parts(self) -> (Res, Vec<Reason>) {
        (self.response, self.why.reasons)
    }
}

// Not derived: an invalid response is an error whatever its type, `Debug` or not.
impl<Res> fmt::Debug for Invalid<Res> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invalid")
            .field("response", &std::any::type_name::<Res>())
            .field("reasons", &self.why.reasons)
            .field("attempt", &self.why.attempt)
            .finish()
    }
}

impl<Res> fmt::Display for Invalid<Res> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("response failed validation")
    }
}

impl<Res> StdError for Invalid<Res> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.why)
    }
}

/// A request that request validators rejected: it was not sent, and the inner service was not
/// called.
///
/// Retrying would not change the verdict, so the retry layer does not retry it and a circuit
/// breaker ignores it (see [`classify::refine`](crate::classify::refine)).
///
/// ```
/// use steadfast::validate::{InvalidRequest, ValidateLayer};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let layer = ValidateLayer::builder()
///     .request_fn(|prompt: &String, _| if prompt.is_empty() { Err("empty prompt") } else { Ok(()) })
///     .build()
///     .unwrap();
/// let svc = layer.layer(service_fn(|p: String| async move { Ok::<_, std::io::Error>(p.len()) }));
/// let err = svc.oneshot(String::new()).await.unwrap_err();
/// let rejected = err.downcast_ref::<InvalidRequest>().unwrap();
/// assert_eq!(rejected.to_string(), "request rejected by validation: empty prompt");
/// # }
/// ```
///
/// Two are equal when their reasons and attempts are.
#[derive(Debug, Clone)]
pub struct InvalidRequest {
    reasons: Vec<Reason>,
    attempt: u32,
    trace: Option<DecisionTrace>,
}

impl PartialEq for InvalidRequest {
    fn eq(&self, other: &Self) -> bool {
        (&self.reasons, self.attempt) == (&other.reasons, other.attempt)
    }
}

impl Eq for InvalidRequest {}

impl InvalidRequest {
    /// A rejection of attempt `attempt` for `reasons` (for layers that validate requests
    /// themselves, such as an HTTP server's).
    pub fn new(reasons: Vec<Reason>, attempt: u32) -> Self {
        InvalidRequest {
            reasons,
            attempt,
            trace: None,
        }
    }

    /// This error, carrying the decision trace of the request it ends.
    pub(crate) fn with_trace(mut self, trace: DecisionTrace) -> Self {
        self.trace = Some(trace);
        self
    }

    /// The [decision trace](crate::trace) of the rejected request, when it carried one: it
    /// ends with one entry per reason.
    pub fn decision_trace(&self) -> Option<&DecisionTrace> {
        self.trace.as_ref()
    }

    /// The reasons, one per failed check, in the order the validators ran.
    pub fn reasons(&self) -> &[Reason] {
        &self.reasons
    }

    /// The attempt the request was (1 unless a retry layer above tagged it).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

impl fmt::Display for InvalidRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("request rejected by validation: ")?;
        write_reasons(f, &self.reasons)
    }
}

impl StdError for InvalidRequest {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{find_source, is_invalid, is_rejected_request, refine, Outcome};
    use crate::BoxError;

    #[test]
    fn invalid_reads_well_and_is_found_without_its_type() {
        let cx = ValidationContext::new(3, Duration::from_millis(40));
        let err: BoxError = Box::new(Invalid::new(
            7u32,
            vec![
                Reason::from("too small"),
                Reason::new(format!("odd: {}", 7)),
            ],
            cx,
        ));
        assert_eq!(err.to_string(), "response failed validation");
        let why = find_source::<InvalidResponse>(&*err).unwrap();
        assert_eq!(why.to_string(), "too small; odd: 7");
        assert_eq!(
            (why.attempt(), why.elapsed()),
            (3, Duration::from_millis(40))
        );
        assert!(is_invalid(&*err));
        assert!(!is_rejected_request(&*err));
        assert_eq!(refine(Outcome::retryable(), &*err), Outcome::Invalid);
        assert_eq!(refine(Outcome::NonRetryable, &*err), Outcome::NonRetryable);
        assert_eq!(refine(Outcome::Success, &*err), Outcome::Success);
        assert!(format!("{:?}", err).contains("too small"));
        let invalid = err.downcast::<Invalid<u32>>().unwrap();
        assert_eq!(invalid.attempt(), 3);
        let (res, reasons) = invalid.into_parts();
        assert_eq!((res, reasons.len()), (7, 2));
    }

    #[test]
    fn rejected_requests_are_ignored_by_the_layers() {
        let err: BoxError = Box::new(InvalidRequest::new(vec!["no prompt".into()], 1));
        assert!(is_rejected_request(&*err));
        assert!(!is_invalid(&*err));
        assert_eq!(refine(Outcome::retryable(), &*err), Outcome::Ignored);
        assert_eq!(refine(Outcome::NonRetryable, &*err), Outcome::Ignored);
        assert_eq!(err.to_string(), "request rejected by validation: no prompt");
    }
}
