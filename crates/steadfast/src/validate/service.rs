//! The validate middleware service.

use std::borrow::Cow;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use tokio::time::Instant;
use tower_service::Service;
use tracing::{Level, Span};

use super::error::InvalidRequest;
use super::events::{Listeners, ValidateEvent};
use super::future::{
    record_invalid, record_refused, validate_span, Observed, ResponseFuture, Traced,
};
use super::validator::{ValidationContext, Validator};
use crate::observe::span;
use crate::token::HasCancelToken;
use crate::BoxError;

/// Checks requests before the inner service sees them and responses before the caller does.
///
/// Built by [`ValidateLayer`](super::ValidateLayer), or directly with [`Validate::new`]. A
/// request that a request validator rejects fails with [`InvalidRequest`]; a response that a
/// response validator rejects fails with [`Invalid`](super::Invalid), which keeps the
/// response. Errors of the inner service pass through unchanged (boxed).
///
/// Requests implement [`HasCancelToken`], as for the retry layer: it is how the validators
/// learn which attempt they judge (see [`RetryAttempt`](crate::token::RetryAttempt)). Plain
/// types (`String`, integers, `()`, ...) and `http::Request` already do.
///
/// # Readiness
///
/// `poll_ready` forwards to the inner service: a request cannot be judged before it is
/// given, so readiness is the inner service's. `call` validates the request first; only a
/// request that passes is sent, on the service that reported ready. A rejected request does
/// not call the inner service at all, so the readiness the inner service granted is not
/// used: it stays with the inner service, held for this service's next `call` (asking
/// `poll_ready` again before that call, as the contract requires, is allowed), and
/// is given back when this service is dropped. Nothing is ever sent to an inner service that
/// has not said it is ready.
#[derive(Debug, Clone)]
pub struct Validate<S, Q, P> {
    inner: S,
    request: Q,
    response: P,
    listeners: Option<Listeners>,
    /// The layer's name, for a decision trace (`None`: `"validate"`).
    name: Option<Cow<'static, str>>,
}

impl<S, Q, P> Validate<S, Q, P> {
    /// Wraps `inner`, checking requests with `request` and responses with `response`
    /// (validators; [`AcceptAll`](super::AcceptAll) on a side that checks nothing). The same
    /// service as [`ValidateLayer`](super::ValidateLayer) makes, without a builder.
    ///
    /// ```
    /// use steadfast::validate::{ensure, AcceptAll, Invalid, Validate};
    /// use tower::{service_fn, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let even = ensure("odd", |n: &u32| n % 2 == 0);
    /// let svc = Validate::new(service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n * 3) }), AcceptAll, even);
    /// assert_eq!(svc.clone().oneshot(2).await.unwrap(), 6);
    /// let err = svc.oneshot(3).await.unwrap_err();
    /// assert_eq!(err.downcast::<Invalid<u32>>().unwrap().into_response(), 9);
    /// # }
    /// ```
    pub fn new(inner: S, request: Q, response: P) -> Self {
        Validate {
            inner,
            request,
            response,
            listeners: None,
            name: None,
        }
    }

    /// The same service, named `name` in decision traces.
    pub(crate) fn with_name(mut self, name: Option<Cow<'static, str>>) -> Self {
        self.name = name;
        self
    }

    /// The name its layer was given, if any.
    pub(crate) fn name_ref(&self) -> Option<&Cow<'static, str>> {
        self.name.as_ref()
    }

    /// The same service, telling `listeners` what it decides.
    pub(crate) fn with_listeners(mut self, listeners: Option<Listeners>) -> Self {
        self.listeners = listeners;
        self
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Q, P, Req> Service<Req> for Validate<S, Q, P>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    S::Response: Send + Sync + 'static,
    Req: HasCancelToken,
    Q: Validator<Req>,
    P: Validator<S::Response> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, P>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        if span::observing(Level::DEBUG) {
            return call_observed(self, req);
        }
        let tag = req.retry_attempt();
        let cx = ValidationContext::new(
            tag.map_or(1, |t| t.number()),
            tag.map_or(Duration::ZERO, |t| t.elapsed()),
        );
        let mut reasons = Vec::new();
        self.request.validate(&req, &cx, &mut reasons);
        if !reasons.is_empty() {
            if let Some(l) = &self.listeners {
                l.emit(&ValidateEvent::RequestInvalid { reasons: &reasons });
            }
            tracing::debug!(
                attempt = cx.attempt(),
                reasons = reasons.len(),
                "request rejected by validation"
            );
            return ResponseFuture::rejected(InvalidRequest::new(reasons, cx.attempt()));
        }
        let sent = Instant::now();
        let fut = self.inner.call(req);
        ResponseFuture::called(
            fut,
            self.response.clone(),
            cx,
            sent,
            self.listeners.clone(),
            None,
        )
    }
}

/// [`Validate::call`] for a request that may be traced or spanned, out of line: its `validate`
/// span made if a subscriber records it and entered while the request is checked and sent, and
/// a refusal recorded in the request's decision trace (within the span) if it carries one.
#[cold]
#[inline(never)]
fn call_observed<S, Q, P, Req>(
    svc: &mut Validate<S, Q, P>,
    req: Req,
) -> ResponseFuture<S::Future, P>
where
    S: Service<Req>,
    Req: HasCancelToken,
    Q: Validator<Req>,
    P: Validator<S::Response> + Clone,
{
    let tag = req.retry_attempt();
    let cx = ValidationContext::new(
        tag.map_or(1, |t| t.number()),
        tag.map_or(Duration::ZERO, |t| t.elapsed()),
    );
    let span = if span::may_record(Level::DEBUG) {
        validate_span(&svc.name, cx.attempt())
    } else {
        None
    };
    let _entered = span.as_ref().map(Span::enter);
    let mut reasons = Vec::new();
    svc.request.validate(&req, &cx, &mut reasons);
    if !reasons.is_empty() {
        if let Some(span) = &span {
            record_refused(span, "request");
        }
        if let Some(l) = &svc.listeners {
            l.emit(&ValidateEvent::RequestInvalid { reasons: &reasons });
        }
        tracing::debug!(
            attempt = cx.attempt(),
            reasons = reasons.len(),
            "request rejected by validation"
        );
        let mut error = InvalidRequest::new(reasons, cx.attempt());
        if crate::trace::armed() {
            error = trace_request(&req, &svc.name, error);
        }
        return ResponseFuture::rejected(error);
    }
    let mut observed = if crate::trace::armed() {
        traced(&req, &svc.name)
    } else {
        None
    };
    if let Some(span) = &span {
        observed = with_span(observed, span.clone());
    }
    let sent = Instant::now();
    let fut = svc.inner.call(req);
    ResponseFuture::called(
        fut,
        svc.response.clone(),
        cx,
        sent,
        svc.listeners.clone(),
        observed,
    )
}

/// `req`'s decision trace, if it has one, kept with the layer's name for the response's
/// verdict.
#[cold]
#[inline(never)]
fn traced<Req: HasCancelToken>(
    req: &Req,
    name: &Option<Cow<'static, str>>,
) -> Option<Box<Observed>> {
    let trace = req.decision_trace()?;
    Some(Box::new(Observed {
        traced: Some(Traced {
            trace: trace.clone(),
            layer: name.clone().unwrap_or(Cow::Borrowed("validate")),
        }),
        span: None,
    }))
}

/// `observed` (made if it is `None`) holding the request's `span`.
#[cold]
#[inline(never)]
fn with_span(observed: Option<Box<Observed>>, span: Span) -> Option<Box<Observed>> {
    let mut observed = observed.unwrap_or_else(|| {
        Box::new(Observed {
            traced: None,
            span: None,
        })
    });
    observed.span = Some(span);
    Some(observed)
}

/// `error`, carrying `req`'s decision trace (if it has one) with the refusal recorded.
#[cold]
#[inline(never)]
fn trace_request<Req: HasCancelToken>(
    req: &Req,
    name: &Option<Cow<'static, str>>,
    error: InvalidRequest,
) -> InvalidRequest {
    let Some(trace) = req.decision_trace() else {
        return error;
    };
    let traced = Traced {
        trace: trace.clone(),
        layer: name.clone().unwrap_or(Cow::Borrowed("validate")),
    };
    record_invalid(&traced, "request validator", error.reasons());
    error.with_trace(traced.trace)
}
