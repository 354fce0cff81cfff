//! How each request of the soak ended, by kind, and the counts of every kind.

use std::fmt;

use http::{Response, StatusCode};
use steadfast::cancel::Cancelled;
use steadfast::circuit_breaker::Rejected;
use steadfast::retry::{RetryError, StopReason};
use steadfast::validate::InvalidResponse;
use steadfast::BoxError;

/// How one request ended: one answer or one of steadfast's typed errors.
///
/// ```
/// use steadfast_reliability::soak::Ending;
///
/// let ok: Result<http::Response<()>, steadfast::BoxError> = Ok(http::Response::new(()));
/// assert_eq!(Ending::of(&ok), Ending::Answered);
/// let refused: Result<http::Response<()>, steadfast::BoxError> = Err("no route".into());
/// assert_eq!(Ending::of(&refused), Ending::Untyped);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Ending {
    /// A 2xx answer that passed validation.
    Answered,
    /// A retryable status (`503`, `429`, ...) returned as the answer once the retry layer
    /// stopped: the best answer there was.
    AnsweredUnavailable,
    /// Another non-2xx status.
    AnsweredOther,
    /// `RetryError` with `StopReason::AttemptsExhausted`.
    AttemptsExhausted,
    /// `RetryError` with `StopReason::BudgetExhausted`: the retry budget refused a retry.
    BudgetExhausted,
    /// `RetryError` with `StopReason::Deadline` or `StopReason::Cancelled`: the request's
    /// deadline left no time for another attempt, or passed during a backoff.
    RetryDeadline,
    /// `RetryError` with any other `StopReason`.
    RetryOther,
    /// `Rejected`: the circuit breaker was open.
    BreakerOpen,
    /// `Cancelled`: the request's token fired during an attempt (its deadline passed).
    Cancelled,
    /// An invalid answer (`validate::Invalid`) that reached the caller unwrapped.
    Invalid,
    /// A 2xx answer whose body is not what the server sent: a check of the soak fails.
    WrongAnswer,
    /// An error that is none of steadfast's typed errors: a check of the soak fails.
    Untyped,
    /// The request did not end by its deadline plus the hang limit: a check fails.
    Hung,
}

impl Ending {
    /// Every kind, in the order the report lists them.
    pub const ALL: [Ending; 13] = [
        Ending::Answered,
        Ending::AnsweredUnavailable,
        Ending::AnsweredOther,
        Ending::AttemptsExhausted,
        Ending::BudgetExhausted,
        Ending::RetryDeadline,
        Ending::RetryOther,
        Ending::BreakerOpen,
        Ending::Cancelled,
        Ending::Invalid,
        Ending::WrongAnswer,
        Ending::Untyped,
        Ending::Hung,
    ];

    /// How a request that returned `result` ended, found by downcasting its error to
    /// steadfast's typed errors.
    pub fn of<B>(result: &Result<Response<B>, BoxError>) -> Ending {
        match result {
            Ok(res) if res.status().is_success() => Ending::Answered,
            Ok(res) => match res.status() {
                StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::TOO_MANY_REQUESTS
                | StatusCode::BAD_GATEWAY
                | StatusCode::GATEWAY_TIMEOUT
                | StatusCode::REQUEST_TIMEOUT => Ending::AnsweredUnavailable,
                _ => Ending::AnsweredOther,
            },
            Err(err) => Ending::of_error(err),
        }
    }

    fn of_error(err: &BoxError) -> Ending {
        if let Some(retry) = err.downcast_ref::<RetryError>() {
            return match retry.reason() {
                StopReason::AttemptsExhausted => Ending::AttemptsExhausted,
                StopReason::BudgetExhausted => Ending::BudgetExhausted,
                StopReason::Deadline | StopReason::Cancelled(_) => Ending::RetryDeadline,
                _ => Ending::RetryOther,
            };
        }
        if err.downcast_ref::<Rejected>().is_some() {
            Ending::BreakerOpen
        } else if err.downcast_ref::<Cancelled>().is_some() {
            Ending::Cancelled
        } else if steadfast::classify::find_source::<InvalidResponse>(&**err).is_some() {
            Ending::Invalid
        } else {
            Ending::Untyped
        }
    }

    /// Whether this ending fails the soak on its own.
    pub fn is_defect(self) -> bool {
        matches!(self, Ending::WrongAnswer | Ending::Untyped | Ending::Hung)
    }

    /// The name the report prints.
    pub fn label(self) -> &'static str {
        match self {
            Ending::Answered => "answered (2xx, valid JSON)",
            Ending::AnsweredUnavailable => "answered 503/429 after the retries stopped",
            Ending::AnsweredOther => "answered with another status",
            Ending::AttemptsExhausted => "RetryError: attempts exhausted",
            Ending::BudgetExhausted => "RetryError: budget exhausted",
            Ending::RetryDeadline => "RetryError: deadline / cancelled",
            Ending::RetryOther => "RetryError: other stop reason",
            Ending::BreakerOpen => "Rejected: breaker open",
            Ending::Cancelled => "Cancelled: deadline during an attempt",
            Ending::Invalid => "Invalid: answer failed validation",
            Ending::WrongAnswer => "2xx with a body the server did not send (defect)",
            Ending::Untyped => "untyped error (defect)",
            Ending::Hung => "hung past its deadline (defect)",
        }
    }

    fn index(self) -> usize {
        Ending::ALL
            .iter()
            .position(|e| *e == self)
            .unwrap_or(Ending::ALL.len() - 1)
    }
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Counts of request endings, one per [`Ending`], plus the latest finish relative to the
/// deadline. Each worker keeps its own and the soak adds them up with [`Tally::merge`].
///
/// ```
/// use std::time::Duration;
/// use steadfast_reliability::soak::{Ending, Tally};
///
/// let mut a = Tally::default();
/// a.record(Ending::Answered, Duration::ZERO);
/// let mut b = Tally::default();
/// b.record(Ending::BreakerOpen, Duration::from_millis(3));
/// a.merge(&b);
/// assert_eq!(a.total(), 2);
/// assert_eq!(a.count(Ending::BreakerOpen), 1);
/// assert_eq!(a.max_overrun(), Duration::from_millis(3));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Tally {
    counts: [u64; Ending::ALL.len()],
    late: u64,
    max_overrun: std::time::Duration,
}

impl Tally {
    /// Records one request that ended as `ending`, `overrun` after its deadline (zero if it
    /// ended in time).
    pub fn record(&mut self, ending: Ending, overrun: std::time::Duration) {
        self.counts[ending.index()] += 1;
        self.max_overrun = self.max_overrun.max(overrun);
    }

    /// Records that a request ended more than the allowed slack after its deadline.
    pub fn record_late(&mut self) {
        self.late += 1;
    }

    /// Adds the counts of `other`.
    pub fn merge(&mut self, other: &Tally) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts) {
            *mine += theirs;
        }
        self.late += other.late;
        self.max_overrun = self.max_overrun.max(other.max_overrun);
    }

    /// Requests that ended as `ending`.
    pub fn count(&self, ending: Ending) -> u64 {
        self.counts[ending.index()]
    }

    /// Requests recorded, of every kind.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Requests that ended more than the slack after their deadline.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// The longest any request ran past its deadline.
    pub fn max_overrun(&self) -> std::time::Duration {
        self.max_overrun
    }

    /// Requests whose ending is a defect on its own (untyped errors, hangs).
    pub fn defects(&self) -> u64 {
        Ending::ALL
            .iter()
            .filter(|e| e.is_defect())
            .map(|e| self.count(*e))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use steadfast::circuit_breaker::CircuitBreaker;

    fn err(e: impl Into<BoxError>) -> Result<Response<()>, BoxError> {
        Err(e.into())
    }

    #[test]
    fn statuses_are_told_apart() {
        let with = |s: u16| {
            let mut res = Response::new(());
            *res.status_mut() = StatusCode::from_u16(s).unwrap();
            Ending::of(&Ok::<_, BoxError>(res))
        };
        assert_eq!(with(200), Ending::Answered);
        assert_eq!(with(503), Ending::AnsweredUnavailable);
        assert_eq!(with(429), Ending::AnsweredUnavailable);
        assert_eq!(with(404), Ending::AnsweredOther);
    }

    #[test]
    fn typed_errors_are_found_and_others_are_defects() {
        let breaker = CircuitBreaker::builder().build().unwrap();
        breaker.force_open();
        let rejected = breaker.check().expect_err("forced open");
        assert_eq!(Ending::of(&err(rejected)), Ending::BreakerOpen);
        assert_eq!(Ending::of(&err("boom")), Ending::Untyped);
        assert!(Ending::WrongAnswer.is_defect());
        assert!(Ending::Untyped.is_defect() && Ending::Hung.is_defect());
        assert!(!Ending::BreakerOpen.is_defect());
    }

    #[test]
    fn every_kind_has_its_own_count() {
        let mut t = Tally::default();
        for (i, e) in Ending::ALL.iter().enumerate() {
            for _ in 0..=i {
                t.record(*e, std::time::Duration::ZERO);
            }
        }
        for (i, e) in Ending::ALL.iter().enumerate() {
            assert_eq!(t.count(*e), i as u64 + 1, "{e}");
        }
        assert_eq!(t.total(), (1..=13).sum::<u64>());
        assert_eq!(t.defects(), 11 + 12 + 13);
    }
}
