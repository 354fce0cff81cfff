//! The retry layer's `tracing` output at the level a policy chooses
//! ([`RetryPolicyBuilder::log_level`](super::RetryPolicyBuilder::log_level)).
//!
//! `tracing`'s macros take their level as a constant; these pick the macro for a level known
//! only at run time, the default (`DEBUG`) tested first.

use tracing::{Level, Span};

/// Emits a `tracing` event at `$level` (a [`Level`] value), with the arguments of
/// `tracing::event!` after the level.
macro_rules! event_at {
    ($level:expr, parent: $parent:expr, $($rest:tt)+) => {{
        let level: ::tracing::Level = $level;
        if level == ::tracing::Level::DEBUG {
            ::tracing::debug!(parent: $parent, $($rest)+)
        } else if level == ::tracing::Level::ERROR {
            ::tracing::error!(parent: $parent, $($rest)+)
        } else if level == ::tracing::Level::WARN {
            ::tracing::warn!(parent: $parent, $($rest)+)
        } else if level == ::tracing::Level::INFO {
            ::tracing::info!(parent: $parent, $($rest)+)
        } else {
            ::tracing::trace!(parent: $parent, $($rest)+)
        }
    }};
}
pub(crate) use event_at;

/// Whether an event of `target` at `level` could be recorded.
macro_rules! enabled_at {
    ($level:expr, target: $target:expr) => {{
        let level: ::tracing::Level = $level;
        if level == ::tracing::Level::DEBUG {
            ::tracing::enabled!(target: $target, ::tracing::Level::DEBUG)
        } else if level == ::tracing::Level::ERROR {
            ::tracing::enabled!(target: $target, ::tracing::Level::ERROR)
        } else if level == ::tracing::Level::WARN {
            ::tracing::enabled!(target: $target, ::tracing::Level::WARN)
        } else if level == ::tracing::Level::INFO {
            ::tracing::enabled!(target: $target, ::tracing::Level::INFO)
        } else {
            ::tracing::enabled!(target: $target, ::tracing::Level::TRACE)
        }
    }};
}
pub(crate) use enabled_at;

/// A request's `retry` span, at `level`, naming the policy (see
/// [`observe::span`](crate::observe::span) for the fields every layer's span shares).
#[inline]
pub(crate) fn retry_span(level: Level, policy: &str) -> Span {
    macro_rules! span_at {
        ($mac:ident) => {
            tracing::$mac!(
                "retry",
                steadfast.kind = "retry",
                steadfast.layer = policy,
                steadfast.attempt = tracing::field::Empty,
                steadfast.outcome = tracing::field::Empty,
            )
        };
    }
    if level == Level::DEBUG {
        span_at!(debug_span)
    } else if level == Level::ERROR {
        span_at!(error_span)
    } else if level == Level::WARN {
        span_at!(warn_span)
    } else if level == Level::INFO {
        span_at!(info_span)
    } else {
        span_at!(trace_span)
    }
}

/// The span of attempt `attempt` of a request whose `retry` span is `parent`, at the same
/// level: the spans of the layers below nest in it. A resend carries OpenTelemetry's
/// `http.request.resend_count` (the attempt's number less one).
#[cold]
#[inline(never)]
pub(crate) fn attempt_span(level: Level, parent: &Span, policy: &str, attempt: u32) -> Span {
    let resend = (attempt > 1).then(|| attempt - 1);
    macro_rules! span_at {
        ($mac:ident) => {
            tracing::$mac!(
                parent: parent,
                "retry_attempt",
                steadfast.kind = "retry",
                steadfast.layer = policy,
                steadfast.attempt = attempt,
                http.request.resend_count = resend,
                steadfast.outcome = tracing::field::Empty,
            )
        };
    }
    if level == Level::DEBUG {
        span_at!(debug_span)
    } else if level == Level::ERROR {
        span_at!(error_span)
    } else if level == Level::WARN {
        span_at!(warn_span)
    } else if level == Level::INFO {
        span_at!(info_span)
    } else {
        span_at!(trace_span)
    }
}

/// Records how a request ended in its `retry` span: `success` for a response, `failure` for
/// an error, after `attempts` attempts.
#[cold]
#[inline(never)]
pub(crate) fn record_end(span: &Span, ok: bool, attempts: u32) {
    span.record("steadfast.attempt", attempts);
    crate::observe::span::record_outcome(span, if ok { "success" } else { "failure" });
}

/// An attempt's outcome as the value of `steadfast.outcome`, as in the metrics.
pub(crate) fn outcome_name(outcome: crate::classify::Outcome) -> &'static str {
    use crate::classify::Outcome;
    match outcome {
        Outcome::Success => "success",
        Outcome::Retryable { .. } => "retryable",
        Outcome::PushedBack { .. } => "pushed_back",
        Outcome::Invalid => "invalid",
        Outcome::DoNotRetry => "do_not_retry",
        Outcome::NonRetryable => "non_retryable",
        Outcome::Ignored => "ignored",
    }
}
