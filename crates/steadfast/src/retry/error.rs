//! The error the retry layer returns when it stops retrying.

use std::collections::VecDeque;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::classify::Outcome;
use crate::display::Short;
use crate::token::{CancelReason, CancelToken};
use crate::trace::DecisionTrace;
use crate::BoxError;

/// Why the retry layer stopped before getting a success.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The maximum number of attempts was reached.
    AttemptsExhausted,
    /// Waiting for the next attempt would pass the maximum total elapsed time.
    MaxElapsed,
    /// Waiting for the next attempt would pass the deadline (the policy's, or the one carried
    /// by the request's cancellation token).
    Deadline,
    /// The retry budget had nothing left.
    BudgetExhausted,
    /// The request's cancellation token fired.
    Cancelled(CancelReason),
    /// The request's token is draining (a graceful shutdown began): no new attempt is made.
    Draining,
    /// The kept copy of the request cannot be sent again; the text says why (for example, a
    /// body larger than its replay buffer). See
    /// [`CloneRequest::can_resend`](super::CloneRequest::can_resend).
    NotReplayable(&'static str),
    /// The request's token says its work is not to be retried (an upstream already retries
    /// the request; see
    /// [`CancelToken::child_without_retries`](crate::token::CancelToken::child_without_retries)).
    RetriesSuppressed,
    /// The server asked not to retry: the attempt was classified
    /// [`Outcome::DoNotRetry`] (a negative or unreadable gRPC pushback, gRFC A6).
    ServerRefused,
    /// Waiting the server's hint would take the time this request has waited on server hints
    /// past [`max_hint_wait_total`](super::RetryPolicyBuilder::max_hint_wait_total).
    MaxHintWait,
}

impl StopReason {
    /// Why `token` stops a request from going on, if it does: fired (with its reason), or
    /// draining for a graceful shutdown.
    pub(crate) fn from_token(token: Option<&CancelToken>) -> Option<StopReason> {
        let token = token?;
        match token.reason() {
            Some(reason) => Some(StopReason::Cancelled(reason)),
            None if token.is_draining() => Some(StopReason::Draining),
            None => None,
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::AttemptsExhausted => f.write_str("attempts exhausted"),
            StopReason::MaxElapsed => f.write_str("maximum elapsed time reached"),
            StopReason::Deadline => f.write_str("deadline reached"),
            StopReason::BudgetExhausted => f.write_str("retry budget exhausted"),
            StopReason::Cancelled(r) => write!(f, "cancelled ({r})"),
            StopReason::Draining => f.write_str("shutting down: no new attempts"),
            StopReason::NotReplayable(why) => write!(f, "the request cannot be sent again: {why}"),
            StopReason::RetriesSuppressed => {
                f.write_str("retries suppressed: an upstream already retries this request")
            }
            StopReason::ServerRefused => f.write_str("the server asked not to retry"),
            StopReason::MaxHintWait => {
                f.write_str("the server's hints would pass the total hint wait allowed")
            }
        }
    }
}

/// One attempt, as remembered in a [`RetryError`]'s history.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttemptRecord {
    /// The attempt number, from 1.
    pub number: u32,
    /// How the attempt was classified.
    pub outcome: Outcome,
    /// When this attempt finished, on the request's clock: time since the first attempt
    /// started when the clock started with it (a policy with a `max_elapsed` limit or event
    /// listeners, or whose classifier reads [`Attempt::elapsed`](crate::classify::Attempt)),
    /// otherwise since the first attempt failed (so zero for the first attempt). See
    /// [`RetryError::elapsed`].
    pub finished_at: Duration,
    /// The delay chosen before the next attempt, if there was one.
    pub delay_after: Option<Duration>,
    /// The error's message and its `source()` chain joined with `": "`, for attempts that
    /// failed with an error (truncated to 256 bytes).
    pub error: Option<String>,
}

impl fmt::Display for AttemptRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#{} {} at {}",
            self.number,
            self.outcome,
            Short(self.finished_at)
        )?;
        if let Some(e) = &self.error {
            write!(f, ": {e}")?;
        }
        if let Some(d) = self.delay_after {
            write!(f, " (then waited {})", Short(d))?;
        }
        Ok(())
    }
}

/// How many attempts a history keeps: the first one and the most recent ones.
pub(crate) const HISTORY_LEN: usize = 16;

/// A bounded history of attempts: the first attempt and the latest `HISTORY_LEN - 1`, each
/// with its error when it failed with one.
#[derive(Debug, Default)]
pub(crate) struct History {
    /// Each attempt's record with its error, in one deque (one allocation for both).
    entries: VecDeque<(AttemptRecord, Option<BoxError>)>,
    omitted: u32,
}

impl History {
    pub(crate) fn push(&mut self, record: AttemptRecord, error: Option<BoxError>) {
        if self.entries.len() == HISTORY_LEN {
            // Keep the first attempt: it is often the most telling.
            self.entries.remove(1);
            self.omitted += 1;
        }
        self.entries.push_back((record, error));
    }

    /// Writes each kept error's message into its record, where it has none yet. Done once,
    /// when the [`RetryError`] is built, so that attempts followed by a success are never
    /// formatted.
    pub(crate) fn write_messages(&mut self) {
        for (record, error) in &mut self.entries {
            if let (None, Some(e)) = (&record.error, error) {
                record.error = Some(short_message(&**e));
            }
        }
    }

    /// The error of the latest attempt recorded, if it failed with one.
    pub(crate) fn last_error(&self) -> Option<&(dyn StdError + 'static)> {
        self.entries
            .back()
            .and_then(|(_, e)| e.as_deref())
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// The retry layer stopped without a success: attempts ran out, a time limit or the budget
/// stopped it, or the request was cancelled.
///
/// Carries the number of attempts made, the time elapsed, the reason it stopped, a short
/// history of the attempts, the errors of the attempts in that history (see
/// [`errors`](Self::errors)), and the last attempt's error as its
/// [`source`](StdError::source). Errors that were classified as non-retryable are *not*
/// wrapped: they pass through the layer unchanged.
///
/// ```
/// # use steadfast::retry::RetryError;
/// fn describe(err: &steadfast::BoxError) -> String {
///     match err.downcast_ref::<RetryError>() {
///         Some(e) => format!("{} attempts, stopped: {}", e.attempts(), e.reason()),
///         None => err.to_string(),
///     }
/// }
/// ```
pub struct RetryError {
    inner: Box<Inner>,
}

struct Inner {
    /// The name of the policy that gave up, shared with it.
    name: Option<Arc<str>>,
    reason: StopReason,
    attempts: u32,
    elapsed: Duration,
    clock: Clock,
    /// The attempts remembered, with their errors; the last attempt's error is the source.
    history: History,
    /// The decision trace of the request it ends, when it carried one.
    trace: Option<DecisionTrace>,
}

/// When the request's clock started, which says what a [`RetryError`]'s elapsed time counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Clock {
    /// It never started: the request was cancelled before its first attempt.
    NotStarted,
    /// With the first attempt.
    FirstAttempt,
    /// When the first attempt failed (a policy that reads no clock on the success path).
    FirstFailure,
}

impl RetryError {
    pub(crate) fn new(
        name: Option<Arc<str>>,
        reason: StopReason,
        attempts: u32,
        elapsed: Duration,
        clock: Clock,
        history: History,
    ) -> Self {
        RetryError {
            inner: Box::new(Inner {
                name,
                reason,
                attempts,
                elapsed,
                clock,
                history,
                trace: None,
            }),
        }
    }

    /// The same error, carrying the decision trace of the request it ends.
    pub(crate) fn with_trace(mut self, trace: DecisionTrace) -> Self {
        self.inner.trace = Some(trace);
        self
    }

    /// The [decision trace](crate::trace) of the request this error ends, when the request
    /// carried one: every decision taken about it, by this layer and the others it crossed,
    /// up to the moment this layer gave up (later entries, from layers above, appear in it
    /// too, as it is shared). `None` for a request without a trace.
    ///
    /// ```
    /// use steadfast::retry::RetryError;
    ///
    /// fn story(err: &steadfast::BoxError) -> Option<String> {
    ///     let trace = err.downcast_ref::<RetryError>()?.decision_trace()?;
    ///     Some(trace.to_string())
    /// }
    /// # let _ = story;
    /// ```
    pub fn decision_trace(&self) -> Option<&DecisionTrace> {
        self.inner.trace.as_ref()
    }

    /// The name of the policy that gave up ([`RetryPolicyBuilder::name`]), if it was given
    /// one: the operation or downstream it guards. A named policy's errors start their
    /// message with it.
    ///
    /// ```
    /// use steadfast::retry::{Backoff, RetryError, RetryPolicy};
    ///
    /// let policy = RetryPolicy::builder()
    ///     .name("billing-api")
    ///     .max_attempts(2)
    ///     .backoff(Backoff::none())
    ///     .build()
    ///     .unwrap();
    /// let err = policy.run_blocking(|_| Err::<(), _>("unavailable")).unwrap_err();
    /// let err = err.downcast_ref::<RetryError>().unwrap();
    /// assert_eq!(err.name(), Some("billing-api"));
    /// assert!(err.to_string().starts_with("billing-api: gave up after 2 attempts"));
    /// ```
    ///
    /// [`RetryPolicyBuilder::name`]: super::RetryPolicyBuilder::name
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// Why the layer stopped.
    pub fn reason(&self) -> &StopReason {
        &self.inner.reason
    }

    /// `true` if the request's cancellation token stopped the retries.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.inner.reason, StopReason::Cancelled(_))
    }

    /// Attempts made (0 if the request was cancelled before its first attempt).
    pub fn attempts(&self) -> u32 {
        self.inner.attempts
    }

    /// Time on the request's clock when the layer decided to stop.
    ///
    /// The clock starts with the first attempt when the policy reads it there: it has a
    /// [`max_elapsed`](super::RetryPolicyBuilder::max_elapsed) limit or
    /// [event listeners](super::RetryPolicyBuilder::on_event), or its classifier reads
    /// [`Attempt::elapsed`](crate::classify::Attempt) (see
    /// [`Classify::reads_elapsed`](crate::classify::Classify::reads_elapsed)). Otherwise the
    /// success path reads no clock, so it starts when the first attempt fails, and this is the
    /// time since then: the first attempt's own duration is not in it. It is zero for a request
    /// cancelled before its first attempt. The `Display` text shows it only when it is known
    /// to count from the first attempt, or says that it counts from the first failure.
    pub fn elapsed(&self) -> Duration {
        self.inner.elapsed
    }

    /// The attempts, oldest first: the first attempt and the latest ones (16 at most).
    pub fn history(&self) -> impl ExactSizeIterator<Item = &AttemptRecord> + '_ {
        self.inner.history.entries.iter().map(|(r, _)| r)
    }

    /// How many attempts in the middle were left out of [`history`](Self::history).
    pub fn history_omitted(&self) -> u32 {
        self.inner.history.omitted
    }

    /// The last attempt's error, if the last attempt failed with one.
    pub fn last_error(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        self.inner
            .history
            .entries
            .back()
            .and_then(|(_, e)| e.as_deref())
    }

    /// Takes the last attempt's error out.
    pub fn into_last_error(mut self) -> Option<BoxError> {
        self.inner.history.entries.pop_back().and_then(|(_, e)| e)
    }

    /// The errors of the attempts in [`history`](Self::history) that failed with one, oldest
    /// first, each with its attempt number. Like the history, it holds the first attempt and
    /// the latest ones (16 at most); attempts that ended with a retryable *response* have no
    /// error.
    ///
    /// ```
    /// use steadfast::retry::{Backoff, RetryError, RetryPolicy};
    ///
    /// let policy = RetryPolicy::builder().max_attempts(3).backoff(Backoff::none()).build().unwrap();
    /// let err = policy
    ///     .run_blocking(|attempt| Err::<(), _>(std::io::Error::other(format!("refused #{attempt}"))))
    ///     .unwrap_err();
    /// let err = err.downcast_ref::<RetryError>().unwrap();
    /// let seen: Vec<(u32, String)> = err.errors().map(|(n, e)| (n, e.to_string())).collect();
    /// assert_eq!(seen, [(1, "refused #1".into()), (2, "refused #2".into()), (3, "refused #3".into())]);
    /// ```
    pub fn errors(
        &self,
    ) -> impl Iterator<Item = (u32, &(dyn StdError + Send + Sync + 'static))> + '_ {
        let h = &self.inner.history;
        h.entries
            .iter()
            .filter_map(|(r, e)| Some((r.number, e.as_deref()?)))
    }

    /// Takes the error of attempt `number` out, if it is among the [`errors`](Self::errors)
    /// kept; the rest stay. The attempt's record stays in the history. Taking the last
    /// attempt's error out also takes it from [`last_error`](Self::last_error) and
    /// `source()`.
    pub fn take_error(&mut self, number: u32) -> Option<BoxError> {
        let h = &mut self.inner.history;
        let (_, error) = h.entries.iter_mut().find(|(r, _)| r.number == number)?;
        error.take()
    }

    /// Takes every kept error out, oldest first, each with its attempt number.
    pub fn into_errors(self) -> Vec<(u32, BoxError)> {
        let h = self.inner.history;
        h.entries
            .into_iter()
            .filter_map(|(r, e)| Some((r.number, e?)))
            .collect()
    }
}

impl fmt::Debug for RetryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryError")
            .field("name", &self.name())
            .field("reason", &self.inner.reason)
            .field("attempts", &self.inner.attempts)
            .field("elapsed", &self.inner.elapsed)
            .field("history", &Records(&self.inner.history))
            .field("source", &self.last_error())
            .finish()
    }
}

/// The records of a history, printed as a list.
struct Records<'a>(&'a History);

impl fmt::Debug for Records<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.entries.iter().map(|(r, _)| r))
            .finish()
    }
}

impl fmt::Display for RetryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let plural = if i.attempts == 1 { "" } else { "s" };
        if let Some(name) = &i.name {
            write!(f, "{name}: ")?;
        }
        write!(f, "gave up after {} attempt{plural}", i.attempts)?;
        match i.clock {
            Clock::FirstAttempt => write!(f, " in {}", Short(i.elapsed))?,
            // A clock that started at the first failure says nothing of the first attempt:
            // nothing is printed when that is all it would cover.
            Clock::FirstFailure if !i.elapsed.is_zero() => {
                write!(f, ", {} after the first failure", Short(i.elapsed))?;
            }
            Clock::FirstFailure | Clock::NotStarted => {}
        }
        write!(f, ": {}", i.reason)
    }
}

crate::error::as_dyn_error!(RetryError);

impl StdError for RetryError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner.history.last_error()
    }
}

/// An error's message and its `source()` chain, truncated for the history on a character
/// boundary.
pub(crate) fn short_message(err: &(dyn std::error::Error + 'static)) -> String {
    let mut s = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let next = e.to_string();
        // Some errors repeat their source's message in their own; do not print it twice.
        if !s.ends_with(&next) {
            s.push_str(": ");
            s.push_str(&next);
        }
        cur = e.source();
    }
    if s.len() > 256 {
        let mut cut = 256;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u32) -> AttemptRecord {
        AttemptRecord {
            number: n,
            outcome: Outcome::retryable(),
            finished_at: Duration::from_millis(u64::from(n)),
            delay_after: None,
            error: Some("boom".into()),
        }
    }

    #[test]
    fn history_keeps_first_and_latest() {
        let mut h = History::default();
        for n in 1..=40 {
            h.push(record(n), Some(format!("boom {n}").into()));
        }
        let numbers: Vec<u32> = h.entries.iter().map(|(r, _)| r.number).collect();
        assert_eq!(numbers.len(), HISTORY_LEN);
        assert_eq!(numbers[0], 1);
        assert_eq!(numbers[1], 26);
        assert_eq!(*numbers.last().unwrap(), 40);
        assert_eq!(h.omitted, 24);
        // The errors are bounded the same way, and stay with their attempts.
        let mut e = RetryError::new(
            None,
            StopReason::AttemptsExhausted,
            40,
            Duration::ZERO,
            Clock::FirstAttempt,
            h,
        );
        let kept: Vec<(u32, String)> = e.errors().map(|(n, e)| (n, e.to_string())).collect();
        assert_eq!(kept.len(), HISTORY_LEN);
        assert!(kept.iter().all(|(n, m)| *m == format!("boom {n}")));
        assert_eq!(kept[1].0, 26);
        assert_eq!(e.take_error(26).unwrap().to_string(), "boom 26");
        assert!(e.take_error(26).is_none());
        assert!(e.take_error(2).is_none(), "attempt 2 was not kept");
        assert_eq!(e.errors().count(), HISTORY_LEN - 1);
        assert_eq!(e.last_error().unwrap().to_string(), "boom 40");
        let all = e.into_errors();
        assert_eq!(all.len(), HISTORY_LEN - 1);
        assert_eq!((all[0].0, all[1].0), (1, 27));
    }

    #[test]
    fn display_and_source_chain() {
        let mut history = History::default();
        history.push(record(3), Some("connection reset".into()));
        let e = RetryError::new(
            None,
            StopReason::AttemptsExhausted,
            3,
            Duration::from_millis(1500),
            Clock::FirstAttempt,
            history,
        );
        assert_eq!(
            e.to_string(),
            "gave up after 3 attempts in 1.5s: attempts exhausted"
        );
        assert_eq!(e.source().unwrap().to_string(), "connection reset");
        let boxed: BoxError = Box::new(e);
        assert_eq!(boxed.downcast_ref::<RetryError>().unwrap().attempts(), 3);

        let c = RetryError::new(
            None,
            StopReason::Cancelled(CancelReason::ClientDisconnected),
            0,
            Duration::ZERO,
            Clock::NotStarted,
            History::default(),
        );
        assert!(c.is_cancelled());
        assert_eq!(
            c.to_string(),
            "gave up after 0 attempts: cancelled (client disconnected)"
        );
        assert!(c.source().is_none());

        // A clock started at the first failure: its time is named as such, and none is shown
        // when it covers nothing.
        let late = |elapsed| {
            RetryError::new(
                None,
                StopReason::AttemptsExhausted,
                3,
                elapsed,
                Clock::FirstFailure,
                History::default(),
            )
            .to_string()
        };
        assert_eq!(
            late(Duration::from_millis(300)),
            "gave up after 3 attempts, 300ms after the first failure: attempts exhausted"
        );
        assert_eq!(
            late(Duration::ZERO),
            "gave up after 3 attempts: attempts exhausted"
        );
    }

    #[test]
    fn messages_include_the_source_chain() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("client error (SendRequest)")
            }
        }
        impl StdError for Outer {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(std::io::Error::other(
            "connection closed before message completed",
        ));
        assert_eq!(
            short_message(&e),
            "client error (SendRequest): connection closed before message completed"
        );
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let long = std::io::Error::other("é".repeat(300));
        let s = short_message(&long);
        assert!(s.len() <= 256 + '…'.len_utf8());
        assert!(s.ends_with('…'));
    }
}
