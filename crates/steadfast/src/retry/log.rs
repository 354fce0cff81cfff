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

/// A request's `retry` span, at `level`, naming the policy.
pub(crate) fn retry_span(level: Level, policy: &str) -> Span {
    if level == Level::DEBUG {
        tracing::debug_span!("retry", policy)
    } else if level == Level::ERROR {
        tracing::error_span!("retry", policy)
    } else if level == Level::WARN {
        tracing::warn_span!("retry", policy)
    } else if level == Level::INFO {
        tracing::info_span!("retry", policy)
    } else {
        tracing::trace_span!("retry", policy)
    }
}
