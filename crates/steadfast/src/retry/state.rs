//! The retry decision, shared by the service's response future and the function-level API.
//!
//! A [`Tracker`] follows one request through its attempts: it counts them, keeps the clock
//! (read lazily, see `RetryPolicyBuilder::max_elapsed`), records the history, and turns each
//! classified outcome into "retry after this delay" or "stop for this reason".

use std::time::Duration;

use tokio::time::Instant;
use tracing::Span;

use super::error::{short_message, AttemptRecord, History, RetryError, StopReason};
use super::events::RetryEvent;
use super::policy::Shared;
use super::recover::Recover;
use crate::classify::{Attempt, Outcome};
use crate::token::{CancelToken, RetryAttempt};
use crate::BoxError;

#[derive(Debug)]
pub(crate) struct Tracker {
    /// Attempts started so far.
    pub(crate) attempt: u32,
    start: Option<Instant>,
    /// What is only known once an attempt has failed; allocated then, so the success path
    /// carries one pointer.
    log: Option<Box<Log>>,
}

#[derive(Debug, Default)]
struct Log {
    total_delay: Duration,
    prev_delay: Duration,
    history: History,
}

impl Tracker {
    /// A tracker for a request whose first attempt is starting now.
    #[inline]
    pub(crate) fn start<C, K, R>(shared: &Shared<C, K, R>) -> Self {
        if let Some(m) = shared.metrics() {
            m.request();
        }
        if let Some(b) = shared.budget() {
            b.deposit();
        }
        Tracker {
            attempt: 1,
            // Only time-limited policies pay for a clock read on the success path.
            start: shared.max_elapsed.map(|_| Instant::now()),
            log: None,
        }
    }

    /// A tracker for a request that never got to its first attempt.
    pub(crate) fn not_started<C, K, R>(shared: &Shared<C, K, R>) -> Self {
        if let Some(m) = shared.metrics() {
            m.request();
        }
        Tracker {
            attempt: 0,
            start: None,
            log: None,
        }
    }

    fn elapsed(&mut self) -> Duration {
        match self.start {
            Some(s) => s.elapsed(),
            None => {
                self.start = Some(Instant::now());
                Duration::ZERO
            }
        }
    }

    /// The context handed to the classifier for the attempt that just finished.
    pub(crate) fn context<'a, Req>(&self, request: Option<&'a Req>) -> Attempt<'a, Req> {
        let elapsed = self.start.map(|s| s.elapsed()).unwrap_or_default();
        let total_delay = self.log.as_ref().map_or(Duration::ZERO, |l| l.total_delay);
        Attempt::new(self.attempt, elapsed, total_delay, request)
    }

    /// The attempt finished with a retryable outcome and the request can be sent again:
    /// decide whether, and after how long. The attempt's error, if any, is kept in the
    /// history.
    pub(crate) fn on_retryable<C, K, R>(
        &mut self,
        shared: &Shared<C, K, R>,
        outcome: Outcome,
        error: Option<BoxError>,
        token: Option<&CancelToken>,
        resend: Result<(), &'static str>,
        span: &Span,
    ) -> Result<Duration, StopReason> {
        let elapsed = self.elapsed();
        let log = self.log.get_or_insert_with(Box::default);
        let message = error.as_deref().map(|e| short_message(e));
        log.history.push(
            AttemptRecord {
                number: self.attempt,
                outcome,
                finished_at: elapsed,
                delay_after: None,
                error: message,
            },
            error,
        );
        if let Some(reason) = token.and_then(|t| t.reason()) {
            return Err(StopReason::Cancelled(reason));
        }
        if token.is_some_and(CancelToken::is_draining) {
            return Err(StopReason::Draining);
        }
        if token.is_some_and(|t| !t.retries_allowed()) {
            return Err(StopReason::RetriesSuppressed);
        }
        if self.attempt >= shared.max_attempts {
            return Err(StopReason::AttemptsExhausted);
        }
        if let Err(why) = resend {
            return Err(StopReason::NotReplayable(why));
        }
        let delay = match outcome.hint() {
            Some(hint) => hint.min(shared.max_hint),
            None => shared
                .backoff
                .delay(self.attempt, log.prev_delay, shared.rng()),
        };
        if let Some(limit) = shared.max_elapsed {
            if elapsed.saturating_add(delay) > limit {
                return Err(StopReason::MaxElapsed);
            }
        }
        let deadline = match (shared.deadline, token.and_then(CancelToken::deadline)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(deadline) = deadline {
            let now = Instant::now();
            if now >= deadline || deadline - now <= delay {
                return Err(StopReason::Deadline);
            }
        }
        if let Some(budget) = shared.budget() {
            if !budget.withdraw() {
                shared.emit(RetryEvent::BudgetExhausted {
                    attempts: self.attempt,
                });
                tracing::debug!(parent: span, attempts = self.attempt, "retry budget exhausted");
                return Err(StopReason::BudgetExhausted);
            }
        }
        log.history.set_last_delay(delay);
        log.prev_delay = delay;
        log.total_delay = log.total_delay.saturating_add(delay);
        let error = log.history.last_error();
        shared.emit(RetryEvent::Retry {
            attempt: self.attempt,
            delay,
            outcome,
            elapsed,
            error,
        });
        tracing::debug!(
            parent: span,
            attempt = self.attempt,
            ?delay,
            %outcome,
            error = error.map(tracing::field::display),
            "retrying"
        );
        Ok(delay)
    }

    /// The next attempt is being sent; returns the tag that tells the layers below which
    /// attempt it is.
    pub(crate) fn begin_retry<C, K, R>(&mut self, shared: &Shared<C, K, R>) -> RetryAttempt {
        self.attempt += 1;
        if let Some(m) = shared.metrics() {
            m.retry();
        }
        RetryAttempt::new(self.attempt, self.elapsed())
    }

    /// The request ended with this outcome and nothing more will be tried.
    #[inline]
    pub(crate) fn finish<C, K, R>(
        &mut self,
        shared: &Shared<C, K, R>,
        outcome: Outcome,
        span: &Span,
    ) {
        // A first-attempt result with nothing to record: the common case, kept inline.
        if self.attempt <= 1 && !shared.has_extras() {
            return;
        }
        self.finish_recorded(shared, outcome, span);
    }

    #[cold]
    fn finish_recorded<C, K, R>(
        &mut self,
        shared: &Shared<C, K, R>,
        outcome: Outcome,
        span: &Span,
    ) {
        if let Some(m) = shared.metrics() {
            m.finished(self.attempt);
        }
        if outcome.is_success() {
            if let Some(b) = shared.budget() {
                b.on_success(self.attempt);
            }
            if self.attempt > 1 {
                let elapsed = self.elapsed();
                if let Some(m) = shared.metrics() {
                    m.success_after_retry();
                }
                shared.emit(RetryEvent::Success {
                    attempts: self.attempt,
                    elapsed,
                });
                tracing::debug!(parent: span, attempts = self.attempt, ?elapsed, "succeeded after retries");
            }
        }
    }

    /// Ends a request whose retryable attempt will not be retried: a retryable *response* is
    /// still returned as the answer (unless the caller cancelled); otherwise the result is a
    /// [`RetryError`] holding the attempts' errors (the last one as its source), or what the
    /// policy's recovery makes of it (not for a cancelled request).
    pub(crate) fn conclude<T, C, K, R: Recover<T>>(
        &mut self,
        shared: &Shared<C, K, R>,
        reason: StopReason,
        value: Option<T>,
        span: &Span,
    ) -> Result<T, BoxError> {
        let cancelled = matches!(reason, StopReason::Cancelled(_));
        let err = self.give_up(shared, reason, span);
        match value {
            Some(v) if !cancelled => Ok(v),
            _ if cancelled => Err(err.into()),
            _ => shared.recover.recover(err),
        }
    }

    /// The layer gives up for `reason`; builds the error from the history kept so far.
    pub(crate) fn give_up<C, K, R>(
        &mut self,
        shared: &Shared<C, K, R>,
        reason: StopReason,
        span: &Span,
    ) -> RetryError {
        let elapsed = if self.attempt == 0 {
            Duration::ZERO
        } else {
            self.elapsed()
        };
        if let Some(m) = shared.metrics() {
            if self.attempt > 0 {
                m.finished(self.attempt);
            }
            m.gave_up(&reason);
        }
        shared.emit(RetryEvent::GiveUp {
            attempts: self.attempt,
            elapsed,
            reason: &reason,
        });
        tracing::debug!(parent: span, attempts = self.attempt, ?elapsed, %reason, "giving up");
        RetryError::new(
            reason,
            self.attempt,
            elapsed,
            self.log.take().map(|l| l.history).unwrap_or_default(),
        )
    }
}
