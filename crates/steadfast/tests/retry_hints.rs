//! The retry layer and server hints, on tokio's paused clock: the per-request bound on hinted
//! waits, gRFC A6 pushback (its backoff restart and its refusal), and what the elapsed time
//! counts.

#![cfg(feature = "retry")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::classify::{Attempt, Outcome};
use steadfast::retry::{Backoff, RetryError, RetryEvent, RetryLayer, RetryPolicy, StopReason};
use steadfast::BoxError;
use steadfast_test::{Reply, Scripted, TestError};
use tower::{Layer, ServiceExt};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// One request through a retry layer of `policy` around `svc`.
async fn call<P>(policy: P, svc: &Scripted<u32>) -> Result<u32, BoxError>
where
    P: steadfast::retry::PolicyRef,
    RetryLayer<P>: Layer<Scripted<u32>>,
    <RetryLayer<P> as Layer<Scripted<u32>>>::Service:
        tower::Service<(), Response = u32, Error = BoxError>,
{
    RetryLayer::new(policy).layer(svc.clone()).oneshot(()).await
}

fn retry_error(e: &BoxError) -> &RetryError {
    e.downcast_ref::<RetryError>()
        .unwrap_or_else(|| panic!("expected a RetryError, got {e:?}"))
}

/// Classifies a status as a test server would send it: 2xx succeed; `1000 + n` (up to 9999)
/// is "retry after n seconds" (a `Retry-After`); `30000 + n` "pushed back n ms" (gRPC
/// pushback); 999 "do not retry"; the rest retryable with no hint.
fn by_status(_: &Attempt<'_, ()>, r: Result<&u32, &TestError>) -> Outcome {
    match r {
        Ok(200..=299) => Outcome::Success,
        Ok(&s @ 1000..=9999) => Outcome::retry_after(secs(u64::from(s - 1000))),
        Ok(&s @ 30000..=39999) => Outcome::pushed_back(ms(u64::from(s - 30000))),
        Ok(999) => Outcome::DoNotRetry,
        Ok(_) | Err(_) => Outcome::retryable(),
    }
}

/// The reasons of the `GiveUp` events a policy's listener saw.
type Reasons = Arc<Mutex<Vec<StopReason>>>;

fn give_ups() -> (Reasons, impl Fn(&RetryEvent<'_>) + Send + Sync + 'static) {
    let seen = Reasons::default();
    let listener = {
        let seen = seen.clone();
        move |e: &RetryEvent<'_>| {
            if let RetryEvent::GiveUp { reason, .. } = e {
                seen.lock().unwrap().push((*reason).clone());
            }
        }
    };
    (seen, listener)
}

#[tokio::test(start_paused = true)]
async fn hostile_hints_hold_a_request_no_longer_than_the_total_by_default() {
    // A server that answers every attempt with `Retry-After: 3600`. Each wait is clamped to
    // the 60 s `max_hint`; the default total (the same 60 s) allows only the first.
    let svc = Scripted::<u32>::new([]).then_always(Reply::ok(1000 + 3600));
    let (reasons, listener) = give_ups();
    let policy = RetryPolicy::builder()
        .classify_with(by_status)
        .on_event(listener)
        .build()
        .unwrap();
    let start = tokio::time::Instant::now();
    let resp = call(policy, &svc).await.unwrap();
    assert_eq!(resp, 4600, "the last answer is returned");
    assert_eq!(svc.gaps(), [secs(60)]);
    assert_eq!(start.elapsed(), secs(60));
    assert_eq!(*reasons.lock().unwrap(), [StopReason::MaxHintWait]);
}

#[tokio::test(start_paused = true)]
async fn hinted_waits_add_up_to_the_total_and_backoff_waits_do_not_count() {
    // 25 s hints: the first two fit in 60 s, the third would take the total to 75 s. The
    // backoff's own delays in between do not count.
    let svc = Scripted::<u32, ()>::new([
        Reply::ok(1025),
        Reply::err("down"),
        Reply::ok(1025),
        Reply::ok(1025),
    ]);
    let policy = RetryPolicy::builder()
        .max_attempts(10)
        .backoff(Backoff::constant(secs(30)))
        .classify_with(by_status)
        .build()
        .unwrap();
    let resp = call(policy, &svc).await.unwrap();
    assert_eq!(resp, 1025);
    assert_eq!(svc.gaps(), [secs(25), secs(30), secs(25)]);

    // An error stops with the reason in its `RetryError`; a set total replaces the default.
    let svc = Scripted::<u32>::new([]).then_always(Reply::err("slow down"));
    let policy = RetryPolicy::builder()
        .max_attempts(10)
        .max_hint_wait_total(secs(5))
        .classify_with(|_: &Attempt<'_, ()>, _: Result<&u32, &TestError>| {
            Outcome::retry_after(secs(2))
        })
        .build()
        .unwrap();
    let err = call(policy, &svc).await.unwrap_err();
    let err = retry_error(&err);
    assert_eq!(err.reason(), &StopReason::MaxHintWait);
    assert_eq!(err.attempts(), 3);
    assert_eq!(svc.gaps(), [secs(2), secs(2)]);
    assert_eq!(
        std::error::Error::source(err).unwrap().to_string(),
        "slow down"
    );
}

#[tokio::test(start_paused = true)]
async fn zero_hints_never_use_up_the_total() {
    let svc = Scripted::<u32>::new([Reply::ok(1060), Reply::ok(1000), Reply::ok(1000)])
        .then_always(Reply::ok(200));
    let policy = RetryPolicy::builder()
        .max_attempts(5)
        .classify_with(by_status)
        .build()
        .unwrap();
    let resp = call(policy, &svc).await.unwrap();
    assert_eq!(resp, 200);
    assert_eq!(svc.gaps(), [secs(60), ms(0), ms(0)]);
}

#[tokio::test(start_paused = true)]
async fn the_backoff_restarts_after_a_retry_made_at_a_pushback() {
    // gRFC A6's example: 100 ms, then a 500 ms pushback, then the schedule from its start.
    let svc = Scripted::<u32>::new([
        Reply::err("1"),
        Reply::ok(30500),
        Reply::err("3"),
        Reply::err("4"),
        Reply::ok(200),
    ]);
    let policy = RetryPolicy::builder()
        .max_attempts(5)
        .backoff(Backoff::exponential(ms(100)))
        .classify_with(by_status)
        .build()
        .unwrap();
    let resp = call(policy, &svc).await.unwrap();
    assert_eq!(resp, 200);
    assert_eq!(svc.gaps(), [ms(100), ms(500), ms(100), ms(200)]);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_hint_keeps_the_backoff_schedule_going() {
    // RFC 9110 says nothing of the waits after a `Retry-After`: the schedule carries on.
    let svc = Scripted::<u32>::new([
        Reply::err("1"),
        Reply::ok(1001),
        Reply::err("3"),
        Reply::ok(200),
    ]);
    let policy = RetryPolicy::builder()
        .max_attempts(4)
        .backoff(Backoff::exponential(ms(100)))
        .classify_with(by_status)
        .build()
        .unwrap();
    let resp = call(policy, &svc).await.unwrap();
    assert_eq!(resp, 200);
    assert_eq!(svc.gaps(), [ms(100), secs(1), ms(400)]);
}

#[tokio::test(start_paused = true)]
async fn a_pushback_restart_applies_to_the_decorrelated_schedule_too() {
    // Two runs with the same seed: one pushed back before its third attempt. After the
    // pushback, the delays are the first two of a fresh schedule.
    async fn gaps(replies: Vec<Reply<u32>>) -> Vec<Duration> {
        let svc = Scripted::<u32>::new(replies);
        let policy = RetryPolicy::builder()
            .max_attempts(6)
            .backoff(Backoff::decorrelated(ms(100)))
            .seed(7)
            .classify_with(by_status)
            .build()
            .unwrap();
        let resp = call(policy, &svc).await.unwrap();
        assert_eq!(resp, 200);
        svc.gaps()
    }
    let fresh = gaps(vec![Reply::err("1"), Reply::err("2"), Reply::ok(200)]).await;
    let pushed = gaps(vec![
        Reply::err("1"),
        Reply::ok(39000),
        Reply::err("3"),
        Reply::err("4"),
        Reply::ok(200),
    ])
    .await;
    assert_eq!(pushed[1], secs(9));
    // Each draw is uniform in [base, 3 × previous]: a fresh start is within [100, 300] ms.
    assert!(pushed[2] >= ms(100) && pushed[2] <= ms(300), "{pushed:?}");
    assert!(fresh[0] >= ms(100) && fresh[0] <= ms(300), "{fresh:?}");
    assert!(pushed[3] <= pushed[2] * 3, "{pushed:?}");
}

#[tokio::test(start_paused = true)]
async fn a_server_that_says_do_not_retry_stops_the_layer_with_its_reason() {
    // A response: returned as it is, after one attempt; the stop reason is told.
    let svc = Scripted::<u32>::new([]).then_always(Reply::ok(999));
    let (reasons, listener) = give_ups();
    let policy = RetryPolicy::builder()
        .max_attempts(5)
        .classify_with(by_status)
        .on_event(listener)
        .build()
        .unwrap();
    let resp = call(policy, &svc).await.unwrap();
    assert_eq!(resp, 999);
    assert_eq!(svc.calls(), 1);
    assert_eq!(*reasons.lock().unwrap(), [StopReason::ServerRefused]);

    // An error: a `RetryError` that says why, with the error as its source.
    let svc = Scripted::<u32>::new([Reply::err("transient"), Reply::err("go away")]);
    let policy = RetryPolicy::builder()
        .max_attempts(5)
        .backoff(Backoff::constant(ms(10)))
        .classify_with(|a: &Attempt<'_, ()>, _: Result<&u32, &TestError>| {
            if a.number == 2 {
                Outcome::DoNotRetry
            } else {
                Outcome::retryable()
            }
        })
        .build()
        .unwrap();
    let err = call(policy, &svc).await.unwrap_err();
    let err = retry_error(&err);
    assert_eq!(err.reason(), &StopReason::ServerRefused);
    assert_eq!(err.attempts(), 2);
    assert_eq!(svc.calls(), 2);
    assert_eq!(
        std::error::Error::source(err).unwrap().to_string(),
        "go away"
    );
    assert!(
        err.to_string().ends_with(": the server asked not to retry"),
        "{err}"
    );

    // The function-level API stops the same way.
    let policy = RetryPolicy::builder()
        .classify_with(|_: &Attempt<'_, ()>, _: Result<&u32, &TestError>| Outcome::DoNotRetry)
        .build()
        .unwrap();
    let mut calls = 0;
    let err = policy
        .run_blocking(|_| {
            calls += 1;
            Err::<u32, _>(TestError("no".into()))
        })
        .unwrap_err();
    assert_eq!(retry_error(&err).reason(), &StopReason::ServerRefused);
    assert_eq!(calls, 1);
}

#[tokio::test(start_paused = true)]
async fn the_elapsed_time_counts_from_the_first_attempt_for_closures_and_run() {
    // A closure classifier may read the elapsed time: the clock starts with the first
    // attempt, whose 40 ms are counted.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .backoff(Backoff::constant(ms(100)))
        .classify_with({
            let seen = seen.clone();
            move |a: &Attempt<'_, ()>, r: Result<&u32, &TestError>| {
                seen.lock().unwrap().push(a.elapsed);
                match r {
                    Ok(_) => Outcome::Success,
                    Err(_) => Outcome::retryable(),
                }
            }
        })
        .build()
        .unwrap();
    let value = policy
        .run(|n| async move {
            tokio::time::sleep(ms(40)).await;
            if n < 2 {
                Err(TestError("not yet".into()))
            } else {
                Ok(n)
            }
        })
        .await
        .unwrap();
    assert_eq!(value, 2);
    assert_eq!(*seen.lock().unwrap(), [ms(40), ms(180)]);

    // So does a listener's: the time given up after includes the first attempt.
    let elapsed = Arc::new(Mutex::new(None));
    let policy = RetryPolicy::builder()
        .max_attempts(2)
        .backoff(Backoff::constant(ms(100)))
        .on_event({
            let elapsed = elapsed.clone();
            move |e: &RetryEvent<'_>| {
                if let RetryEvent::GiveUp { elapsed: e, .. } = e {
                    *elapsed.lock().unwrap() = Some(*e);
                }
            }
        })
        .build()
        .unwrap();
    let err = policy
        .run(|_| async {
            tokio::time::sleep(ms(40)).await;
            Err::<(), _>(TestError("down".into()))
        })
        .await
        .unwrap_err();
    assert_eq!(*elapsed.lock().unwrap(), Some(ms(180)));
    assert_eq!(retry_error(&err).elapsed(), ms(180));
    assert_eq!(
        err.to_string(),
        "gave up after 2 attempts in 180ms: attempts exhausted"
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_cancelled_before_its_first_attempt_reports_no_time() {
    let token = steadfast::token::CancelToken::new();
    token.cancel();
    let err = RetryPolicy::default()
        .run_cancellable(&token, |_| async { Ok::<_, TestError>(()) })
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("gave up after 0 attempts: cancelled"),
        "{text}"
    );
    assert!(!text.contains(" in "), "{text}");
}
