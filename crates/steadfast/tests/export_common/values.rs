//! Every attribute value of the retry, cancel and chaos instruments, with an event value that
//! carries it.

use std::time::Duration;

use steadfast::chaos::Injection;
use steadfast::classify::Outcome;
use steadfast::retry::StopReason;
use steadfast::token::CancelReason;

/// Every classified outcome and its attribute value.
pub fn outcomes() -> [(Outcome, &'static str); 7] {
    [
        (Outcome::Success, "success"),
        (Outcome::retryable(), "retryable"),
        (Outcome::PushedBack { after_ms: 10 }, "pushed_back"),
        (Outcome::Invalid, "invalid"),
        (Outcome::DoNotRetry, "do_not_retry"),
        (Outcome::NonRetryable, "non_retryable"),
        (Outcome::Ignored, "ignored"),
    ]
}

pub fn stop_reasons() -> [(StopReason, &'static str); 10] {
    [
        (StopReason::AttemptsExhausted, "attempts_exhausted"),
        (StopReason::MaxElapsed, "max_elapsed"),
        (StopReason::Deadline, "deadline"),
        (StopReason::BudgetExhausted, "budget_exhausted"),
        (StopReason::Cancelled(CancelReason::Shutdown), "cancelled"),
        (StopReason::Draining, "draining"),
        (StopReason::NotReplayable("too big"), "not_replayable"),
        (StopReason::RetriesSuppressed, "retries_suppressed"),
        (StopReason::ServerRefused, "server_refused"),
        (StopReason::MaxHintWait, "max_hint_wait"),
    ]
}

pub fn cancel_reasons() -> [(CancelReason, &'static str); 8] {
    [
        (CancelReason::Timeout(Duration::from_secs(1)), "timeout"),
        (CancelReason::Deadline, "deadline"),
        (CancelReason::manual("stop it"), "manual"),
        (CancelReason::Shutdown, "shutdown"),
        (CancelReason::Signal(15), "signal"),
        (CancelReason::condition("disk_full"), "condition"),
        (CancelReason::ClientDisconnected, "client_disconnected"),
        (CancelReason::HedgeLost, "hedge_lost"),
    ]
}

pub fn injections() -> [(Injection, &'static str); 4] {
    [
        (Injection::Fault, "fault"),
        (Injection::Outcome, "outcome"),
        (Injection::Latency, "latency"),
        (Injection::Behavior, "behavior"),
    ]
}
