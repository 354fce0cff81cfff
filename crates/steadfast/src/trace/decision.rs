//! What one layer decided about one request, and why: the entries of a
//! [`DecisionTrace`](super::DecisionTrace).

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::classify::Outcome;
use crate::token::CancelReason;

/// One entry of a [`DecisionTrace`](super::DecisionTrace): when, which layer, what it decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Time from the trace's start (when it was made) to the decision.
    pub at: Duration,
    /// The name of the layer that decided (its builder's `name`, or the kind's default name:
    /// `"retry"`, `"circuit_breaker"`, `"cancel"`, `"validate"`, `"chaos"`).
    pub layer: Cow<'static, str>,
    /// What it decided.
    pub decision: Decision,
}

/// How the retry layer chose the wait before its next attempt.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DelaySource {
    /// From the backoff schedule: `scheduled` before jitter, then the jitter named `jitter`
    /// (`"none"`, `"full"`, `"equal"`, `"decorrelated"`, ...) gave the delay.
    Schedule {
        /// The schedule's delay for this attempt, before jitter.
        scheduled: Duration,
        /// The jitter applied.
        jitter: Cow<'static, str>,
    },
    /// From the backoff of a failure class (`RetryPolicyBuilder::class`), named `class`.
    Class {
        /// The class's name.
        class: Cow<'static, str>,
    },
    /// From the server's hint (`Retry-After`, gRPC pushback): `asked`, clamped to the policy's
    /// maximum hint when `clamped` is `true`.
    Hint {
        /// What the server asked for.
        asked: Duration,
        /// Whether the policy's maximum cut it down.
        clamped: bool,
    },
}

/// What a layer decided. Each variant names the layer kind that records it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Decision {
    /// Retry, hedge (and circuit breaker): a classifier judged attempt `attempt`'s result.
    Classified {
        /// The attempt, from 1.
        attempt: u32,
        /// The verdict.
        outcome: Outcome,
        /// The rule that gave it, when the classifier names one
        /// ([`Classify::explain`](crate::classify::Classify::explain)): `"status 503"`,
        /// `"5xx"`, `"grpc UNAVAILABLE"`, `"connect error"`...
        rule: Option<Cow<'static, str>>,
    },
    /// Retry: attempt `attempt` failed and the next one is sent after `delay`.
    Backoff {
        /// The failed attempt, from 1.
        attempt: u32,
        /// The wait before the next attempt.
        delay: Duration,
        /// How the wait was chosen.
        source: DelaySource,
    },
    /// Retry: the retry budget was asked for a retry.
    Budget {
        /// Whether it allowed one.
        allowed: bool,
        /// The budget's balance after the withdrawal (or the refusal), in retries, when the
        /// budget can tell.
        balance: Option<f64>,
    },
    /// Retry: the layer stopped retrying after attempt `attempts`, for `reason` (a
    /// `StopReason`'s text).
    Stopped {
        /// Attempts made.
        attempts: u32,
        /// Why it stopped.
        reason: Cow<'static, str>,
    },
    /// Circuit breaker: admission of the call.
    Admission {
        /// The breaker's state at admission: `"closed"`, `"open"`, `"half_open"`,
        /// `"forced_open"`, `"disabled"`...
        state: Cow<'static, str>,
        /// Whether the call was let through.
        permitted: bool,
        /// Failures in the breaker's window at admission (slow calls counted as the breaker
        /// counts them).
        failures: u64,
        /// Calls in the window at admission.
        calls: u64,
    },
    /// Circuit breaker: how the call was recorded (`"success"`, `"failure"`, `"slow"`,
    /// `"invalid"`, `"ignored"`).
    Recorded {
        /// The recorded outcome.
        outcome: Cow<'static, str>,
    },
    /// Validate: validator `validator` refused the answer, for `reason`.
    Invalid {
        /// The validator's name.
        validator: Cow<'static, str>,
        /// Its reason.
        reason: Cow<'static, str>,
    },
    /// Cancel: the request's token was cancelled, for `reason`.
    Cancelled {
        /// Why.
        reason: CancelReason,
    },
    /// Chaos: a fault of kind `fault` (`"error"`, `"outcome"`, `"latency"`, `"behavior"`) was
    /// injected.
    Injected {
        /// The kind of fault.
        fault: Cow<'static, str>,
    },
    /// Hedge: attempt `attempt` (from 2) was sent, paid from the budget.
    HedgeSent {
        /// The attempt, from 2.
        attempt: u32,
        /// The budget's balance after the withdrawal, in retries, when the budget can tell.
        balance: Option<f64>,
    },
    /// Hedge: no further attempt is sent for the request, for `reason` (a `HedgeStop`'s
    /// text: `"budget exhausted"`, `"server refused further attempts"`...).
    HedgeStopped {
        /// Why.
        reason: Cow<'static, str>,
    },
    /// Hedge: attempt `attempt`'s answer ended the request, after `attempts` were sent;
    /// `losers` still running were cancelled.
    HedgeWon {
        /// The attempt whose answer is returned, from 1.
        attempt: u32,
        /// Attempts sent in all.
        attempts: u32,
        /// Attempts cancelled as losers.
        losers: u32,
    },
}

impl fmt::Display for DelaySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DelaySource::Schedule { scheduled, jitter } if jitter == "none" => {
                write!(f, "backoff schedule {scheduled:?}, no jitter")
            }
            DelaySource::Schedule { scheduled, jitter } => {
                write!(f, "backoff schedule {scheduled:?}, {jitter} jitter")
            }
            DelaySource::Class { class } => write!(f, "backoff of class \"{class}\""),
            DelaySource::Hint {
                asked,
                clamped: false,
            } => write!(f, "the server asked {asked:?}"),
            DelaySource::Hint {
                asked,
                clamped: true,
            } => write!(
                f,
                "the server asked {asked:?}, clamped to the policy's maximum"
            ),
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Classified {
                attempt,
                outcome,
                rule: Some(rule),
            } => {
                write!(f, "attempt {attempt}: {outcome} (rule: {rule})")
            }
            Decision::Classified {
                attempt,
                outcome,
                rule: None,
            } => {
                write!(f, "attempt {attempt}: {outcome}")
            }
            Decision::Backoff {
                attempt,
                delay,
                source,
            } => {
                write!(
                    f,
                    "attempt {attempt} failed: retrying in {delay:?} ({source})"
                )
            }
            Decision::Budget { allowed, balance } => {
                f.write_str(if *allowed {
                    "budget allowed a retry"
                } else {
                    "budget refused a retry"
                })?;
                match balance {
                    Some(b) => write!(f, " (balance {b:.1})"),
                    None => Ok(()),
                }
            }
            Decision::Stopped { attempts, reason } => {
                write!(
                    f,
                    "gave up after {attempts} attempt{}: {reason}",
                    if *attempts == 1 { "" } else { "s" }
                )
            }
            Decision::Admission {
                state,
                permitted,
                failures,
                calls,
            } => write!(
                f,
                "{} while {state} ({failures} failure{} in {calls} call{})",
                if *permitted {
                    "call permitted"
                } else {
                    "call rejected"
                },
                if *failures == 1 { "" } else { "s" },
                if *calls == 1 { "" } else { "s" },
            ),
            Decision::Recorded { outcome } => write!(f, "call recorded as {outcome}"),
            Decision::Invalid { validator, reason } => {
                write!(f, "answer refused by {validator}: {reason}")
            }
            Decision::Cancelled { reason } => write!(f, "cancelled: {reason}"),
            Decision::Injected { fault } => write!(f, "injected a {fault} fault"),
            Decision::HedgeSent { attempt, balance } => {
                write!(f, "hedge attempt {attempt} sent")?;
                match balance {
                    Some(b) => write!(f, " (balance {b:.1})"),
                    None => Ok(()),
                }
            }
            Decision::HedgeStopped { reason } => write!(f, "no further hedge: {reason}"),
            Decision::HedgeWon {
                attempt,
                attempts,
                losers,
            } => write!(
                f,
                "attempt {attempt} of {attempts} won, {losers} loser{} cancelled",
                if *losers == 1 { "" } else { "s" }
            ),
        }
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>9} {}: {}",
            format!("+{:?}", self.at),
            self.layer,
            self.decision
        )
    }
}
