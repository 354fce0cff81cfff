//! The part of the retry layer's response future that only a request that waits, retries or
//! reports needs (one box, made when first needed), and the request's `tracing` spans kept in it.

use std::fmt;
use std::pin::Pin;

use pin_project::pin_project;
use tokio::time::Sleep;
use tracing::span::EnteredSpan;
use tracing::Span;

use super::log::{attempt_span, enabled_at, outcome_name, record_end, retry_span};
use super::policy::Settings;
use super::state::{ColdState, RetryState, EVENTS_TARGET};
use crate::classify::Outcome;
use crate::observe::span;
use crate::token::WaitForCancellationFuture as Cancelled;
use crate::BoxError;

/// The part of a response future that only a request that waits, retries or reports needs.
#[pin_project]
pub(crate) struct FutureColdState {
    /// The request's `retry` span: none until something is first reported in it. A request
    /// that ends on its first attempt with nothing recorded never makes it (nor the box),
    /// unless a subscriber records the span: it is then made with the request.
    pub(super) span: Span,
    /// The span of the attempt in flight, in the request's (with a span from the start).
    pub(super) attempt: Option<Span>,
    /// The backoff timer, made at the first non-zero delay and reset for later ones.
    #[pin]
    pub(super) sleep: Option<Sleep>,
    #[pin]
    pub(super) cancelled: Option<Cancelled>,
    /// Fires when the request's token starts draining (a graceful shutdown).
    #[pin]
    pub(super) draining: Option<Cancelled>,
    /// The answer of a request that was cancelled before its first attempt (phase
    /// `Stopped`): kept here rather than in the phase, whose drop every request pays.
    pub(super) stopped: Option<BoxError>,
}

impl Default for FutureColdState {
    fn default() -> Self {
        FutureColdState {
            span: Span::none(),
            attempt: None,
            sleep: None,
            cancelled: None,
            draining: None,
            stopped: None,
        }
    }
}

impl fmt::Debug for FutureColdState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FutureColdState")
            .field("sleeping", &self.sleep.is_some())
            .field("watching", &self.cancelled.is_some())
            .finish_non_exhaustive()
    }
}

/// The request's span, made (with the box that holds it) on first use.
pub(super) fn span_of<C, K, R>(
    state: &mut RetryState<FutureColdState>,
    settings: &Settings<C, K, R>,
) -> Span {
    let span = state.cold_or_make().project().extra.project().span;
    if span.is_none() {
        *span = retry_span(settings.log_level(), settings.name());
    }
    span.clone()
}

/// The retry state's out-of-line part, as [`RetryState::take_cold`] hands it over.
pub(super) type Cold = Option<Pin<Box<ColdState<FutureColdState>>>>;

/// A request's spans, made before its first attempt is called: its `retry` span and its first
/// attempt's, entered while the attempt is called (so that the layers below make their spans
/// in it).
pub(super) struct Started {
    span: Span,
    attempt: EnteredSpan,
}

/// Makes the request's spans if a subscriber records them, with the first attempt's entered:
/// one pointer for the success path to carry across the inner call (see [`keep_spans`]).
#[cold]
#[inline(never)]
pub(super) fn start_spans<C, K, R>(settings: &Settings<C, K, R>) -> Option<Box<Started>> {
    let span = span::kept(retry_span(settings.log_level(), settings.name()))?;
    let attempt = attempt_span(settings.log_level(), &span, settings.name(), 1).entered();
    Some(Box::new(Started { span, attempt }))
}

/// Leaves the first attempt's span, the attempt called, and keeps both spans in the state's
/// cold part (made if it was not).
///
/// The cold part goes in and out by value: see [`RetryState::take_cold`].
#[cold]
#[inline(never)]
// The box is what the success path carried across the call: one pointer.
#[allow(clippy::boxed_local)]
pub(super) fn keep_spans(cold: Cold, started: Box<Started>) -> Cold {
    let Started { span, attempt } = *started;
    let mut cold = cold.unwrap_or_else(|| Box::pin(ColdState::default()));
    let extra = cold.as_mut().project().extra.project();
    *extra.span = span;
    *extra.attempt = Some(attempt.exit());
    Some(cold)
}

/// Records the running attempt's verdict in the request's decision trace, in the request's
/// `retry` span when it has one (see [`RetryState::record_classified`]).
#[cold]
#[inline(never)]
pub(super) fn record_verdict<C, K, R>(
    state: &mut RetryState<FutureColdState>,
    settings: &Settings<C, K, R>,
    outcome: Outcome,
) {
    let span = state
        .cold_ref()
        .map_or_else(Span::none, |c| c.extra.span.clone());
    state.record_classified(settings, outcome, &span);
}

/// The span the attempt in flight runs in, if the request has spans.
#[inline(always)]
pub(super) fn attempt_span_of(state: &RetryState<FutureColdState>) -> Option<&Span> {
    state.cold_ref().and_then(|c| c.extra.attempt.as_ref())
}

/// Starts the span of attempt `attempt`, for a request whose span was made with it.
#[cold]
#[inline(never)]
pub(super) fn next_attempt_span<C, K, R>(
    state: &mut RetryState<FutureColdState>,
    settings: &Settings<C, K, R>,
    attempt: u32,
) {
    if !cfg!(feature = "spans") {
        return;
    }
    if let Some(cold) = state.cold() {
        let extra = cold.project().extra.project();
        if extra.attempt.is_none() && !extra.span.is_none() {
            let level = settings.log_level();
            *extra.attempt = Some(attempt_span(level, extra.span, settings.name(), attempt));
        }
    }
}

/// Closes the span of the attempt that ended with `outcome`, and records in the request's span
/// how it ends if the attempt's answer (`Ok` for a response) is the request's.
#[cold]
#[inline(never)]
pub(super) fn end_spans(
    state: &mut RetryState<FutureColdState>,
    outcome: Outcome,
    ends_ok: Option<bool>,
) {
    let attempts = state.attempt;
    if let Some(cold) = state.cold() {
        let extra = cold.project().extra.project();
        if let Some(span) = extra.attempt.take() {
            span::record_outcome(&span, outcome_name(outcome));
            if let Some(ok) = ends_ok {
                record_end(extra.span, ok, attempts);
            }
        }
    }
}

/// Records in the request's span that it ended with an error.
#[cold]
#[inline(never)]
pub(super) fn end_request_span(state: &mut RetryState<FutureColdState>, ok: bool) {
    let attempts = state.attempt;
    if let Some(cold) = state.cold() {
        let span = cold.project().extra.project().span;
        if !span.is_none() {
            record_end(span, ok, attempts);
        }
    }
}

/// The span to report at `debug` level in: the request's, if it has one or a subscriber may
/// record `debug` events; else none, so that nothing is made for events nobody records.
pub(super) fn report_span<C, K, R>(
    state: &mut RetryState<FutureColdState>,
    settings: &Settings<C, K, R>,
) -> Span {
    let made = state.cold().is_some_and(|s| !s.extra.span.is_none());
    // The events are `RetryState`'s: asked about with its target.
    if made || enabled_at!(settings.log_level(), target: EVENTS_TARGET) {
        span_of(state, settings)
    } else {
        Span::none()
    }
}
