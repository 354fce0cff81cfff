//! Retrying streams: fresh streams after failures, no item delivered twice, the stop rules
//! and the token applied while they run.

#![cfg(all(feature = "cancel", feature = "retry"))]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{stream, StreamExt};
use steadfast::classify::ErrorIs;
use steadfast::retry::{Backoff, RetryError, RetryPolicy, StopReason, StreamAttempt};
use steadfast::token::CancelToken;
use tokio::time::Instant;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

type Items = Vec<Result<u32, std::io::Error>>;

fn broken(from: u32, to: u32) -> Items {
    (from..to)
        .map(Ok)
        .chain([Err(std::io::Error::other("reset"))])
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_resumable_source_is_told_what_was_delivered() {
    let policy = RetryPolicy::builder()
        .max_attempts(4)
        .backoff(Backoff::constant(ms(100)))
        .build()
        .unwrap();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let s = policy.stream({
        let calls = calls.clone();
        move |at: StreamAttempt| {
            calls
                .lock()
                .unwrap()
                .push((at.attempt(), at.delivered(), start.elapsed()));
            let from = at.delivered() as u32;
            let items = match at.attempt() {
                1 => broken(from, 2),
                2 => broken(from, 5),
                _ => (from..7).map(Ok).collect(),
            };
            stream::iter(items)
        }
    });
    let got: Vec<u32> = s.map(Result::unwrap).collect().await;
    assert_eq!(got, [0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(
        *calls.lock().unwrap(),
        [(1, 0, ms(0)), (2, 2, ms(100)), (3, 5, ms(200))]
    );
}

#[tokio::test(start_paused = true)]
async fn a_restarting_source_has_what_was_delivered_skipped() {
    let policy = RetryPolicy::builder()
        .backoff(Backoff::none())
        .build()
        .unwrap();
    let s = policy.stream_restarting(|at: StreamAttempt| {
        stream::iter(match at.attempt() {
            1 => broken(0, 2),
            2 => broken(0, 4),
            _ => (0..6).map(Ok).collect(),
        })
    });
    let got: Vec<u32> = s.map(Result::unwrap).collect().await;
    assert_eq!(got, [0, 1, 2, 3, 4, 5]);
}

#[tokio::test(start_paused = true)]
async fn the_stop_rules_end_it_with_a_retry_error() {
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .backoff(Backoff::constant(ms(10)))
        .build()
        .unwrap();
    let s = policy.stream(|at: StreamAttempt| {
        let from = at.delivered() as u32;
        stream::iter(broken(from, from + 1))
    });
    let got: Vec<_> = s.collect().await;
    assert_eq!(got.len(), 4);
    let values: Vec<u32> = got[..3].iter().map(|r| *r.as_ref().unwrap()).collect();
    assert_eq!(values, [0, 1, 2]);
    let err = got[3].as_ref().unwrap_err();
    let err = err.downcast_ref::<RetryError>().unwrap();
    assert_eq!(err.reason(), &StopReason::AttemptsExhausted);
    assert_eq!(err.attempts(), 3);

    let limited = RetryPolicy::builder()
        .max_attempts(10)
        .max_elapsed(ms(25))
        .backoff(Backoff::constant(ms(10)))
        .build()
        .unwrap();
    let s = limited.stream(|_: StreamAttempt| stream::iter(broken(0, 0)));
    let got: Vec<_> = s.collect().await;
    let err = got.last().unwrap().as_ref().unwrap_err();
    let err = err.downcast_ref::<RetryError>().unwrap();
    assert_eq!(err.reason(), &StopReason::MaxElapsed);
    assert_eq!(err.attempts(), 3);
}

#[tokio::test(start_paused = true)]
async fn errors_not_retried_are_yielded_as_they_are() {
    #[derive(Debug)]
    struct Fatal;
    impl std::fmt::Display for Fatal {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("fatal")
        }
    }
    impl std::error::Error for Fatal {}
    let policy = RetryPolicy::builder()
        .classify(ErrorIs::<std::io::Error>::new())
        .build()
        .unwrap();
    let mut made = 0;
    let s = policy.stream(|_: StreamAttempt| {
        made += 1;
        stream::iter([
            Ok(1),
            Err::<i32, steadfast::BoxError>(Box::new(Fatal)),
            Ok(2),
        ])
    });
    let got: Vec<_> = s.collect().await;
    assert_eq!(got.len(), 2);
    assert!(got[1]
        .as_ref()
        .unwrap_err()
        .downcast_ref::<Fatal>()
        .is_some());
    assert_eq!(made, 1);
}

#[tokio::test(start_paused = true)]
async fn the_token_stops_a_running_stream() {
    let policy = RetryPolicy::default();
    let token = CancelToken::new();
    let s = policy
        .stream(|_: StreamAttempt| {
            stream::iter([Ok::<_, std::io::Error>(1)]).chain(stream::pending())
        })
        .cancel_on(&token);
    let mut s = std::pin::pin!(s);
    assert_eq!(s.next().await.unwrap().unwrap(), 1);
    let canceller = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(ms(50)).await;
        canceller.cancel();
    });
    let start = Instant::now();
    let err = s.next().await.unwrap().unwrap_err();
    assert_eq!(start.elapsed(), ms(50));
    assert!(err.downcast_ref::<RetryError>().unwrap().is_cancelled());
    assert!(s.next().await.is_none());
}
