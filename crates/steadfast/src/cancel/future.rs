//! The cancel layer's response future.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::{pin_project, pinned_drop};
use tokio::time::Sleep;
use tracing::Span;

use super::error::Cancelled;
use super::events::{Listeners, Observed};
use super::plan::{Deferred, Parts, Plan};

use crate::observe::span;
use crate::token::{self, CancelReason, CancelToken, HasCancelToken};
use crate::trace::{Decision, DecisionTrace};
use crate::BoxError;

/// Response future of [`Cancel`](super::Cancel): the inner future raced against the
/// request's token and its timers.
///
/// For a request that cannot carry a token (see
/// [`HasCancelToken::can_carry_cancel_token`](crate::token::HasCancelToken::can_carry_cancel_token)),
/// arrived without one, and is not registered as an operation, nothing but this future could
/// see the token: it is made, with its deadline and timer, on the first poll that finds the
/// answer not ready, and the layer's timeout counts from that poll. An answer ready at once
/// costs no token, no clock read and no timer.
#[pin_project(PinnedDrop)]
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<F> {
    #[pin]
    state: State<F>,
}

#[pin_project(project = StateProj)]
enum State<F> {
    /// The request was sent: its answer races its token.
    Sent(#[pin] Inner<F>),
    /// The request was refused before it was sent (`None` once the refusal was returned),
    /// with the request's decision trace, if it had one.
    Refused(Option<CancelReason>, Option<DecisionTrace>),
}

#[pin_project]
struct Inner<F> {
    #[pin]
    fut: F,
    /// `None` for a deferred request until its first poll that finds the answer not ready,
    /// and after it if nothing could ever cancel it.
    token: Option<CancelToken>,
    /// What a deferred request's token is made from; taken on that first poll.
    deferred: Option<Deferred>,
    /// When the layer's own limit falls, and the reason it gives.
    limit: Option<(tokio::time::Instant, CancelReason)>,
    /// A source token that is not an ancestor of `token`, watched while the answer is pending.
    parent: Option<CancelToken>,
    /// What a pending request watches, made on the first poll that finds the inner future
    /// pending: an answer that is ready at once never registers with the token nor touches
    /// the timer wheel (or the runtime's handle).
    watch: Option<Pin<Box<Watch>>>,
    /// Whether the future cancels the token if it is dropped early: the layer made it, and
    /// others (the inner service, the work it started) may hold it.
    owned: bool,
    _condition: Option<std::sync::Arc<super::condition::Condition>>,
    done: bool,
}

/// The decision trace of a traced request, and the layer's name in it.
pub(crate) struct Traced(DecisionTrace, Cow<'static, str>);

/// The timer and the token waits of a pending request. Boxed, so that the response future of
/// an answer that is ready at once stays small: response futures are moved, and nested in the
/// futures of every layer above, so their size is paid for on every call.
#[pin_project]
pub(crate) struct Watch {
    #[pin]
    timer: Option<Sleep>,
    cancelled: Option<token::WaitForCancellationFuture>,
    /// Waits on `Inner::parent`.
    parent: Option<token::WaitForCancellationFuture>,
    /// The layer's listeners, for a layer with listeners (the watch is then made at the call,
    /// and armed on the first poll that finds the answer not ready).
    observed: Option<Observed>,
    /// The request's decision trace and the layer's name, for a traced request (the watch is
    /// then made at the call).
    trace: Option<Traced>,
    /// The request's `cancel` span, when a subscriber records it (the watch is then made at
    /// the call).
    span: Option<Span>,
}

impl Watch {
    fn empty() -> Self {
        Watch {
            timer: None,
            cancelled: None,
            parent: None,
            observed: None,
            trace: None,
            span: None,
        }
    }
}

/// A request's `cancel` span, if a subscriber records it (see
/// [`observe::span`](crate::observe::span)).
#[cold]
#[inline(never)]
pub(crate) fn cancel_span(name: &Option<Cow<'static, str>>) -> Option<Span> {
    span::kept(tracing::debug_span!(
        "cancel",
        steadfast.kind = "cancel",
        steadfast.layer = name.as_deref().unwrap_or("cancel"),
        steadfast.outcome = tracing::field::Empty,
        steadfast.cancel.reason = tracing::field::Empty,
    ))
}

/// `watch` (made if it is `None`) holding the request's `span`.
#[cold]
#[inline(never)]
pub(crate) fn spanned(watch: Option<Pin<Box<Watch>>>, span: Span) -> Option<Pin<Box<Watch>>> {
    let mut watch = watch.unwrap_or_else(|| Box::pin(Watch::empty()));
    *watch.as_mut().project().span = Some(span);
    Some(watch)
}

/// The `span` of a request cancelled for `reason`: its outcome, the reason, and an event.
#[cold]
#[inline(never)]
pub(crate) fn record_cancelled_span(span: &Span, reason: &CancelReason) {
    let name = reason_name(reason);
    span.record("steadfast.cancel.reason", name);
    span::record_outcome(span, "cancelled");
    tracing::debug!(parent: span, steadfast.cancel.reason = name, "request cancelled: {reason}");
}

/// `reason`'s value of `steadfast.cancel.reason`, as in the metrics.
fn reason_name(reason: &CancelReason) -> &'static str {
    match reason {
        CancelReason::Timeout(_) => "timeout",
        CancelReason::Deadline => "deadline",
        CancelReason::Manual(_) => "manual",
        CancelReason::Shutdown => "shutdown",
        CancelReason::Signal(_) => "signal",
        CancelReason::Condition(_) => "condition",
        CancelReason::ClientDisconnected => "client_disconnected",
        CancelReason::HedgeLost => "hedge_lost",
    }
}

/// Ends the span and the decision trace of a request whose caller dropped it before its
/// answer: outcome `dropped`, and a last `Cancelled` entry, for `ClientDisconnected`.
#[cold]
#[inline(never)]
fn record_dropped(watch: &Watch) {
    if let Some(span) = &watch.span {
        span::record_outcome(span, "dropped");
    }
    if let Some(trace) = &watch.trace {
        // In the request's span, although no poll has entered it.
        span::in_span(watch.span.as_ref(), || {
            record_cancelled(trace, &CancelReason::ClientDisconnected)
        });
    }
}

/// The span of a request the cancel layer sent, if it has one.
#[inline(always)]
pub(crate) fn span_of(watch: &Option<Pin<Box<Watch>>>) -> Option<&Span> {
    if !cfg!(feature = "spans") {
        return None;
    }
    watch.as_ref().and_then(|w| w.span.as_ref())
}

/// The watch of a request whose layer has `listeners`, made when it is sent. Out of line: a
/// layer without listeners only tests whether it has any.
#[cold]
#[inline(never)]
pub(crate) fn watched(listeners: &Listeners) -> Option<Pin<Box<Watch>>> {
    Some(Box::pin(Watch {
        observed: Some(listeners.watch(tokio::time::Instant::now())),
        ..Watch::empty()
    }))
}

/// `watch` (made for a traced request if it is `None`) keeping `req`'s decision trace, if it
/// has one, with the layer's name, to record a cancellation in.
#[cold]
#[inline(never)]
pub(crate) fn traced<Req: HasCancelToken>(
    req: &Req,
    name: &Option<Cow<'static, str>>,
    watch: Option<Pin<Box<Watch>>>,
) -> Option<Pin<Box<Watch>>> {
    let Some(trace) = req.decision_trace() else {
        return watch;
    };
    let mut watch = watch.unwrap_or_else(|| Box::pin(Watch::empty()));
    *watch.as_mut().project().trace = Some(Traced(trace.clone(), layer_name(name)));
    Some(watch)
}

/// `req`'s decision trace, if it has one, with its refusal for `reason` recorded.
#[cold]
#[inline(never)]
pub(crate) fn trace_refusal<Req: HasCancelToken>(
    req: &Req,
    name: &Option<Cow<'static, str>>,
    reason: &CancelReason,
) -> Option<DecisionTrace> {
    let trace = req.decision_trace()?;
    trace.record(
        layer_name(name),
        Decision::Cancelled {
            reason: reason.clone(),
        },
    );
    Some(trace.clone())
}

/// The layer's name in a decision trace: its own, or `"cancel"`.
fn layer_name(name: &Option<Cow<'static, str>>) -> Cow<'static, str> {
    name.clone().unwrap_or(Cow::Borrowed("cancel"))
}

/// Records the cancellation of a traced request.
#[cold]
#[inline(never)]
fn record_cancelled(trace: &Traced, reason: &CancelReason) {
    trace.0.record(
        trace.1.clone(),
        Decision::Cancelled {
            reason: reason.clone(),
        },
    );
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (token, refused) = match &self.state {
            State::Sent(inner) => (inner.token.as_ref(), None),
            State::Refused(reason, _) => (None, reason.as_ref()),
        };
        f.debug_struct("ResponseFuture")
            .field("token", &token)
            .field("refused", &refused)
            .finish_non_exhaustive()
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(fut: F, parts: Parts, watch: Option<Pin<Box<Watch>>>) -> Self {
        let Parts {
            token,
            limit,
            parent,
            owned,
            condition,
        } = parts;
        ResponseFuture {
            state: State::Sent(Inner {
                fut,
                token: Some(token),
                deferred: None,
                limit,
                parent,
                watch,
                owned,
                _condition: condition,
                done: false,
            }),
        }
    }

    /// A future whose token is made only if `fut` is not ready on its first poll.
    pub(crate) fn deferred(fut: F, deferred: Deferred, watch: Option<Pin<Box<Watch>>>) -> Self {
        ResponseFuture {
            state: State::Sent(Inner {
                fut,
                token: None,
                deferred: Some(deferred),
                limit: None,
                parent: None,
                watch,
                owned: false,
                _condition: None,
                done: false,
            }),
        }
    }

    /// The future of a request sent with `plan`, whose inner future is `fut`.
    pub(crate) fn sent(fut: F, plan: Plan, watch: Option<Pin<Box<Watch>>>) -> Self {
        match plan {
            Plan::Ready(parts) => Self::new(fut, parts, watch),
            Plan::Deferred(later) => Self::deferred(fut, later, watch),
        }
    }

    /// A future for a request refused before it was sent, for `reason`; `trace` is the
    /// request's decision trace, if it had one.
    pub(crate) fn cancelled(reason: CancelReason, trace: Option<DecisionTrace>) -> Self {
        ResponseFuture {
            state: State::Refused(Some(reason), trace),
        }
    }
}

impl<F> ResponseFuture<F> {
    /// Once [`poll_race`](Self::poll_race) has returned the inner future's output: stops
    /// watching (the timer and the token waits are dropped), and hands over this future's
    /// handle on the request's token if the layer made it and something else still holds it
    /// (a clone the service kept, a task it spawned, a child token, a registry of operations).
    ///
    /// For a wrapper that keeps watching the request after the answer, such as a response
    /// body that cancels the token with
    /// [`ClientDisconnected`](crate::token::CancelReason::ClientDisconnected) if it is dropped
    /// before its end. `None` for a token the caller supplied and the layer passed through as
    /// it is (the caller's to cancel), for a token nothing else holds (nobody could see it
    /// fire, so it is dropped uncancelled), before the answer, and after a cancellation.
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use std::pin::pin;
    /// use steadfast::cancel::CancelLayer;
    /// use steadfast::token::HasCancelToken;
    /// use tower::{service_fn, Layer};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let mut svc = CancelLayer::new().layer(service_fn(move |req: http::Request<()>| {
    ///     // The service keeps a handle on the token, for work that outlives the answer.
    ///     tx.send(req.cancel_token().cloned()).unwrap();
    ///     async { Ok::<_, std::io::Error>("streaming") }
    /// }));
    /// let mut fut = pin!(svc.race(http::Request::new(())));
    /// assert!(poll_fn(|cx| fut.as_mut().poll_race(cx)).await.is_ok());
    /// let token = fut.as_mut().take_shared_token().expect("the service still holds it");
    /// assert!(!token.is_cancelled());
    /// # drop(rx);
    /// # }
    /// ```
    #[inline]
    pub fn take_shared_token(self: Pin<&mut Self>) -> Option<CancelToken> {
        let StateProj::Sent(inner) = self.project().state.project() else {
            return None;
        };
        let inner = inner.project();
        if !*inner.done {
            return None;
        }
        *inner.watch = None;
        inner
            .token
            .take()
            .filter(|_| *inner.owned)
            .and_then(|mut t| (!t.is_sole()).then_some(t))
    }
}

impl<F, T, E> ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
{
    /// Races the inner future against the request's token and the layer's timers: `Ok` with
    /// the inner future's output (the inner service's `Result<T, E>` as it is), or `Err` with
    /// the reason the request was cancelled. The [`Future`] impl is this, with the inner error
    /// boxed and a cancellation turned into a [`Cancelled`] error; a wrapper that answers
    /// cancellations its own way polls this instead (see [`Cancel::race`](super::Cancel::race)).
    ///
    /// Once it has returned `Ready`, the future is done: do not poll it again, as with any
    /// future.
    pub fn poll_race(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<F::Output, CancelReason>> {
        let inner = match self.project().state.project() {
            StateProj::Sent(inner) => inner,
            StateProj::Refused(reason, _) => {
                return Poll::Ready(Err(reason.take().expect("polled after completion")));
            }
        };
        let inner = inner.project();
        // The answer wins if it is already there.
        let polled = span::in_span(span_of(inner.watch), || inner.fut.poll(cx));
        if let Poll::Ready(out) = polled {
            *inner.done = true;
            if let Some(watch) = inner.watch.as_mut() {
                let watch = watch.as_mut().project();
                // Told when the watch is dropped: a call here would copy the answer.
                if let Some(observed) = watch.observed {
                    observed.answered(out.is_ok());
                }
                if let Some(span) = watch.span {
                    span::record_outcome(span, if out.is_ok() { "success" } else { "failure" });
                }
            }
            return Poll::Ready(Ok(out));
        }
        if let Some(deferred) = inner.deferred.take() {
            // The answer is not ready: now the token is needed, and the timeout starts.
            if let Some(parts) = deferred.start() {
                *inner.token = Some(parts.token);
                *inner.limit = parts.limit;
                *inner.owned = parts.owned;
                *inner._condition = parts.condition;
            }
        }
        let Some(token) = inner.token.as_ref() else {
            // Nothing can cancel this request: the inner future alone decides.
            return Poll::Pending;
        };
        let watch = inner.watch.get_or_insert_with(|| Box::pin(Watch::empty()));
        let mut watch = watch.as_mut().project();
        if watch.cancelled.is_none() {
            watch.timer.set(
                inner
                    .limit
                    .as_ref()
                    .map(|(at, _)| tokio::time::sleep_until(*at)),
            );
            *watch.cancelled = Some(token.cancelled());
            *watch.parent = inner.parent.as_ref().map(CancelToken::cancelled);
        }
        if let Some(timer) = watch.timer.as_pin_mut() {
            if timer.poll(cx).is_ready() {
                if let Some((_, reason)) = inner.limit.take() {
                    token.cancel_with(reason);
                }
            }
        }
        if let Some(parent) = watch.parent {
            if Pin::new(&mut *parent).poll(cx).is_ready() {
                let reason = parent.token().reason().unwrap_or(CancelReason::Shutdown);
                token.cancel_with(reason);
            }
        }
        let fired = watch
            .cancelled
            .as_mut()
            .is_some_and(|c| Pin::new(c).poll(cx).is_ready());
        if fired {
            *inner.done = true;
            let reason = token.reason().expect("a cancelled token has a reason");
            if let Some(observed) = watch.observed {
                observed.cancelled(&reason);
            }
            if let Some(span) = watch.span.as_ref() {
                record_cancelled_span(span, &reason);
            }
            if let Some(trace) = watch.trace {
                span::in_span(watch.span.as_ref(), || record_cancelled(trace, &reason));
            }
            return Poll::Ready(Err(reason));
        }
        Poll::Pending
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.as_mut().poll_race(cx) {
            Poll::Ready(Ok(out)) => Poll::Ready(out.map_err(Into::into)),
            Poll::Ready(Err(reason)) => Poll::Ready(Err(cancelled(self, reason))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The error of a request cancelled for `reason`, carrying its decision trace if it has one.
#[cold]
#[inline(never)]
fn cancelled<F>(fut: Pin<&mut ResponseFuture<F>>, reason: CancelReason) -> BoxError {
    let trace = match fut.project().state.project() {
        StateProj::Sent(inner) => inner
            .project()
            .watch
            .as_mut()
            .and_then(|w| w.as_mut().project().trace.as_ref().map(|t| t.0.clone())),
        StateProj::Refused(_, trace) => trace.take(),
    };
    Cancelled::new(reason, trace).into()
}

#[pinned_drop]
impl<F> PinnedDrop for ResponseFuture<F> {
    fn drop(self: Pin<&mut Self>) {
        if let StateProj::Sent(inner) = self.project().state.project() {
            let inner = inner.project();
            if let Some(token) = inner
                .token
                .as_ref()
                .filter(|_| *inner.owned && !*inner.done)
            {
                // Nobody is waiting for the answer any more.
                token.cancel_with(CancelReason::ClientDisconnected);
            }
            if !*inner.done {
                if let Some(watch) = inner.watch.as_ref() {
                    // A traced request has a watch from its call.
                    record_dropped(watch);
                }
            }
        }
    }
}
