//! How one call ended: the verdict every layer reads.

use std::fmt;
use std::time::Duration;

/// How one call ended, as the layers see it.
///
/// `Outcome` is `Copy` and never allocates. The reasons behind an [`Outcome::Invalid`] travel
/// in the error value the validation layer produces, not in the outcome itself.
///
/// A classifier returns one; the retry layer and the circuit breaker act on it:
///
/// ```
/// use std::time::Duration;
/// use steadfast::classify::Outcome;
///
/// let busy = Outcome::retry_after(Duration::from_secs(2)); // a 503 with `Retry-After: 2`
/// assert!(busy.is_retryable() && busy.is_failure());
/// assert_eq!(busy.hint(), Some(Duration::from_secs(2)));
///
/// let pushed = Outcome::pushed_back(Duration::from_millis(250)); // gRPC pushback (gRFC A6)
/// assert_eq!(pushed.hint(), Some(Duration::from_millis(250)));
///
/// assert!(!Outcome::NonRetryable.is_retryable());
/// assert!(Outcome::NonRetryable.is_failure());
/// assert!(!Outcome::Ignored.is_failure() && !Outcome::Ignored.is_success());
/// assert_eq!(Outcome::Invalid.to_string(), "invalid response");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    // The variants the retry layer decides about come first, next to each other: the success
    // path then tells them from the rest with one comparison.
    /// A transient failure: trying again may succeed.
    Retryable {
        /// A delay the server asked for (such as `Retry-After`), used instead of the backoff
        /// for the next attempt. Layers clamp it to their configured maximum.
        after: Option<Duration>,
    },
    /// The call completed but its result was rejected by a validator. Retryable.
    Invalid,
    /// A retryable failure whose server pushed back, as gRPC's `grpc-retry-pushback-ms` does
    /// (gRFC A6): the next attempt waits `after_ms` (layers clamp it to their configured
    /// maximum), and the backoff schedule then starts again from its first delay.
    PushedBack {
        /// The delay the server asked for, in milliseconds (gRPC's unit).
        // A number rather than a `Duration`, so that an `Outcome` stays two words.
        after_ms: u64,
    },
    /// A failure the server asked not to retry (a negative or unreadable gRPC pushback, as
    /// gRFC A6 reads it). The retry layer stops at once, with `StopReason::ServerRefused`; a
    /// circuit breaker counts it as a failure.
    DoNotRetry,
    /// The call did what was asked.
    Success,
    /// A failure that trying again will not fix (a malformed request, a missing resource).
    NonRetryable,
    /// Neither a success nor a failure (for example a call cancelled by its caller): not
    /// retried and not counted by a circuit breaker.
    Ignored,
}

impl Outcome {
    /// A retryable failure with no server hint.
    pub const fn retryable() -> Self {
        Outcome::Retryable { after: None }
    }

    /// A retryable failure that should wait `delay` before the next attempt.
    pub const fn retry_after(delay: Duration) -> Self {
        Outcome::Retryable { after: Some(delay) }
    }

    /// A retryable failure after which the server asked for exactly `delay` (to the
    /// millisecond, rounded down; saturating), and a fresh backoff schedule: a gRPC pushback
    /// (gRFC A6).
    pub const fn pushed_back(delay: Duration) -> Self {
        let ms = delay.as_millis();
        let after_ms = if ms > u64::MAX as u128 {
            u64::MAX
        } else {
            ms as u64
        };
        Outcome::PushedBack { after_ms }
    }

    /// `true` for [`Outcome::Success`].
    pub const fn is_success(&self) -> bool {
        matches!(self, Outcome::Success)
    }

    /// `true` for the outcomes that count as failures: retryable (pushed back or not),
    /// non-retryable, refused by the server, and invalid.
    pub const fn is_failure(&self) -> bool {
        matches!(
            self,
            Outcome::Retryable { .. }
                | Outcome::NonRetryable
                | Outcome::Invalid
                | Outcome::PushedBack { .. }
                | Outcome::DoNotRetry
        )
    }

    /// `true` when trying again may help: [`Outcome::Retryable`], [`Outcome::PushedBack`] and
    /// [`Outcome::Invalid`].
    pub const fn is_retryable(&self) -> bool {
        matches!(
            self,
            Outcome::Retryable { .. } | Outcome::Invalid | Outcome::PushedBack { .. }
        )
    }

    /// `true` for the outcomes the retry layer makes a decision about (and may report a stop
    /// reason for): the retryable ones and [`Outcome::DoNotRetry`].
    #[inline]
    #[cfg(feature = "retry")]
    pub(crate) const fn is_retry_decision(&self) -> bool {
        matches!(
            self,
            Outcome::Retryable { .. }
                | Outcome::Invalid
                | Outcome::PushedBack { .. }
                | Outcome::DoNotRetry
        )
    }

    /// The server's requested delay, if the outcome carries one.
    pub const fn hint(&self) -> Option<Duration> {
        match self {
            Outcome::Retryable { after } => *after,
            Outcome::PushedBack { after_ms } => Some(Duration::from_millis(*after_ms)),
            _ => None,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Success => f.write_str("success"),
            Outcome::Retryable { after: None } => f.write_str("retryable failure"),
            Outcome::Retryable { after: Some(d) } => {
                write!(f, "retryable failure (server asked to wait {d:?})")
            }
            Outcome::NonRetryable => f.write_str("non-retryable failure"),
            Outcome::Ignored => f.write_str("ignored"),
            Outcome::Invalid => f.write_str("invalid response"),
            Outcome::PushedBack { after_ms } => {
                write!(f, "retryable failure (server pushed back {after_ms}ms)")
            }
            Outcome::DoNotRetry => f.write_str("failure (server asked not to retry)"),
        }
    }
}
