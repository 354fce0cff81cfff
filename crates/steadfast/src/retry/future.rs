//! The retry layer's response future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use pin_project::pin_project;
use tokio::time::{sleep_until, Instant};
use tower_service::Service;
use tracing::{Level, Span};

use super::clone_request::CloneRequest;
use super::cold::{
    attempt_span_of, end_request_span, end_spans, keep_spans, next_attempt_span, record_verdict,
    report_span, span_of, start_spans, FutureColdState,
};
use super::error::StopReason;
use super::log::outcome_name;
use super::policy::{PolicyRef, Settings};
use super::recover::Recover;
use super::state::{FinishedAttempt, RetryState};
use crate::classify::{refine, Classify, Outcome};
use crate::observe::span::{self, in_span};
use crate::token::{CancelToken, HasCancelToken};
use crate::BoxError;

/// Response future of [`Retry`](super::Retry).
///
/// It owns the service that took the first attempt; before each later attempt it sleeps the
/// backoff delay, then drives that service's `poll_ready` again (never holding a readiness
/// slot while it sleeps), then calls it. The request's cancellation token is watched while
/// it sleeps and while it waits for readiness.
#[pin_project(project = ResponseFutureProj)]
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<S, Req, P>
where
    S: Service<Req>,
    P: PolicyRef,
{
    #[pin]
    phase: Phase<S::Future>,
    service: S,
    /// The copy of the request for the next attempt (`None`: it cannot be retried).
    request: Option<Req>,
    policy: P,
    /// The attempts so far; what only a request that fails, waits or reports needs (the
    /// failed attempts' log and a [`FutureColdState`]) is in one box it makes when first needed, so
    /// the success path carries (and moves) none of it.
    state: RetryState<FutureColdState>,
}

#[pin_project(project = PhaseProj)]
enum Phase<F> {
    Calling {
        #[pin]
        fut: F,
    },
    Sleeping,
    Readying,
    /// Ends with the error kept in [`FutureColdState::stopped`].
    Stopped,
    Done,
}

impl<S, Req, P> fmt::Debug for ResponseFuture<S, Req, P>
where
    S: Service<Req>,
    P: PolicyRef,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match self.phase {
            Phase::Calling { .. } => "calling",
            Phase::Sleeping => "sleeping",
            Phase::Readying => "readying",
            Phase::Stopped => "stopped",
            Phase::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("phase", &phase)
            .field("attempt", &self.state.attempt)
            .finish_non_exhaustive()
    }
}

impl<S, Req, P> ResponseFuture<S, Req, P>
where
    S: Service<Req>,
    Req: HasCancelToken,
    P: PolicyRef,
    P::Classifier: Classify<Req, S::Response, S::Error>,
    P::Cloner: CloneRequest<Req>,
{
    /// Starts the first attempt on `service`, which must have reported ready, with the
    /// request's own copy of the policy.
    #[inline]
    pub(crate) fn new(mut service: S, req: Req, policy: P) -> Self {
        let settings = &policy.policy().settings;
        if let Some(reason) = req.cancel_token().and_then(|t| t.reason()) {
            return Self::cancelled_early(service, policy, reason, &req);
        }
        let mut state = RetryState::start(settings, settings.classifier.reads_elapsed());
        if crate::trace::armed() {
            if let Some(trace) = req.decision_trace() {
                state.set_trace(trace.clone());
            }
        }
        let request = if settings.max_attempts > 1 {
            settings.cloner.clone_request(&req)
        } else {
            None
        };
        // With spans, the first attempt is called inside its span: made out of line, and carried
        // across the call as one pointer, so that the success path is laid out as without.
        let started = if span::may_record(settings.log_level()) {
            start_spans(settings)
        } else {
            None
        };
        let fut = service.call(req);
        if let Some(started) = started {
            let cold = keep_spans(state.take_cold(), started);
            state.put_cold(cold);
        }
        ResponseFuture {
            phase: Phase::Calling { fut },
            service,
            request,
            policy,
            state,
        }
    }

    #[cold]
    fn cancelled_early(
        service: S,
        policy: P,
        reason: crate::token::CancelReason,
        req: &Req,
    ) -> Self {
        let settings = &policy.policy().settings;
        let mut state = RetryState::not_started(settings);
        if crate::trace::armed() {
            if let Some(trace) = req.decision_trace() {
                state.set_trace(trace.clone());
            }
        }
        let span = report_span(&mut state, settings);
        let error = state.give_up(settings, StopReason::Cancelled(reason), None, &span);
        *state.cold_or_make().project().extra.project().stopped = Some(error.into());
        ResponseFuture {
            phase: Phase::Stopped,
            service,
            request: None,
            policy,
            state,
        }
    }
}

impl<S, Req, P> Future for ResponseFuture<S, Req, P>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    Req: HasCancelToken,
    P: PolicyRef,
    P::Classifier: Classify<Req, S::Response, S::Error>,
    P::Cloner: CloneRequest<Req>,
    P::Recover: Recover<S::Response>,
{
    type Output = Result<S::Response, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // The first attempt's answer is handled here; everything after a retryable outcome
        // is in `poll_retrying`, out of line, so that the success path stays small.
        if let PhaseProj::Calling { fut } = this.phase.as_mut().project() {
            if this.state.cold_ref().is_some() {
                // Failed before, traced, or with spans: the attempt's poll in its span.
                return Self::poll_retrying(this, cx, None);
            }
            let result = ready!(fut.poll(cx));
            let mut reading = None;
            return match Self::attempt_finished::<false>(&mut this, result, &mut reading) {
                Some(out) => Poll::Ready(out),
                None => Self::poll_retrying(this, cx, reading),
            };
        }
        Self::poll_retrying(this, cx, None)
    }
}

/// The steps of [`ResponseFuture::poll`], under the same bounds.
impl<S, Req, P> ResponseFuture<S, Req, P>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    Req: HasCancelToken,
    P: PolicyRef,
    P::Classifier: Classify<Req, S::Response, S::Error>,
    P::Cloner: CloneRequest<Req>,
    P::Recover: Recover<S::Response>,
{
    /// An attempt answered: classifies the answer, and either ends the request with it (`Some`)
    /// or schedules a retry (`None`; `reading` is then the clock reading taken when the attempt
    /// finished if the retry is due at once).
    ///
    /// The reading goes out through a reference, not in the returned value: sharing a slot with
    /// the response, it made the compiler store a `u64` response as two halves and load it whole,
    /// a store-forwarding stall on every successful call.
    #[inline(always)]
    fn attempt_finished<const SPANS: bool>(
        this: &mut ResponseFutureProj<'_, S, Req, P>,
        result: Result<S::Response, S::Error>,
        reading: &mut Option<Instant>,
    ) -> Option<Result<S::Response, BoxError>> {
        let settings = &this.policy.policy().settings;
        // Read once here only for a classifier that looks at the elapsed time; otherwise a retry
        // decision reads the clock itself, and a success needs none.
        let now = if settings.classifier.reads_elapsed() {
            this.state.reading()
        } else {
            None
        };
        // A request with a decision trace has its verdict explained, and recorded once refined.
        // Only a request found carrying one when it started (once a trace existed) has one.
        let traced = this.state.trace().is_some();
        let outcome = if traced {
            explain_kept(
                this.state,
                &settings.classifier,
                now,
                this.request.as_ref(),
                result.as_ref(),
            )
        } else {
            let ctx = this.state.context(now, this.request.as_ref());
            settings.classifier.classify(&ctx, result.as_ref())
        };
        let result = result.map_err(Into::into);
        let outcome = match &result {
            Err(e) => refine(outcome, &**e),
            Ok(_) => outcome,
        };
        if traced {
            record_verdict(this.state, settings, outcome);
        }
        if tracing::enabled!(Level::TRACE) {
            trace_attempt(this.state, settings, outcome);
        }
        let ends = !outcome.is_retry_decision() || this.request.is_none();
        if SPANS {
            end_spans(this.state, outcome, ends.then_some(result.is_ok()));
        }
        if ends {
            if this.state.records_finish(settings) {
                finish_reported(this.state, settings, outcome, now, true);
            }
            this.phase.set(Phase::Done);
            return Some(result);
        }
        match schedule_retry(this, outcome, result, now) {
            Scheduled::Now(now) => *reading = Some(now),
            Scheduled::Later => *reading = None,
            Scheduled::Stop(out) => return Some(out),
        }
        None
    }

    /// Drives the request from the first retryable outcome on: the waits, the readiness checks
    /// and the later attempts. `reading` is the clock reading taken when the last attempt
    /// finished, while nothing has been waited for since: a zero-delay retry on a ready service
    /// reuses it to tag the next attempt. It is never kept across a `Pending`.
    #[inline(never)]
    fn poll_retrying(
        mut this: ResponseFutureProj<'_, S, Req, P>,
        cx: &mut Context<'_>,
        reading: Option<Instant>,
    ) -> Poll<Result<S::Response, BoxError>> {
        let polled = Self::poll_steps(&mut this, cx, reading);
        // A request with spans records its end in its own.
        if let Poll::Ready(out) = &polled {
            if this.state.cold_ref().is_some() {
                end_request_span(this.state, out.is_ok());
            }
        }
        polled
    }

    /// The loop of [`poll_retrying`](Self::poll_retrying).
    #[inline(always)]
    fn poll_steps(
        this: &mut ResponseFutureProj<'_, S, Req, P>,
        cx: &mut Context<'_>,
        mut reading: Option<Instant>,
    ) -> Poll<Result<S::Response, BoxError>> {
        loop {
            match this.phase.as_mut().project() {
                PhaseProj::Calling { fut } => {
                    let result = ready!(in_span(attempt_span_of(this.state), || fut.poll(cx)));
                    if let Some(out) = Self::attempt_finished::<true>(this, result, &mut reading) {
                        return Poll::Ready(out);
                    }
                }
                PhaseProj::Sleeping => {
                    let slept = match this.state.cold() {
                        Some(w) => w
                            .project()
                            .extra
                            .project()
                            .sleep
                            .as_pin_mut()
                            .is_none_or(|s| s.poll(cx).is_ready()),
                        None => true,
                    };
                    if let Some(out) = check_cancelled(this, cx) {
                        return Poll::Ready(out);
                    }
                    if !slept {
                        return Poll::Pending;
                    }
                    // Time has passed: the next attempt's tag reads the clock again.
                    reading = None;
                    this.phase.set(Phase::Readying);
                }
                PhaseProj::Readying => {
                    if let Some(out) = check_cancelled(this, cx) {
                        return Poll::Ready(out);
                    }
                    if let Err(e) = ready!(this.service.poll_ready(cx)) {
                        let settings = &this.policy.policy().settings;
                        finish_reported(
                            this.state,
                            settings,
                            Outcome::NonRetryable,
                            reading,
                            false,
                        );
                        this.phase.set(Phase::Done);
                        return Poll::Ready(Err(e.into()));
                    }
                    let mut req = this
                        .request
                        .take()
                        .expect("a retry is only scheduled when a copy of the request exists");
                    *this.request = this.policy.policy().settings.cloner.clone_request(&req);
                    let attempt = this
                        .state
                        .begin_retry(&this.policy.policy().settings, reading.take());
                    // Tell the layers below which attempt this is (the first carries no tag).
                    req.set_retry_attempt(attempt);
                    next_attempt_span(this.state, &this.policy.policy().settings, attempt.number());
                    let service = &mut *this.service;
                    let fut = in_span(attempt_span_of(this.state), || service.call(req));
                    this.phase.set(Phase::Calling { fut });
                }
                PhaseProj::Stopped => {
                    let error = this
                        .state
                        .cold()
                        .and_then(|w| w.project().extra.project().stopped.take())
                        .expect("a stopped request keeps its error");
                    this.phase.set(Phase::Done);
                    return Poll::Ready(Err(error));
                }
                PhaseProj::Done => panic!("retry ResponseFuture polled after completion"),
            }
        }
    }
}

/// Ends a request that has something to tell at its end (see `RetryState::records_finish`), in
/// the request's span when there is one; a first attempt reports nothing in a span, so none is
/// made for it. Out of line: the success path only tests whether to call it.
#[cold]
#[inline(never)]
fn finish_reported<C, K, R>(
    state: &mut RetryState<FutureColdState>,
    settings: &Settings<C, K, R>,
    outcome: Outcome,
    now: Option<Instant>,
    answered: bool,
) {
    let span = if state.attempt > 1 {
        report_span(state, settings)
    } else {
        Span::none()
    };
    state.finish(settings, outcome, now, answered, &span);
}

/// Records an attempt's outcome at `trace` level. Out of line, and given the outcome by value,
/// so that the success path does not keep the outcome in memory for the event to point at.
#[cold]
#[inline(never)]
fn trace_attempt<C, K, R>(
    state: &mut RetryState<FutureColdState>,
    settings: &Settings<C, K, R>,
    outcome: Outcome,
) {
    let attempt = state.attempt;
    let span = span_of(state, settings);
    tracing::trace!(
        parent: &span,
        steadfast.attempt = attempt,
        steadfast.outcome = outcome_name(outcome),
        "attempt finished"
    );
}

/// Asks the classifier to explain its verdict, for a request with a decision trace, and keeps
/// the rule until the verdict is recorded. Out of line: only a traced request calls it.
#[cold]
#[inline(never)]
fn explain_kept<C, Req, Res, E>(
    state: &mut RetryState<FutureColdState>,
    classifier: &C,
    now: Option<Instant>,
    request: Option<&Req>,
    result: Result<&Res, &E>,
) -> Outcome
where
    C: Classify<Req, Res, E>,
{
    let ctx = state.context(now, request);
    let (outcome, rule) = classifier.explain(&ctx, result);
    state.set_explained(outcome, rule);
    outcome
}

/// What [`schedule_retry`] decided.
enum Scheduled<T> {
    /// Send the next attempt at once (no delay, no token); the reading can tag it.
    Now(Instant),
    /// Sleep the delay first (phase `Sleeping`).
    Later,
    /// The request ends with this result.
    Stop(Result<T, BoxError>),
}

/// A retryable attempt finished: decides whether and when to retry, and sets the phase.
/// Kept out of `poll`, so that the success path stays small.
#[cold]
#[inline(never)]
fn schedule_retry<S, Req, P>(
    this: &mut ResponseFutureProj<'_, S, Req, P>,
    outcome: Outcome,
    result: Result<S::Response, BoxError>,
    now: Option<Instant>,
) -> Scheduled<S::Response>
where
    S: Service<Req>,
    Req: HasCancelToken,
    P: PolicyRef,
    P::Cloner: CloneRequest<Req>,
    P::Recover: Recover<S::Response>,
{
    let settings = &this.policy.policy().settings;
    let now = now.unwrap_or_else(Instant::now);
    let token = this.request.as_ref().and_then(|r| r.cancel_token());
    let resend = match this.request.as_ref() {
        Some(kept) => settings.cloner.can_resend(kept),
        None => Ok(()),
    };
    let (value, error) = match result {
        Ok(v) => (Some(v), None),
        Err(e) => (None, Some(e)),
    };
    let span = report_span(this.state, settings);
    let finished = FinishedAttempt {
        outcome,
        error,
        token,
        resend,
        now,
    };
    let delay = match this.state.on_retryable(settings, finished, &span) {
        Ok(delay) => delay,
        Err(reason) => {
            this.phase.set(Phase::Done);
            let out = this
                .state
                .conclude(settings, reason, value, Some(now), &span);
            end_request_span(this.state, out.is_ok());
            return Scheduled::Stop(out);
        }
    };
    drop(value);
    if delay.is_zero() && token.is_none() {
        // Nothing to sleep, nothing to watch: no timer.
        this.phase.set(Phase::Readying);
        return Scheduled::Now(now);
    }
    let until = (!delay.is_zero()).then(|| wake_at(now, delay));
    // The box was made for the failed attempt's record.
    let mut w = this.state.cold_or_make().project().extra.project();
    if let Some(until) = until {
        match w.sleep.as_mut().as_pin_mut() {
            Some(s) => s.reset(until),
            None => w.sleep.set(Some(sleep_until(until))),
        }
    }
    if let (Some(t), None) = (token, w.cancelled.as_ref().as_pin_ref()) {
        w.cancelled.set(Some(t.cancelled()));
        w.draining.set(t.drain_token().map(CancelToken::cancelled));
    }
    if until.is_some() {
        this.phase.set(Phase::Sleeping);
        Scheduled::Later
    } else {
        // A token to watch while the service gets ready, but nothing to sleep.
        this.phase.set(Phase::Readying);
        Scheduled::Now(now)
    }
}

/// When a sleep of `delay` from `now` ends; a delay too long to represent ends in about 30
/// years, as `tokio::time::sleep` does.
fn wake_at(now: Instant, delay: Duration) -> Instant {
    now.checked_add(delay)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30))
}

/// Between attempts: stops with a cancellation error if the request's token has fired.
fn check_cancelled<S, Req, P>(
    this: &mut ResponseFutureProj<'_, S, Req, P>,
    cx: &mut Context<'_>,
) -> Option<Result<S::Response, BoxError>>
where
    S: Service<Req>,
    Req: HasCancelToken,
    P: PolicyRef,
    P::Recover: Recover<S::Response>,
{
    let (fired, drained) = match this.state.cold() {
        Some(w) => {
            let w = w.project().extra.project();
            let fired = w
                .cancelled
                .as_pin_mut()
                .is_some_and(|c| c.poll(cx).is_ready());
            let drained = w
                .draining
                .as_pin_mut()
                .is_some_and(|c| c.poll(cx).is_ready());
            (fired, drained)
        }
        None => (false, false),
    };
    let token = this.request.as_ref().and_then(|r| r.cancel_token());
    let reason = match token {
        Some(t) if fired || t.is_cancelled() => StopReason::Cancelled(t.reason()?),
        Some(t) if drained || t.is_draining() => StopReason::Draining,
        _ => return None,
    };
    this.phase.set(Phase::Done);
    let settings = &this.policy.policy().settings;
    let span = report_span(this.state, settings);
    Some(this.state.conclude(settings, reason, None, None, &span))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use steadfast_test::{Reply, Scripted};
    use tower::{Layer, ServiceExt};

    use crate::retry::{Backoff, RetryLayer, RetryPolicy};
    use crate::token::{CancelToken, HasCancelToken};

    #[derive(Clone, Debug)]
    struct Job {
        token: Option<CancelToken>,
    }

    impl HasCancelToken for Job {
        fn cancel_token(&self) -> Option<&CancelToken> {
            self.token.as_ref()
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Runs a request that fails three times, with `backoff`, and returns the gaps between
    /// its attempts.
    async fn gaps(backoff: Backoff, token: Option<CancelToken>) -> Vec<Duration> {
        let svc = Scripted::<&'static str, Job>::new([
            Reply::err("1"),
            Reply::err("2"),
            Reply::err("3"),
            Reply::ok("done"),
        ]);
        let policy = RetryPolicy::builder()
            .max_attempts(4)
            .backoff(backoff)
            .build()
            .unwrap();
        let retry = RetryLayer::new(policy).layer(svc.clone());
        assert_eq!(retry.oneshot(Job { token }).await.unwrap(), "done");
        svc.gaps()
    }

    #[tokio::test(start_paused = true)]
    async fn zero_and_non_zero_delays_mix_with_and_without_a_token() {
        // A zero delay first (no timer is made), then real ones (the timer is made late).
        let zero_first = || Backoff::none().times(1).then(Backoff::constant(ms(100)));
        // A real delay first, then a zero one (the timer is kept but not waited on), then a
        // real one again (the same timer, reset).
        let zero_between = || {
            Backoff::constant(ms(100))
                .times(1)
                .then(Backoff::none().times(1).then(Backoff::constant(ms(50))))
        };
        for token in [None, Some(CancelToken::new())] {
            let watched = token.is_some();
            assert_eq!(
                gaps(zero_first(), token.clone()).await,
                [ms(0), ms(100), ms(100)],
                "token: {watched}"
            );
            assert_eq!(
                gaps(zero_between(), token).await,
                [ms(100), ms(0), ms(50)],
                "token: {watched}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_fired_before_a_zero_delay_retry_stops_it() {
        let token = CancelToken::new();
        let svc = Scripted::<&'static str, Job>::new([Reply::err("1")]);
        let policy = RetryPolicy::builder()
            .backoff(Backoff::none())
            .on_event({
                let token = token.clone();
                move |_| {
                    token.cancel();
                }
            })
            .build()
            .unwrap();
        let retry = RetryLayer::new(policy).layer(svc.clone());
        let err = retry.oneshot(Job { token: Some(token) }).await.unwrap_err();
        let err = err.downcast_ref::<crate::retry::RetryError>().unwrap();
        assert!(err.is_cancelled(), "{err}");
        assert_eq!(svc.calls(), 1);
        assert_eq!(err.history().next().unwrap().error.as_deref(), Some("1"));
    }
}
