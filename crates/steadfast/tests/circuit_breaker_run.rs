//! Plain code through a circuit breaker (`run`, `run_blocking`, `classify`), on tokio's paused
//! clock: admission, rejection, classification, slow calls and half-open permits.

#![cfg(feature = "circuit-breaker")]

use std::cell::Cell;
use std::future::{pending, Future};
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use steadfast::circuit_breaker::{
    BreakerEvent, CircuitBreaker, CircuitBreakerBuilder, CircuitState, Rejected, TransitionReason,
};
use steadfast::classify::{Attempt, ErrorIs, Outcome};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn breaker(f: impl FnOnce(CircuitBreakerBuilder) -> CircuitBreakerBuilder) -> CircuitBreaker {
    f(CircuitBreaker::builder().name("plain")).build().unwrap()
}

fn down() -> io::Error {
    io::Error::other("down")
}

/// Polls `fut` once, with a waker that does nothing.
fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// A breaker that tripped on one failure and whose open time (10 s) has passed: the next call
/// is a half-open probe, of which one is let through.
async fn due_for_a_probe(
    f: impl FnOnce(CircuitBreakerBuilder) -> CircuitBreakerBuilder,
) -> CircuitBreaker {
    let b = breaker(|b| f(b.consecutive_failures(1).open_for(secs(10))));
    let _ = b.run(|| async { Err::<(), _>(down()) }).await;
    assert_eq!(b.state(), CircuitState::Open);
    tokio::time::advance(secs(10)).await;
    b
}

#[tokio::test(start_paused = true)]
async fn run_records_successes_and_failures_and_returns_the_result() {
    let b = breaker(|b| b.consecutive_failures(3));
    assert_eq!(b.run(|| async { Ok::<_, io::Error>(5) }).await.unwrap(), 5);
    let err = b.run(|| async { Err::<u32, _>(down()) }).await.unwrap_err();
    assert_eq!(err.to_string(), "down", "the error comes back unchanged");
    assert!(err.downcast_ref::<io::Error>().is_some());
    let m = b.metrics();
    assert_eq!((m.successes, m.failures), (1, 1));
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_rejects_without_calling_the_code() {
    let b = breaker(|b| b.consecutive_failures(2).open_for(secs(30)));
    for _ in 0..2 {
        let _ = b.run(|| async { Err::<(), _>(down()) }).await;
    }
    assert_eq!(b.state(), CircuitState::Open);
    let called = AtomicUsize::new(0);
    let err = b
        .run(|| {
            called.fetch_add(1, Ordering::Relaxed);
            async { Ok::<_, io::Error>(()) }
        })
        .await
        .unwrap_err();
    let rejected = err
        .downcast_ref::<Rejected>()
        .expect("the layer's rejection");
    assert_eq!(rejected.name(), "plain");
    assert_eq!(rejected.state(), CircuitState::Open);
    assert_eq!(rejected.retry_after(), Some(secs(30)));
    assert_eq!(
        called.load(Ordering::Relaxed),
        0,
        "rejected code never runs"
    );
    assert_eq!(b.metrics().rejections, 1);
}

#[test]
fn run_blocking_trips_and_rejects_without_a_runtime() {
    let b = breaker(|b| b.consecutive_failures(2).open_for(secs(30)));
    assert_eq!(b.run_blocking(|| Ok::<_, io::Error>("ok")).unwrap(), "ok");
    for _ in 0..2 {
        assert!(b.run_blocking(|| Err::<(), _>(down())).is_err());
    }
    assert_eq!(b.state(), CircuitState::Open);
    let called = Cell::new(false);
    let err = b
        .run_blocking(|| {
            called.set(true);
            Ok::<_, io::Error>(())
        })
        .unwrap_err();
    let rejected = err
        .downcast_ref::<Rejected>()
        .expect("the layer's rejection");
    assert_eq!(rejected.state(), CircuitState::Open);
    assert!(!called.get(), "rejected code never runs");
    let m = b.metrics();
    assert_eq!((m.successes, m.failures, m.rejections), (1, 2, 1));
}

#[tokio::test(start_paused = true)]
async fn nothing_is_asked_of_the_breaker_until_the_future_is_polled() {
    let b = due_for_a_probe(|b| b).await;
    let called = Cell::new(false);
    let idle = b.run(|| {
        called.set(true);
        async { Ok::<_, io::Error>(()) }
    });
    // The only half-open permit is still free: another call takes it, and closes the breaker.
    b.run(|| async { Ok::<_, io::Error>(()) }).await.unwrap();
    assert_eq!(b.state(), CircuitState::Closed);
    drop(idle);
    assert!(
        !called.get(),
        "the closure runs only once the future is polled"
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_probe_gives_its_permit_back() {
    let b = due_for_a_probe(|b| b).await;
    {
        let mut probe = pin!(b.run(pending::<Result<(), io::Error>>));
        assert!(poll_once(probe.as_mut()).is_pending());
        assert_eq!(b.state(), CircuitState::HalfOpen);
        // The one permit is out: a second call is rejected, with no time to wait for.
        let err = b
            .run(|| async { Ok::<_, io::Error>(()) })
            .await
            .unwrap_err();
        let rejected = err.downcast_ref::<Rejected>().unwrap();
        assert_eq!(rejected.state(), CircuitState::HalfOpen);
        assert_eq!(rejected.retry_after(), None);
    }
    // Dropped (cancelled) before it finished: its permit is back, the next call probes.
    b.run(|| async { Ok::<_, io::Error>(()) }).await.unwrap();
    assert_eq!(b.state(), CircuitState::Closed);
    let m = b.metrics();
    assert_eq!(m.successes, 1, "the dropped probe recorded nothing");
    assert_eq!(m.failures, 1);
}

#[tokio::test(start_paused = true)]
async fn a_probe_that_panics_in_run_blocking_gives_its_permit_back() {
    let b = due_for_a_probe(|b| b).await;
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        b.run_blocking(|| -> Result<(), io::Error> { panic!("bug in the caller") })
    }));
    assert!(panicked.is_err());
    assert_eq!(b.state(), CircuitState::HalfOpen);
    b.run_blocking(|| Ok::<_, io::Error>(())).unwrap();
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_reopens_and_a_successful_one_closes() {
    let b = due_for_a_probe(|b| b).await;
    let _ = b.run(|| async { Err::<(), _>(down()) }).await;
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(b.metrics().trips, 2);
    tokio::time::advance(secs(10)).await;
    b.run_blocking(|| Ok::<_, io::Error>(())).unwrap();
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn slow_calls_are_measured_from_admission_to_the_end() {
    let b = breaker(|b| {
        b.no_failure_rate()
            .slow_call_rate(50.0, secs(2))
            .minimum_calls(2)
            .window(steadfast::circuit_breaker::SlidingWindow::count(2))
    });
    let sleep_for = |d: Duration| async move {
        tokio::time::sleep(d).await;
        Ok::<_, io::Error>(())
    };
    // Exactly the threshold is not slow.
    b.run(|| sleep_for(secs(2))).await.unwrap();
    assert_eq!(b.metrics().slow, 0);
    b.run(|| sleep_for(secs(3))).await.unwrap();
    let m = b.metrics();
    assert_eq!((m.slow, m.successes), (1, 2));
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(m.slow_call_rate, Some(50.0));
}

#[test]
fn run_blocking_measures_slow_calls() {
    // No runtime: the real clock. A call that sleeps longer than the threshold is slow
    // however fast the machine.
    let b = breaker(|b| {
        b.no_failure_rate()
            .slow_call_rate(100.0, Duration::from_millis(1))
            .minimum_calls(1)
            .window(steadfast::circuit_breaker::SlidingWindow::count(1))
    });
    b.run_blocking(|| {
        std::thread::sleep(Duration::from_millis(5));
        Ok::<_, io::Error>(())
    })
    .unwrap();
    assert_eq!(b.metrics().slow, 1);
    assert_eq!(b.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn a_closure_decides_which_errors_and_outputs_count() {
    let b = breaker(|b| b.consecutive_failures(2));
    let guarded = b.classify_with(|_: &Attempt<'_, ()>, r: Result<&u16, &io::Error>| match r {
        Ok(status) if *status >= 500 => Outcome::retryable(),
        Ok(_) => Outcome::Success,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Outcome::Ignored,
        Err(_) => Outcome::NonRetryable,
    });
    for _ in 0..3 {
        let err = guarded
            .run(|| async { Err::<u16, _>(io::Error::from(io::ErrorKind::NotFound)) })
            .await
            .unwrap_err();
        assert!(err.downcast_ref::<io::Error>().is_some());
    }
    assert_eq!(b.state(), CircuitState::Closed, "ignored errors never trip");
    assert_eq!(
        guarded.run_blocking(|| Ok::<u16, io::Error>(404)).unwrap(),
        404
    );
    let m = b.metrics();
    assert_eq!((m.ignored, m.successes, m.failures), (3, 1, 0));
    // An `Ok` the closure calls a failure counts as one.
    for _ in 0..2 {
        assert_eq!(
            guarded
                .run(|| async { Ok::<u16, io::Error>(503) })
                .await
                .unwrap(),
            503
        );
    }
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(b.metrics().failures, 2);
}

#[tokio::test(start_paused = true)]
async fn an_ignored_probe_gives_its_permit_back() {
    let b = due_for_a_probe(|b| b).await;
    let guarded = b.classify_with(|_: &Attempt<'_, ()>, r: Result<&(), &io::Error>| match r {
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Outcome::Ignored,
        Err(_) => Outcome::retryable(),
        Ok(_) => Outcome::Success,
    });
    let _ = guarded
        .run(|| async { Err::<(), _>(io::Error::from(io::ErrorKind::Interrupted)) })
        .await;
    assert_eq!(b.state(), CircuitState::HalfOpen);
    guarded
        .run(|| async { Ok::<_, io::Error>(()) })
        .await
        .unwrap();
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_ready_made_classifier_judges_errors_by_type() {
    // `ErrorIs` calls other errors non-retryable, which a breaker counts as failures too.
    let b = breaker(|b| b.consecutive_failures(2));
    let guarded = b.classify(ErrorIs::<io::Error>::new());
    let _ = guarded.run(|| async { Err::<(), _>(down()) }).await;
    let _ = guarded.run_blocking(|| Err::<(), _>(std::fmt::Error));
    assert_eq!(b.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn events_are_those_of_the_layer() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let b = breaker(|b| {
        b.consecutive_failures(1).on_event(move |e| {
            seen.lock().unwrap().push(match e {
                BreakerEvent::CallPermitted { .. } => "permitted".to_string(),
                BreakerEvent::Success { .. } => "success".to_string(),
                BreakerEvent::Failure { .. } => "failure".to_string(),
                BreakerEvent::CallRejected { .. } => "rejected".to_string(),
                BreakerEvent::StateTransition { reason, .. } => {
                    assert_eq!(*reason, TransitionReason::ConsecutiveFailures(1));
                    "opened".to_string()
                }
                other => format!("{other:?}"),
            })
        })
    });
    b.run(|| async { Ok::<_, io::Error>(()) }).await.unwrap();
    let _ = b.run_blocking(|| Err::<(), _>(down()));
    let _ = b.run(|| async { Ok::<_, io::Error>(()) }).await;
    assert_eq!(
        *events.lock().unwrap(),
        [
            "permitted",
            "success",
            "permitted",
            "failure",
            "opened",
            "rejected"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_future_can_be_spawned() {
    let b = breaker(|b| b);
    let value = tokio::spawn(b.run(|| async { Ok::<_, io::Error>(9) }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(value, 9);
    assert_eq!(b.metrics().successes, 1);
}
