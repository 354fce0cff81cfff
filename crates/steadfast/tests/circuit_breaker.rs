//! The circuit breaker's state machine, rule by rule, on tokio's paused clock.

#![cfg(all(feature = "cancel", feature = "circuit-breaker"))]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::backoff::Backoff;
use steadfast::circuit_breaker::{
    BreakerEvent, CircuitBreaker, CircuitBreakerBuilder, CircuitBreakerLayer, CircuitState,
    HalfOpenRule, Registry, Rejected, SlidingWindow, TransitionReason,
};
use steadfast::classify::{Attempt, Outcome};
use steadfast::token::{CancelReason, CancelToken, HasCancelToken};
use steadfast::BoxError;
use steadfast_test::{Reply, Scripted, TestError};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn breaker(f: impl FnOnce(CircuitBreakerBuilder) -> CircuitBreakerBuilder) -> CircuitBreaker {
    f(CircuitBreaker::builder().name("test")).build().unwrap()
}

type Svc = steadfast::circuit_breaker::CircuitBreakerService<Scripted<u32>>;

fn guard(b: &CircuitBreaker, svc: &Scripted<u32>) -> Svc {
    CircuitBreakerLayer::new(b.clone()).layer(svc.clone())
}

/// Sends `n` calls and returns how many were rejected by the breaker.
async fn send(svc: &Svc, n: usize) -> usize {
    let mut rejected = 0;
    for _ in 0..n {
        if let Err(e) = svc.clone().oneshot(()).await {
            if e.is::<Rejected>() {
                rejected += 1;
            }
        }
    }
    rejected
}

fn flaky(pattern: &[bool]) -> Scripted<u32> {
    Scripted::new(
        pattern
            .iter()
            .map(|ok| {
                if *ok {
                    Reply::ok(1)
                } else {
                    Reply::err("boom")
                }
            })
            .collect::<Vec<_>>(),
    )
}

#[tokio::test(start_paused = true)]
async fn trips_on_failure_rate_once_minimum_calls_are_seen() {
    let b = breaker(|b| {
        b.failure_rate(50.0)
            .minimum_calls(4)
            .window(SlidingWindow::count(10))
    });
    // Three failures out of three: below the minimum, no trip.
    let svc = flaky(&[false, false, false, true, false, true, true]);
    let s = guard(&b, &svc);
    send(&s, 3).await;
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().failure_rate, None);
    // The fourth call succeeds: 3/4 = 75% but the trip is only judged on a failure or slow call.
    send(&s, 1).await;
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().failure_rate, Some(75.0));
    // A failure at 4/5 = 80%: trip.
    send(&s, 1).await;
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(send(&s, 5).await, 5);
    assert_eq!(svc.calls(), 5, "rejected calls never reach the service");
}

#[tokio::test(start_paused = true)]
async fn does_not_trip_below_the_rate() {
    let b = breaker(|b| {
        b.failure_rate(50.0)
            .minimum_calls(4)
            .window(SlidingWindow::count(4))
    });
    // One failure in every four calls: 25% in every window.
    let svc = flaky(&[
        true, true, true, false, true, true, true, false, true, true, true, false,
    ]);
    send(&guard(&b, &svc), 12).await;
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().window_failures, 1);
}

#[tokio::test(start_paused = true)]
async fn trips_on_consecutive_failures_regardless_of_the_window() {
    let b = breaker(|b| {
        b.no_failure_rate()
            .consecutive_failures(3)
            .minimum_calls(100)
    });
    let svc = flaky(&[false, false, true, false, false, false]);
    let s = guard(&b, &svc);
    send(&s, 5).await;
    assert_eq!(b.state(), CircuitState::Closed, "a success resets the run");
    send(&s, 1).await;
    assert_eq!(b.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn trips_on_slow_call_rate() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let b = breaker(|b| {
        let events = events.clone();
        b.no_failure_rate()
            .slow_call_rate(50.0, ms(100))
            .minimum_calls(2)
            .window(SlidingWindow::count(4))
            .on_event(move |e| {
                if let BreakerEvent::StateTransition { reason, .. } = e {
                    events.lock().unwrap().push(*reason);
                }
            })
    });
    let svc = Scripted::new([
        Reply::ok(1).after(ms(10)),
        Reply::ok(1).after(ms(150)),
        Reply::ok(1),
    ]);
    let s = guard(&b, &svc);
    send(&s, 1).await;
    assert_eq!(b.state(), CircuitState::Closed);
    send(&s, 1).await;
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(
        *events.lock().unwrap(),
        [TransitionReason::SlowCallRate { rate: 50.0 }]
    );
    let m = b.metrics();
    assert_eq!((m.successes, m.failures, m.slow), (2, 0, 1));
}

/// A call is slow when it takes longer than the threshold (as in resilience4j): one that takes
/// exactly the threshold is not.
#[tokio::test(start_paused = true)]
async fn slow_means_longer_than_the_threshold() {
    let b = breaker(|b| {
        b.no_failure_rate()
            .slow_call_rate(50.0, ms(100))
            .minimum_calls(1)
            .window(SlidingWindow::count(4))
    });
    let svc = Scripted::new([Reply::ok(1).after(ms(100)), Reply::ok(1).after(ms(101))]);
    let s = guard(&b, &svc);
    send(&s, 1).await;
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!((b.metrics().slow, b.metrics().window_slow), (0, 0));
    send(&s, 1).await;
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(b.metrics().slow, 1);
}

#[tokio::test(start_paused = true)]
async fn open_rejects_with_time_to_probe_then_half_open_closes_after_successes() {
    let b = breaker(|b| {
        b.consecutive_failures(1)
            .open_for(secs(10))
            .success_threshold(2)
            .half_open_max_calls(2)
    });
    let svc = Scripted::new([Reply::err("down"), Reply::ok(1), Reply::ok(2), Reply::ok(3)]);
    let s = guard(&b, &svc);
    send(&s, 1).await;
    assert_eq!(b.state(), CircuitState::Open);

    tokio::time::advance(secs(4)).await;
    let err = s.clone().oneshot(()).await.unwrap_err();
    let rejected = err.downcast_ref::<Rejected>().unwrap();
    assert_eq!(rejected.retry_after(), Some(secs(6)));
    assert_eq!(rejected.name(), "test");
    assert_eq!(
        rejected.to_string(),
        "circuit breaker 'test' is open; next probe in 6s"
    );

    tokio::time::advance(secs(6)).await;
    assert_eq!(s.clone().oneshot(()).await.unwrap(), 1);
    assert_eq!(b.state(), CircuitState::HalfOpen);
    assert_eq!(s.clone().oneshot(()).await.unwrap(), 2);
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(s.clone().oneshot(()).await.unwrap(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_reopens_and_open_time_escalates() {
    let transitions = Arc::new(Mutex::new(Vec::new()));
    let b = breaker(|b| {
        let t = transitions.clone();
        b.consecutive_failures(1)
            .open_backoff(Backoff::exponential(secs(1)))
            .on_event(move |e| {
                if let BreakerEvent::StateTransition { from, to, .. } = e {
                    t.lock().unwrap().push((*from, *to, Instant::now()));
                }
            })
    });
    let svc = Scripted::<u32>::new([]).then_always(Reply::err("down"));
    let s = guard(&b, &svc);
    let start = Instant::now();
    send(&s, 1).await; // trip 1: open 1 s
    tokio::time::advance(secs(1)).await;
    send(&s, 1).await; // probe fails: trip 2, open 2 s
    assert_eq!(b.state(), CircuitState::Open);
    let err = s.clone().oneshot(()).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<Rejected>().unwrap().retry_after(),
        Some(secs(2))
    );
    tokio::time::advance(secs(2)).await;
    send(&s, 1).await; // trip 3: open 4 s
    let err = s.clone().oneshot(()).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<Rejected>().unwrap().retry_after(),
        Some(secs(4))
    );
    let t = transitions.lock().unwrap().clone();
    let seq: Vec<_> = t.iter().map(|(f, to, at)| (*f, *to, *at - start)).collect();
    use CircuitState::*;
    assert_eq!(
        seq,
        [
            (Closed, Open, secs(0)),
            (Open, HalfOpen, secs(1)),
            (HalfOpen, Open, secs(1)),
            (Open, HalfOpen, secs(3)),
            (HalfOpen, Open, secs(3)),
        ]
    );
    assert_eq!(b.metrics().trips, 3);

    // A manual close keeps the escalation: the next trip is the fourth in a row.
    b.close();
    send(&s, 1).await;
    let err = s.clone().oneshot(()).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<Rejected>().unwrap().retry_after(),
        Some(secs(8)),
    );
    b.reset();
    send(&s, 1).await;
    let err = s.clone().oneshot(()).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<Rejected>().unwrap().retry_after(),
        Some(secs(1)),
        "a reset clears it"
    );
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_at_most_n_probes_and_dropped_probes_free_their_slot() {
    let b = breaker(|b| {
        b.consecutive_failures(1)
            .open_for(secs(1))
            .half_open_max_calls(2)
            .success_threshold(2)
    });
    let svc = Scripted::new([Reply::err("down")]).then_always(Reply::Hang);
    let mut s = guard(&b, &svc);
    send(&s, 1).await;
    tokio::time::advance(secs(1)).await;

    let p1 = s.ready().await.unwrap().call(());
    let p2 = s.ready().await.unwrap().call(());
    let err = s.clone().oneshot(()).await.unwrap_err();
    let rejected = err.downcast_ref::<Rejected>().unwrap();
    assert_eq!(rejected.state(), CircuitState::HalfOpen);
    assert_eq!(rejected.retry_after(), None);

    // A probe whose caller gives up (its future is dropped) gives its slot back.
    drop(p1);
    let p3 = s.ready().await.unwrap().call(());
    assert!(s.clone().oneshot(()).await.unwrap_err().is::<Rejected>());
    drop((p2, p3));
    assert_eq!(b.state(), CircuitState::HalfOpen);
    assert!(b.check().is_ok(), "both slots are free again");
}

#[tokio::test(start_paused = true)]
async fn max_half_open_time_reopens() {
    let b = breaker(|b| {
        b.consecutive_failures(1)
            .open_for(secs(1))
            .max_half_open(secs(5))
    });
    let svc = Scripted::new([Reply::err("down")]).then_always(Reply::Hang);
    let mut s = guard(&b, &svc);
    send(&s, 1).await;
    tokio::time::advance(secs(1)).await;
    let _stuck_probe = s.ready().await.unwrap().call(());
    assert_eq!(b.state(), CircuitState::HalfOpen);
    tokio::time::advance(secs(6)).await;
    let err = s.clone().oneshot(()).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<Rejected>().unwrap().state(),
        CircuitState::Open
    );
}

/// State transitions seen: from, to, why.
type Transitions = Arc<Mutex<Vec<(CircuitState, CircuitState, TransitionReason)>>>;

/// Collects the breaker's state transitions.
fn transitions() -> (
    Transitions,
    impl Fn(&BreakerEvent<'_>) + Send + Sync + 'static,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    (seen, move |e: &BreakerEvent<'_>| {
        if let BreakerEvent::StateTransition {
            from, to, reason, ..
        } = e
        {
            sink.lock().unwrap().push((*from, *to, *reason));
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_hung_probe_reopens_after_the_default_max_half_open() {
    let (seen, listener) = transitions();
    // Default half-open settings: one probe, no max_half_open given.
    let b = breaker(|b| {
        b.consecutive_failures(1)
            .open_for(secs(1))
            .on_event(listener)
    });
    let svc = Scripted::new([Reply::err("down")]).then_always(Reply::Hang);
    let mut s = guard(&b, &svc);
    send(&s, 1).await;
    tokio::time::advance(secs(1)).await;
    let _hung = s.ready().await.unwrap().call(());
    tokio::time::advance(secs(60)).await;
    let err = s.clone().oneshot(()).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<Rejected>().unwrap().state(),
        CircuitState::HalfOpen,
        "60 s is not yet over the bound"
    );
    tokio::time::advance(ms(1)).await;
    let err = s.clone().oneshot(()).await.unwrap_err();
    let rejected = err.downcast_ref::<Rejected>().unwrap();
    assert_eq!(rejected.state(), CircuitState::Open);
    assert_eq!(rejected.retry_after(), Some(secs(1)));
    let m = b.metrics();
    assert_eq!((m.half_open_timeouts, m.trips), (1, 2));
    assert_eq!(
        seen.lock().unwrap().last(),
        Some(&(
            CircuitState::HalfOpen,
            CircuitState::Open,
            TransitionReason::HalfOpenTimeout
        ))
    );
    assert_eq!(
        TransitionReason::HalfOpenTimeout.to_string(),
        "a probe still out after the half-open time limit"
    );

    // The next period probes again; the hung probe's late answer would count for nothing.
    tokio::time::advance(secs(1)).await;
    let _hung_again = s.ready().await.unwrap().call(());
    assert_eq!(b.state(), CircuitState::HalfOpen);
}

#[tokio::test(start_paused = true)]
async fn max_half_open_does_not_reopen_without_a_probe_out() {
    let b = breaker(|b| {
        b.consecutive_failures(1)
            .open_for(secs(1))
            .max_half_open(secs(5))
    });
    let svc = Scripted::new([Reply::err("down"), Reply::Hang, Reply::ok(1)]);
    let mut s = guard(&b, &svc);
    send(&s, 1).await;
    tokio::time::advance(secs(1)).await;
    // The probe's caller gives up: its permit goes back, nothing is out.
    drop(s.ready().await.unwrap().call(()));
    tokio::time::advance(secs(60)).await;
    assert_eq!(
        s.clone().oneshot(()).await.unwrap(),
        1,
        "probes, not reopens"
    );
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().half_open_timeouts, 0);
}

#[tokio::test(start_paused = true)]
async fn half_open_permits_are_a_total_for_the_period() {
    let b = breaker(|b| {
        b.consecutive_failures(1)
            .open_for(secs(1))
            .half_open_max_calls(2)
            .success_threshold(2)
    });
    let svc = Scripted::new([Reply::err("down"), Reply::ok(1)]).then_always(Reply::Hang);
    let mut s = guard(&b, &svc);
    send(&s, 1).await;
    tokio::time::advance(secs(1)).await;
    // The first probe answers at once; the second hangs. Only one probe is out, but the
    // period's two permits are spent: a third call must not reach the downstream.
    assert_eq!(s.clone().oneshot(()).await.unwrap(), 1);
    let _second = s.ready().await.unwrap().call(());
    let third = tokio::time::timeout(secs(1), s.clone().oneshot(())).await;
    let err = third.expect("rejected at once, not sent").unwrap_err();
    let rejected = err.downcast_ref::<Rejected>().unwrap();
    assert_eq!(rejected.state(), CircuitState::HalfOpen);
    assert_eq!(rejected.retry_after(), None);
    assert_eq!(
        rejected.to_string(),
        "circuit breaker 'test' is half-open; every probe slot is taken"
    );
    assert_eq!(svc.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn half_open_rates_rule_judges_all_permitted_calls() {
    let (seen, listener) = transitions();
    let b = breaker(|b| {
        b.failure_rate(50.0)
            .minimum_calls(1)
            .window(SlidingWindow::count(1))
            .open_for(secs(1))
            .half_open_max_calls(4)
            .half_open_rule(HalfOpenRule::Rates)
            .on_event(listener)
    });
    let svc = flaky(&[false, true, false, true, true, false, false]);
    let s = guard(&b, &svc);
    send(&s, 1).await;
    assert_eq!(b.state(), CircuitState::Open);
    tokio::time::advance(secs(1)).await;
    // One failure in four: 25%, under the threshold. A failure does not reopen at once.
    send(&s, 2).await;
    assert_eq!(b.state(), CircuitState::HalfOpen);
    send(&s, 1).await;
    assert_eq!(b.state(), CircuitState::HalfOpen, "decided after all four");
    send(&s, 1).await;
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(
        seen.lock().unwrap().last().unwrap().2,
        TransitionReason::ProbeRates {
            failure_rate: 25.0,
            slow_call_rate: 0.0
        }
    );

    b.isolate(Duration::ZERO);
    // Two failures of four reach 50% whatever the other two do: reopens at once.
    assert_eq!(send(&s, 2).await, 0);
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(
        seen.lock().unwrap().last().unwrap().2,
        TransitionReason::FailureRate { rate: 50.0 }
    );
    assert_eq!(svc.calls(), 7);
}

#[tokio::test(start_paused = true)]
async fn half_open_rates_rule_counts_slow_probes() {
    let b = breaker(|b| {
        b.no_failure_rate()
            .slow_call_rate(50.0, secs(1))
            .minimum_calls(1)
            .window(SlidingWindow::count(1))
            .half_open_max_calls(2)
            .half_open_rule(HalfOpenRule::Rates)
    });
    let svc = Scripted::new([Reply::ok(1).after(secs(2)), Reply::ok(2)]);
    let s = guard(&b, &svc);
    b.isolate(Duration::ZERO);
    s.clone().oneshot(()).await.unwrap();
    // One slow call of two is 50%: certain before the second permit is used.
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(b.metrics().slow, 1);
}

#[test]
fn half_open_settings_that_cannot_work_are_rejected() {
    let e = CircuitBreaker::builder()
        .half_open_max_calls(2)
        .success_threshold(3)
        .build()
        .unwrap_err();
    assert_eq!(e.field(), "success_threshold");
    assert_eq!(
        e.to_string(),
        "invalid circuit breaker configuration: `success_threshold` must not exceed half_open_max_calls, the calls one half-open period lets through (3 > 2)"
    );
    let e = CircuitBreaker::builder()
        .no_failure_rate()
        .consecutive_failures(3)
        .half_open_rule(HalfOpenRule::Rates)
        .build()
        .unwrap_err();
    assert_eq!(e.field(), "half_open_rule");
    // Without half_open_max_calls, the permits follow success_threshold.
    assert!(CircuitBreaker::builder()
        .success_threshold(5)
        .build()
        .is_ok());
    // The rate rule does not use success_threshold.
    assert!(CircuitBreaker::builder()
        .half_open_max_calls(2)
        .success_threshold(3)
        .half_open_rule(HalfOpenRule::Rates)
        .build()
        .is_ok());
}

#[tokio::test(start_paused = true)]
async fn results_from_an_older_generation_are_not_counted() {
    let b = breaker(|b| b.consecutive_failures(1));
    let svc = Scripted::<u32>::new([Reply::err("late").after(secs(5))]);
    let mut s = guard(&b, &svc);
    let slow = tokio::spawn(s.ready().await.unwrap().call(()));
    tokio::time::advance(secs(1)).await;
    // The breaker changes state (and generation) while the call is in flight.
    b.force_open();
    b.close();
    assert!(slow.await.unwrap().is_err());
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "the late failure was discarded"
    );
    assert_eq!(b.metrics().failures, 0);
}

#[tokio::test(start_paused = true)]
async fn forced_disabled_and_metrics_only_states() {
    let b = breaker(|b| b.consecutive_failures(1));
    let svc = Scripted::<u32>::new([]).then_always(Reply::err("down"));
    let s = guard(&b, &svc);

    b.force_open();
    assert_eq!(send(&s, 3).await, 3);
    let err = s.clone().oneshot(()).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<Rejected>().unwrap().to_string(),
        "circuit breaker 'test' is forced open"
    );

    b.disable();
    assert_eq!(send(&s, 3).await, 0);
    assert_eq!(b.state(), CircuitState::Disabled);
    assert_eq!(b.metrics().failures, 0, "disabled records nothing");

    b.metrics_only();
    assert_eq!(send(&s, 3).await, 0);
    assert_eq!(b.state(), CircuitState::MetricsOnly, "never trips");
    assert_eq!(b.metrics().failures, 3);

    b.isolate(secs(30));
    let err = s.clone().oneshot(()).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<Rejected>().unwrap().retry_after(),
        Some(secs(30))
    );
    assert_eq!(svc.calls(), 6);
}

#[tokio::test(start_paused = true)]
async fn starts_in_the_configured_state() {
    let b = breaker(|b| {
        b.consecutive_failures(1)
            .initial_state(CircuitState::ForcedOpen)
    });
    assert_eq!(b.state(), CircuitState::ForcedOpen);
    let e = CircuitBreaker::builder()
        .initial_state(CircuitState::HalfOpen)
        .build()
        .unwrap_err();
    assert_eq!(e.field(), "initial_state");
}

#[tokio::test(start_paused = true)]
async fn a_registry_shares_one_breaker_by_name() {
    let registry = Registry::new();
    let svc_a = Scripted::<u32>::new([]).then_always(Reply::err("down"));
    let svc_b = Scripted::<u32>::new([]).then_always(Reply::ok(1));
    let a = guard(
        &registry
            .get_or_build("db", |b| b.consecutive_failures(2))
            .unwrap(),
        &svc_a,
    );
    let b = guard(&registry.get_or_build("db", |b| b).unwrap(), &svc_b);
    send(&a, 2).await;
    // Another service naming the same breaker sees it open.
    assert_eq!(send(&b, 1).await, 1);
    assert_eq!(svc_b.calls(), 0);
    assert_eq!(registry.get("db").unwrap().state(), CircuitState::Open);
    assert!(registry.get("other").is_none());
    assert_eq!(registry.breakers().len(), 1);
    assert!(registry.remove("db").is_some());
    assert!(registry.names().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_fallback_answers_rejected_calls() {
    let b = breaker(|b| b.consecutive_failures(1));
    b.force_open();
    let svc = Scripted::<u32>::new([]);
    let s = CircuitBreakerLayer::new(b.clone())
        .fallback(|_req: (), rejected: &Rejected| {
            assert_eq!(rejected.state(), CircuitState::ForcedOpen);
            Ok::<u32, BoxError>(0)
        })
        .layer(svc.clone());
    assert_eq!(s.oneshot(()).await.unwrap(), 0);
    assert_eq!(svc.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn backpressure_mode_waits_in_poll_ready() {
    let b = breaker(|b| b.consecutive_failures(1).open_for(secs(10)));
    let svc = Scripted::new([Reply::err("down"), Reply::ok(7)]);
    let s = CircuitBreakerLayer::new(b.clone())
        .backpressure(secs(1))
        .layer(svc.clone());
    assert!(s.clone().oneshot(()).await.is_err());
    assert_eq!(b.state(), CircuitState::Open);
    let start = Instant::now();
    // Instead of failing fast, the call waits until the open time is over and probes.
    assert_eq!(s.clone().oneshot(()).await.unwrap(), 7);
    assert_eq!(start.elapsed(), secs(10));
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(
        b.metrics().rejections,
        0,
        "waiting in poll_ready is not a rejection"
    );
}

#[tokio::test(start_paused = true)]
async fn backpressure_readiness_does_not_outlive_a_trip() {
    let b = breaker(|b| b.consecutive_failures(1));
    let svc = Scripted::new([Reply::ok(1)]);
    let mut s = CircuitBreakerLayer::new(b.clone())
        .backpressure(secs(1))
        .layer(svc.clone());
    // Ready while closed, then the breaker opens before the call.
    s.ready().await.unwrap();
    b.force_open();
    let err = s.call(()).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<Rejected>().unwrap().state(),
        CircuitState::ForcedOpen
    );
    assert_eq!(svc.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn backpressure_gives_back_a_probe_permit_it_does_not_use() {
    let b = breaker(|b| b.consecutive_failures(1).open_for(secs(1)));
    let svc = Scripted::new([Reply::ok(1), Reply::ok(2)]);
    let layer = CircuitBreakerLayer::new(b.clone()).backpressure(ms(100));
    let mut readied = layer.layer(svc.clone());
    let mut other = layer.layer(svc.clone());
    b.isolate(Duration::ZERO);
    // `readied` takes the period's only permit, and is never called.
    readied.ready().await.unwrap();
    assert_eq!(b.state(), CircuitState::HalfOpen);
    // A clone does not carry the permit with it.
    let mut clone = readied.clone();
    let waiting = tokio::time::timeout(secs(1), clone.ready()).await;
    assert!(waiting.is_err(), "the clone waits for a permit of its own");
    // The readiness ends with the period: the permit is not used for a later one.
    b.isolate(Duration::ZERO);
    assert_eq!(other.ready().await.unwrap().call(()).await.unwrap(), 1);
    assert_eq!(b.state(), CircuitState::Closed);
    b.isolate(Duration::ZERO);
    // Polled again, `readied` gives back its stale permit and probes in the new period.
    assert_eq!(readied.ready().await.unwrap().call(()).await.unwrap(), 2);
    assert_eq!(b.state(), CircuitState::Closed, "its probe counted");
    // Dropping a readied service gives its permit back at once.
    b.isolate(Duration::ZERO);
    readied.ready().await.unwrap();
    drop(readied);
    assert!(b.check().is_ok());
    assert_eq!(b.metrics().rejections, 0);
}

#[tokio::test(start_paused = true)]
async fn huge_durations_saturate_instead_of_panicking() {
    let never = Duration::MAX;
    // Backpressure against a forced-open breaker waits "forever" instead of overflowing.
    let b = breaker(|b| b.consecutive_failures(1));
    b.force_open();
    let svc = Scripted::<u32>::new([Reply::ok(1)]);
    let mut s = CircuitBreakerLayer::new(b.clone())
        .backpressure(never)
        .layer(svc.clone());
    assert!(tokio::time::timeout(secs(3600), s.ready()).await.is_err());
    assert_eq!(svc.calls(), 0);
    // Zero rechecks at least every millisecond instead of spinning.
    let mut s = CircuitBreakerLayer::new(b.clone())
        .backpressure(Duration::ZERO)
        .layer(svc.clone());
    assert!(tokio::time::timeout(secs(1), s.ready()).await.is_err());
    b.close();

    // An open time of `Duration::MAX`, by setting, by hand, or by backoff.
    let b = breaker(|b| b.consecutive_failures(1).open_for(never));
    let svc = Scripted::<u32>::new([]).then_always(Reply::err("down"));
    let s = guard(&b, &svc);
    send(&s, 1).await;
    let err = s.clone().oneshot(()).await.unwrap_err();
    let rejected = err.downcast_ref::<Rejected>().unwrap();
    assert!(rejected.retry_after().unwrap() > secs(86_400 * 365 * 500));
    assert!(rejected
        .to_string()
        .starts_with("circuit breaker 'test' is open"));
    b.isolate(never);
    assert!(s.clone().oneshot(()).await.unwrap_err().is::<Rejected>());
    let b = breaker(|b| {
        b.consecutive_failures(1).open_backoff(
            Backoff::exponential(never)
                .max(never)
                .jitter(steadfast::backoff::Jitter::Proportional(0.5)),
        )
    });
    let s = guard(&b, &svc);
    send(&s, 1).await;
    b.isolate(Duration::ZERO);
    send(&s, 1).await; // the probe fails: the second trip in a row
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(b.metrics().trips, 3);

    // A slow-call threshold of `Duration::MAX`: no call is slow.
    let b = breaker(|b| b.slow_call_rate(50.0, never).minimum_calls(1));
    let s = guard(&b, &Scripted::new([Reply::ok(1).after(secs(10))]));
    s.oneshot(()).await.unwrap();
    assert_eq!(b.metrics().slow, 0);
}

#[tokio::test(start_paused = true)]
async fn a_keyed_idle_timeout_beyond_u64_nanoseconds_is_never() {
    use steadfast::circuit_breaker::KeyedBreakers;
    // 2^64 + 1 ns: cut to 64 bits, it would be 1 ns.
    let keyed = KeyedBreakers::<u32>::builder(CircuitBreaker::builder)
        .idle_timeout(Duration::new(18_446_744_073, 709_551_617))
        .build()
        .unwrap();
    keyed.get(&1).unwrap();
    tokio::time::advance(secs(1)).await;
    assert_eq!(keyed.evict_idle(), 0);
    assert_eq!(keyed.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_max_half_open_beyond_u64_nanoseconds_is_unbounded() {
    // 2^64 + 1 ns: cut to 64 bits, it would be 1 ns.
    let b = breaker(|b| {
        b.consecutive_failures(1)
            .open_for(secs(1))
            .max_half_open(Duration::new(18_446_744_073, 709_551_617))
    });
    let svc = Scripted::new([Reply::err("down")]).then_always(Reply::Hang);
    let mut s = guard(&b, &svc);
    send(&s, 1).await;
    tokio::time::advance(secs(1)).await;
    let _hung = s.ready().await.unwrap().call(());
    tokio::time::advance(secs(3600)).await;
    let err = s.clone().oneshot(()).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<Rejected>().unwrap().state(),
        CircuitState::HalfOpen
    );
    assert_eq!(b.metrics().half_open_timeouts, 0);
}

#[derive(Clone)]
struct Req(Option<CancelToken>);
impl HasCancelToken for Req {
    fn cancel_token(&self) -> Option<&CancelToken> {
        self.0.as_ref()
    }
}

#[tokio::test(start_paused = true)]
async fn cancelled_calls_are_ignored_unless_counted() {
    for count in [false, true] {
        let b = breaker(|b| b.consecutive_failures(1).count_cancellations(count));
        let svc = Scripted::<u32, Req>::new([]).then_always(Reply::err("cancelled downstream"));
        let token = CancelToken::new();
        token.cancel_with(CancelReason::ClientDisconnected);
        let s = CircuitBreakerLayer::new(b.clone()).layer(svc.clone());
        let _ = s.oneshot(Req(Some(token))).await;
        let m = b.metrics();
        if count {
            assert_eq!((m.failures, m.ignored, m.state), (1, 0, CircuitState::Open));
        } else {
            assert_eq!(
                (m.failures, m.ignored, m.state),
                (0, 1, CircuitState::Closed)
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_attempt_that_lost_a_hedge_race_is_never_counted() {
    for count in [false, true] {
        let b = breaker(|b| b.consecutive_failures(1).count_cancellations(count));
        let svc = Scripted::<u32, Req>::new([]).then_always(Reply::err("cancelled downstream"));
        let token = CancelToken::new();
        token.cancel_with(CancelReason::HedgeLost);
        let s = CircuitBreakerLayer::new(b.clone()).layer(svc.clone());
        let _ = s.oneshot(Req(Some(token))).await;
        let m = b.metrics();
        assert_eq!(
            (m.failures, m.ignored, m.state),
            (0, 1, CircuitState::Closed),
            "count_cancellations({count})"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_loser_dropped_unanswered_gives_its_permit_back_unrecorded() {
    let b = breaker(|b| b.consecutive_failures(1));
    let mut s = CircuitBreakerLayer::new(b.clone()).layer(tower::service_fn(|_: Req| {
        std::future::pending::<Result<u32, BoxError>>()
    }));
    let fut = s.ready().await.unwrap().call(Req(Some(CancelToken::new())));
    drop(fut);
    let m = b.metrics();
    assert_eq!(
        (m.failures, m.ignored, m.successes, m.state),
        (0, 0, 0, CircuitState::Closed)
    );
}

#[tokio::test(start_paused = true)]
async fn classifiers_decide_what_counts() {
    // 404 is the caller's problem: a success for the breaker. 503 is a failure. 499 ignored.
    let b = breaker(|b| b.consecutive_failures(2));
    let svc = Scripted::<u16>::new([
        Reply::ok(404),
        Reply::ok(503),
        Reply::ok(499),
        Reply::ok(404),
        Reply::ok(503),
        Reply::ok(503),
    ]);
    let s = CircuitBreakerLayer::new(b.clone())
        .classify_with(|_: &Attempt<'_, ()>, r: Result<&u16, &TestError>| match r {
            Ok(503) | Err(_) => Outcome::retryable(),
            Ok(499) => Outcome::Ignored,
            Ok(_) => Outcome::Success,
        })
        .layer(svc.clone());
    for _ in 0..5 {
        let _ = s.clone().oneshot(()).await;
    }
    assert_eq!(b.state(), CircuitState::Closed);
    let _ = s.clone().oneshot(()).await;
    assert_eq!(b.state(), CircuitState::Open);
    let m = b.metrics();
    assert_eq!((m.successes, m.failures, m.ignored), (2, 3, 1));
}

#[tokio::test(start_paused = true)]
async fn time_windows_forget_old_failures() {
    let b = breaker(|b| {
        b.failure_rate(50.0)
            .minimum_calls(3)
            .window(SlidingWindow::time(secs(10)))
    });
    let svc = Scripted::<u32>::new([]).then_always(Reply::err("down"));
    let s = guard(&b, &svc);
    send(&s, 2).await;
    tokio::time::advance(secs(11)).await;
    send(&s, 2).await;
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "only two calls in the window"
    );
    send(&s, 1).await;
    assert_eq!(b.state(), CircuitState::Open);
}

#[test]
fn invalid_settings_name_their_field() {
    let field = |b: CircuitBreakerBuilder| b.build().unwrap_err().field();
    assert_eq!(
        field(CircuitBreaker::builder().failure_rate(0.0)),
        "failure_rate"
    );
    assert_eq!(
        field(CircuitBreaker::builder().failure_rate(101.0)),
        "failure_rate"
    );
    assert_eq!(
        field(CircuitBreaker::builder().no_failure_rate()),
        "failure_rate"
    );
    assert_eq!(
        field(CircuitBreaker::builder().consecutive_failures(0)),
        "consecutive_failures"
    );
    assert_eq!(
        field(CircuitBreaker::builder().minimum_calls(0)),
        "minimum_calls"
    );
    assert_eq!(
        field(
            CircuitBreaker::builder()
                .window(SlidingWindow::count(10))
                .minimum_calls(11)
        ),
        "minimum_calls"
    );
    assert_eq!(
        field(CircuitBreaker::builder().window(SlidingWindow::count(0))),
        "window"
    );
    assert_eq!(
        field(CircuitBreaker::builder().half_open_max_calls(0)),
        "half_open_max_calls"
    );
    assert_eq!(
        field(CircuitBreaker::builder().success_threshold(0)),
        "success_threshold"
    );
    assert_eq!(
        field(CircuitBreaker::builder().slow_call_rate(50.0, Duration::ZERO)),
        "slow_call_duration"
    );
    let e = CircuitBreaker::builder()
        .failure_rate(-5.0)
        .build()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid circuit breaker configuration: `failure_rate` must be above 0 and at most 100 (got -5)"
    );
}

#[tokio::test(start_paused = true)]
async fn keyed_breakers_isolate_keys_and_stay_bounded() {
    use steadfast::circuit_breaker::{KeyedBreakers, KeyedCircuitBreakerLayer};

    let per_key = KeyedBreakers::builder(|| CircuitBreaker::builder().consecutive_failures(1))
        .name(|k: &u32| format!("key {k}"))
        .max_keys(3)
        .idle_timeout(secs(60))
        .build()
        .unwrap();
    // Requests are key numbers; key 1 always fails, the others succeed.
    let svc = tower::service_fn(|k: u32| async move {
        if k == 1 {
            Err::<u32, _>(TestError("down".into()))
        } else {
            Ok(k)
        }
    });
    let s = KeyedCircuitBreakerLayer::new(per_key.clone(), |k: &u32| *k).layer(svc);

    assert!(s.clone().oneshot(1).await.is_err());
    assert!(s.clone().oneshot(1).await.unwrap_err().is::<Rejected>());
    assert_eq!(
        s.clone().oneshot(2).await.unwrap(),
        2,
        "key 2 has its own breaker"
    );
    assert_eq!(per_key.peek(&1).unwrap().state(), CircuitState::Open);
    assert_eq!(per_key.peek(&1).unwrap().name(), "key 1");

    // Fill up: key 3 fits; key 4 makes room by dropping a closed breaker, never the open one.
    tokio::time::advance(secs(1)).await;
    s.clone().oneshot(2).await.unwrap();
    s.clone().oneshot(3).await.unwrap();
    s.clone().oneshot(4).await.unwrap();
    assert_eq!(per_key.len(), 3);
    assert_eq!(per_key.peek(&1).unwrap().state(), CircuitState::Open);

    // Idle breakers (key 1's open time is over too) go as calls arrive.
    tokio::time::advance(secs(61)).await;
    s.clone().oneshot(4).await.unwrap();
    assert_eq!(per_key.len(), 1);
    assert_eq!(per_key.evict_idle(), 0);
    for k in 10..1_000 {
        s.clone().oneshot(k).await.unwrap();
        assert!(per_key.len() <= 3);
    }
}

#[tokio::test(start_paused = true)]
async fn a_static_breaker_works_like_an_owned_one() {
    static BREAKER: std::sync::LazyLock<CircuitBreaker> = std::sync::LazyLock::new(|| {
        CircuitBreaker::builder()
            .name("static")
            .consecutive_failures(1)
            .build()
            .unwrap()
    });
    let svc = Scripted::<u32>::new([Reply::err("down")]);
    let layer = CircuitBreakerLayer::new(&*BREAKER);
    assert_eq!(layer.breaker().name(), "static");
    let s = layer.layer(svc.clone());
    assert!(s.clone().oneshot(()).await.is_err());
    assert_eq!(BREAKER.state(), CircuitState::Open);
    let err = s.oneshot(()).await.unwrap_err();
    let rejected = err.downcast_ref::<Rejected>().expect("a rejection");
    assert_eq!(rejected.name(), "static");
    assert_eq!(
        rejected.to_string(),
        "circuit breaker 'static' is open; next probe in 60s"
    );
    assert_eq!(svc.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_rejection_names_its_breaker_after_the_breaker_is_gone() {
    let b = breaker(|b| b.name("gone").consecutive_failures(1));
    let svc = Scripted::<u32>::new([Reply::err("down")]);
    let s = CircuitBreakerLayer::new(b.clone()).layer(svc);
    assert!(s.clone().oneshot(()).await.is_err());
    let err = s.clone().oneshot(()).await.unwrap_err();
    let rejected = *err.downcast::<Rejected>().expect("a rejection");
    let copy = rejected.clone();
    // The rejection keeps what it needs to name the breaker, whoever drops what.
    drop((s, b));
    assert_eq!(rejected.name(), "gone");
    assert_eq!(rejected.state(), CircuitState::Open);
    let on_another_thread = std::thread::spawn(move || copy.name().to_owned());
    assert_eq!(on_another_thread.join().unwrap(), "gone");
    assert!(format!("{rejected:?}").contains("\"gone\""));

    // `check` on an open breaker names it the same way.
    let b = breaker(|b| b.name("checked"));
    b.force_open();
    let refused = b.check().expect_err("an open breaker refuses");
    drop(b);
    assert_eq!(
        (refused.name(), refused.state()),
        ("checked", CircuitState::ForcedOpen)
    );
}
