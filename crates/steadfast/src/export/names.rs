//! Every instrument the exports report: its name, kind, unit, description and attribute keys,
//! and the bounded sets of attribute values. Both exports read these, so a Prometheus series
//! and an OpenTelemetry metric of the same thing carry the same name and attributes.

/// What kind of instrument a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A monotonic sum: it only goes up.
    Counter,
    /// A distribution of recorded values.
    Histogram,
    /// A sum that can go down as well as up (in the `metrics` facade, and so in Prometheus, a
    /// gauge).
    UpDownCounter,
}

/// One instrument: what the exports register and under which name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instrument {
    /// The metric's name (`metrics` exporters may rewrite its dots, as Prometheus does to
    /// underscores).
    pub name: &'static str,
    /// Counter, histogram or up-down counter.
    pub kind: Kind,
    /// The unit, in the UCUM notation OpenTelemetry uses: `s` for seconds, a `{word}`
    /// annotation for counts of things.
    pub unit: &'static str,
    /// What it measures.
    pub description: &'static str,
    /// The attribute keys every one of its series carries.
    pub attributes: &'static [&'static str],
}

/// Attribute key: the name of the layer that reported (its builder's `name`, or the kind's
/// default name). Set on every instrument.
pub const LAYER: &str = "steadfast.layer";
/// Attribute key: how an attempt or a call ended; values in [`ATTEMPT_OUTCOMES`],
/// [`BREAKER_OUTCOMES`] or [`CANCEL_OUTCOMES`], by instrument.
pub const OUTCOME: &str = "steadfast.outcome";
/// Attribute key: how a request through the retry layer ended; values in [`REQUEST_ENDS`].
pub const REQUEST_END: &str = "steadfast.retry.end";
/// Attribute key: why the retry layer gave up; values in [`STOP_REASONS`].
pub const STOP_REASON: &str = "steadfast.stop_reason";
/// Attribute key: a circuit breaker's state; values in [`STATES`].
pub const STATE: &str = "steadfast.circuit_breaker.state";
/// Attribute key: the state a breaker left; values in [`STATES`].
pub const FROM: &str = "steadfast.circuit_breaker.from";
/// Attribute key: the state a breaker entered; values in [`STATES`].
pub const TO: &str = "steadfast.circuit_breaker.to";
/// Attribute key: why a cancel layer's token fired; values in [`CANCEL_REASONS`].
pub const CANCEL_REASON: &str = "steadfast.cancel.reason";
/// Attribute key: what failed validation; values in [`VALIDATE_TARGETS`].
pub const VALIDATE_TARGET: &str = "steadfast.validate.target";
/// Attribute key: what the chaos layer injected; values in [`INJECTIONS`].
pub const INJECTION: &str = "steadfast.chaos.injection";
/// Attribute key: how a request through the hedge layer ended; values in [`HEDGE_ENDS`].
pub const HEDGE_END: &str = "steadfast.hedge.end";
/// Attribute key: which attempt's answer ended a hedged request, from 1; values in
/// [`HEDGE_ATTEMPTS`].
pub const HEDGE_ATTEMPT: &str = "steadfast.hedge.attempt";

/// Values of [`OUTCOME`] on the retry layer's instruments: the attempt's classified
/// [`Outcome`](crate::classify::Outcome).
pub const ATTEMPT_OUTCOMES: [&str; 7] = [
    "success",
    "retryable",
    "pushed_back",
    "invalid",
    "do_not_retry",
    "non_retryable",
    "ignored",
];
/// Values of [`REQUEST_END`].
pub const REQUEST_ENDS: [&str; 3] = ["success", "failed", "gave_up"];
/// Values of [`STOP_REASON`]: one per [`StopReason`](crate::retry::StopReason) variant,
/// without its payload.
pub const STOP_REASONS: [&str; 10] = [
    "attempts_exhausted",
    "max_elapsed",
    "deadline",
    "budget_exhausted",
    "cancelled",
    "draining",
    "not_replayable",
    "retries_suppressed",
    "server_refused",
    "max_hint_wait",
];
/// Values of [`STATE`], [`FROM`] and [`TO`].
pub const STATES: [&str; 6] = [
    "closed",
    "open",
    "half_open",
    "forced_open",
    "disabled",
    "metrics_only",
];
/// Values of [`OUTCOME`] on [`BREAKER_CALLS`].
pub const BREAKER_OUTCOMES: [&str; 6] = [
    "success", "failure", "slow", "invalid", "rejected", "ignored",
];
/// Values of [`OUTCOME`] on the cancel layer's instruments.
pub const CANCEL_OUTCOMES: [&str; 4] = ["success", "failure", "cancelled", "dropped"];
/// Values of [`CANCEL_REASON`]: one per [`CancelReason`](crate::token::CancelReason) variant,
/// without its payload (a manual message or a condition's name is unbounded).
pub const CANCEL_REASONS: [&str; 8] = [
    "timeout",
    "deadline",
    "manual",
    "shutdown",
    "signal",
    "condition",
    "client_disconnected",
    "hedge_lost",
];
/// Values of [`VALIDATE_TARGET`]. The validators' reason texts are not used: they are free
/// text, and a metric's attribute values must come from a small fixed set.
pub const VALIDATE_TARGETS: [&str; 2] = ["request", "response"];
/// Values of [`INJECTION`]: [`Injection::as_str`](crate::chaos::Injection::as_str).
pub const INJECTIONS: [&str; 4] = ["fault", "outcome", "latency", "behavior"];
/// Values of [`HEDGE_END`]: the winning answer was a success, the winning answer was a fatal
/// failure, or every attempt failed (the last failure is returned).
pub const HEDGE_ENDS: [&str; 3] = ["success", "failed", "exhausted"];
/// Values of [`HEDGE_ATTEMPT`]: `"1"` to `"10"`, the hedge layer's most attempts
/// (`hedge::MAX_ATTEMPTS`).
pub const HEDGE_ATTEMPTS: [&str; 10] = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"];
/// Values of [`STOP_REASON`] on [`HEDGE_STOPS`]: one per `hedge::HedgeStop` variant.
pub const HEDGE_STOP_REASONS: [&str; 6] = [
    "budget_exhausted",
    "server_refused",
    "not_replayable",
    "draining",
    "not_ready",
    "circuit_open",
];

/// Attempts sent by a retry layer, by classified outcome.
pub const RETRY_ATTEMPTS: Instrument = Instrument {
    name: "steadfast.retry.attempts",
    kind: Kind::Counter,
    unit: "{attempt}",
    description: "Attempts sent by the retry layer, by how each was classified",
    attributes: &[LAYER, OUTCOME],
};
/// How long each attempt took, by classified outcome.
pub const RETRY_ATTEMPT_DURATION: Instrument = Instrument {
    name: "steadfast.retry.attempt.duration",
    kind: Kind::Histogram,
    unit: "s",
    description: "Time from an attempt's call to its answer",
    attributes: &[LAYER, OUTCOME],
};
/// Requests through a retry layer, by how they ended.
pub const RETRY_REQUESTS: Instrument = Instrument {
    name: "steadfast.retry.requests",
    kind: Kind::Counter,
    unit: "{request}",
    description: "Requests that ended in the retry layer, by how they ended",
    attributes: &[LAYER, REQUEST_END],
};
/// How long each request took in total, retries and waits included.
pub const RETRY_REQUEST_DURATION: Instrument = Instrument {
    name: "steadfast.retry.request.duration",
    kind: Kind::Histogram,
    unit: "s",
    description: "Time from a request's call to its end, every attempt and wait included",
    attributes: &[LAYER, REQUEST_END],
};
/// Retries decided, by the outcome of the attempt that failed.
pub const RETRY_RETRIES: Instrument = Instrument {
    name: "steadfast.retry.retries",
    kind: Kind::Counter,
    unit: "{retry}",
    description: "Retries decided, by how the failed attempt was classified",
    attributes: &[LAYER, OUTCOME],
};
/// Requests the retry layer gave up on, by why.
pub const RETRY_GIVE_UPS: Instrument = Instrument {
    name: "steadfast.retry.give_ups",
    kind: Kind::Counter,
    unit: "{request}",
    description: "Requests the retry layer stopped retrying without a success, by why",
    attributes: &[LAYER, STOP_REASON],
};
/// Retries the retry budget refused.
pub const RETRY_BUDGET_REJECTIONS: Instrument = Instrument {
    name: "steadfast.retry.budget.rejections",
    kind: Kind::Counter,
    unit: "{retry}",
    description: "Retries the retry budget refused",
    attributes: &[LAYER],
};
/// A breaker's state, as OpenTelemetry's state metrics have it: one series per state, 1 for
/// the current one and 0 for the others.
pub const BREAKER_STATUS: Instrument = Instrument {
    name: "steadfast.circuit_breaker.status",
    kind: Kind::UpDownCounter,
    unit: "1",
    description: "1 for the circuit breaker's current state, 0 for the others",
    attributes: &[LAYER, STATE],
};
/// A breaker's state changes.
pub const BREAKER_TRANSITIONS: Instrument = Instrument {
    name: "steadfast.circuit_breaker.transitions",
    kind: Kind::Counter,
    unit: "{transition}",
    description: "Circuit breaker state changes, by the state left and the state entered",
    attributes: &[LAYER, FROM, TO],
};
/// Calls a breaker saw, by outcome.
pub const BREAKER_CALLS: Instrument = Instrument {
    name: "steadfast.circuit_breaker.calls",
    kind: Kind::Counter,
    unit: "{call}",
    description: "Calls seen by the circuit breaker, by outcome (a slow call also counts as its success or failure)",
    attributes: &[LAYER, OUTCOME],
};
/// How long each call took, when the breaker measures durations.
pub const BREAKER_CALL_DURATION: Instrument = Instrument {
    name: "steadfast.circuit_breaker.call.duration",
    kind: Kind::Histogram,
    unit: "s",
    description:
        "Time a call took, reported when the breaker measures durations (slow-call rules on)",
    attributes: &[LAYER, OUTCOME],
};
/// Requests through a cancel layer, by how they ended.
pub const CANCEL_REQUESTS: Instrument = Instrument {
    name: "steadfast.cancel.requests",
    kind: Kind::Counter,
    unit: "{request}",
    description:
        "Requests that ended in the cancel layer: answered (success or failure), cancelled, or dropped by the caller",
    attributes: &[LAYER, OUTCOME],
};
/// How long each request took in the cancel layer.
pub const CANCEL_REQUEST_DURATION: Instrument = Instrument {
    name: "steadfast.cancel.request.duration",
    kind: Kind::Histogram,
    unit: "s",
    description: "Time from a request's call to its answer or cancellation",
    attributes: &[LAYER, OUTCOME],
};
/// Requests the cancel layer cancelled, by why the token fired.
pub const CANCEL_CANCELLATIONS: Instrument = Instrument {
    name: "steadfast.cancel.cancellations",
    kind: Kind::Counter,
    unit: "{request}",
    description: "Requests whose token fired before the answer, by why",
    attributes: &[LAYER, CANCEL_REASON],
};
/// Requests or responses a validate layer refused.
pub const VALIDATE_FAILURES: Instrument = Instrument {
    name: "steadfast.validate.failures",
    kind: Kind::Counter,
    unit: "{failure}",
    description: "Requests and responses that failed validation",
    attributes: &[LAYER, VALIDATE_TARGET],
};
/// Faults the chaos layer injected, by kind.
pub const CHAOS_INJECTIONS: Instrument = Instrument {
    name: "steadfast.chaos.injections",
    kind: Kind::Counter,
    unit: "{injection}",
    description: "Faults injected by the chaos layer, by kind",
    attributes: &[LAYER, INJECTION],
};
/// Requests through a hedge layer, by how they ended.
pub const HEDGE_REQUESTS: Instrument = Instrument {
    name: "steadfast.hedge.requests",
    kind: Kind::Counter,
    unit: "{request}",
    description: "Requests that ended in the hedge layer, by how they ended",
    attributes: &[LAYER, HEDGE_END],
};
/// How long each request took in the hedge layer, every attempt included.
pub const HEDGE_REQUEST_DURATION: Instrument = Instrument {
    name: "steadfast.hedge.request.duration",
    kind: Kind::Histogram,
    unit: "s",
    description: "Time from a request's call to the answer that ended it, every attempt included",
    attributes: &[LAYER, HEDGE_END],
};
/// Hedges sent: attempts after the first.
pub const HEDGE_HEDGES: Instrument = Instrument {
    name: "steadfast.hedge.hedges",
    kind: Kind::Counter,
    unit: "{attempt}",
    description: "Hedges sent by the hedge layer (attempts after the first)",
    attributes: &[LAYER],
};
/// Requests ended by each attempt's answer, by the attempt's ordinal.
pub const HEDGE_WINS: Instrument = Instrument {
    name: "steadfast.hedge.wins",
    kind: Kind::Counter,
    unit: "{request}",
    description: "Requests ended by an attempt's answer, by which attempt it was (1 for the first, 2 and up for hedges)",
    attributes: &[LAYER, HEDGE_ATTEMPT],
};
/// Attempts cancelled because another one's answer ended the request.
pub const HEDGE_LOSERS: Instrument = Instrument {
    name: "steadfast.hedge.losers",
    kind: Kind::Counter,
    unit: "{attempt}",
    description: "Attempts still running when another one's answer ended the request, cancelled",
    attributes: &[LAYER],
};
/// Requests whose hedging stopped early, by why.
pub const HEDGE_STOPS: Instrument = Instrument {
    name: "steadfast.hedge.stops",
    kind: Kind::Counter,
    unit: "{request}",
    description: "Requests for which the hedge layer stopped sending hedges, by why",
    attributes: &[LAYER, STOP_REASON],
};

/// Every instrument, in the order `docs/observability.md` lists them.
pub const ALL: [Instrument; 22] = [
    RETRY_ATTEMPTS,
    RETRY_ATTEMPT_DURATION,
    RETRY_REQUESTS,
    RETRY_REQUEST_DURATION,
    RETRY_RETRIES,
    RETRY_GIVE_UPS,
    RETRY_BUDGET_REJECTIONS,
    BREAKER_STATUS,
    BREAKER_TRANSITIONS,
    BREAKER_CALLS,
    BREAKER_CALL_DURATION,
    CANCEL_REQUESTS,
    CANCEL_REQUEST_DURATION,
    CANCEL_CANCELLATIONS,
    VALIDATE_FAILURES,
    CHAOS_INJECTIONS,
    HEDGE_REQUESTS,
    HEDGE_REQUEST_DURATION,
    HEDGE_HEDGES,
    HEDGE_WINS,
    HEDGE_LOSERS,
    HEDGE_STOPS,
];

// Where each event's values sit in the arrays above. Inside the crate the enums' matches are
// exhaustive, so a new variant does not build until it has a place here.

#[cfg(feature = "retry")]
pub(crate) fn outcome_index(outcome: crate::classify::Outcome) -> usize {
    use crate::classify::Outcome;
    match outcome {
        Outcome::Success => 0,
        Outcome::Retryable { .. } => 1,
        Outcome::PushedBack { .. } => 2,
        Outcome::Invalid => 3,
        Outcome::DoNotRetry => 4,
        Outcome::NonRetryable => 5,
        Outcome::Ignored => 6,
    }
}

#[cfg(feature = "retry")]
pub(crate) fn end_index(end: &crate::retry::RequestEnd<'_>) -> usize {
    use crate::retry::RequestEnd;
    match end {
        RequestEnd::Success => 0,
        RequestEnd::Failed => 1,
        RequestEnd::GaveUp(_) => 2,
    }
}

#[cfg(feature = "retry")]
pub(crate) fn stop_index(reason: &crate::retry::StopReason) -> usize {
    use crate::retry::StopReason;
    match reason {
        StopReason::AttemptsExhausted => 0,
        StopReason::MaxElapsed => 1,
        StopReason::Deadline => 2,
        StopReason::BudgetExhausted => 3,
        StopReason::Cancelled(_) => 4,
        StopReason::Draining => 5,
        StopReason::NotReplayable(_) => 6,
        StopReason::RetriesSuppressed => 7,
        StopReason::ServerRefused => 8,
        StopReason::MaxHintWait => 9,
    }
}

#[cfg(feature = "circuit-breaker")]
pub(crate) fn state_index(state: crate::circuit_breaker::CircuitState) -> usize {
    use crate::circuit_breaker::CircuitState;
    match state {
        CircuitState::Closed => 0,
        CircuitState::Open => 1,
        CircuitState::HalfOpen => 2,
        CircuitState::ForcedOpen => 3,
        CircuitState::Disabled => 4,
        CircuitState::MetricsOnly => 5,
    }
}

/// Indexes into [`BREAKER_OUTCOMES`].
#[cfg(feature = "circuit-breaker")]
pub(crate) mod call {
    pub(crate) const SUCCESS: usize = 0;
    pub(crate) const FAILURE: usize = 1;
    pub(crate) const SLOW: usize = 2;
    pub(crate) const INVALID: usize = 3;
    pub(crate) const REJECTED: usize = 4;
    pub(crate) const IGNORED: usize = 5;
}

/// Values of [`OUTCOME`] on [`BREAKER_CALL_DURATION`]: the call ends that carry a duration.
pub const BREAKER_TIMED_OUTCOMES: [&str; 3] = ["success", "failure", "invalid"];

/// Where a breaker event that ends a call counts: its index in [`BREAKER_OUTCOMES`] and, when
/// it carries a duration, the duration and its index in [`BREAKER_TIMED_OUTCOMES`]. `None`
/// for the events that end no call (transitions, permits).
#[cfg(feature = "circuit-breaker")]
pub(crate) fn breaker_call(
    event: &crate::circuit_breaker::BreakerEvent<'_>,
) -> Option<(usize, Option<(std::time::Duration, usize)>)> {
    use crate::circuit_breaker::BreakerEvent;
    let timed = |duration: &Option<std::time::Duration>, slot| duration.map(|d| (d, slot));
    Some(match event {
        BreakerEvent::StateTransition { .. } | BreakerEvent::CallPermitted { .. } => return None,
        BreakerEvent::CallRejected { .. } => (call::REJECTED, None),
        BreakerEvent::Success { duration, .. } => (call::SUCCESS, timed(duration, 0)),
        BreakerEvent::Failure { duration, .. } => (call::FAILURE, timed(duration, 1)),
        BreakerEvent::Slow { .. } => (call::SLOW, None),
        BreakerEvent::Invalid { duration, .. } => (call::INVALID, timed(duration, 2)),
        BreakerEvent::Ignored { .. } => (call::IGNORED, None),
    })
}

/// How a request through a cancel layer ended: its index in [`CANCEL_OUTCOMES`], and the time
/// it took.
#[cfg(feature = "cancel")]
pub(crate) fn cancel_end(event: &crate::cancel::CancelEvent<'_>) -> (usize, std::time::Duration) {
    use crate::cancel::CancelEvent;
    match event {
        CancelEvent::Completed { elapsed, ok } => (if *ok { 0 } else { 1 }, *elapsed),
        CancelEvent::Cancelled { elapsed, .. } => (2, *elapsed),
        CancelEvent::Dropped { elapsed } => (3, *elapsed),
    }
}

#[cfg(feature = "cancel")]
pub(crate) fn cancel_reason_index(reason: &crate::token::CancelReason) -> usize {
    use crate::token::CancelReason;
    match reason {
        CancelReason::Timeout(_) => 0,
        CancelReason::Deadline => 1,
        CancelReason::Manual(_) => 2,
        CancelReason::Shutdown => 3,
        CancelReason::Signal(_) => 4,
        CancelReason::Condition(_) => 5,
        CancelReason::ClientDisconnected => 6,
        CancelReason::HedgeLost => 7,
    }
}

#[cfg(feature = "chaos")]
pub(crate) fn injection_index(injection: crate::chaos::Injection) -> usize {
    use crate::chaos::Injection;
    match injection {
        Injection::Fault => 0,
        Injection::Outcome => 1,
        Injection::Latency => 2,
        Injection::Behavior => 3,
    }
}

// One value of `HEDGE_ATTEMPT` per attempt a hedged request can get.
#[cfg(feature = "hedge")]
const _: () = assert!(crate::hedge::MAX_ATTEMPTS as usize == HEDGE_ATTEMPTS.len());

#[cfg(feature = "hedge")]
pub(crate) fn hedge_stop_index(reason: crate::hedge::HedgeStop) -> usize {
    use crate::hedge::HedgeStop;
    match reason {
        HedgeStop::BudgetExhausted => 0,
        HedgeStop::ServerRefused => 1,
        HedgeStop::NotReplayable => 2,
        HedgeStop::Draining => 3,
        HedgeStop::NotReady => 4,
        HedgeStop::CircuitOpen => 5,
    }
}

/// What a hedge event counts, for both exports.
#[cfg(feature = "hedge")]
pub(crate) enum HedgeCount {
    /// A hedge sent.
    Hedge,
    /// A request ended: its index in [`HEDGE_ENDS`], its duration, and the index in
    /// [`HEDGE_ATTEMPTS`] of the attempt whose answer ended it (`None` when every attempt
    /// failed).
    End(usize, std::time::Duration, Option<usize>),
    /// Losers cancelled.
    Losers(u64),
    /// Hedging stopped: the index in [`HEDGE_STOP_REASONS`].
    Stop(usize),
}

#[cfg(feature = "hedge")]
pub(crate) fn hedge_count(event: &crate::hedge::HedgeEvent) -> Option<HedgeCount> {
    use crate::classify::Outcome;
    use crate::hedge::HedgeEvent;
    // An attempt's ordinal is from 1 to `MAX_ATTEMPTS`; clamped all the same, so that an event
    // built by hand cannot index past the array.
    let attempt_index = |a: u32| (a.clamp(1, crate::hedge::MAX_ATTEMPTS) - 1) as usize;
    Some(match event {
        HedgeEvent::HedgeSent { .. } => HedgeCount::Hedge,
        HedgeEvent::Won {
            attempt,
            outcome,
            elapsed,
            ..
        } => HedgeCount::End(
            if *outcome == Outcome::Success { 0 } else { 1 },
            *elapsed,
            Some(attempt_index(*attempt)),
        ),
        HedgeEvent::Exhausted { elapsed, .. } => HedgeCount::End(2, *elapsed, None),
        HedgeEvent::LosersCancelled { count } => HedgeCount::Losers(u64::from(*count)),
        HedgeEvent::Stopped { reason } => HedgeCount::Stop(hedge_stop_index(*reason)),
        HedgeEvent::AttemptFailed { .. } | HedgeEvent::PushedBack { .. } => return None,
    })
}
