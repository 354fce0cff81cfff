//! The circuit breaker's response future.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project::pin_project;
use tokio::time::Instant;
use tracing::Span;

use super::breaker::{BreakerHandle, BreakerRef, CircuitBreaker};
use super::error::{ColdDrop, Rejected};
use super::state::{CallResult, Core, Permit};
use crate::classify::{refine, Attempt, Classify, LateOutcome, Outcome};
use crate::observe::span;
use crate::token::{CancelReason, CancelToken};
use crate::trace::{Decision, DecisionTrace};
use crate::BoxError;

/// Holds an admitted call's permit; a call dropped before it finishes gives its probe permit
/// back instead of leaving the breaker stuck half-open.
pub(crate) struct PermitGuard<H: BreakerHandle> {
    handle: H,
    permit: Option<Permit>,
}

impl<H: BreakerHandle> PermitGuard<H> {
    pub(crate) fn new(handle: H, permit: Permit) -> Self {
        PermitGuard {
            handle,
            permit: Some(permit),
        }
    }

    #[inline]
    fn core(&self) -> &Core {
        &self.handle.breaker().core
    }

    /// The state this guard's call was admitted under.
    pub(crate) fn state(&self) -> Option<super::events::CircuitState> {
        self.permit.map(|p| p.state())
    }

    /// `true` while the breaker is still in the state the permit was taken under.
    pub(crate) fn is_current(&self) -> bool {
        self.permit.is_some_and(|p| self.core().is_current(p))
    }

    fn finish(&mut self, result: CallResult, start: Option<Instant>) {
        if let Some(p) = self.permit.take() {
            self.core().on_result(p, result, start.map(|s| s.elapsed()));
        }
    }

    /// Records the admission of this guard's call in `trace`.
    pub(crate) fn trace_admission(&self, trace: &DecisionTrace) {
        if let Some(p) = self.permit {
            self.core().trace_admission(trace, p.state(), true);
        }
    }

    /// Records in the call's decision trace and span how this guard's call is about to be
    /// recorded.
    #[cold]
    #[inline(never)]
    fn observe_recorded(&self, observed: &Watched, result: CallResult, start: Option<Instant>) {
        if let Some(p) = self.permit {
            let outcome = self
                .core()
                .recorded_name(p, result, start.map(|s| s.elapsed()));
            if let Some(trace) = &observed.trace {
                self.core().trace_recorded(trace, outcome);
            }
            if let Some(span) = &observed.span {
                span::record_outcome(span, outcome);
            }
        }
    }
}

impl<H: BreakerHandle> PermitGuard<H> {
    /// Hands the permit to `late`: the call is recorded when its outcome is settled (a
    /// failure, an ignored call or a success, by the same rules as an outcome known at once),
    /// and the permit given back if it never is.
    fn defer(&mut self, late: LateOutcome, start: Option<Instant>, observed: Option<&Watched>) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        // Owned, so that it can travel with the answer to wherever its end is read.
        let mut owned = PermitGuard::new(self.handle.breaker().clone(), permit);
        let observed = observed.map(Watched::clone_cold);
        late.on_settled(move |outcome| {
            let result = call_result(outcome);
            if let Some(observed) = &observed {
                span::in_span(observed.span.as_ref(), || {
                    owned.observe_recorded(observed, result, start);
                });
            }
            owned.finish(result, start)
        });
    }
}

/// What the breaker records for a call that ended with `outcome`.
#[inline]
fn call_result(outcome: Outcome) -> CallResult {
    match outcome {
        Outcome::Success => CallResult::Success,
        Outcome::Ignored => CallResult::Ignored,
        Outcome::Invalid => CallResult::Invalid,
        _ => CallResult::Failure,
    }
}

/// Judges a finished call: classifies `result` (refining the verdict on an error, see
/// [`refine`]), records it through `guard` (or, for an answer whose outcome arrives at its end,
/// hands the permit to that late outcome), and returns the result with its error boxed. A
/// failure of a call whose caller cancelled it (`token` fired) is ignored unless the breaker is
/// told to count those.
#[inline(always)]
pub(super) fn settle<H, C, Req, T, E>(
    guard: &mut PermitGuard<H>,
    classifier: &C,
    attempt: &Attempt<'_, Req>,
    result: Result<T, E>,
    start: &Option<Instant>,
    token: &Option<CancelToken>,
    observed: Option<&Watched>,
) -> Result<T, BoxError>
where
    H: BreakerHandle,
    C: Classify<Req, T, E>,
    E: Into<BoxError>,
{
    let outcome = match observed.and_then(|o| o.trace.as_ref()) {
        None => classifier.classify(attempt, result.as_ref()),
        Some(trace) => explain(guard.core(), trace, classifier, attempt, result.as_ref()),
    };
    let result = result.map_err(Into::into);
    // A success judged at once is the common case: tested first, with everything else (the
    // error's refinement, a cancelled caller) out of line.
    let recorded = match (&result, outcome) {
        (Ok(_), Outcome::Success) => CallResult::Success,
        (result, outcome) => judge(guard.core(), outcome, result, token),
    };
    if let (CallResult::Success, Ok(res)) = (recorded, &result) {
        if let Some(late) = classifier.late_outcome(res) {
            // The answer's real outcome comes at its end: record it then.
            guard.defer(late, *start, observed);
            return result;
        }
    }
    if let Some(observed) = observed {
        guard.observe_recorded(observed, recorded, *start);
    }
    guard.finish(recorded, *start);
    result
}

/// [`settle`] for a traced or spanned call, out of line, in the call's span: the events the
/// breaker emits as it records the call (a state transition) fall in it.
#[cold]
#[inline(never)]
fn settle_observed<H, C, Req, T, E>(
    guard: &mut PermitGuard<H>,
    classifier: &C,
    result: Result<T, E>,
    start: &Option<Instant>,
    token: &Option<CancelToken>,
    observed: &Watched,
) -> Result<T, BoxError>
where
    H: BreakerHandle,
    C: Classify<Req, T, E>,
    E: Into<BoxError>,
{
    // The attempt the retry layer above tagged the request with, if any.
    let attempt = Attempt::new(
        observed.attempt,
        Default::default(),
        Default::default(),
        None,
    );
    span::in_span(observed.span.as_ref(), || {
        settle(
            guard,
            classifier,
            &attempt,
            result,
            start,
            token,
            Some(observed),
        )
    })
}

/// What a traced or spanned call keeps, in one box: its decision trace, the retry attempt it
/// is (from the request's [`RetryAttempt`](crate::token::RetryAttempt) tag; 1 without one),
/// and its `circuit_breaker` span.
pub(crate) struct Watched {
    pub(crate) trace: Option<DecisionTrace>,
    pub(crate) attempt: u32,
    pub(crate) span: Option<Span>,
}

impl Watched {
    /// A copy, for an answer whose outcome is settled later.
    #[cold]
    #[inline(never)]
    fn clone_cold(&self) -> Watched {
        Watched {
            trace: self.trace.clone(),
            attempt: self.attempt,
            span: self.span.clone(),
        }
    }
}

/// The classifier's verdict on a traced call, recorded in `trace` with the rule that gave it.
#[cold]
#[inline(never)]
fn explain<C, Req, T, E>(
    core: &Core,
    trace: &DecisionTrace,
    classifier: &C,
    attempt: &Attempt<'_, Req>,
    result: Result<&T, &E>,
) -> Outcome
where
    C: Classify<Req, T, E>,
{
    let (outcome, rule) = classifier.explain(attempt, result);
    trace.record(
        String::from(&*core.name),
        Decision::Classified {
            attempt: attempt.number,
            outcome,
            rule,
        },
    );
    outcome
}

/// What the breaker records for a call that did not simply succeed: `call_result` of the
/// outcome (refined for an error, see [`refine`]), with a failure of a call whose caller
/// cancelled it (`token` fired) ignored, as it says nothing of the downstream, unless the
/// breaker is told to count those.
#[inline(never)]
fn judge<T>(
    core: &Core,
    outcome: Outcome,
    result: &Result<T, BoxError>,
    token: &Option<CancelToken>,
) -> CallResult {
    let outcome = match result {
        Err(e) => refine(outcome, &**e),
        Ok(_) => outcome,
    };
    match outcome {
        Outcome::Success => CallResult::Success,
        Outcome::Ignored => CallResult::Ignored,
        _ if token.as_ref().is_some_and(|t| ignores_cancelled(core, t)) => CallResult::Ignored,
        other => call_result(other),
    }
}

/// `true` when a failure of a call whose token is `token` says nothing of the downstream: its
/// caller cancelled it (unless the breaker counts cancellations), or it lost a hedge race (a
/// loser is never counted: another attempt answered, and this one was let go).
fn ignores_cancelled(core: &Core, token: &CancelToken) -> bool {
    match token.reason() {
        None => false,
        Some(CancelReason::HedgeLost) => true,
        Some(_) => !core.counts_cancellations(),
    }
}

impl<H: BreakerHandle> Drop for PermitGuard<H> {
    fn drop(&mut self) {
        if let Some(p) = self.permit.take() {
            self.core().release(p);
        }
    }
}

/// Response future of [`CircuitBreakerService`](super::CircuitBreakerService).
#[pin_project(project = ResponseFutureProj)]
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<F, C, Req, T, B: BreakerRef = CircuitBreaker> {
    #[pin]
    kind: Kind<F, C, T, B::Handle>,
    _req: PhantomData<fn(Req)>,
}

#[pin_project(project = KindProj)]
enum Kind<F, C, T, H: BreakerHandle> {
    Called {
        #[pin]
        fut: F,
        guard: PermitGuard<H>,
        classifier: C,
        start: Option<Instant>,
        token: Option<CancelToken>,
    },
    /// `Called`, for a request carrying a decision trace or a span: a variant of its own, so
    /// that the future of an unobserved call holds, moves and drops nothing more.
    Observed {
        #[pin]
        fut: F,
        guard: PermitGuard<H>,
        classifier: C,
        start: Option<Instant>,
        token: Option<CancelToken>,
        observed: ColdDrop<Box<Watched>>,
    },
    Rejected {
        error: Option<Rejected>,
    },
    Fallback {
        result: Option<Result<T, BoxError>>,
    },
}

impl<F, C, Req, T, B: BreakerRef> fmt::Debug for ResponseFuture<F, C, Req, T, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Called { .. } | Kind::Observed { .. } => "called",
            Kind::Rejected { .. } => "rejected",
            Kind::Fallback { .. } => "fallback",
        };
        f.debug_struct("ResponseFuture")
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}

impl<F, C, Req, T, B: BreakerRef> ResponseFuture<F, C, Req, T, B> {
    pub(crate) fn called(
        fut: F,
        guard: PermitGuard<B::Handle>,
        classifier: C,
        start: Option<Instant>,
        token: Option<CancelToken>,
        observed: Option<Box<Watched>>,
    ) -> Self {
        let kind = match observed {
            None => Kind::Called {
                fut,
                guard,
                classifier,
                start,
                token,
            },
            Some(observed) => Kind::Observed {
                fut,
                guard,
                classifier,
                start,
                token,
                observed: ColdDrop::new(observed),
            },
        };
        ResponseFuture {
            kind,
            _req: PhantomData,
        }
    }

    pub(crate) fn rejected(error: Rejected) -> Self {
        ResponseFuture {
            kind: Kind::Rejected { error: Some(error) },
            _req: PhantomData,
        }
    }

    pub(crate) fn fallback(result: Result<T, BoxError>) -> Self {
        ResponseFuture {
            kind: Kind::Fallback {
                result: Some(result),
            },
            _req: PhantomData,
        }
    }
}

impl<F, C, Req, T, E, B> Future for ResponseFuture<F, C, Req, T, B>
where
    B: BreakerRef,
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    C: Classify<Req, T, E>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Called {
                fut,
                guard,
                classifier,
                start,
                token,
            } => {
                let result = ready!(fut.poll(cx));
                let attempt = Attempt::new(1, Default::default(), Default::default(), None);
                Poll::Ready(settle(
                    guard, classifier, &attempt, result, start, token, None,
                ))
            }
            KindProj::Observed {
                fut,
                guard,
                classifier,
                start,
                token,
                observed,
            } => {
                let observed = observed.get().expect("kept until the drop");
                let result = ready!(span::in_span(observed.span.as_ref(), || fut.poll(cx)));
                Poll::Ready(settle_observed(
                    guard, classifier, result, start, token, observed,
                ))
            }
            KindProj::Rejected { error } => {
                Poll::Ready(Err(error.take().expect("polled after completion").into()))
            }
            KindProj::Fallback { result } => {
                Poll::Ready(result.take().expect("polled after completion"))
            }
        }
    }
}
