//! The layers' `tracing` spans: one per request per layer, with one vocabulary of fields.
//!
//! Every layer that makes a span names it after its kind (`retry`, `circuit_breaker`, `cancel`,
//! `validate`) and gives it the same fields: `steadfast.kind` (the kind, again, for backends
//! that search attributes rather than span names), `steadfast.layer` (the layer's name, as in
//! the metrics' attribute of that name), and `steadfast.outcome`, recorded when the request
//! leaves the layer. A span is made only when a subscriber could record it: a layer's success
//! path first asks [`observing`] (a decision trace exists, or [`may_record`]: the most verbose
//! level any subscriber wants; two relaxed loads, one branch), and only then, out of line,
//! makes the span, which asks the callsite's cached interest, and looks for the request's
//! trace. With no subscriber, or one that filters `debug` out, a request makes no span,
//! allocates nothing for one and enters nothing. A span is entered around the inner
//! service's call and every poll of its future, so the spans of the layers below nest inside it
//! and the events a layer emits while it decides fall in its span.

// Each helper serves the layers compiled in; with some layers' features off, some serve none.
#![cfg_attr(
    not(all(
        feature = "retry",
        feature = "circuit-breaker",
        feature = "cancel",
        feature = "validate"
    )),
    allow(dead_code)
)]

use tracing::level_filters::{LevelFilter, STATIC_MAX_LEVEL};
use tracing::{Level, Span};

/// The field every span records its request's outcome in.
pub(crate) const OUTCOME: &str = "steadfast.outcome";

/// Whether any subscriber could record a span at `level`: `tracing`'s global maximum level,
/// the only test a request pays when none could. Always `false` without the `spans` feature,
/// so that the layers compile with no span code at all.
#[inline(always)]
pub(crate) fn may_record(level: Level) -> bool {
    cfg!(feature = "spans") && level <= STATIC_MAX_LEVEL && level <= LevelFilter::current()
}

/// Whether a request may need its layer's out-of-line path: a decision trace was made in this
/// process ([`trace::armed`](crate::trace::armed)), or a subscriber could record a span at
/// `level` ([`may_record`]). Two relaxed loads and one branch; without the `spans` feature,
/// the first load alone. A layer's success path tests this once and, when it is `false`,
/// runs as if neither traces nor spans existed.
#[inline(always)]
pub(crate) fn observing(level: Level) -> bool {
    // `|`, not `||`: both flags are loaded and tested in one branch.
    crate::trace::armed() | may_record(level)
}

/// `span`, if a subscriber records it; `None` for a disabled span, so that a holder's cold
/// `Option` stays empty.
#[inline]
pub(crate) fn kept(span: Span) -> Option<Span> {
    (!span.is_none()).then_some(span)
}

/// Runs `f` inside `span`, when there is one.
#[inline(always)]
pub(crate) fn in_span<R>(span: Option<&Span>, f: impl FnOnce() -> R) -> R {
    match span {
        None => f(),
        Some(span) => {
            let _entered = span.enter();
            f()
        }
    }
}

/// Records `outcome` as the span's `steadfast.outcome`.
#[cold]
#[inline(never)]
pub(crate) fn record_outcome(span: &Span, outcome: &'static str) {
    span.record(OUTCOME, outcome);
}
