//! The circuit breaker middleware service.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};
use tower_service::Service;
use tracing::{Level, Span};

use super::breaker::{BreakerHandle, BreakerRef, CircuitBreaker};
use super::error::Rejected;
use super::events::CircuitState;
use super::future::{PermitGuard, ResponseFuture, Watched};
use super::state::Core;
use super::traced::trace_state_name;
use crate::classify::{AnyError, Classify};
use crate::observe::span;
use crate::token::HasCancelToken;
use crate::trace::DecisionTrace;
use crate::BoxError;

/// What answers a call the breaker rejected.
///
/// [`CircuitBreakerLayer::fallback`](super::CircuitBreakerLayer::fallback) makes one from a
/// closure ([`FallbackFn`]); without it the layer uses [`NoFallback`], which answers nothing.
///
/// ```
/// use steadfast::circuit_breaker::{CircuitBreaker, Fallback, NoFallback};
///
/// let breaker = CircuitBreaker::builder().build().unwrap();
/// breaker.force_open();
/// let rejected = breaker.check().unwrap_err();
/// assert!(Fallback::<&str, usize>::fallback(&NoFallback, "sku-1", &rejected).is_none());
/// ```
pub trait Fallback<Req, Res> {
    /// An answer for the rejected `req`, or `None` to fail with the [`Rejected`] error.
    fn fallback(&self, req: Req, rejected: &Rejected) -> Option<Result<Res, BoxError>>;
}

/// No fallback: rejected calls fail with [`Rejected`]. The layer's default.
///
/// ```
/// use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer, NoFallback};
/// use steadfast::classify::AnyError;
///
/// let layer: CircuitBreakerLayer<AnyError, NoFallback> =
///     CircuitBreakerLayer::new(CircuitBreaker::builder().build().unwrap());
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFallback;

impl<Req, Res> Fallback<Req, Res> for NoFallback {
    #[inline]
    fn fallback(&self, _: Req, _: &Rejected) -> Option<Result<Res, BoxError>> {
        None
    }
}

/// A fallback made from a function by
/// [`CircuitBreakerLayer::fallback`](super::CircuitBreakerLayer::fallback).
///
/// ```
/// use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer, Rejected};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let breaker = CircuitBreaker::builder().build().unwrap();
/// breaker.force_open();
/// // The layer's fallback is a `FallbackFn` around this closure.
/// let svc = CircuitBreakerLayer::new(breaker)
///     .fallback(|city: &'static str, r: &Rejected| Ok::<_, steadfast::BoxError>(format!("{city}: {r}")))
///     .layer(service_fn(|city: &'static str| async move {
///         Ok::<_, std::io::Error>(format!("{city}: 21°C"))
///     }));
/// assert_eq!(svc.oneshot("Oslo").await.unwrap(), "Oslo: circuit breaker 'circuit-breaker' is forced open");
/// # }
/// ```
#[derive(Clone, Copy)]
pub struct FallbackFn<F>(pub(crate) F);

impl<F> fmt::Debug for FallbackFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackFn").finish_non_exhaustive()
    }
}

impl<F, Req, Res> Fallback<Req, Res> for FallbackFn<F>
where
    F: Fn(Req, &Rejected) -> Result<Res, BoxError>,
{
    fn fallback(&self, req: Req, rejected: &Rejected) -> Option<Result<Res, BoxError>> {
        Some((self.0)(req, rejected))
    }
}

/// The shortest recheck interval of backpressure mode: a shorter one would poll the breaker
/// in a loop.
const MIN_RECHECK: Duration = Duration::from_millis(1);

/// Far enough to mean "never", near enough that adding it to any `Instant` of a running
/// program cannot overflow (about 30 years).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

struct Backpressure<H: BreakerHandle> {
    recheck: Duration,
    /// A half-open probe permit taken by `poll_ready` for the next `call`.
    probe: Option<PermitGuard<H>>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<H: BreakerHandle> Backpressure<H> {
    fn new(recheck: Duration) -> Self {
        Backpressure {
            recheck: recheck.max(MIN_RECHECK),
            probe: None,
            sleep: None,
        }
    }
}

/// Guards the inner service with a [`CircuitBreaker`]; made by
/// [`CircuitBreakerLayer`](super::CircuitBreakerLayer).
///
/// ```
/// use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer, CircuitBreakerService};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let breaker = CircuitBreaker::builder().build().unwrap();
/// let echo = service_fn(|s: String| async move { Ok::<_, std::io::Error>(s) });
/// let svc = CircuitBreakerLayer::new(breaker).layer(echo);
/// assert_eq!(svc.breaker().metrics().successes, 0);
/// assert_eq!(svc.oneshot("hi".to_string()).await.unwrap(), "hi");
/// # }
/// ```
///
/// By default a call the breaker will not let through fails at once in `call` with
/// [`Rejected`] (or gets the fallback's answer); `poll_ready` only forwards to the inner
/// service. In backpressure mode `poll_ready` instead waits until the breaker would admit a
/// call (see [`CircuitBreakerLayer::backpressure`](super::CircuitBreakerLayer::backpressure)).
pub struct CircuitBreakerService<S, C = AnyError, F = NoFallback, B: BreakerRef = CircuitBreaker> {
    inner: S,
    breaker: B,
    classifier: C,
    fallback: F,
    backpressure: Option<Backpressure<B::Handle>>,
}

impl<S, C, F, B: BreakerRef> CircuitBreakerService<S, C, F, B> {
    pub(crate) fn new(
        inner: S,
        breaker: B,
        classifier: C,
        fallback: F,
        backpressure: Option<Duration>,
    ) -> Self {
        CircuitBreakerService {
            inner,
            breaker,
            classifier,
            fallback,
            backpressure: backpressure.map(Backpressure::new),
        }
    }

    /// The breaker.
    pub fn breaker(&self) -> &CircuitBreaker {
        self.breaker.breaker()
    }

    /// How often a waiting `poll_ready` rechecks the breaker, in backpressure mode.
    pub(crate) fn backpressure_recheck(&self) -> Option<Duration> {
        self.backpressure.as_ref().map(|b| b.recheck)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, C: Clone, F: Clone, B: BreakerRef> Clone for CircuitBreakerService<S, C, F, B> {
    fn clone(&self) -> Self {
        CircuitBreakerService {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
            fallback: self.fallback.clone(),
            // A clone starts without an admission of its own: a probe permit stays with the
            // service whose `poll_ready` took it.
            backpressure: self
                .backpressure
                .as_ref()
                .map(|b| Backpressure::new(b.recheck)),
        }
    }
}

impl<S: fmt::Debug, C, F, B: BreakerRef> fmt::Debug for CircuitBreakerService<S, C, F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerService")
            .field("inner", &self.inner)
            .field("breaker", self.breaker.breaker())
            .field("backpressure", &self.backpressure.is_some())
            .finish_non_exhaustive()
    }
}

impl<S, C, F, B, Req> Service<Req> for CircuitBreakerService<S, C, F, B>
where
    B: BreakerRef,
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classify<Req, S::Response, S::Error> + Clone,
    F: Fallback<Req, S::Response>,
    Req: HasCancelToken,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C, Req, S::Response, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if let Some(bp) = &mut self.backpressure {
            let core = &self.breaker.breaker().core;
            // A probe permit from an earlier readiness is kept only while its half-open
            // period lasts; otherwise it goes back and the breaker is asked again.
            if bp.probe.as_ref().is_some_and(|g| !g.is_current()) {
                bp.probe = None;
            }
            while bp.probe.is_none() {
                if let Some(sleep) = &mut bp.sleep {
                    ready!(sleep.as_mut().poll(cx));
                }
                // Rechecks are not rejections: nothing is counted until a call is refused.
                match core.poll_admission() {
                    Ok(probe) => {
                        bp.sleep = None;
                        match probe {
                            Some(p) => bp.probe = Some(PermitGuard::new(self.breaker.handle(), p)),
                            // Closed (or disabled): nothing to hold; `call` admits the call.
                            None => break,
                        }
                    }
                    Err(refusal) => {
                        let wait = refusal
                            .retry_after
                            .map_or(bp.recheck, |d| d.min(bp.recheck));
                        let now = Instant::now();
                        let deadline = now.checked_add(wait).unwrap_or_else(|| now + FAR_FUTURE);
                        match &mut bp.sleep {
                            Some(s) => s.as_mut().reset(deadline),
                            None => bp.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
                        }
                    }
                }
            }
        }
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        // A service moved to another thread switches its breaker reference to that thread's
        // slot, so that the handle each future takes below stays cheap.
        self.breaker.localize();
        if let Some(probe) = self.backpressure.as_mut().and_then(|bp| bp.probe.take()) {
            if probe.is_current() {
                if span::observing(Level::DEBUG) {
                    let span = if span::may_record(Level::DEBUG) {
                        call_span(&self.breaker.breaker().core, &req)
                    } else {
                        None
                    };
                    return send_observed(
                        &self.breaker,
                        &mut self.inner,
                        req,
                        &self.classifier,
                        probe,
                        span,
                    );
                }
                return send(&self.breaker, &mut self.inner, req, &self.classifier, probe);
            }
            // The half-open period it was taken for is over: give it back, admit afresh.
            drop(probe);
        }
        call_guarded(
            &self.breaker,
            &mut self.inner,
            req,
            &self.classifier,
            &self.fallback,
        )
    }
}

/// Admits `req` through `breaker` and sends it, or answers with the fallback or [`Rejected`].
pub(crate) fn call_guarded<S, C, F, Req, B>(
    breaker: &B,
    inner: &mut S,
    req: Req,
    classifier: &C,
    fallback: &F,
) -> ResponseFuture<S::Future, C, Req, S::Response, B>
where
    B: BreakerRef,
    S: Service<Req>,
    C: Clone,
    F: Fallback<Req, S::Response>,
    Req: HasCancelToken,
{
    if span::observing(Level::DEBUG) {
        return call_observed(breaker, inner, req, classifier, fallback);
    }
    match breaker.breaker().core.try_acquire() {
        Ok(p) => {
            let guard = PermitGuard::new(breaker.handle(), p);
            send(breaker, inner, req, classifier, guard)
        }
        Err(refusal) => {
            let rejected = breaker.rejected(refusal.state, refusal.retry_after);
            match fallback.fallback(req, &rejected) {
                Some(result) => ResponseFuture::fallback(result),
                None => ResponseFuture::rejected(rejected),
            }
        }
    }
}

/// [`call_guarded`] for a call that may be traced or spanned, out of line: its span made if a
/// subscriber records it, the admission decided in it, and the decision recorded in the
/// request's trace (and so in the span, as an event of it) if it carries one.
#[cold]
#[inline(never)]
fn call_observed<S, C, F, Req, B>(
    breaker: &B,
    inner: &mut S,
    req: Req,
    classifier: &C,
    fallback: &F,
) -> ResponseFuture<S::Future, C, Req, S::Response, B>
where
    B: BreakerRef,
    S: Service<Req>,
    C: Clone,
    F: Fallback<Req, S::Response>,
    Req: HasCancelToken,
{
    let core = &breaker.breaker().core;
    let span = if span::may_record(Level::DEBUG) {
        call_span(core, &req)
    } else {
        None
    };
    match span::in_span(span.as_ref(), || core.try_acquire()) {
        Ok(p) => {
            let guard = PermitGuard::new(breaker.handle(), p);
            send_observed(breaker, inner, req, classifier, guard, span)
        }
        Err(refusal) => {
            if let Some(span) = &span {
                record_rejected(span, refusal.state);
            }
            let mut rejected = breaker.rejected(refusal.state, refusal.retry_after);
            if crate::trace::armed() {
                rejected = span::in_span(span.as_ref(), || trace_refusal(breaker, &req, rejected));
            }
            match fallback.fallback(req, &rejected) {
                Some(result) => ResponseFuture::fallback(result),
                None => ResponseFuture::rejected(rejected),
            }
        }
    }
}

/// Sends an admitted call that is neither traced nor spanned.
#[inline(always)]
fn send<S, C, Req, B>(
    breaker: &B,
    inner: &mut S,
    req: Req,
    classifier: &C,
    guard: PermitGuard<B::Handle>,
) -> ResponseFuture<S::Future, C, Req, S::Response, B>
where
    B: BreakerRef,
    S: Service<Req>,
    C: Clone,
    Req: HasCancelToken,
{
    let core = &breaker.breaker().core;
    let start = core.measures_duration().then(Instant::now);
    // Kept even when cancellations count: an attempt that lost a hedge race is never counted.
    let token = req.cancel_token().cloned();
    let fut = inner.call(req);
    ResponseFuture::called(fut, guard, classifier.clone(), start, token, None)
}

/// Sends an admitted call that may be traced or spanned (`span`: its span, if a subscriber
/// records it), out of line: the admission recorded in the request's trace within the span,
/// and the inner service called inside it.
#[cold]
#[inline(never)]
fn send_observed<S, C, Req, B>(
    breaker: &B,
    inner: &mut S,
    req: Req,
    classifier: &C,
    guard: PermitGuard<B::Handle>,
    span: Option<Span>,
) -> ResponseFuture<S::Future, C, Req, S::Response, B>
where
    B: BreakerRef,
    S: Service<Req>,
    C: Clone,
    Req: HasCancelToken,
{
    let core = &breaker.breaker().core;
    let start = core.measures_duration().then(Instant::now);
    // Kept even when cancellations count: an attempt that lost a hedge race is never counted.
    let token = req.cancel_token().cloned();
    let trace = if crate::trace::armed() {
        span::in_span(span.as_ref(), || trace_admission(&guard, &req))
    } else {
        None
    };
    if trace.is_none() && span.is_none() {
        let fut = inner.call(req);
        return ResponseFuture::called(fut, guard, classifier.clone(), start, token, None);
    }
    let observed = watched(&guard, &req, trace, span);
    // The layers below make their spans in their `call`: inside this one.
    let fut = span::in_span(observed.span.as_ref(), || inner.call(req));
    ResponseFuture::called(fut, guard, classifier.clone(), start, token, Some(observed))
}

/// A call's `circuit_breaker` span, if a subscriber records it (see
/// [`observe::span`](crate::observe::span)).
#[cold]
#[inline(never)]
fn call_span<Req: HasCancelToken>(core: &Core, req: &Req) -> Option<Span> {
    span::kept(tracing::debug_span!(
        "circuit_breaker",
        steadfast.kind = "circuit_breaker",
        steadfast.layer = &*core.name,
        steadfast.attempt = req.retry_attempt().map_or(1, |a| a.number()),
        steadfast.outcome = tracing::field::Empty,
        steadfast.circuit_breaker.state = tracing::field::Empty,
    ))
}

/// What a traced or spanned call admitted under `guard` keeps, with the state it was
/// admitted under in its span.
#[cold]
#[inline(never)]
fn watched<H: BreakerHandle, Req: HasCancelToken>(
    guard: &PermitGuard<H>,
    req: &Req,
    trace: Option<DecisionTrace>,
    span: Option<Span>,
) -> Box<Watched> {
    if let (Some(span), Some(state)) = (&span, guard.state()) {
        span.record("steadfast.circuit_breaker.state", trace_state_name(state));
    }
    Box::new(Watched {
        trace,
        attempt: req.retry_attempt().map_or(1, |a| a.number()),
        span,
    })
}

/// Records a refused call in its span: outcome `rejected`, and the state that refused it.
#[cold]
#[inline(never)]
fn record_rejected(span: &Span, state: CircuitState) {
    span.record("steadfast.circuit_breaker.state", trace_state_name(state));
    span::record_outcome(span, "rejected");
}

/// The trace of a request admitted under `guard`, if it has one, with the admission recorded.
#[cold]
#[inline(never)]
fn trace_admission<H: BreakerHandle, Req: HasCancelToken>(
    guard: &PermitGuard<H>,
    req: &Req,
) -> Option<DecisionTrace> {
    let trace = req.decision_trace()?;
    guard.trace_admission(trace);
    Some(trace.clone())
}

/// `rejected`, carrying the trace of `req` (if it has one) with the refusal recorded.
#[cold]
#[inline(never)]
fn trace_refusal<B: BreakerRef, Req: HasCancelToken>(
    breaker: &B,
    req: &Req,
    rejected: Rejected,
) -> Rejected {
    match req.decision_trace() {
        Some(trace) => {
            breaker
                .breaker()
                .core
                .trace_admission(trace, rejected.state(), false);
            rejected.with_trace(trace.clone())
        }
        None => rejected,
    }
}
