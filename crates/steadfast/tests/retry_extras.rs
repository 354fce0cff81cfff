//! Additive jitter, a backoff per class of failure, the wait before the first attempt,
//! attempt hooks and log levels, named errors and derived metrics.

#![cfg(all(feature = "cancel", feature = "retry"))]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use steadfast::classify::{Attempt, Outcome};
use steadfast::retry::{
    Backoff, FailedAttempt, RetryError, RetryEvent, RetryLayer, RetryMetrics, RetryPolicy,
};
use steadfast::token::CancelToken;
use steadfast_test::{Reply, Scripted};
use tokio::time::Instant;
use tower::limit::ConcurrencyLimitLayer;
use tower::{Layer, Service, ServiceExt};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn each_class_of_failure_keeps_its_own_schedule() {
    let policy = RetryPolicy::builder()
        .max_attempts(6)
        .backoff(Backoff::exponential(ms(10)))
        .backoff_for(
            |f: &FailedAttempt<'_>| f.error().is_some_and(|e| e.to_string() == "429"),
            Backoff::exponential(ms(1_000)).max(ms(1_500)),
        )
        .build()
        .unwrap();
    let svc = Scripted::new([
        Reply::err("429"),
        Reply::err("503"),
        Reply::err("429"),
        Reply::err("503"),
        Reply::err("429"),
        Reply::ok(1),
    ]);
    RetryLayer::new(policy)
        .layer(svc.clone())
        .oneshot(())
        .await
        .unwrap();
    // Rate limits: 1 s, 2 s capped to 1.5 s, 1.5 s; transient errors: 10 ms then 20 ms,
    // counted apart from the rate limits between them.
    assert_eq!(
        svc.gaps(),
        [ms(1_000), ms(10), ms(1_500), ms(20), ms(1_500)]
    );
}

#[tokio::test(start_paused = true)]
async fn plus_random_spreads_a_schedule_reproducibly() {
    let run = |seed| async move {
        let policy = RetryPolicy::builder()
            .max_attempts(4)
            .backoff(Backoff::constant(ms(100)).plus_random(ms(0), ms(50)))
            .seed(seed)
            .build()
            .unwrap();
        let svc = Scripted::new([
            Reply::err("a"),
            Reply::err("b"),
            Reply::err("c"),
            Reply::ok(1),
        ]);
        RetryLayer::new(policy)
            .layer(svc.clone())
            .oneshot(())
            .await
            .unwrap();
        svc.gaps()
    };
    let a = run(1).await;
    assert!(a.iter().all(|g| (ms(100)..=ms(150)).contains(g)), "{a:?}");
    assert!(a.iter().any(|g| *g != ms(100)), "{a:?}");
    assert_eq!(a, run(1).await);
    assert_ne!(a, run(2).await);
}

#[tokio::test(start_paused = true)]
async fn the_layer_waits_before_the_first_attempt_without_holding_readiness() {
    let policy = RetryPolicy::builder()
        .start_jitter(ms(1_000))
        .seed(7)
        .build()
        .unwrap();
    let inner = Scripted::new([]).then_always(Reply::ok(1));
    let limited = ConcurrencyLimitLayer::new(1).layer(inner.clone());
    let mut probe = limited.clone();
    let mut svc = RetryLayer::new(policy).with_start_jitter().layer(limited);
    let start = Instant::now();
    let sending = tokio::spawn(async move {
        svc.ready().await.unwrap();
        let at = Instant::now();
        svc.call(()).await.unwrap();
        at
    });
    tokio::task::yield_now().await;
    // The request is waiting: the only permit is free, and nothing was sent.
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert!(
        probe.ready().now_or_never().is_some(),
        "a permit is held while waiting"
    );
    drop(probe);
    assert_eq!(inner.calls(), 0);
    let at = sending.await.unwrap();
    let waited = at - start;
    assert!(waited > Duration::ZERO && waited <= ms(1_000), "{waited:?}");
    assert_eq!(inner.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_plain_layer_does_not_wait() {
    let policy = RetryPolicy::builder()
        .start_jitter(ms(1_000))
        .build()
        .unwrap();
    let start = Instant::now();
    RetryLayer::new(policy)
        .layer(Scripted::new([Reply::ok(1)]))
        .oneshot(())
        .await
        .unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn run_waits_before_the_first_attempt_and_watches_the_token() {
    let policy = RetryPolicy::builder()
        .start_jitter(ms(1_000))
        .seed(3)
        .build()
        .unwrap();
    let start = Instant::now();
    let at = policy
        .run(|_| async { Ok::<_, std::io::Error>(Instant::now()) })
        .await
        .unwrap();
    assert!(at > start && at - start <= ms(1_000));

    let token = CancelToken::new();
    let canceller = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(ms(1)).await;
        canceller.cancel();
    });
    let mut called = false;
    let err = policy
        .run_cancellable(&token, |_| {
            called = true;
            async { Ok::<_, std::io::Error>(()) }
        })
        .await
        .unwrap_err();
    let err = err.downcast_ref::<RetryError>().unwrap();
    assert!(err.is_cancelled());
    assert_eq!(err.attempts(), 0);
    assert!(!called);
    assert_eq!(start.elapsed() - (at - start), ms(1));
}

#[tokio::test(start_paused = true)]
async fn listeners_hear_each_attempt_start_and_errors_carry_the_name() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let policy = RetryPolicy::builder()
        .name("billing")
        .max_attempts(3)
        .backoff(Backoff::constant(ms(10)))
        .on_event({
            let seen = seen.clone();
            move |e: &RetryEvent<'_>| {
                let line = match e {
                    RetryEvent::AttemptStarting { attempt, elapsed } => {
                        format!("start {attempt} at {elapsed:?}")
                    }
                    RetryEvent::Retry { attempt, .. } => format!("retry after {attempt}"),
                    RetryEvent::GiveUp { .. } => "give up".into(),
                    // How long each attempt and the request took is not what this test is
                    // about.
                    RetryEvent::AttemptFinished { .. } | RetryEvent::RequestFinished { .. } => {
                        return
                    }
                    _ => "other".into(),
                };
                seen.lock().unwrap().push(line);
            }
        })
        .build()
        .unwrap();
    let err = RetryLayer::new(policy)
        .layer(Scripted::<u8>::new([]).then_always(Reply::err("down")))
        .oneshot(())
        .await
        .unwrap_err();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "start 1 at 0ns",
            "retry after 1",
            "start 2 at 10ms",
            "retry after 2",
            "start 3 at 20ms",
            "give up"
        ]
    );
    let err = err.downcast_ref::<RetryError>().unwrap();
    assert_eq!(err.name(), Some("billing"));
    assert!(
        err.to_string()
            .starts_with("billing: gave up after 3 attempts"),
        "{err}"
    );
    let unnamed = RetryPolicy::builder().max_attempts(1).build().unwrap();
    let err = unnamed.run_blocking(|_| Err::<(), _>("x")).unwrap_err();
    let err = err.downcast_ref::<RetryError>().unwrap();
    assert_eq!(err.name(), None);
    assert!(err.to_string().starts_with("gave up"));
}

#[tokio::test(start_paused = true)]
async fn metrics_derive_rates_and_the_time_waited() {
    let metrics = Arc::new(RetryMetrics::default());
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .backoff(Backoff::linear(ms(100)))
        .metrics(metrics.clone())
        .build()
        .unwrap();
    let layer = RetryLayer::new(policy);
    // At once; after two retries (100 + 200 ms); never (100 + 200 ms).
    layer
        .layer(Scripted::new([Reply::ok(1)]))
        .oneshot(())
        .await
        .unwrap();
    layer
        .layer(Scripted::new([
            Reply::err("a"),
            Reply::err("b"),
            Reply::ok(1),
        ]))
        .oneshot(())
        .await
        .unwrap();
    layer
        .layer(Scripted::<u8>::new([]).then_always(Reply::err("x")))
        .oneshot(())
        .await
        .unwrap_err();
    let m = metrics.snapshot();
    assert_eq!(m.wait_time, ms(600));
    assert_eq!(m.completed(), 3);
    assert_eq!(m.successes(), 2);
    assert_eq!(m.success_rate(), Some(2.0 / 3.0));
    assert_eq!(m.average_attempts(), Some(7.0 / 3.0));
    assert_eq!(m.retry_rate(), Some(2.0 / 3.0));
    assert_eq!(m.average_wait(), Some(ms(150)));
    assert_eq!(m.failed, 0);
    // A request stopped before its first attempt.
    let token = CancelToken::new();
    token.cancel();
    let p = RetryPolicy::builder()
        .metrics(metrics.clone())
        .build()
        .unwrap();
    p.run_cancellable(&token, |_| async { Ok::<_, std::io::Error>(()) })
        .await
        .unwrap_err();
    let m = metrics.snapshot();
    assert_eq!((m.not_started, m.completed(), m.successes()), (1, 4, 2));
    // A request that ends with an error not retried.
    let p = RetryPolicy::builder()
        .metrics(metrics.clone())
        .classify_with(|_: &Attempt<'_, ()>, _: Result<&(), &&str>| Outcome::NonRetryable)
        .build()
        .unwrap();
    p.run_blocking(|_| Err::<(), _>("bad request")).unwrap_err();
    let m = metrics.snapshot();
    assert_eq!((m.failed, m.completed(), m.successes()), (1, 5, 2));
    assert_eq!(RetryMetrics::default().snapshot().success_rate(), None);
}
