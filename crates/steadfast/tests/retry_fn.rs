//! The function-level retry API, async and blocking.

#![cfg(all(feature = "cancel", feature = "retry"))]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use steadfast::classify::ErrorIs;
use steadfast::retry::{Backoff, RetryError, RetryPolicy, StopReason};
use steadfast::token::{CancelReason, CancelToken};
use tokio::time::Instant;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn async_closures_are_retried_with_the_policy_delays() {
    let policy = RetryPolicy::builder()
        .max_attempts(4)
        .backoff(Backoff::fibonacci(ms(100)))
        .build()
        .unwrap();
    let start = Instant::now();
    let mut attempts_seen = Vec::new();
    let out = policy
        .run(|attempt| {
            attempts_seen.push((attempt, start.elapsed()));
            async move {
                if attempt < 4 {
                    Err(std::io::Error::other("flaky"))
                } else {
                    Ok("ok")
                }
            }
        })
        .await
        .unwrap();
    assert_eq!(out, "ok");
    assert_eq!(
        attempts_seen,
        [(1, ms(0)), (2, ms(100)), (3, ms(200)), (4, ms(400))]
    );
}

#[tokio::test(start_paused = true)]
async fn classification_by_error_type_applies_to_functions() {
    let policy = RetryPolicy::builder()
        .classify(ErrorIs::<std::io::Error>::new())
        .backoff(Backoff::none())
        .build()
        .unwrap();
    let calls = AtomicU32::new(0);
    let err = policy
        .run(|_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), steadfast::BoxError>("not an io error".into()) }
        })
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "not an io error");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn cancellation_ends_an_async_backoff_at_once() {
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_secs(600)))
        .build()
        .unwrap();
    let token = CancelToken::new();
    let canceller = {
        let token = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            token.cancel_with(CancelReason::manual("user pressed stop"));
        })
    };
    let start = Instant::now();
    let err = policy
        .run_cancellable(&token, |_| async {
            Err::<(), _>(std::io::Error::other("down"))
        })
        .await
        .unwrap_err();
    canceller.await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    let e = err.downcast_ref::<RetryError>().unwrap();
    assert_eq!(
        e.reason(),
        &StopReason::Cancelled(CancelReason::manual("user pressed stop"))
    );
    assert_eq!(e.attempts(), 1);
}

#[test]
fn blocking_retries_need_no_runtime() {
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .backoff(Backoff::constant(ms(1)))
        .build()
        .unwrap();
    let mut n = 0;
    let err = policy
        .run_blocking(|attempt| {
            n += 1;
            assert_eq!(attempt, n);
            Err::<(), _>("still down")
        })
        .unwrap_err();
    let e = err.downcast_ref::<RetryError>().unwrap();
    assert_eq!(e.attempts(), 3);
    assert_eq!(e.reason(), &StopReason::AttemptsExhausted);
    assert_eq!(n, 3);
}

#[test]
fn cancelling_from_another_thread_wakes_a_blocking_sleep() {
    // The backoff is an hour: if the sleeping thread were not woken, this test would hang.
    let policy = RetryPolicy::builder()
        .max_attempts(5)
        .backoff(Backoff::constant(Duration::from_secs(3600)))
        .build()
        .unwrap();
    let token = CancelToken::new();
    let (first_attempt_tx, first_attempt_rx) = mpsc::channel();
    let canceller = {
        let token = token.clone();
        std::thread::spawn(move || {
            first_attempt_rx.recv().unwrap();
            // Give the retrying thread time to park in its backoff (no timing is asserted:
            // cancelling earlier is caught too, just by a different check).
            std::thread::sleep(Duration::from_millis(50));
            token.cancel_with(CancelReason::Signal(15));
        })
    };
    let calls = Arc::new(AtomicU32::new(0));
    let err = policy
        .run_blocking_cancellable(&token, |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            let _ = first_attempt_tx.send(());
            Err::<(), _>("down")
        })
        .unwrap_err();
    canceller.join().unwrap();
    let e = err.downcast_ref::<RetryError>().unwrap();
    assert_eq!(e.reason(), &StopReason::Cancelled(CancelReason::Signal(15)));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn a_blocking_call_on_a_cancelled_token_does_nothing() {
    let policy = RetryPolicy::default();
    let token = CancelToken::new();
    token.cancel();
    let mut called = false;
    let err = policy
        .run_blocking_cancellable(&token, |_| {
            called = true;
            Ok::<_, std::io::Error>(())
        })
        .unwrap_err();
    assert!(!called);
    assert_eq!(err.downcast_ref::<RetryError>().unwrap().attempts(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_draining_token_ends_the_backoff_and_makes_no_new_attempt() {
    let policy = RetryPolicy::builder()
        .max_attempts(10)
        .backoff(Backoff::constant(Duration::from_secs(600)))
        .build()
        .unwrap();
    let drain = CancelToken::new();
    let token = CancelToken::new().child_draining_with(&drain);
    let drainer = {
        let drain = drain.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            drain.cancel_with(CancelReason::Shutdown);
        })
    };
    let start = Instant::now();
    let calls = AtomicU32::new(0);
    let err = policy
        .run_cancellable(&token, |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>(std::io::Error::other("down")) }
        })
        .await
        .unwrap_err();
    drainer.await.unwrap();
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(3),
        "woke when draining began"
    );
    assert_eq!(
        err.downcast_ref::<RetryError>().unwrap().reason(),
        &StopReason::Draining
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(token.is_draining() && !token.is_cancelled());
}
