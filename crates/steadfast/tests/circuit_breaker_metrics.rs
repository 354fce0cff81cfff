//! The rates derived from a breaker's metrics, after calls of every kind, on tokio's paused
//! clock.

#![cfg(feature = "circuit-breaker")]

use std::io;
use std::time::Duration;

use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer, CircuitState};
use steadfast::classify::{Attempt, Outcome};
use tower::{service_fn, Layer, ServiceExt};

#[tokio::test(start_paused = true)]
async fn rates_count_every_kind_of_call_once() {
    let b = CircuitBreaker::builder()
        .consecutive_failures(3)
        .no_failure_rate()
        .slow_call_rate(100.0, Duration::from_secs(1))
        .minimum_calls(100)
        .open_for(Duration::from_secs(60))
        .build()
        .unwrap();
    // The service answers what it is asked for: 0 ok, 1 slow ok, 2 error, 3 ignored error.
    let svc = CircuitBreakerLayer::new(b.clone())
        .classify_with(|_: &Attempt<'_, u8>, r: Result<&u8, &io::Error>| match r {
            Ok(_) => Outcome::Success,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Outcome::Ignored,
            Err(_) => Outcome::retryable(),
        })
        .layer(service_fn(|kind: u8| async move {
            match kind {
                0 => Ok(0),
                1 => {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    Ok(1)
                }
                2 => Err(io::Error::other("down")),
                _ => Err(io::Error::from(io::ErrorKind::Interrupted)),
            }
        }));
    for kind in [0, 0, 1, 3, 0, 2, 2, 2] {
        let _ = svc.clone().oneshot(kind).await;
    }
    assert_eq!(b.state(), CircuitState::Open);
    for _ in 0..3 {
        assert!(svc.clone().oneshot(0).await.is_err());
    }
    // Plain code counts in the same metrics.
    let _ = b.run_blocking(|| Ok::<_, io::Error>(()));

    let m = b.metrics();
    assert_eq!((m.successes, m.failures, m.slow), (4, 3, 1));
    assert_eq!((m.ignored, m.rejections), (1, 4));
    assert_eq!(m.recorded_calls(), 7);
    assert_eq!(m.finished_calls(), 8);
    assert_eq!(m.requested_calls(), 12);
    let r = m.rates();
    let close = |a: Option<f32>, b: f32| (a.unwrap() - b).abs() < 1e-3;
    assert!(close(r.success, 400.0 / 7.0), "{r:?}");
    assert!(close(r.failure, 300.0 / 7.0), "{r:?}");
    assert!(close(r.slow, 100.0 / 7.0), "{r:?}");
    assert_eq!(r.invalid, Some(0.0));
    assert_eq!(r.ignored, Some(12.5));
    assert!(close(r.rejection, 100.0 / 3.0), "{r:?}");
    // The window: the seven calls recorded before the trip, three of them failures.
    assert_eq!((m.window_calls, m.window_failures), (7, 3));
    assert_eq!(m.window_successes(), 4);
}

#[test]
fn a_new_breaker_has_no_rates() {
    let m = CircuitBreaker::builder().build().unwrap().metrics();
    let r = m.rates();
    assert_eq!(
        (r.success, r.failure, r.slow, r.rejection),
        (None, None, None, None)
    );
    assert_eq!(m.requested_calls(), 0);
}
