//! The hedge layer's response future.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project::pin_project;
use tokio::time::{sleep_until, Instant, Sleep};
use tower_service::Service;

use super::attempts::{Cold, Plan, Running};
use super::delay::HedgeMode;
use super::events::{HedgeEvent, HedgeStop};
use super::settings::Settings;
use crate::classify::{refine, Attempt, Classify, Outcome};
use crate::per_thread_arc::PerThreadArc;
use crate::retry::CloneRequest;
use crate::token::{CancelReason, CancelToken, HasCancelToken};
use crate::trace::{Decision, DecisionTrace};
use crate::BoxError;

/// Response future of [`Hedge`](super::Hedge).
///
/// The first attempt's future is kept inline; hedges, the last failure and the token watch
/// live in a box made only when a hedge is sent or an attempt fails. The timer of the latency
/// mode is made only when the first attempt is still running at its first poll. Before each
/// hedge the future drives the kept service's `poll_ready` (after the delay, never across it),
/// then calls it.
#[pin_project(project = ResponseFutureProj)]
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<S, Req, C, K>
where
    S: Service<Req>,
{
    /// The first attempt, while it runs.
    #[pin]
    first: Option<S::Future>,
    /// The first attempt's token: a child of the request's, when hedges may race it.
    first_token: Option<CancelToken>,
    /// The latency mode's timer (and a pushback's).
    #[pin]
    sleep: Option<Sleep>,
    /// The service that took the first attempt, readied again for each hedge.
    service: S,
    /// The copy hedges are cloned from; `None` when the request is not hedged.
    kept: Option<Req>,
    settings: PerThreadArc<Settings>,
    classifier: C,
    cloner: K,
    /// Attempts sent so far.
    sent: u32,
    plan: Plan,
    /// The budget paid for the hedge being readied.
    paid: bool,
    /// When the first attempt was sent, when a classifier, a histogram or a listener reads it.
    started: Option<Instant>,
    /// The request's decision trace, when it carries one.
    trace: Option<DecisionTrace>,
    cold: Option<Box<Cold<S::Future, S::Response>>>,
}

impl<S, Req, C, K> fmt::Debug for ResponseFuture<S, Req, C, K>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("sent", &self.sent)
            .field("plan", &self.plan)
            .field("first_running", &self.first.is_some())
            .finish_non_exhaustive()
    }
}

impl<S, Req, C, K> ResponseFuture<S, Req, C, K>
where
    S: Service<Req>,
    Req: HasCancelToken,
    C: Classify<Req, S::Response, S::Error>,
    K: CloneRequest<Req>,
{
    /// Sends the first attempt on `service`, which must have reported ready.
    #[inline]
    pub(super) fn new(
        mut service: S,
        mut req: Req,
        settings: PerThreadArc<Settings>,
        classifier: C,
        cloner: K,
    ) -> Self {
        let s = &*settings;
        let mut kept = None;
        let mut first_token = None;
        if s.hedges() {
            if let (true, Some(budget)) = (s.deposit, &s.budget) {
                budget.deposit();
            }
            kept = cloner.clone_request(&req);
            if kept.is_some() {
                first_token = child_token(&mut req);
            }
        }
        let plan = match (&kept, s.mode) {
            (None, _) => Plan::Stopped,
            (Some(_), HedgeMode::Latency) => Plan::Unarmed,
            (Some(_), HedgeMode::Parallel) => Plan::Now,
            (Some(_), HedgeMode::Fallback) => Plan::Idle,
        };
        // Read when the classifier, the percentile delay or a listener (the request's
        // duration, in `Won` and `Exhausted`) needs it.
        let started = (classifier.reads_elapsed() || records_latency(s) || !s.listeners.is_empty())
            .then(Instant::now);
        let trace = if crate::trace::armed() {
            req.decision_trace().cloned()
        } else {
            None
        };
        let first = service.call(req);
        ResponseFuture {
            first: Some(first),
            first_token,
            sleep: None,
            service,
            kept,
            settings,
            classifier,
            cloner,
            sent: 1,
            plan,
            paid: false,
            started,
            trace,
            cold: None,
        }
    }
}

/// Gives `req` a child of its token (the first attempt's), and returns it.
#[inline]
fn child_token<Req: HasCancelToken>(req: &mut Req) -> Option<CancelToken> {
    let child = req.cancel_token()?.child();
    req.set_cancel_token(child.clone()).ok()?;
    Some(child)
}

/// The time since the request's call, for its listeners (which make the call read the clock).
#[cold]
fn since(started: Option<Instant>) -> Duration {
    started.map_or(Duration::ZERO, |t| t.elapsed())
}

/// `true` when winners' latencies feed a percentile delay.
#[inline]
fn records_latency(s: &Settings) -> bool {
    s.mode == HedgeMode::Latency && s.delay.histogram().is_some()
}

impl<S, Req, C, K> Future for ResponseFuture<S, Req, C, K>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    Req: HasCancelToken,
    C: Classify<Req, S::Response, S::Error>,
    K: CloneRequest<Req>,
{
    type Output = Result<S::Response, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // The first attempt alone, answering: the success path. Everything else is out of
        // line, in `poll_hedging`.
        if let Some(fut) = this.first.as_mut().as_pin_mut() {
            if let Poll::Ready(result) = fut.poll(cx) {
                this.first.set(None);
                let sent_at = *this.started;
                if let Some(out) = Self::answered(&mut this, 1, sent_at, result) {
                    return Poll::Ready(out);
                }
            } else if matches!(*this.plan, Plan::Stopped | Plan::Idle)
                && this.cold.as_ref().is_none_or(|c| c.hedges.is_empty())
            {
                return Poll::Pending;
            }
        }
        Self::poll_hedging(this, cx)
    }
}

/// The steps of [`ResponseFuture::poll`], under the same bounds.
impl<S, Req, C, K> ResponseFuture<S, Req, C, K>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    Req: HasCancelToken,
    C: Classify<Req, S::Response, S::Error>,
    K: CloneRequest<Req>,
{
    /// Attempt `attempt` (sent at `sent_at`, when that was read) answered: ends the request
    /// with the answer (`Some`) or takes it as a non-fatal failure (`None`).
    #[inline(always)]
    fn answered(
        this: &mut ResponseFutureProj<'_, S, Req, C, K>,
        attempt: u32,
        sent_at: Option<Instant>,
        result: Result<S::Response, S::Error>,
    ) -> Option<Result<S::Response, BoxError>> {
        let s = &**this.settings;
        let classifier = &*this.classifier;
        let elapsed = match (classifier.reads_elapsed(), *this.started) {
            (true, Some(t)) => t.elapsed(),
            _ => Duration::ZERO,
        };
        let ctx = Attempt::new(attempt, elapsed, Duration::ZERO, this.kept.as_ref());
        let (outcome, rule) = match this.trace {
            None => (classifier.classify(&ctx, result.as_ref()), None),
            Some(_) => classifier.explain(&ctx, result.as_ref()),
        };
        let result = result.map_err(Into::into);
        let (outcome, refused) = match &result {
            Err(e) => {
                let refined = refine(outcome, &**e);
                // `refine` makes a retryable verdict non-retryable only for a circuit
                // breaker's refusal: it says nothing of the attempts already admitted.
                let refused = outcome.is_retryable() && refined == Outcome::NonRetryable;
                (refined, refused)
            }
            Ok(_) => (outcome, false),
        };
        if let Some(trace) = this.trace.as_ref() {
            let decision = Decision::Classified {
                attempt,
                outcome,
                rule,
            };
            s.record(trace, decision);
        }
        if outcome.is_retry_decision() || refused {
            if refused
                && this.first.is_none()
                && this.cold.as_ref().is_none_or(|c| c.hedges.is_empty())
            {
                // Nothing else runs: the refusal is the answer.
                won(this, attempt, outcome);
                *this.plan = Plan::Stopped;
                return Some(result);
            }
            failed(this, attempt, outcome, refused, result);
            return None;
        }
        if let (Outcome::Success, Some(sent_at)) = (outcome, sent_at) {
            if let Some(p) = s.delay.histogram().filter(|_| records_latency(s)) {
                p.record_since(sent_at, Instant::now());
            }
        }
        if this.cold.is_some()
            || *this.sent > 1
            || !s.listeners.is_empty()
            || s.budget.is_some()
            || this.trace.is_some()
        {
            won(this, attempt, outcome);
        }
        *this.plan = Plan::Stopped;
        Some(result)
    }

    /// Everything but a first attempt answering alone: the hedges, their timer and readiness,
    /// and the end of a request whose attempts all failed.
    #[inline(never)]
    fn poll_hedging(
        mut this: ResponseFutureProj<'_, S, Req, C, K>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<S::Response, BoxError>> {
        let mut poll_first = false;
        loop {
            if poll_first {
                if let Some(fut) = this.first.as_mut().as_pin_mut() {
                    if let Poll::Ready(result) = fut.poll(cx) {
                        this.first.set(None);
                        let sent_at = *this.started;
                        if let Some(out) = Self::answered(&mut this, 1, sent_at, result) {
                            return Poll::Ready(out);
                        }
                    }
                }
            }
            poll_first = true;
            if let Some(out) = Self::poll_hedges(&mut this, cx) {
                return Poll::Ready(out);
            }
            match Self::next_hedge(&mut this, cx) {
                Step::Sent => continue,
                Step::Waiting | Step::Nothing => {}
            }
            let in_flight =
                this.first.is_some() || this.cold.as_ref().is_some_and(|c| !c.hedges.is_empty());
            if in_flight {
                return Poll::Pending;
            }
            // Nothing runs: either a hedge is still to come, or the last failure is the answer.
            if matches!(*this.plan, Plan::Timer | Plan::Now) && !token_fired(&mut this, cx) {
                return Poll::Pending;
            }
            return Poll::Ready(exhausted(&mut this));
        }
    }

    /// Polls the hedges in flight; ends the request when one's answer does.
    fn poll_hedges(
        this: &mut ResponseFutureProj<'_, S, Req, C, K>,
        cx: &mut Context<'_>,
    ) -> Option<Result<S::Response, BoxError>> {
        let mut i = 0;
        loop {
            let cold = this.cold.as_mut()?;
            let h = cold.hedges.get_mut(i)?;
            match h.fut.as_mut().poll(cx) {
                Poll::Pending => i += 1,
                Poll::Ready(result) => {
                    let h = cold.hedges.swap_remove(i);
                    if let Some(out) = Self::answered(this, h.attempt, h.sent_at, result) {
                        return Some(out);
                    }
                }
            }
        }
    }

    /// Moves the plan for the next hedge on: arms the timer, waits for it and for readiness,
    /// and sends the hedge when all is ready.
    fn next_hedge(this: &mut ResponseFutureProj<'_, S, Req, C, K>, cx: &mut Context<'_>) -> Step {
        loop {
            match *this.plan {
                Plan::Stopped | Plan::Idle => return Step::Nothing,
                Plan::Unarmed => {
                    let delay = this.settings.delay.delay(*this.sent + 1);
                    arm(this, delay);
                }
                Plan::Timer => {
                    let pending = this
                        .sleep
                        .as_mut()
                        .as_pin_mut()
                        .is_some_and(|sleep| sleep.poll(cx).is_pending());
                    if pending {
                        return Step::Waiting;
                    }
                    *this.plan = Plan::Now;
                }
                Plan::Now => return Self::send_hedge(this, cx),
            }
        }
    }

    /// Sends the next hedge once the budget has paid for it and the service is ready.
    fn send_hedge(this: &mut ResponseFutureProj<'_, S, Req, C, K>, cx: &mut Context<'_>) -> Step {
        let s = &**this.settings;
        let Some(kept) = this.kept.as_ref() else {
            return stop(this, HedgeStop::NotReplayable);
        };
        if kept.cancel_token().is_some_and(CancelToken::is_draining) {
            return stop(this, HedgeStop::Draining);
        }
        if this.cloner.can_resend(kept).is_err() {
            return stop(this, HedgeStop::NotReplayable);
        }
        if !*this.paid {
            let allowed = s.budget.as_ref().is_some_and(|b| b.withdraw());
            if !allowed {
                return stop(this, HedgeStop::BudgetExhausted);
            }
            *this.paid = true;
        }
        match this.service.poll_ready(cx) {
            Poll::Pending => return Step::Waiting,
            Poll::Ready(Err(_)) => return stop(this, HedgeStop::NotReady),
            Poll::Ready(Ok(())) => {}
        }
        let Some(mut req) = this.cloner.clone_request(kept) else {
            return stop(this, HedgeStop::NotReplayable);
        };
        let token = child_token(&mut req);
        *this.paid = false;
        *this.sent += 1;
        let attempt = *this.sent;
        let sent_at = records_latency(s).then(Instant::now);
        let fut = this.service.call(req);
        let cold = this.cold.get_or_insert_with(Default::default);
        let in_flight = cold.hedges.len() as u32 + u32::from(this.first.is_some());
        cold.hedges.push(Running {
            fut: Box::pin(fut),
            token,
            attempt,
            sent_at,
        });
        if !s.listeners.is_empty() {
            s.emit(HedgeEvent::HedgeSent { attempt, in_flight });
        }
        if let Some(trace) = this.trace.as_ref() {
            let balance = s.budget.as_ref().and_then(|b| b.balance());
            s.record(trace, Decision::HedgeSent { attempt, balance });
        }
        *this.plan = if attempt >= s.max_attempts {
            Plan::Stopped
        } else {
            match s.mode {
                HedgeMode::Latency => Plan::Unarmed,
                HedgeMode::Parallel => Plan::Now,
                HedgeMode::Fallback => Plan::Idle,
            }
        };
        Step::Sent
    }
}

/// What [`ResponseFuture::next_hedge`] did.
enum Step {
    /// A hedge was sent.
    Sent,
    /// A hedge waits for its timer or for readiness.
    Waiting,
    /// No hedge is coming for now.
    Nothing,
}

/// Sets the timer to end `delay` from now (a zero delay: the hedge is due now).
fn arm<S, Req, C, K>(this: &mut ResponseFutureProj<'_, S, Req, C, K>, delay: Duration)
where
    S: Service<Req>,
{
    if delay.is_zero() {
        *this.plan = Plan::Now;
        return;
    }
    let now = Instant::now();
    let until = now
        .checked_add(delay)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30));
    match this.sleep.as_mut().as_pin_mut() {
        Some(s) => s.reset(until),
        None => this.sleep.set(Some(sleep_until(until))),
    }
    *this.plan = Plan::Timer;
}

/// No further hedge, for `reason`.
#[cold]
fn stop<S, Req, C, K>(this: &mut ResponseFutureProj<'_, S, Req, C, K>, reason: HedgeStop) -> Step
where
    S: Service<Req>,
{
    *this.plan = Plan::Stopped;
    if !this.settings.listeners.is_empty() {
        this.settings.emit(HedgeEvent::Stopped { reason });
    }
    if let Some(trace) = this.trace.as_ref() {
        let reason = Cow::Owned(reason.to_string());
        this.settings
            .record(trace, Decision::HedgeStopped { reason });
    }
    Step::Nothing
}

/// Attempt `attempt` failed with the non-fatal `outcome` (or was `refused` by an open circuit
/// breaker below while other attempts run): keeps the failure as the answer so far, and
/// schedules the next hedge (at once, after the server's hint, or never).
#[cold]
#[inline(never)]
fn failed<S, Req, C, K>(
    this: &mut ResponseFutureProj<'_, S, Req, C, K>,
    attempt: u32,
    outcome: Outcome,
    refused: bool,
    result: Result<S::Response, BoxError>,
) where
    S: Service<Req>,
{
    let s = &**this.settings;
    if !s.listeners.is_empty() {
        s.emit(HedgeEvent::AttemptFailed { attempt, outcome });
    }
    this.cold.get_or_insert_with(Default::default).last = Some(result);
    if *this.plan == Plan::Stopped {
        return;
    }
    if refused {
        stop(this, HedgeStop::CircuitOpen);
        return;
    }
    if outcome == Outcome::DoNotRetry {
        stop(this, HedgeStop::ServerRefused);
        return;
    }
    match outcome.hint().filter(|d| !d.is_zero()) {
        Some(delay) => {
            if !s.listeners.is_empty() {
                s.emit(HedgeEvent::PushedBack { attempt, delay });
            }
            arm(this, delay);
        }
        None => *this.plan = Plan::Now,
    }
}

/// Attempt `attempt`'s answer ends the request: every other attempt is cancelled as a loser.
#[cold]
#[inline(never)]
fn won<S, Req, C, K>(
    this: &mut ResponseFutureProj<'_, S, Req, C, K>,
    attempt: u32,
    outcome: Outcome,
) where
    S: Service<Req>,
{
    let s = &**this.settings;
    let mut losers = 0;
    if attempt != 1 && this.first.is_some() {
        if let Some(t) = this.first_token.as_ref() {
            t.cancel_with(CancelReason::HedgeLost);
        }
        this.first.set(None);
        losers += 1;
    }
    if let Some(cold) = this.cold.as_mut() {
        losers += cold.cancel_losers(attempt);
        cold.cancelled = None;
    }
    if outcome == Outcome::Success && s.deposit && s.max_attempts > 1 {
        if let Some(b) = &s.budget {
            b.on_success(*this.sent);
        }
    }
    if let Some(trace) = this.trace.as_ref() {
        let decision = Decision::HedgeWon {
            attempt,
            attempts: *this.sent,
            losers,
        };
        s.record(trace, decision);
    }
    if !s.listeners.is_empty() {
        s.emit(HedgeEvent::Won {
            attempt,
            attempts: *this.sent,
            outcome,
            elapsed: since(*this.started),
        });
        if losers > 0 {
            s.emit(HedgeEvent::LosersCancelled { count: losers });
        }
    }
}

/// `true` once the request's token has fired (it is watched from the first call on).
#[cold]
fn token_fired<S, Req, C, K>(
    this: &mut ResponseFutureProj<'_, S, Req, C, K>,
    cx: &mut Context<'_>,
) -> bool
where
    S: Service<Req>,
    Req: HasCancelToken,
{
    let Some(token) = this.kept.as_ref().and_then(|r| r.cancel_token()) else {
        return false;
    };
    let cold = this.cold.get_or_insert_with(Default::default);
    let watch = cold
        .cancelled
        .get_or_insert_with(|| Box::pin(token.cancelled()));
    watch.as_mut().poll(cx).is_ready()
}

/// Every attempt failed: the last failure is the answer.
#[cold]
fn exhausted<S, Req, C, K>(
    this: &mut ResponseFutureProj<'_, S, Req, C, K>,
) -> Result<S::Response, BoxError>
where
    S: Service<Req>,
{
    *this.plan = Plan::Stopped;
    let s = &**this.settings;
    if !s.listeners.is_empty() {
        s.emit(HedgeEvent::Exhausted {
            attempts: *this.sent,
            elapsed: since(*this.started),
        });
    }
    this.cold
        .as_mut()
        .and_then(|c| c.last.take())
        .expect("hedge ResponseFuture polled after completion")
}
