//! The validate layer's response future.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context as TaskContext, Poll};

use pin_project::pin_project;
use tokio::time::Instant;
use tracing::Span;

use super::error::{Invalid, InvalidRequest};
use super::events::{Listeners, ValidateEvent};
use super::reason::Reason;
use super::validator::{ValidationContext, Validator};
use crate::observe::span;
use crate::trace::{Decision, DecisionTrace};
use crate::BoxError;

/// The decision trace of a traced request, and the layer's name in it.
pub(crate) struct Traced {
    pub(crate) trace: DecisionTrace,
    pub(crate) layer: Cow<'static, str>,
}

/// What a traced or spanned call keeps, in one box: its decision trace and its `validate`
/// span.
pub(crate) struct Observed {
    pub(crate) traced: Option<Traced>,
    pub(crate) span: Option<Span>,
}

/// A request's `validate` span, if a subscriber records it (see
/// [`observe::span`](crate::observe::span)); `attempt` is the retry attempt the request is.
#[cold]
#[inline(never)]
pub(crate) fn validate_span(name: &Option<Cow<'static, str>>, attempt: u32) -> Option<Span> {
    span::kept(tracing::debug_span!(
        "validate",
        steadfast.kind = "validate",
        steadfast.layer = name.as_deref().unwrap_or("validate"),
        steadfast.attempt = attempt,
        steadfast.outcome = tracing::field::Empty,
        steadfast.validate.target = tracing::field::Empty,
    ))
}

/// Records in `span` that the request (`target` `request`) or its response was refused.
#[cold]
#[inline(never)]
pub(crate) fn record_refused(span: &Span, target: &'static str) {
    span.record("steadfast.validate.target", target);
    span::record_outcome(span, "invalid");
}

/// Records one [`Decision::Invalid`] per reason `validator` gave.
#[cold]
#[inline(never)]
pub(crate) fn record_invalid(traced: &Traced, validator: &'static str, reasons: &[Reason]) {
    for reason in reasons {
        traced.trace.record(
            traced.layer.clone(),
            Decision::Invalid {
                validator: Cow::Borrowed(validator),
                reason: Cow::Owned(reason.as_str().to_owned()),
            },
        );
    }
}

/// Polls a traced or spanned call, out of line, inside its span: the layers below are polled in
/// it, and the verdict on the answer (its events, its decision trace's entries) falls in it.
#[cold]
#[inline(never)]
fn poll_observed<F, P, T, E>(
    fut: Pin<&mut F>,
    validator: &P,
    attempt: &ValidationContext,
    sent: &Instant,
    listeners: &Option<Listeners>,
    observed: &Observed,
    cx: &mut TaskContext<'_>,
) -> Poll<Result<T, BoxError>>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    T: Send + Sync + 'static,
    P: Validator<T>,
{
    let _entered = observed.span.as_ref().map(Span::enter);
    let result = ready!(fut.poll(cx));
    Poll::Ready(judge(
        result,
        validator,
        attempt,
        sent,
        listeners,
        Some(observed),
    ))
}

/// The verdict on a call's answer: an error of the inner service passed on, a response the
/// validator accepts, or [`Invalid`]. `observed`: the call's span and decision trace, to
/// record the verdict in (`None` for a call that has neither).
#[inline(always)]
fn judge<P, T, E>(
    result: Result<T, E>,
    validator: &P,
    attempt: &ValidationContext,
    sent: &Instant,
    listeners: &Option<Listeners>,
    observed: Option<&Observed>,
) -> Result<T, BoxError>
where
    E: Into<BoxError>,
    T: Send + Sync + 'static,
    P: Validator<T>,
{
    let span = observed.and_then(|o| o.span.as_ref());
    let response = match result {
        Ok(response) => response,
        Err(e) => {
            if let Some(span) = span {
                span::record_outcome(span, "failure");
            }
            return Err(e.into());
        }
    };
    let elapsed = sent.elapsed();
    let seen = ValidationContext::new(attempt.attempt(), attempt.elapsed().saturating_add(elapsed));
    let mut reasons = Vec::new();
    validator.validate(&response, &seen, &mut reasons);
    if reasons.is_empty() {
        if let Some(l) = listeners {
            l.emit(&ValidateEvent::ResponseValid { elapsed });
        }
        if let Some(span) = span {
            span::record_outcome(span, "success");
        }
        return Ok(response);
    }
    if let Some(l) = listeners {
        l.emit(&ValidateEvent::ResponseInvalid {
            reasons: &reasons,
            elapsed,
        });
    }
    tracing::debug!(
        attempt = seen.attempt(),
        reasons = reasons.len(),
        "response failed validation"
    );
    if let Some(span) = span {
        record_refused(span, "response");
    }
    let mut invalid = Invalid::new(response, reasons, seen);
    if let Some(traced) = observed.and_then(|o| o.traced.as_ref()) {
        record_invalid(traced, "response validator", invalid.reasons());
        invalid = invalid.with_trace(traced.trace.clone());
    }
    Err(Box::new(invalid))
}

/// Response future of [`Validate`](super::Validate), the service a
/// [`ValidateLayer`](super::ValidateLayer) makes: the inner call, whose response is validated
/// when it arrives, or a request that was rejected without being sent.
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<F, P> {
    #[pin]
    kind: Kind<F, P>,
}

#[pin_project(project = KindProj)]
enum Kind<F, P> {
    Called {
        #[pin]
        fut: F,
        validator: P,
        cx: ValidationContext,
        sent: Instant,
        listeners: Option<Listeners>,
    },
    /// `Called`, for a traced or spanned call: a variant of its own, so that the future of a
    /// call with neither holds, tests and drops nothing more.
    Observed {
        #[pin]
        fut: F,
        validator: P,
        cx: ValidationContext,
        sent: Instant,
        listeners: Option<Listeners>,
        observed: Box<Observed>,
    },
    Rejected {
        error: Option<InvalidRequest>,
    },
}

impl<F, P> fmt::Debug for ResponseFuture<F, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Called { .. } | Kind::Observed { .. } => "called",
            Kind::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}

impl<F, P> ResponseFuture<F, P> {
    pub(crate) fn called(
        fut: F,
        validator: P,
        cx: ValidationContext,
        sent: Instant,
        listeners: Option<Listeners>,
        observed: Option<Box<Observed>>,
    ) -> Self {
        let kind = match observed {
            None => Kind::Called {
                fut,
                validator,
                cx,
                sent,
                listeners,
            },
            Some(observed) => Kind::Observed {
                fut,
                validator,
                cx,
                sent,
                listeners,
                observed,
            },
        };
        ResponseFuture { kind }
    }

    pub(crate) fn rejected(error: InvalidRequest) -> Self {
        ResponseFuture {
            kind: Kind::Rejected { error: Some(error) },
        }
    }
}

impl<F, P, T, E> Future for ResponseFuture<F, P>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    T: Send + Sync + 'static,
    P: Validator<T>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Called {
                fut,
                validator,
                cx: attempt,
                sent,
                listeners,
            } => {
                let result = ready!(fut.poll(cx));
                Poll::Ready(judge(result, validator, attempt, sent, listeners, None))
            }
            KindProj::Observed {
                fut,
                validator,
                cx: attempt,
                sent,
                listeners,
                observed,
            } => poll_observed(fut, validator, attempt, sent, listeners, observed, cx),
            KindProj::Rejected { error } => Poll::Ready(Err(Box::new(
                error.take().expect("polled after completion"),
            ))),
        }
    }
}
