//! Tests that catch mutants of the circuit breaker's state machine and windows (see "Mutation
//! testing" in docs/reliability.md).

#![cfg(all(feature = "cancel", feature = "circuit-breaker"))]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::circuit_breaker::{
    BreakerEvent, CircuitBreaker, CircuitBreakerLayer, CircuitState, SlidingWindow,
};
use steadfast::classify::{Attempt, Outcome};
use steadfast::describe::{Describe, Value};
use steadfast_test::{Reply, Scripted, TestError};
use tower::{Layer, ServiceExt};
use tracing::span;
use tracing::subscriber::{Interest, Subscriber};
use tracing::{Event, Level, Metadata};

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

/// Listeners hear of every call's verdict, closed and half-open: an invalid and an ignored
/// response in the closed state, and a successful and an invalid probe.
#[tokio::test(start_paused = true)]
async fn listeners_hear_of_invalid_calls_and_probe_verdicts() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let b = CircuitBreaker::builder()
        .name("verdicts")
        .minimum_calls(10)
        .half_open_max_calls(1)
        .success_threshold(1)
        .on_event(move |e| {
            let line = match e {
                BreakerEvent::Success { .. } => "success",
                BreakerEvent::Failure { .. } => "failure",
                BreakerEvent::Invalid { .. } => "invalid",
                BreakerEvent::Ignored { .. } => "ignored",
                _ => return,
            };
            s.lock().unwrap().push(line);
        })
        .build()
        .unwrap();
    let svc = CircuitBreakerLayer::new(b.clone())
        .classify_with(|_: &Attempt<'_, ()>, r: Result<&u32, &TestError>| match r {
            Ok(0) => Outcome::Invalid,
            Ok(2) => Outcome::Ignored,
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::retryable(),
        })
        .layer(Scripted::new([
            Reply::ok(0u32),
            Reply::ok(2),
            Reply::ok(1),
            Reply::ok(0),
        ]));
    for _ in 0..2 {
        svc.clone().oneshot(()).await.unwrap();
    }
    assert_eq!(b.state(), CircuitState::Closed);
    for _ in 0..2 {
        b.isolate(Duration::ZERO);
        svc.clone().oneshot(()).await.unwrap();
    }
    assert_eq!(
        *seen.lock().unwrap(),
        ["invalid", "ignored", "success", "invalid"]
    );
}

/// The levels of the events a breaker logs, from a subscriber set for the current thread.
#[derive(Default)]
struct Levels(Mutex<Vec<Level>>);

impl Subscriber for Levels {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, event: &Event<'_>) {
        if event.metadata().target().starts_with("steadfast") {
            self.0.lock().unwrap().push(*event.metadata().level());
        }
    }
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

/// A breaker that opens logs a warning; any other change of state is logged as information.
#[test]
fn opening_is_logged_as_a_warning() {
    let levels = Arc::new(Levels::default());
    let b = CircuitBreaker::builder().build().unwrap();
    tracing::subscriber::with_default(levels.clone(), || {
        b.force_open();
        b.close();
        b.isolate(secs(1));
        b.reset();
    });
    assert_eq!(
        *levels.0.lock().unwrap(),
        [Level::WARN, Level::INFO, Level::WARN, Level::INFO]
    );
}

/// A breaker describes the window it was built with, counted or timed.
#[test]
fn a_breaker_describes_its_window() {
    for window in [SlidingWindow::count(7), SlidingWindow::time(secs(60))] {
        let b = CircuitBreaker::builder()
            .window(window)
            .minimum_calls(5)
            .build()
            .unwrap();
        let layers = CircuitBreakerLayer::new(b).describe();
        assert_eq!(layers[0].get("window"), Some(&Value::from(window)));
    }
}

/// Closing the breaker clears its window.
#[tokio::test(start_paused = true)]
async fn closing_clears_the_window() {
    let b = CircuitBreaker::builder()
        .name("cleared")
        .minimum_calls(10)
        .build()
        .unwrap();
    let svc = CircuitBreakerLayer::new(b.clone())
        .layer(Scripted::new(Vec::new()).then_always(Reply::<u32>::err("boom")));
    for _ in 0..2 {
        svc.clone().oneshot(()).await.unwrap_err();
    }
    assert_eq!(b.metrics().window_calls, 2);
    b.close();
    assert_eq!(b.metrics().window_calls, 0);
}
