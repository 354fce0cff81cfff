//! What both export tests feed an export, and what every instrument must then read: each event
//! kind and each attribute value, sent a distinct number of times so that a value reported
//! under the wrong attribute shows.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::time::Duration;

use steadfast::cancel::CancelEvent;
use steadfast::chaos::{ChaosEvent, Injection};
use steadfast::circuit_breaker::{BreakerEvent, CircuitState, TransitionReason};
use steadfast::classify::Outcome;
use steadfast::export::names;
use steadfast::observe::Observer;
use steadfast::retry::{RequestEnd, RetryEvent, StopReason};
use steadfast::token::CancelReason;
use steadfast::validate::{Reason, ValidateEvent};

/// A series: the instrument's name and its attributes, sorted by key.
pub type Series = (String, Vec<(String, String)>);

/// A series' value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Count(u64),
    Gauge(f64),
    /// A histogram's count and sum.
    Histogram(u64, f64),
}

pub fn series(name: &str, attributes: &[(&str, &str)]) -> Series {
    let mut attributes: Vec<(String, String)> = attributes
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    attributes.sort();
    (name.to_owned(), attributes)
}

fn s(n: u64) -> Duration {
    Duration::from_millis(n * 500)
}

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

/// Sends every kind of event to the listeners `observer` gives layers named `r` (retry), `b`
/// (breaker), `c` (cancel), `v` (validate) and `x` (chaos).
pub fn feed(observer: &dyn Observer) {
    let retry = observer.retry("r").unwrap();
    for (i, (outcome, _)) in outcomes().into_iter().enumerate() {
        for _ in 0..=i {
            retry(&RetryEvent::AttemptFinished {
                attempt: 1,
                duration: s(i as u64 + 1),
                outcome,
            });
            retry(&RetryEvent::Retry {
                attempt: 1,
                delay: s(1),
                outcome,
                elapsed: s(1),
                error: None,
            });
        }
    }
    for (i, (reason, _)) in stop_reasons().iter().enumerate() {
        for _ in 0..=i {
            retry(&RetryEvent::GiveUp {
                attempts: 3,
                elapsed: s(1),
                reason,
            });
        }
    }
    let gave_up = StopReason::Deadline;
    let ends = [
        RequestEnd::Success,
        RequestEnd::Failed,
        RequestEnd::GaveUp(&gave_up),
    ];
    for (i, end) in ends.into_iter().enumerate() {
        for _ in 0..=i {
            retry(&RetryEvent::RequestFinished {
                attempts: 2,
                elapsed: s(i as u64 + 1),
                end,
            });
        }
    }
    for _ in 0..2 {
        retry(&RetryEvent::BudgetExhausted { attempts: 2 });
    }
    // Reported by other instruments, or by none.
    retry(&RetryEvent::AttemptStarting {
        attempt: 1,
        elapsed: Duration::ZERO,
    });
    retry(&RetryEvent::Success {
        attempts: 2,
        elapsed: s(1),
    });

    let breaker = observer.breaker("b").unwrap();
    let name = "b";
    for (from, to) in [
        (CircuitState::Closed, CircuitState::Open),
        (CircuitState::Open, CircuitState::HalfOpen),
        (CircuitState::HalfOpen, CircuitState::Open),
    ] {
        breaker(&BreakerEvent::StateTransition {
            name,
            from,
            to,
            reason: TransitionReason::Manual,
        });
    }
    breaker(&BreakerEvent::Success {
        name,
        duration: Some(s(4)),
    });
    breaker(&BreakerEvent::Success {
        name,
        duration: None,
    });
    for _ in 0..3 {
        breaker(&BreakerEvent::Failure {
            name,
            duration: Some(s(2)),
        });
    }
    breaker(&BreakerEvent::Slow {
        name,
        duration: s(2),
    });
    for _ in 0..4 {
        breaker(&BreakerEvent::Invalid {
            name,
            duration: Some(s(1)),
        });
    }
    for _ in 0..5 {
        breaker(&BreakerEvent::Ignored { name });
    }
    for _ in 0..6 {
        breaker(&BreakerEvent::CallRejected {
            name,
            state: CircuitState::Open,
        });
    }
    for _ in 0..7 {
        breaker(&BreakerEvent::CallPermitted {
            name,
            state: CircuitState::Closed,
        });
    }

    let cancel = observer.cancel("c").unwrap();
    cancel(&CancelEvent::Completed {
        elapsed: s(2),
        ok: true,
    });
    for _ in 0..2 {
        cancel(&CancelEvent::Completed {
            elapsed: s(1),
            ok: false,
        });
    }
    for _ in 0..3 {
        cancel(&CancelEvent::Dropped { elapsed: s(3) });
    }
    for (i, (reason, _)) in cancel_reasons().iter().enumerate() {
        for _ in 0..=i {
            cancel(&CancelEvent::Cancelled {
                reason,
                elapsed: s(1),
            });
        }
    }

    let validate = observer.validate("v").unwrap();
    let reasons = [Reason::new("empty body")];
    validate(&ValidateEvent::RequestInvalid { reasons: &reasons });
    for _ in 0..2 {
        validate(&ValidateEvent::ResponseInvalid {
            reasons: &reasons,
            elapsed: s(1),
        });
    }
    for _ in 0..3 {
        validate(&ValidateEvent::ResponseValid { elapsed: s(1) });
    }

    let chaos = observer.chaos("x").unwrap();
    for (i, (injection, _)) in injections().into_iter().enumerate() {
        for _ in 0..=i {
            chaos(&ChaosEvent::Injected { injection });
        }
    }
}

/// Every series [`feed`] leaves, with its value. Histograms nothing was recorded in are left
/// out (an export may or may not show them).
pub fn expected() -> BTreeMap<Series, Value> {
    use names::*;
    let mut e = BTreeMap::new();
    let secs = |n: u64| n as f64 * 0.5;
    let mut put = |name: &str, attrs: &[(&str, &str)], value: Value| {
        e.insert(series(name, attrs), value);
    };
    let r = ("steadfast.layer", "r");
    for (i, (_, o)) in outcomes().iter().enumerate() {
        let n = i as u64 + 1;
        put(RETRY_ATTEMPTS.name, &[r, (OUTCOME, o)], Value::Count(n));
        put(RETRY_RETRIES.name, &[r, (OUTCOME, o)], Value::Count(n));
        put(
            RETRY_ATTEMPT_DURATION.name,
            &[r, (OUTCOME, o)],
            Value::Histogram(n, n as f64 * secs(n)),
        );
    }
    for (i, (_, reason)) in stop_reasons().iter().enumerate() {
        put(
            RETRY_GIVE_UPS.name,
            &[r, (STOP_REASON, reason)],
            Value::Count(i as u64 + 1),
        );
    }
    for (i, end) in ["success", "failed", "gave_up"].iter().enumerate() {
        let n = i as u64 + 1;
        put(
            RETRY_REQUESTS.name,
            &[r, (REQUEST_END, end)],
            Value::Count(n),
        );
        put(
            RETRY_REQUEST_DURATION.name,
            &[r, (REQUEST_END, end)],
            Value::Histogram(n, n as f64 * secs(n)),
        );
    }
    put(RETRY_BUDGET_REJECTIONS.name, &[r], Value::Count(2));

    let b = ("steadfast.layer", "b");
    let states = [
        "closed",
        "open",
        "half_open",
        "forced_open",
        "disabled",
        "metrics_only",
    ];
    for state in states {
        let current = if state == "open" { 1.0 } else { 0.0 };
        put(
            BREAKER_STATUS.name,
            &[b, (STATE, state)],
            Value::Gauge(current),
        );
        for to in states {
            if to != state {
                let n = [
                    ("closed", "open"),
                    ("open", "half_open"),
                    ("half_open", "open"),
                ]
                .contains(&(state, to));
                put(
                    BREAKER_TRANSITIONS.name,
                    &[b, (FROM, state), (TO, to)],
                    Value::Count(n as u64),
                );
            }
        }
    }
    for (outcome, n) in [
        ("success", 2),
        ("failure", 3),
        ("slow", 1),
        ("invalid", 4),
        ("ignored", 5),
        ("rejected", 6),
    ] {
        put(
            BREAKER_CALLS.name,
            &[b, (OUTCOME, outcome)],
            Value::Count(n),
        );
    }
    for (outcome, n, each) in [("success", 1, 4), ("failure", 3, 2), ("invalid", 4, 1)] {
        put(
            BREAKER_CALL_DURATION.name,
            &[b, (OUTCOME, outcome)],
            Value::Histogram(n, n as f64 * secs(each)),
        );
    }

    let c = ("steadfast.layer", "c");
    put(
        CANCEL_REQUESTS.name,
        &[c, (OUTCOME, "success")],
        Value::Count(1),
    );
    put(
        CANCEL_REQUESTS.name,
        &[c, (OUTCOME, "failure")],
        Value::Count(2),
    );
    put(
        CANCEL_REQUESTS.name,
        &[c, (OUTCOME, "cancelled")],
        Value::Count(36),
    );
    put(
        CANCEL_REQUESTS.name,
        &[c, (OUTCOME, "dropped")],
        Value::Count(3),
    );
    put(
        CANCEL_REQUEST_DURATION.name,
        &[c, (OUTCOME, "dropped")],
        Value::Histogram(3, 3.0 * secs(3)),
    );
    put(
        CANCEL_REQUEST_DURATION.name,
        &[c, (OUTCOME, "success")],
        Value::Histogram(1, secs(2)),
    );
    put(
        CANCEL_REQUEST_DURATION.name,
        &[c, (OUTCOME, "failure")],
        Value::Histogram(2, 2.0 * secs(1)),
    );
    put(
        CANCEL_REQUEST_DURATION.name,
        &[c, (OUTCOME, "cancelled")],
        Value::Histogram(36, 36.0 * secs(1)),
    );
    for (i, (_, reason)) in cancel_reasons().iter().enumerate() {
        put(
            CANCEL_CANCELLATIONS.name,
            &[c, (CANCEL_REASON, reason)],
            Value::Count(i as u64 + 1),
        );
    }

    let v = ("steadfast.layer", "v");
    put(
        VALIDATE_FAILURES.name,
        &[v, (VALIDATE_TARGET, "request")],
        Value::Count(1),
    );
    put(
        VALIDATE_FAILURES.name,
        &[v, (VALIDATE_TARGET, "response")],
        Value::Count(2),
    );

    let x = ("steadfast.layer", "x");
    for (i, (_, kind)) in injections().iter().enumerate() {
        put(
            CHAOS_INJECTIONS.name,
            &[x, (INJECTION, kind)],
            Value::Count(i as u64 + 1),
        );
    }
    e
}

/// Compares what an export reported with [`expected`], series by series (histograms compared
/// by count and, to a rounding error, sum).
pub fn check(mut got: BTreeMap<Series, Value>) {
    got.retain(|_, v| *v != Value::Histogram(0, 0.0));
    let expected = expected();
    for (series, want) in &expected {
        let have = got.get(series);
        let same = match (want, have) {
            (Value::Histogram(n, sum), Some(Value::Histogram(m, total))) => {
                n == m && (sum - total).abs() < 1e-9
            }
            (want, Some(have)) => want == have,
            (_, None) => false,
        };
        assert!(same, "{series:?}: expected {want:?}, got {have:?}");
    }
    let extra: Vec<_> = got.keys().filter(|k| !expected.contains_key(*k)).collect();
    assert!(extra.is_empty(), "series not expected: {extra:?}");
    // Every series carries exactly its instrument's attribute keys.
    for (name, attributes) in got.keys() {
        let instrument = names::ALL.iter().find(|i| i.name == name).unwrap();
        let mut keys: Vec<&str> = attributes.iter().map(|(k, _)| k.as_str()).collect();
        let mut want = instrument.attributes.to_vec();
        keys.sort();
        want.sort();
        assert_eq!(keys, want, "{name}");
    }
}

/// The names of the layers of [`run_stack`]'s stack.
pub mod layer {
    pub const CANCEL: &str = "edge";
    pub const RETRY: &str = "payments";
    pub const BREAKER: &str = "payments-db";
    pub const VALIDATE: &str = "payments-check";
    pub const CHAOS: &str = "rehearsal";
}

/// Drives a real stack, every layer watched by `observer`, on tokio's paused clock: a cancel
/// layer (timeout 1 s) over a retry layer (2 attempts, 100 ms apart, a retry budget of 3
/// tokens) over a circuit breaker (open after 3 failures in a row) over a validate layer
/// (requests under 100, responses not 0) over a chaos layer (a fault and 50 ms of latency on
/// every request while its switch is on) over a scripted service. See [`stack_expected`]
/// for what each request does.
pub fn run_stack(observer: std::sync::Arc<dyn Observer>) {
    use std::sync::Arc;
    use steadfast::cancel::CancelLayer;
    use steadfast::chaos::{ChaosLayer, ChaosSwitch, FaultInjection, LatencyInjection};
    use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
    use steadfast::retry::{Backoff, RetryLayer, RetryPolicy, TokenBucket};
    use steadfast::validate::{ensure, ValidateLayer};
    use steadfast_test::{Reply, Scripted};
    use tower::{Layer, Service, ServiceExt};

    let ms = Duration::from_millis;
    let cancel = CancelLayer::builder()
        .name(layer::CANCEL)
        .timeout(Duration::from_secs(1))
        .observe(observer.clone())
        .build()
        .unwrap();
    let budget = TokenBucket::builder()
        .capacity(3)
        .retry_cost(1)
        .success_refund(0)
        .build()
        .unwrap();
    let retry = RetryPolicy::builder()
        .name(layer::RETRY)
        .max_attempts(2)
        .backoff(Backoff::constant(ms(100)))
        .budget(Arc::new(budget))
        .observe(observer.clone())
        .build()
        .unwrap();
    let breaker = CircuitBreaker::builder()
        .name(layer::BREAKER)
        .consecutive_failures(3)
        .open_for(Duration::from_secs(60))
        .observe(observer.clone())
        .build()
        .unwrap();
    let validate = ValidateLayer::builder()
        .name(layer::VALIDATE)
        .request(ensure("too big", |n: &u32| *n < 100))
        .response(ensure("zero", |n: &u32| *n != 0))
        .observe(observer.clone())
        .build()
        .unwrap();
    let switch = ChaosSwitch::new(false);
    let chaos = ChaosLayer::<u32, u32>::builder()
        .name(layer::CHAOS)
        .switch(switch.clone())
        .latency(LatencyInjection::fixed(ms(50)).rate(1.0))
        .fault(FaultInjection::chaos().rate(1.0))
        .observe(observer)
        .build()
        .unwrap();
    let inner = Scripted::<u32, u32>::new([
        Reply::err("busy").after(ms(10)),
        Reply::ok(1).after(ms(20)),
        Reply::ok(0).after(ms(5)),
        Reply::ok(2).after(ms(15)),
        Reply::Hang,
        Reply::Hang,
    ]);
    let svc = cancel.layer(RetryLayer::new(retry).layer(
        CircuitBreakerLayer::new(breaker).layer(validate.layer(chaos.layer(inner.clone()))),
    ));

    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(async move {
            // 1. Fails after 10 ms, retried 100 ms later (a budget token), answered after 20 ms.
            assert_eq!(svc.clone().oneshot(1).await.unwrap(), 1);
            // 2. An invalid answer (0) after 5 ms, retried (a token), answered after 15 ms.
            assert_eq!(svc.clone().oneshot(2).await.unwrap(), 2);
            // 3. An invalid request: refused before the service, neither retried nor counted
            //    by the breaker.
            svc.clone().oneshot(300).await.unwrap_err();
            // 4. The service hangs: the cancel layer's timeout fires after 1 s. The retry
            //    layer's request is dropped with it, and ends in none of its instruments.
            svc.clone().oneshot(4).await.unwrap_err();
            // 5. The service hangs: its caller drops the request after 200 ms.
            let mut caller = svc.clone();
            let call = caller.ready().await.unwrap().call(5);
            tokio::time::timeout(ms(200), call).await.unwrap_err();
            // 6. Chaos on: every attempt waits 50 ms and fails. Two attempts 100 ms apart (the
            //    last token), and the attempts run out.
            switch.turn_on();
            svc.clone().oneshot(6).await.unwrap_err();
            // 7. One attempt: the budget refuses its retry. The breaker opens on this third
            //    failure in a row.
            svc.clone().oneshot(7).await.unwrap_err();
            switch.turn_off();
            // 8. The open breaker rejects the call, which is not retried.
            svc.clone().oneshot(8).await.unwrap_err();
        });
    assert_eq!(inner.calls(), 6);
}

/// Every series [`run_stack`] leaves with a value other than zero, with its value (and every
/// series of the breaker's status, 0 or 1).
pub fn stack_expected() -> BTreeMap<Series, Value> {
    use names::*;
    let mut e = BTreeMap::new();
    let mut put = |name: &str, attrs: &[(&str, &str)], value: Value| {
        e.insert(series(name, attrs), value);
    };
    let count = Value::Count;
    // A histogram of `n` values summing to `ms` milliseconds.
    let hist = |n: u64, ms: u64| Value::Histogram(n, ms as f64 / 1000.0);

    let r = (LAYER, layer::RETRY);
    let attempts = [
        // 1 and 6 (twice) and 7: 10 ms, then three times 50 ms of injected latency.
        ("retryable", 4, 160),
        // 1 and 2: 20 ms and 15 ms.
        ("success", 2, 35),
        // 2: an invalid answer after 5 ms.
        ("invalid", 1, 5),
        // 3: a request the validate layer refused.
        ("ignored", 1, 0),
        // 8: the open breaker's rejection.
        ("non_retryable", 1, 0),
    ];
    for (outcome, n, ms) in attempts {
        put(RETRY_ATTEMPTS.name, &[r, (OUTCOME, outcome)], count(n));
        put(
            RETRY_ATTEMPT_DURATION.name,
            &[r, (OUTCOME, outcome)],
            hist(n, ms),
        );
    }
    // 1 and 2: 130 ms and 120 ms; 3 and 8 at once; 6 (200 ms) and 7 (50 ms).
    for (end, n, ms) in [("success", 2, 250), ("failed", 2, 0), ("gave_up", 2, 250)] {
        put(RETRY_REQUESTS.name, &[r, (REQUEST_END, end)], count(n));
        put(
            RETRY_REQUEST_DURATION.name,
            &[r, (REQUEST_END, end)],
            hist(n, ms),
        );
    }
    put(RETRY_RETRIES.name, &[r, (OUTCOME, "retryable")], count(2));
    put(RETRY_RETRIES.name, &[r, (OUTCOME, "invalid")], count(1));
    for reason in ["attempts_exhausted", "budget_exhausted"] {
        put(RETRY_GIVE_UPS.name, &[r, (STOP_REASON, reason)], count(1));
    }
    put(RETRY_BUDGET_REJECTIONS.name, &[r], count(1));

    let b = (LAYER, layer::BREAKER);
    for state in STATES {
        let current = if state == "open" { 1.0 } else { 0.0 };
        put(
            BREAKER_STATUS.name,
            &[b, (STATE, state)],
            Value::Gauge(current),
        );
    }
    put(
        BREAKER_TRANSITIONS.name,
        &[b, (FROM, "closed"), (TO, "open")],
        count(1),
    );
    for (outcome, n) in [
        ("success", 2),
        ("failure", 4),
        ("invalid", 1),
        ("ignored", 1),
        ("rejected", 1),
    ] {
        put(BREAKER_CALLS.name, &[b, (OUTCOME, outcome)], count(n));
    }

    let c = (LAYER, layer::CANCEL);
    // 1 and 2; 3, 6, 7 and 8; 4; 5.
    for (outcome, n, ms) in [
        ("success", 2, 250),
        ("failure", 4, 250),
        ("cancelled", 1, 1000),
        ("dropped", 1, 200),
    ] {
        put(CANCEL_REQUESTS.name, &[c, (OUTCOME, outcome)], count(n));
        put(
            CANCEL_REQUEST_DURATION.name,
            &[c, (OUTCOME, outcome)],
            hist(n, ms),
        );
    }
    put(
        CANCEL_CANCELLATIONS.name,
        &[c, (CANCEL_REASON, "timeout")],
        count(1),
    );

    let v = (LAYER, layer::VALIDATE);
    for target in VALIDATE_TARGETS {
        put(
            VALIDATE_FAILURES.name,
            &[v, (VALIDATE_TARGET, target)],
            count(1),
        );
    }

    let x = (LAYER, layer::CHAOS);
    for injection in ["latency", "fault"] {
        put(
            CHAOS_INJECTIONS.name,
            &[x, (INJECTION, injection)],
            count(3),
        );
    }
    e
}

/// Compares what an export reported for [`run_stack`] with [`stack_expected`]: the same
/// series, the same values (histograms by count and, to a rounding error, sum). Series left
/// at zero are not compared.
pub fn check_stack(mut got: BTreeMap<Series, Value>) {
    got.retain(|_, v| !matches!(v, Value::Count(0) | Value::Histogram(0, _)));
    let want = stack_expected();
    for (series, w) in &want {
        let have = got.get(series);
        let same = match (w, have) {
            (Value::Histogram(n, sum), Some(Value::Histogram(m, total))) => {
                n == m && (sum - total).abs() < 1e-9
            }
            (w, Some(have)) => w == have,
            (_, None) => false,
        };
        assert!(same, "{series:?}: expected {w:?}, got {have:?}");
    }
    let extra: Vec<_> = got.iter().filter(|(k, _)| !want.contains_key(*k)).collect();
    assert!(extra.is_empty(), "series not expected: {extra:?}");
}
