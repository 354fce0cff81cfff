//! Tests that catch mutants of the circuit breaker's state machine and windows (see "Mutation
//! testing" in docs/reliability.md).

#![cfg(all(feature = "cancel", feature = "circuit-breaker"))]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::circuit_breaker::{
    BreakerEvent, CircuitBreaker, CircuitBreakerLayer, CircuitState, SlidingWindow,
};
use steadfast_test::{Reply, Scripted};
use tower::{Layer, ServiceExt};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Call durations reach the success and failure events only when a slow-call rule is on: the
/// breaker reads the clock around a call for that rule alone.
#[tokio::test(start_paused = true)]
async fn durations_are_reported_only_with_a_slow_call_rule() {
    for slow_rule in [false, true] {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let mut builder = CircuitBreaker::builder()
            .name("durations")
            .on_event(move |e| match e {
                BreakerEvent::Success { duration, .. } | BreakerEvent::Failure { duration, .. } => {
                    s.lock().unwrap().push(*duration)
                }
                _ => {}
            });
        if slow_rule {
            builder = builder.slow_call_rate(50.0, ms(100));
        }
        let b = builder.build().unwrap();
        let svc = CircuitBreakerLayer::new(b).layer(Scripted::new([
            Reply::ok(1u32).after(ms(10)),
            Reply::err("boom").after(ms(20)),
        ]));
        svc.clone().oneshot(()).await.unwrap();
        svc.oneshot(()).await.unwrap_err();
        let expected = if slow_rule {
            vec![Some(ms(10)), Some(ms(20))]
        } else {
            vec![None, None]
        };
        assert_eq!(
            *seen.lock().unwrap(),
            expected,
            "slow-call rule: {slow_rule}"
        );
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The slow-call rate trips the breaker at its threshold over the window's calls, not below.
#[tokio::test(start_paused = true)]
async fn the_slow_call_rate_trips_at_its_threshold() {
    let b = CircuitBreaker::builder()
        .name("slow")
        .no_failure_rate()
        .slow_call_rate(50.0, ms(100))
        .minimum_calls(4)
        .window(SlidingWindow::count(4))
        .build()
        .unwrap();
    let slow = || Reply::ok(1u32).after(ms(150));
    let svc = CircuitBreakerLayer::new(b.clone()).layer(Scripted::new([
        Reply::ok(1),
        Reply::ok(1),
        Reply::ok(1),
        slow(),
        slow(),
    ]));
    for _ in 0..4 {
        svc.clone().oneshot(()).await.unwrap();
    }
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "one slow call in four is 25%"
    );
    svc.oneshot(()).await.unwrap();
    assert_eq!(
        b.state(),
        CircuitState::Open,
        "two in the last four are 50%"
    );
}

/// A fast probe closes a breaker that has a slow-call rule; a slow one reopens it.
#[tokio::test(start_paused = true)]
async fn a_fast_probe_closes_a_breaker_with_a_slow_call_rule() {
    let b = CircuitBreaker::builder()
        .name("probe")
        .no_failure_rate()
        .consecutive_failures(1)
        .slow_call_rate(50.0, ms(100))
        .open_for(secs(1))
        .half_open_max_calls(1)
        .success_threshold(1)
        .build()
        .unwrap();
    let svc = CircuitBreakerLayer::new(b.clone()).layer(Scripted::new([
        Reply::err("boom"),
        Reply::ok(1u32).after(ms(150)),
        Reply::ok(1).after(ms(10)),
    ]));
    svc.clone().oneshot(()).await.unwrap_err();
    assert_eq!(b.state(), CircuitState::Open);
    tokio::time::advance(secs(10)).await;
    svc.clone().oneshot(()).await.unwrap();
    assert_eq!(b.state(), CircuitState::Open, "a slow probe reopens it");
    tokio::time::advance(secs(10)).await;
    svc.oneshot(()).await.unwrap();
    assert_eq!(b.state(), CircuitState::Closed, "a fast probe closes it");
}

/// Listeners hear of slow calls and of the probes half-open lets through.
#[tokio::test(start_paused = true)]
async fn listeners_hear_of_slow_calls_and_probes() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let b = CircuitBreaker::builder()
        .name("events")
        .no_failure_rate()
        .slow_call_rate(100.0, ms(100))
        .minimum_calls(1)
        .open_for(secs(1))
        .on_event(move |e| match e {
            BreakerEvent::Slow { duration, .. } => {
                s.lock().unwrap().push(format!("slow {duration:?}"))
            }
            BreakerEvent::CallPermitted { state, .. } => {
                s.lock().unwrap().push(format!("permitted {state:?}"))
            }
            _ => {}
        })
        .build()
        .unwrap();
    let svc = CircuitBreakerLayer::new(b.clone()).layer(Scripted::new([
        Reply::ok(1u32).after(ms(150)),
        Reply::ok(1),
    ]));
    svc.clone().oneshot(()).await.unwrap();
    assert_eq!(b.state(), CircuitState::Open);
    tokio::time::advance(secs(2)).await;
    svc.oneshot(()).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        ["permitted Closed", "slow 150ms", "permitted HalfOpen"]
    );
}

#[test]
fn a_count_window_holds_up_to_its_largest_size() {
    let largest = (1 << 21) - 1;
    assert!(CircuitBreaker::builder()
        .window(SlidingWindow::count(largest))
        .build()
        .is_ok());
    let e = CircuitBreaker::builder()
        .window(SlidingWindow::count(largest + 1))
        .build()
        .unwrap_err();
    assert_eq!(e.field(), "window");
}

/// Successes past a window full of successes still count in the metrics.
#[tokio::test(start_paused = true)]
async fn every_success_counts_once_the_window_is_full_of_them() {
    let b = CircuitBreaker::builder()
        .name("steady")
        .window(SlidingWindow::count(4))
        .minimum_calls(4)
        .build()
        .unwrap();
    let svc = CircuitBreakerLayer::new(b.clone())
        .layer(Scripted::new(Vec::new()).then_always(Reply::ok(1u32)));
    for _ in 0..10 {
        svc.clone().oneshot(()).await.unwrap();
    }
    let m = b.metrics();
    assert_eq!((m.successes, m.window_calls, m.failures), (10, 4, 0));
}
