//! The retry decision, shared by the service's response future and the function-level API.
//!
//! A [`RetryState`] is the one object that keeps a request's attempt bookkeeping: it counts
//! the attempts, keeps the clock (started with the first attempt only when something reads
//! the elapsed time, see `Settings::times_from_start`; otherwise at the first failure),
//! records the history, and turns each retryable [`FinishedAttempt`] into "retry after this
//! delay" or "stop for this reason".
//!
//! Its hot part (the attempt number and the clock) is inline; everything only a request that
//! fails, waits or reports needs is a [`ColdState`], boxed on first need, which also holds the
//! caller's own cold part: the response future's timers, token watchers and span
//! (`FutureColdState`), nothing for the function-level loops.
//!
//! # Why this is one file
//!
//! This file is over the usual length on purpose, because it reads best whole: it is one
//! concept, the decision a retry loop makes after each attempt. Every stop rule (attempts,
//! elapsed time, deadline, budget, draining, server pushback, the hint wait bound) reads and
//! writes the same attempt count, clock and cold part, and the order in which they are checked
//! is the behaviour users rely on; split across files, a reader would have to hold that order
//! from several places. What is not part of the decision lives elsewhere: the response future
//! and its cold part in `future.rs` and `cold.rs`, the settings in `policy.rs` and their
//! checks in `builder.rs`, the budgets in `budget/`, the events in `events.rs`.

use std::borrow::Cow;
use std::pin::Pin;
use std::time::Duration;

use pin_project::pin_project;
use tokio::time::Instant;
use tracing::Span;

use super::classes::{ClassCounts, FailedAttempt};
use super::error::{AttemptRecord, Clock, History, RetryError, StopReason};
use super::events::{RequestEnd, RetryEvent};
use super::log::{enabled_at, event_at};
use super::policy::Settings;
use super::recover::Recover;
use super::traced::{layer_name, schedule_source, Traced};
use crate::backoff::Noted;
use crate::classify::{Attempt, Outcome};
use crate::token::{CancelToken, RetryAttempt};
use crate::trace::{Decision, DecisionTrace, DelaySource};
use crate::BoxError;

/// The target of the `tracing` events the state emits, for asking whether any would be
/// recorded before making a span for them.
pub(crate) const EVENTS_TARGET: &str = module_path!();

#[derive(Debug)]
pub(crate) struct RetryState<X = ()> {
    /// Attempts started so far.
    pub(crate) attempt: u32,
    start: Option<Instant>,
    /// What is only known once an attempt has failed, and the caller's `X` (the response
    /// future keeps what it needs to wait there): allocated when first needed, so the
    /// success path carries one pointer and a request that retries makes one box.
    cold: ColdBox<X>,
}

/// The part of a [`RetryState`] that only a request that fails, waits or reports needs.
#[pin_project]
#[derive(Debug, Default)]
pub(crate) struct ColdState<X> {
    log: Log,
    /// The request's decision trace, when it carries one: one pointer, so that a request
    /// without one makes, fills and drops nothing more for it.
    traced: Option<Box<Traced>>,
    /// The caller's part.
    #[pin]
    pub(crate) extra: X,
}

/// An `Option<Pin<Box<ColdState<X>>>>` whose drop, when it holds nothing (every request that
/// succeeds on its first attempt without reporting), is a test inlined into its owner's: the
/// compiler's drop glue for the option is an out-of-line call that saves registers first.
#[derive(Debug)]
struct ColdBox<X>(Option<Pin<Box<ColdState<X>>>>);

impl<X> Drop for ColdBox<X> {
    #[inline]
    fn drop(&mut self) {
        #[cold]
        #[inline(never)]
        fn drop_cold<X>(cold: Pin<Box<ColdState<X>>>) {
            drop(cold);
        }
        if let Some(cold) = self.0.take() {
            drop_cold(cold);
        }
    }
}

/// An attempt that ended with a retryable outcome, as [`RetryState::on_retryable`] weighs it.
pub(crate) struct FinishedAttempt<'a> {
    /// The classified outcome (a retry decision).
    pub(crate) outcome: Outcome,
    /// The attempt's error, kept unformatted for the history; `None` for a retryable response.
    pub(crate) error: Option<BoxError>,
    /// The request's cancellation token, if it has one.
    pub(crate) token: Option<&'a CancelToken>,
    /// Whether the copy kept for the next attempt can still be sent
    /// ([`CloneRequest::can_resend`](super::CloneRequest::can_resend)).
    pub(crate) resend: Result<(), &'static str>,
    /// The clock reading taken when the attempt finished.
    pub(crate) now: Instant,
}

/// A failed attempt, as the state keeps it until a [`RetryError`] is built: the error is
/// only formatted for the history then.
#[derive(Debug)]
struct Failure {
    outcome: Outcome,
    finished_at: Duration,
    /// The delay chosen after it; `None` while the decision is being made.
    delay_after: Option<Duration>,
    error: Option<BoxError>,
}

impl Failure {
    /// Its record, without the error's message (filled in when the error is built).
    fn record(&self, number: u32) -> AttemptRecord {
        AttemptRecord {
            number,
            outcome: self.outcome,
            finished_at: self.finished_at,
            delay_after: self.delay_after,
            error: None,
        }
    }

    fn into_history(self, number: u32, history: &mut History) {
        let record = self.record(number);
        history.push(record, self.error);
    }
}

#[derive(Debug, Default)]
struct Log {
    /// The latest attempt that failed, kept while the next one runs: a request whose retry
    /// succeeds drops it unformatted, and never grows `history`.
    ///
    /// # Invariants
    ///
    /// Its attempt number is not stored: it is `RetryState::attempt` until the next attempt
    /// begins (while the retry is decided, during the wait, and when the layer gives up),
    /// and `RetryState::attempt - 1` while that next attempt runs.
    last: Option<Failure>,
    /// The delays waited before `last`'s attempt (after the attempts in `history`).
    earlier_delay: Duration,
    /// The attempts before `last`, from the second retry on.
    history: History,
    /// The attempt after which the backoff schedule last started again (a retry made at a
    /// server's pushback, gRFC A6); 0 while it runs from the start. The next backoff delay is
    /// the schedule's `attempt - backoff_from`th.
    backoff_from: u32,
    /// The time waited so far on server hints, against `max_hint_wait_total`.
    hinted: Duration,
    /// The clock started when the first attempt failed, not with it.
    clock_from_failure: bool,
    /// Each schedule's count, for a policy with a backoff per class of failure.
    classes: ClassCounts,
    /// When the running attempt started, counted from the request's start (kept for
    /// listeners only, from the second attempt on: the first starts at zero).
    attempt_started: Duration,
}

/// Tells the listeners that a request's first attempt is starting. Out of line: a policy
/// without listeners only tests a flag.
#[cold]
#[inline(never)]
fn first_attempt_starting<C, K, R>(settings: &Settings<C, K, R>) {
    settings.emit(RetryEvent::AttemptStarting {
        attempt: 1,
        elapsed: Duration::ZERO,
    });
}

/// An error as a plain `std::error::Error`.
fn as_std<'a>(
    e: &'a (dyn std::error::Error + Send + Sync + 'static),
) -> &'a (dyn std::error::Error + 'static) {
    e
}

impl<X: Default> RetryState<X> {
    /// A state for a request whose first attempt is starting now. `classifier_reads` is
    /// whether the classifier reads [`Attempt::elapsed`]: the clock then starts now.
    #[inline]
    pub(crate) fn start<C, K, R>(settings: &Settings<C, K, R>, classifier_reads: bool) -> Self {
        // One test for a policy with nothing to tell (listeners imply `reports`).
        if settings.reports() {
            if let Some(m) = settings.metrics() {
                m.request();
            }
            if let Some(b) = settings.budget() {
                b.deposit();
            }
            if settings.has_listeners() {
                first_attempt_starting(settings);
            }
        }
        RetryState {
            attempt: 1,
            // Only a policy that reads the elapsed time pays for a clock read on the success
            // path.
            start: settings
                .times_from_start(classifier_reads)
                .then(Instant::now),
            cold: ColdBox(None),
        }
    }

    /// The first attempt of a request made [`not_started`](Self::not_started) (it waited
    /// before it) is starting now.
    pub(crate) fn begin_first<C, K, R>(
        &mut self,
        settings: &Settings<C, K, R>,
        classifier_reads: bool,
    ) {
        if let Some(b) = settings.budget() {
            b.deposit();
        }
        self.attempt = 1;
        self.start = settings
            .times_from_start(classifier_reads)
            .then(Instant::now);
        settings.emit(RetryEvent::AttemptStarting {
            attempt: 1,
            elapsed: Duration::ZERO,
        });
    }

    /// A state for a request that never got to its first attempt.
    pub(crate) fn not_started<C, K, R>(settings: &Settings<C, K, R>) -> Self {
        if let Some(m) = settings.metrics() {
            m.request();
        }
        RetryState {
            attempt: 0,
            start: None,
            cold: ColdBox(None),
        }
    }

    /// The cold part, if it has been made.
    #[inline]
    pub(crate) fn cold(&mut self) -> Option<Pin<&mut ColdState<X>>> {
        self.cold.0.as_mut().map(Pin::as_mut)
    }

    /// Takes the cold part out, to hand it to an out-of-line function by value (a reference to
    /// the state would make the compiler keep the whole state in memory on the success path).
    #[inline(always)]
    pub(crate) fn take_cold(&mut self) -> Option<Pin<Box<ColdState<X>>>> {
        self.cold.0.take()
    }

    /// Puts back the cold part [`take_cold`](Self::take_cold) took.
    #[inline(always)]
    pub(crate) fn put_cold(&mut self, cold: Option<Pin<Box<ColdState<X>>>>) {
        self.cold.0 = cold;
    }

    /// The cold part, if it has been made, to read.
    #[inline]
    pub(crate) fn cold_ref(&self) -> Option<&ColdState<X>> {
        self.cold.0.as_deref()
    }

    /// The cold part, made now if it was not.
    pub(crate) fn cold_or_make(&mut self) -> Pin<&mut ColdState<X>> {
        self.cold
            .0
            .get_or_insert_with(|| Box::into_pin(Box::<ColdState<X>>::default()))
            .as_mut()
    }

    /// Keeps the request's decision trace: every later decision is recorded in it.
    #[cold]
    pub(crate) fn set_trace(&mut self, trace: DecisionTrace) {
        *self.cold_or_make().project().traced = Some(Box::new(Traced::new(trace)));
    }

    /// The request's decision trace, if it carried one when it started (kept by
    /// [`set_trace`](Self::set_trace), which is only called once
    /// [`trace::armed`](crate::trace::armed)). A request without one and with no cold part
    /// answers with one pointer test.
    #[inline]
    pub(crate) fn trace(&self) -> Option<&DecisionTrace> {
        self.cold.0.as_ref()?.traced.as_ref().map(|t| &t.trace)
    }

    /// Keeps the classifier's explanation of the running attempt until
    /// [`record_classified`](Self::record_classified).
    pub(crate) fn set_explained(&mut self, outcome: Outcome, rule: Option<Cow<'static, str>>) {
        if let Some(traced) = self.cold_or_make().project().traced {
            traced.explained = Some((outcome, rule));
        }
    }

    /// Records the running attempt's verdict, `outcome` (the classifier's, refined by what
    /// steadfast's own errors say), with the rule the classifier gave; a verdict the
    /// refinement changed names that too.
    #[cold]
    #[inline(never)]
    pub(crate) fn record_classified<C, K, R>(
        &mut self,
        settings: &Settings<C, K, R>,
        outcome: Outcome,
        span: &Span,
    ) {
        let attempt = self.attempt;
        let Some(cold) = self.cold() else { return };
        if let Some(traced) = cold.project().traced.as_mut() {
            span.in_scope(|| traced.record_classified(layer_name(settings), attempt, outcome));
        }
    }

    /// The failed attempts' log, made now if it was not.
    fn log(&mut self) -> &mut Log {
        self.cold_or_make().project().log
    }

    /// Reads the clock for an attempt that just finished, if its context needs the time
    /// (the clock has started). The reading is then reused for everything decided about that
    /// attempt.
    #[inline]
    pub(crate) fn reading(&self) -> Option<Instant> {
        self.start.map(|_| Instant::now())
    }

    /// The time elapsed at `now`; starts the clock at `now` if it has not started (the first
    /// failure of a request whose policy reads no clock on the success path).
    fn elapsed_at(&mut self, now: Instant) -> Duration {
        match self.start {
            Some(s) => now.saturating_duration_since(s),
            None => {
                self.start = Some(now);
                self.log().clock_from_failure = true;
                Duration::ZERO
            }
        }
    }

    /// The delays waited so far.
    #[inline]
    fn total_delay(&self) -> Duration {
        match &self.cold.0 {
            Some(cold) => {
                let log = &cold.log;
                let last = log.last.as_ref().and_then(|f| f.delay_after);
                log.earlier_delay.saturating_add(last.unwrap_or_default())
            }
            None => Duration::ZERO,
        }
    }

    /// The context handed to the classifier for the attempt that just finished; `now` is
    /// [`reading`](Self::reading).
    pub(crate) fn context<'a, Req>(
        &self,
        now: Option<Instant>,
        request: Option<&'a Req>,
    ) -> Attempt<'a, Req> {
        let elapsed = match (self.start, now) {
            (Some(s), Some(now)) => now.saturating_duration_since(s),
            _ => Duration::ZERO,
        };
        Attempt::new(self.attempt, elapsed, self.total_delay(), request)
    }

    /// The attempt finished with a retryable outcome and the request can be sent again:
    /// decide whether, and after how long. The attempt's error, if any, is kept
    /// (unformatted) for the history.
    pub(crate) fn on_retryable<C, K, R>(
        &mut self,
        settings: &Settings<C, K, R>,
        finished: FinishedAttempt<'_>,
        span: &Span,
    ) -> Result<Duration, StopReason> {
        let FinishedAttempt { outcome, now, .. } = finished;
        let token = finished.token;
        let elapsed = self.elapsed_at(now);
        if settings.has_listeners() {
            self.attempt_answered(settings, outcome, elapsed);
        }
        let attempt = self.attempt;
        let cold = self.cold_or_make().project();
        let log = cold.log;
        // Only a request that carries a trace has the decisions below described.
        let mut traced = if crate::trace::armed() {
            cold.traced.as_deref_mut()
        } else {
            None
        };
        let mut prev_delay = Duration::ZERO;
        if let Some(prev) = log.last.take() {
            prev_delay = prev.delay_after.unwrap_or_default();
            log.earlier_delay = log.earlier_delay.saturating_add(prev_delay);
            prev.into_history(attempt - 1, &mut log.history);
        }
        log.last = Some(Failure {
            outcome,
            finished_at: elapsed,
            delay_after: None,
            error: finished.error,
        });
        if let Some(reason) = token.and_then(|t| t.reason()) {
            return Err(StopReason::Cancelled(reason));
        }
        if token.is_some_and(CancelToken::is_draining) {
            return Err(StopReason::Draining);
        }
        if outcome == Outcome::DoNotRetry {
            return Err(StopReason::ServerRefused);
        }
        if token.is_some_and(|t| !t.retries_allowed()) {
            return Err(StopReason::RetriesSuppressed);
        }
        if attempt >= settings.max_attempts {
            return Err(StopReason::AttemptsExhausted);
        }
        if let Err(why) = finished.resend {
            return Err(StopReason::NotReplayable(why));
        }
        let hinted = outcome.hint().map(|hint| hint.min(settings.max_hint()));
        let delay = match hinted {
            Some(hint) => {
                if let Some(t) = traced.as_deref_mut() {
                    let asked = outcome.hint().unwrap_or(hint);
                    t.source = Some(DelaySource::Hint {
                        asked,
                        clamped: asked > hint,
                    });
                }
                if log.hinted.saturating_add(hint) > settings.max_hint_wait_total() {
                    return Err(StopReason::MaxHintWait);
                }
                hint
            }
            None if !settings.classes().is_empty() => {
                let error = log.last.as_ref().and_then(|f| f.error.as_deref());
                let failed = FailedAttempt::new(attempt, outcome, error.map(as_std));
                let (backoff, classes, rng) =
                    (settings.backoff(), settings.classes(), settings.rng());
                let mut class = 0;
                if let Some(t) = traced.as_deref_mut() {
                    let mut noted = Noted::default();
                    let delay = log
                        .classes
                        .next_delay(backoff, classes, &failed, rng, &mut noted, &mut class);
                    t.source = Some(match class {
                        0 => schedule_source(noted, delay),
                        i => DelaySource::Class {
                            class: Cow::Owned(format!("class {i}")),
                        },
                    });
                    delay
                } else {
                    log.classes
                        .next_delay(backoff, classes, &failed, rng, &mut (), &mut class)
                }
            }
            None => {
                // The schedule counts from its last restart; a restarted one has no previous
                // delay to decorrelate from.
                let n = attempt - log.backoff_from;
                let prev = if n == 1 { Duration::ZERO } else { prev_delay };
                if let Some(t) = traced.as_deref_mut() {
                    let mut noted = Noted::default();
                    let delay = settings
                        .backoff()
                        .delay_noted(n, prev, settings.rng(), &mut noted);
                    t.source = Some(schedule_source(noted, delay));
                    delay
                } else {
                    settings.backoff().delay(n, prev, settings.rng())
                }
            }
        };
        if let Some(limit) = settings.max_elapsed {
            if elapsed.saturating_add(delay) > limit {
                return Err(StopReason::MaxElapsed);
            }
        }
        let deadline = match (settings.deadline(), token.and_then(CancelToken::deadline)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(deadline) = deadline {
            if now >= deadline || deadline - now <= delay {
                return Err(StopReason::Deadline);
            }
        }
        if let Some(budget) = settings.budget() {
            let allowed = budget.withdraw();
            if let Some(t) = &traced {
                let balance = budget.balance();
                t.trace.record_in(
                    span,
                    layer_name(settings),
                    Decision::Budget { allowed, balance },
                );
            }
            if !allowed {
                settings.emit(RetryEvent::BudgetExhausted { attempts: attempt });
                event_at!(settings.log_level(), parent: span, attempts = attempt, "retry budget exhausted");
                return Err(StopReason::BudgetExhausted);
            }
        }
        if let Some(hint) = hinted {
            log.hinted = log.hinted.saturating_add(hint);
        }
        if matches!(outcome, Outcome::PushedBack { .. }) {
            // gRFC A6: the attempt after a pushback uses the initial backoff.
            log.backoff_from = attempt;
            log.classes.restart();
        }
        let last = log
            .last
            .as_mut()
            .expect("the failed attempt was recorded above");
        last.delay_after = Some(delay);
        let error = last
            .error
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static));
        settings.emit(RetryEvent::Retry {
            attempt,
            delay,
            outcome,
            elapsed,
            error,
        });
        event_at!(
            settings.log_level(),
            parent: span,
            attempt,
            ?delay,
            %outcome,
            error = error.map(tracing::field::display),
            "retrying"
        );
        if let Some((trace, Some(source))) = traced.map(|t| (&t.trace, t.source.take())) {
            trace.record_in(
                span,
                layer_name(settings),
                Decision::Backoff {
                    attempt,
                    delay,
                    source,
                },
            );
        }
        Ok(delay)
    }

    /// The next attempt is being sent; returns the tag that tells the layers below which
    /// attempt it is. `now` is the reading taken when the failed attempt finished, if nothing
    /// has been waited for since (a zero delay and a ready service); otherwise the clock is
    /// read again.
    ///
    /// The failed attempt was dated with that same reading (`on_retryable`), so its elapsed
    /// time is taken from the log instead of being worked out again.
    pub(crate) fn begin_retry<C, K, R>(
        &mut self,
        settings: &Settings<C, K, R>,
        now: Option<Instant>,
    ) -> RetryAttempt {
        if let Some(m) = settings.metrics() {
            let waited = self
                .cold
                .0
                .as_ref()
                .and_then(|c| c.log.last.as_ref()?.delay_after);
            m.retry(waited.unwrap_or_default());
        }
        let dated = now.and(self.last_finished_at());
        let elapsed = match dated {
            Some(at) => at,
            None => self.elapsed_at(now.unwrap_or_else(Instant::now)),
        };
        self.attempt += 1;
        if settings.has_listeners() {
            self.log().attempt_started = elapsed;
        }
        settings.emit(RetryEvent::AttemptStarting {
            attempt: self.attempt,
            elapsed,
        });
        RetryAttempt::new(self.attempt, elapsed)
    }

    /// When the latest failed attempt finished, counted from the request's start.
    fn last_finished_at(&self) -> Option<Duration> {
        let cold = self.cold.0.as_ref()?;
        cold.log.last.as_ref().map(|f| f.finished_at)
    }

    /// Tells the listeners that the running attempt answered with `outcome`, `elapsed` into
    /// the request.
    fn attempt_answered<C, K, R>(
        &self,
        settings: &Settings<C, K, R>,
        outcome: Outcome,
        elapsed: Duration,
    ) {
        let started = self
            .cold
            .0
            .as_ref()
            .map_or(Duration::ZERO, |c| c.log.attempt_started);
        settings.emit(RetryEvent::AttemptFinished {
            attempt: self.attempt,
            duration: elapsed.saturating_sub(started),
            outcome,
        });
    }

    /// The request ended with this outcome and nothing more will be tried. `now` is the
    /// reading taken for the last attempt, if one was; `answered` is whether the outcome is
    /// the running attempt's answer (not a service that failed its readiness check before
    /// the next attempt).
    #[inline]
    pub(crate) fn finish<C, K, R>(
        &mut self,
        settings: &Settings<C, K, R>,
        outcome: Outcome,
        now: Option<Instant>,
        answered: bool,
        span: &Span,
    ) {
        if self.records_finish(settings) {
            self.finish_recorded(settings, outcome, now, answered, span);
        }
    }

    /// Whether [`finish`](Self::finish) has anything to do: not for a first-attempt result
    /// with nothing attached to tell, the common case.
    #[inline]
    pub(crate) fn records_finish<C, K, R>(&self, settings: &Settings<C, K, R>) -> bool {
        self.attempt > 1 || settings.reports()
    }

    #[cold]
    fn finish_recorded<C, K, R>(
        &mut self,
        settings: &Settings<C, K, R>,
        outcome: Outcome,
        now: Option<Instant>,
        answered: bool,
        span: &Span,
    ) {
        // Listeners are told how long the attempt and the request took: only they make the
        // end of a request read the clock.
        let listens = settings.has_listeners();
        let now = match now {
            None if listens => Some(Instant::now()),
            now => now,
        };
        if listens && answered {
            let elapsed = self.elapsed_at(now.unwrap_or_else(Instant::now));
            self.attempt_answered(settings, outcome, elapsed);
        }
        if let Some(m) = settings.metrics() {
            m.finished(self.attempt);
            if !outcome.is_success() {
                m.failed();
            }
        }
        if outcome.is_success() {
            if let Some(b) = settings.budget() {
                b.on_success(self.attempt);
            }
            if self.attempt > 1 {
                if let Some(m) = settings.metrics() {
                    m.success_after_retry();
                }
                // The time taken is only told, to listeners and in a debug event: read the
                // clock for it only if someone will see it.
                if now.is_some()
                    || listens
                    || enabled_at!(settings.log_level(), target: EVENTS_TARGET)
                {
                    let elapsed = self.elapsed_at(now.unwrap_or_else(Instant::now));
                    settings.emit(RetryEvent::Success {
                        attempts: self.attempt,
                        elapsed,
                    });
                    event_at!(settings.log_level(), parent: span, attempts = self.attempt, ?elapsed, "succeeded after retries");
                }
            }
        }
        if listens {
            let elapsed = self.elapsed_at(now.unwrap_or_else(Instant::now));
            let end = if outcome.is_success() {
                RequestEnd::Success
            } else {
                RequestEnd::Failed
            };
            settings.emit(RetryEvent::RequestFinished {
                attempts: self.attempt,
                elapsed,
                end,
            });
        }
    }

    /// Ends a request whose retryable attempt will not be retried: a retryable *response* is
    /// still returned as the answer (unless the caller cancelled); otherwise the result is a
    /// [`RetryError`] holding the attempts' errors (the last one as its source), or what the
    /// policy's recovery makes of it (not for a cancelled request).
    pub(crate) fn conclude<T, C, K, R: Recover<T>>(
        &mut self,
        settings: &Settings<C, K, R>,
        reason: StopReason,
        value: Option<T>,
        now: Option<Instant>,
        span: &Span,
    ) -> Result<T, BoxError> {
        let cancelled = matches!(reason, StopReason::Cancelled(_));
        let err = self.give_up(settings, reason, now, span);
        match value {
            Some(v) if !cancelled => Ok(v),
            _ if cancelled => Err(err.into()),
            _ => settings.recover.recover(err),
        }
    }

    /// The layer gives up for `reason`; builds the error from the attempts kept so far,
    /// formatting their errors' messages for the history now. `now` is a reading to reuse,
    /// if one was taken since the last wait.
    pub(crate) fn give_up<C, K, R>(
        &mut self,
        settings: &Settings<C, K, R>,
        reason: StopReason,
        now: Option<Instant>,
        span: &Span,
    ) -> RetryError {
        let (elapsed, clock) = if self.attempt == 0 {
            (Duration::ZERO, Clock::NotStarted)
        } else {
            let elapsed = self.elapsed_at(now.unwrap_or_else(Instant::now));
            let late = self.cold().is_some_and(|s| s.log.clock_from_failure);
            let clock = if late {
                Clock::FirstFailure
            } else {
                Clock::FirstAttempt
            };
            (elapsed, clock)
        };
        if let Some(m) = settings.metrics() {
            if self.attempt > 0 {
                m.finished(self.attempt);
            }
            m.gave_up(&reason, self.attempt);
        }
        settings.emit(RetryEvent::GiveUp {
            attempts: self.attempt,
            elapsed,
            reason: &reason,
        });
        event_at!(settings.log_level(), parent: span, attempts = self.attempt, ?elapsed, %reason, "giving up");
        if settings.has_listeners() {
            settings.emit(RetryEvent::RequestFinished {
                attempts: self.attempt,
                elapsed,
                end: RequestEnd::GaveUp(&reason),
            });
        }
        let mut history = History::default();
        let mut trace = None;
        let attempts = self.attempt;
        if let Some(cold) = self.cold() {
            let cold = cold.project();
            let Log {
                last,
                history: kept,
                ..
            } = std::mem::take(cold.log);
            history = kept;
            if let Some(last) = last {
                last.into_history(attempts, &mut history);
            }
            trace = cold.traced.as_ref().map(|t| t.trace.clone());
        }
        if let Some(trace) = &trace {
            trace.record_in(
                span,
                layer_name(settings),
                Decision::Stopped {
                    attempts: self.attempt,
                    reason: Cow::Owned(reason.to_string()),
                },
            );
        }
        history.write_messages();
        let error = RetryError::new(
            settings.shared_name(),
            reason,
            self.attempt,
            elapsed,
            clock,
            history,
        );
        match trace {
            Some(trace) => error.with_trace(trace),
            None => error,
        }
    }
}
