//! The retry layer as a `Service`, on tokio's paused clock.

#![cfg(all(feature = "cancel", feature = "retry", feature = "http"))]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::classify::{Attempt, ErrorIs, Outcome};
use steadfast::retry::{
    Backoff, RetryError, RetryEvent, RetryLayer, RetryMetrics, RetryPolicy, StopReason, TokenBucket,
};
use steadfast::token::{CancelReason, CancelToken, HasCancelToken};
use steadfast::BoxError;
use steadfast_test::{ReadinessProbe, Reply, Scripted, TestError};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn policy(attempts: u32, backoff: Backoff) -> RetryPolicy {
    RetryPolicy::builder()
        .max_attempts(attempts)
        .backoff(backoff)
        .build()
        .unwrap()
}

fn retry_error(e: &BoxError) -> &RetryError {
    e.downcast_ref::<RetryError>()
        .unwrap_or_else(|| panic!("expected a RetryError, got {e:?}"))
}

/// A request type that carries a token, to show the trait is implementable.
#[derive(Clone, Debug)]
struct Job {
    id: u32,
    token: Option<CancelToken>,
}

impl HasCancelToken for Job {
    fn cancel_token(&self) -> Option<&CancelToken> {
        self.token.as_ref()
    }
}

#[tokio::test(start_paused = true)]
async fn exact_exponential_delays_between_attempts() {
    let svc = Scripted::new([
        Reply::err("1"),
        Reply::err("2"),
        Reply::err("3"),
        Reply::ok("done"),
    ]);
    let retry = RetryLayer::new(policy(5, Backoff::exponential(ms(100)))).layer(svc.clone());
    assert_eq!(retry.oneshot(()).await.unwrap(), "done");
    assert_eq!(svc.gaps(), [ms(100), ms(200), ms(400)]);
}

#[tokio::test(start_paused = true)]
async fn exhausted_attempts_keep_count_history_and_source() {
    let svc = Scripted::<()>::new([]).then_always(Reply::err("connection refused"));
    let retry = RetryLayer::new(policy(4, Backoff::linear(ms(10)))).layer(svc.clone());
    let start = Instant::now();
    let err = retry.oneshot(()).await.unwrap_err();
    let e = retry_error(&err);
    assert_eq!(e.attempts(), 4);
    assert_eq!(e.reason(), &StopReason::AttemptsExhausted);
    assert_eq!(e.elapsed(), ms(10 + 20 + 30));
    assert_eq!(start.elapsed(), ms(60));
    let source = std::error::Error::source(e).unwrap();
    assert_eq!(
        source.downcast_ref::<TestError>().unwrap().0,
        "connection refused"
    );
    let history: Vec<_> = e.history().collect();
    assert_eq!(history.len(), 4);
    assert_eq!(
        history.iter().map(|r| r.delay_after).collect::<Vec<_>>(),
        [Some(ms(10)), Some(ms(20)), Some(ms(30)), None]
    );
    assert!(history
        .iter()
        .all(|r| r.error.as_deref() == Some("connection refused")));
    assert_eq!(svc.calls(), 4);
}

#[tokio::test(start_paused = true)]
async fn non_retryable_errors_pass_through_unchanged() {
    let svc = Scripted::<()>::new([Reply::err("bad request")]);
    let policy = RetryPolicy::builder()
        .classify(ErrorIs::<std::io::Error>::new())
        .build()
        .unwrap();
    let retry = RetryLayer::new(policy).layer(svc.clone().map_err(BoxError::from));
    let err = retry.oneshot(()).await.unwrap_err();
    assert_eq!(err.downcast_ref::<TestError>().unwrap().0, "bad request");
    assert_eq!(svc.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_retryable_response_that_runs_out_is_returned() {
    let svc = Scripted::<u16>::new([]).then_always(Reply::ok(503));
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .backoff(Backoff::constant(ms(5)))
        .classify_with(|_: &Attempt<'_, ()>, r: Result<&u16, &TestError>| match r {
            Ok(503) | Err(_) => Outcome::retryable(),
            _ => Outcome::Success,
        })
        .build()
        .unwrap();
    let resp = RetryLayer::new(policy)
        .layer(svc.clone())
        .oneshot(())
        .await
        .unwrap();
    assert_eq!(resp, 503);
    assert_eq!(svc.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn server_hints_replace_the_backoff_and_are_clamped() {
    let svc = Scripted::<u16>::new([Reply::ok(429), Reply::ok(430), Reply::ok(200)]);
    let policy = RetryPolicy::builder()
        .max_attempts(5)
        .backoff(Backoff::constant(ms(1)))
        .max_hint(Duration::from_secs(60))
        // Room for both waits: this test is about the clamp of each one.
        .max_hint_wait_total(Duration::from_secs(3600))
        .classify_with(|_: &Attempt<'_, ()>, r: Result<&u16, &TestError>| match r {
            Ok(429) => Outcome::retry_after(Duration::from_secs(5)),
            Ok(430) => Outcome::retry_after(Duration::from_secs(2 * 3600)),
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::retryable(),
        })
        .build()
        .unwrap();
    let resp = RetryLayer::new(policy)
        .layer(svc.clone())
        .oneshot(())
        .await
        .unwrap();
    assert_eq!(resp, 200);
    assert_eq!(
        svc.gaps(),
        [Duration::from_secs(5), Duration::from_secs(60)]
    );
}

#[tokio::test(start_paused = true)]
async fn max_elapsed_counts_the_first_attempt_and_stops_before_overrunning() {
    // Each attempt takes 1 s and the backoff is 1 s, limit 4.5 s: attempts run 0-1 s, 2-3 s
    // (3 s + 1 s of delay fits) and 4-5 s; at 5 s no further retry fits, so it stops. A
    // running attempt is not cut short: that is a timeout's job.
    let svc = Scripted::<()>::new([]).then_always(Reply::err("slow").after(ms(1000)));
    let policy = RetryPolicy::builder()
        .max_attempts(10)
        .backoff(Backoff::constant(ms(1000)))
        .max_elapsed(ms(4500))
        .build()
        .unwrap();
    let err = RetryLayer::new(policy)
        .layer(svc.clone())
        .oneshot(())
        .await
        .unwrap_err();
    let e = retry_error(&err);
    assert_eq!(e.reason(), &StopReason::MaxElapsed);
    assert_eq!(e.attempts(), 3);
    assert_eq!(e.elapsed(), ms(5000));
    assert_eq!(svc.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn the_tokens_deadline_stops_retries_that_would_overrun_it() {
    let svc = Scripted::<(), Job>::new([]).then_always(Reply::err("down"));
    let token = CancelToken::with_deadline(Instant::now() + ms(250));
    let retry = RetryLayer::new(policy(10, Backoff::constant(ms(100)))).layer(svc.clone());
    let err = retry
        .oneshot(Job {
            id: 1,
            token: Some(token),
        })
        .await
        .unwrap_err();
    let e = retry_error(&err);
    assert_eq!(e.reason(), &StopReason::Deadline);
    // Attempts at 0 and 100 ms and 200 ms; a fourth would start at 300 ms, past the deadline.
    assert_eq!(svc.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn policy_deadline_applies_too() {
    let svc = Scripted::<()>::new([]).then_always(Reply::err("down"));
    let policy = RetryPolicy::builder()
        .max_attempts(100)
        .backoff(Backoff::constant(ms(100)))
        .deadline(Instant::now() + ms(1000))
        .build()
        .unwrap();
    let err = RetryLayer::new(policy)
        .layer(svc.clone())
        .oneshot(())
        .await
        .unwrap_err();
    assert_eq!(retry_error(&err).reason(), &StopReason::Deadline);
    assert_eq!(svc.calls(), 10);
}

#[tokio::test(start_paused = true)]
async fn cancelling_during_backoff_returns_at_once_and_sends_nothing_more() {
    let svc = Scripted::<(), Job>::new([]).then_always(Reply::err("unavailable"));
    let token = CancelToken::new();
    let retry =
        RetryLayer::new(policy(5, Backoff::constant(Duration::from_secs(3600)))).layer(svc.clone());
    let start = Instant::now();
    let task = tokio::spawn(retry.oneshot(Job {
        id: 7,
        token: Some(token.clone()),
    }));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(svc.calls(), 1, "first attempt made, now sleeping");
    token.cancel_with(CancelReason::ClientDisconnected);
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_secs(1), "woke at once");
    let e = retry_error(&err);
    assert_eq!(
        e.reason(),
        &StopReason::Cancelled(CancelReason::ClientDisconnected)
    );
    assert!(e.is_cancelled());
    assert_eq!(e.attempts(), 1);
    assert_eq!(
        std::error::Error::source(e).unwrap().to_string(),
        "unavailable"
    );
    assert_eq!(
        err.to_string(),
        // The policy reads no clock on the success path: its clock started at the failure.
        "gave up after 1 attempt, 1s after the first failure: cancelled (client disconnected)"
    );
    tokio::time::sleep(Duration::from_secs(7200)).await;
    assert_eq!(svc.calls(), 1, "no attempt after cancellation");
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_request_is_never_sent() {
    let svc = Scripted::<(), Job>::new([]);
    let token = CancelToken::new();
    token.cancel_with(CancelReason::Shutdown);
    let metrics = Arc::new(RetryMetrics::default());
    let policy = RetryPolicy::builder()
        .metrics(metrics.clone())
        .build()
        .unwrap();
    let err = RetryLayer::new(policy)
        .layer(svc.clone())
        .oneshot(Job {
            id: 1,
            token: Some(token),
        })
        .await
        .unwrap_err();
    let e = retry_error(&err);
    assert_eq!(e.attempts(), 0);
    assert_eq!(e.reason(), &StopReason::Cancelled(CancelReason::Shutdown));
    assert_eq!(svc.calls(), 0);
    let m = metrics.snapshot();
    assert_eq!((m.requests, m.gave_up, m.cancelled), (1, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn child_tokens_report_the_parents_reason() {
    let svc = Scripted::<(), Job>::new([]).then_always(Reply::err("down"));
    let shutdown = CancelToken::new();
    let retry =
        RetryLayer::new(policy(5, Backoff::constant(Duration::from_secs(10)))).layer(svc.clone());
    let task = tokio::spawn(retry.oneshot(Job {
        id: 1,
        token: Some(shutdown.child()),
    }));
    tokio::time::sleep(ms(10)).await;
    shutdown.cancel_with(CancelReason::Shutdown);
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(
        retry_error(&err).reason(),
        &StopReason::Cancelled(CancelReason::Shutdown)
    );
}

#[tokio::test(start_paused = true)]
async fn every_attempt_is_preceded_by_poll_ready() {
    let svc = Scripted::<u32, Job>::new([Reply::err("a"), Reply::err("b"), Reply::ok(1)]);
    let probe = ReadinessProbe::new(svc.clone());
    let mut retry = RetryLayer::new(policy(3, Backoff::constant(ms(10)))).layer(probe.clone());
    // `ready` then `call`, as a caller must; the retries inside must do the same.
    let resp = retry
        .ready()
        .await
        .unwrap()
        .call(Job { id: 1, token: None })
        .await
        .unwrap();
    assert_eq!(resp, 1);
    assert_eq!(probe.calls(), 3);
    assert_eq!(probe.ready_polls(), 3);
}

#[tokio::test(start_paused = true)]
#[should_panic(expected = "readiness contract broken")]
async fn the_probe_catches_a_call_without_ready() {
    // The probe itself must be able to fail.
    let mut probe = ReadinessProbe::new(Scripted::<u32>::new([Reply::ok(1)]));
    drop(probe.call(()));
}

#[tokio::test(start_paused = true)]
async fn the_concurrency_permit_is_free_during_backoff() {
    let svc = Scripted::<&'static str, Job>::new([
        Reply::err("A fails first"),
        Reply::ok("B"),
        Reply::ok("A"),
    ]);
    let stack = ServiceBuilder::new()
        .layer(RetryLayer::new(policy(3, Backoff::constant(ms(1000)))))
        .concurrency_limit(1)
        .service(svc.clone());

    let a = tokio::spawn(stack.clone().oneshot(Job { id: 1, token: None }));
    tokio::time::sleep(ms(10)).await;
    assert_eq!(svc.calls(), 1, "A's first attempt failed; A is sleeping");

    // B goes through while A sleeps: A does not hold the only permit across its backoff.
    let start = Instant::now();
    let b = stack
        .clone()
        .oneshot(Job { id: 2, token: None })
        .await
        .unwrap();
    assert_eq!(b, "B");
    assert_eq!(start.elapsed(), Duration::ZERO);

    assert_eq!(a.await.unwrap().unwrap(), "A");
    let ids: Vec<u32> = svc.requests().iter().map(|j| j.id).collect();
    assert_eq!(ids, [1, 2, 1]);
}

#[tokio::test(start_paused = true)]
async fn budget_exhaustion_is_its_own_error_and_event() {
    let bucket = Arc::new(
        TokenBucket::builder()
            .capacity(10)
            .retry_cost(5)
            .success_refund(0)
            .build()
            .unwrap(),
    );
    let events = Arc::new(Mutex::new(Vec::new()));
    let policy = RetryPolicy::builder()
        .max_attempts(10)
        .backoff(Backoff::none())
        .budget(bucket.clone())
        .on_event({
            let events = events.clone();
            move |e: &RetryEvent<'_>| {
                let name = match e {
                    RetryEvent::Retry { .. } => "retry",
                    RetryEvent::BudgetExhausted { .. } => "budget",
                    RetryEvent::GiveUp { .. } => "give-up",
                    RetryEvent::Success { .. } => "success",
                    // Attempt starts and ends are not what this test is about.
                    RetryEvent::AttemptStarting { .. }
                    | RetryEvent::AttemptFinished { .. }
                    | RetryEvent::RequestFinished { .. } => return,
                    _ => "other",
                };
                events.lock().unwrap().push(name);
            }
        })
        .build()
        .unwrap();
    let svc = Scripted::<()>::new([]).then_always(Reply::err("down"));
    let err = RetryLayer::new(policy)
        .layer(svc.clone())
        .oneshot(())
        .await
        .unwrap_err();
    let e = retry_error(&err);
    assert_eq!(e.reason(), &StopReason::BudgetExhausted);
    assert_eq!(e.attempts(), 3, "two retries bought with 10 tokens");
    assert_eq!(bucket.level(), 0);
    assert_eq!(
        *events.lock().unwrap(),
        ["retry", "retry", "budget", "give-up"]
    );
}

#[tokio::test(start_paused = true)]
async fn clones_share_one_budget() {
    let bucket = Arc::new(
        TokenBucket::builder()
            .capacity(2)
            .retry_cost(1)
            .success_refund(0)
            .build()
            .unwrap(),
    );
    let policy = RetryPolicy::builder()
        .max_attempts(2)
        .backoff(Backoff::none())
        .budget(bucket)
        .build()
        .unwrap();
    let svc = Scripted::<()>::new([]).then_always(Reply::err("down"));
    let retry = RetryLayer::new(policy).layer(svc.clone());
    let mut reasons = Vec::new();
    for _ in 0..3 {
        let err = retry.clone().oneshot(()).await.unwrap_err();
        reasons.push(retry_error(&err).reason().clone());
    }
    assert_eq!(
        reasons,
        [
            StopReason::AttemptsExhausted,
            StopReason::AttemptsExhausted,
            StopReason::BudgetExhausted
        ]
    );
    assert_eq!(svc.calls(), 2 + 2 + 1);
}

#[tokio::test(start_paused = true)]
async fn events_and_metrics_describe_what_happened() {
    let metrics = Arc::new(RetryMetrics::default());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let policy = RetryPolicy::builder()
        .max_attempts(5)
        .backoff(Backoff::exponential(ms(10)))
        .metrics(metrics.clone())
        .on_event({
            let seen = seen.clone();
            move |e: &RetryEvent<'_>| match e {
                RetryEvent::Retry {
                    attempt,
                    delay,
                    error,
                    ..
                } => seen.lock().unwrap().push(format!(
                    "retry {attempt} after {delay:?} ({})",
                    error.unwrap()
                )),
                RetryEvent::Success { attempts, elapsed } => seen
                    .lock()
                    .unwrap()
                    .push(format!("success after {attempts} in {elapsed:?}")),
                _ => {}
            }
        })
        .build()
        .unwrap();
    let svc = Scripted::new([
        Reply::err("e1"),
        Reply::err("e2"),
        Reply::ok(1),
        Reply::ok(2),
    ]);
    let retry = RetryLayer::new(policy).layer(svc.clone());
    assert_eq!(retry.clone().oneshot(()).await.unwrap(), 1);
    assert_eq!(retry.oneshot(()).await.unwrap(), 2);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "retry 1 after 10ms (e1)",
            "retry 2 after 20ms (e2)",
            // Without max_elapsed the clock starts when the first attempt fails.
            "success after 3 in 30ms",
        ]
    );
    let m = metrics.snapshot();
    assert_eq!(m.requests, 2);
    assert_eq!(m.retries, 2);
    assert_eq!(m.successes_after_retry, 1);
    assert_eq!(m.gave_up, 0);
    assert_eq!(m.attempts[0], 1, "one request took one attempt");
    assert_eq!(m.attempts[2], 1, "one request took three attempts");
}

#[tokio::test(start_paused = true)]
async fn a_request_that_cannot_be_cloned_is_sent_once() {
    let svc = Scripted::<(), u32>::new([Reply::err("down")]);
    let policy = RetryPolicy::builder()
        .clone_requests_with(|_: &u32| None)
        .build()
        .unwrap();
    let err = RetryLayer::new(policy)
        .layer(svc.clone())
        .oneshot(9)
        .await
        .unwrap_err();
    assert_eq!(err.downcast_ref::<TestError>().unwrap().0, "down");
    assert_eq!(svc.requests(), [9]);
}

#[tokio::test(start_paused = true)]
async fn custom_cloning_decides_per_request() {
    // Even requests can be cloned, odd ones cannot.
    let svc = Scripted::<u32, u32>::new([])
        .then_always(Reply::err("down"))
        .clone();
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .backoff(Backoff::none())
        .clone_requests_with(|r: &u32| (r % 2 == 0).then_some(*r))
        .build()
        .unwrap();
    let retry = RetryLayer::new(policy).layer(svc.clone());
    let _ = retry.clone().oneshot(2).await;
    let _ = retry.oneshot(3).await;
    assert_eq!(svc.requests(), [2, 2, 2, 3]);
}

/// Clones every request, but says requests above 100 can no longer be resent.
#[derive(Clone, Copy)]
struct SmallOnly;

impl steadfast::retry::CloneRequest<u32> for SmallOnly {
    fn clone_request(&self, req: &u32) -> Option<u32> {
        Some(*req)
    }
    fn can_resend(&self, kept: &u32) -> Result<(), &'static str> {
        if *kept > 100 {
            Err("too large to replay")
        } else {
            Ok(())
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_kept_request_that_cannot_be_resent_stops_with_the_reason() {
    let svc = Scripted::<u32, u32>::new([])
        .then_always(Reply::err("down"))
        .clone();
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .backoff(Backoff::none())
        .clone_requests(SmallOnly)
        .build()
        .unwrap();
    let retry = RetryLayer::new(policy).layer(svc.clone());
    let err = retry.clone().oneshot(500).await.unwrap_err();
    let err = err.downcast_ref::<RetryError>().unwrap();
    assert_eq!(
        err.reason(),
        &StopReason::NotReplayable("too large to replay")
    );
    assert_eq!(err.attempts(), 1);
    assert!(err.to_string().contains("too large to replay"), "{err}");
    let _ = retry.oneshot(7).await;
    assert_eq!(svc.requests(), [500, 7, 7, 7]);
}

#[tokio::test(start_paused = true)]
async fn classifiers_see_the_attempt_context() {
    // Accept a "partial" answer only from the third attempt on: retry until valid.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let policy = RetryPolicy::builder()
        .max_attempts(5)
        .backoff(Backoff::constant(ms(50)))
        .classify_with({
            let seen = seen.clone();
            move |a: &Attempt<'_, u32>, r: Result<&&str, &TestError>| {
                seen.lock()
                    .unwrap()
                    .push((a.number, a.total_delay, a.request.copied()));
                match r {
                    Ok(&"partial") if a.number < 3 => Outcome::Invalid,
                    Ok(_) => Outcome::Success,
                    Err(_) => Outcome::retryable(),
                }
            }
        })
        .build()
        .unwrap();
    let svc = Scripted::<&str, u32>::new([]).then_always(Reply::ok("partial"));
    let out = RetryLayer::new(policy)
        .layer(svc.clone())
        .oneshot(42)
        .await
        .unwrap();
    assert_eq!(out, "partial");
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (1, Duration::ZERO, Some(42)),
            (2, ms(50), Some(42)),
            (3, ms(100), Some(42)),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_attempts_work() {
    let mut script: Vec<Reply<u32>> = (0..10_000).map(|_| Reply::err("again")).collect();
    script.push(Reply::ok(10_001));
    let svc = Scripted::new(script);
    let retry =
        RetryLayer::new(policy(10_001, Backoff::exponential(ms(1)).max(ms(1)))).layer(svc.clone());
    assert_eq!(retry.oneshot(()).await.unwrap(), 10_001);
    assert_eq!(svc.calls(), 10_001);
}

#[tokio::test(start_paused = true)]
async fn single_attempt_policies_do_not_clone_or_retry() {
    let svc = Scripted::<(), u32>::new([Reply::err("down")]);
    let err = RetryLayer::new(policy(1, Backoff::none()))
        .layer(svc.clone())
        .oneshot(1)
        .await
        .unwrap_err();
    // With one attempt allowed the request is never copied, so the error is the inner one.
    assert_eq!(err.downcast_ref::<TestError>().unwrap().0, "down");
}

#[tokio::test(start_paused = true)]
async fn http_requests_are_retried_with_their_token() {
    let svc = Scripted::<u16, http::Request<String>>::new([]).then_always(Reply::err("reset"));
    let token = CancelToken::new();
    let mut req = http::Request::new("body".to_string());
    req.extensions_mut().insert(token.clone());
    let retry =
        RetryLayer::new(policy(5, Backoff::constant(Duration::from_secs(30)))).layer(svc.clone());
    let task = tokio::spawn(retry.oneshot(req));
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert_eq!(svc.calls(), 2);
    token.cancel_with(CancelReason::ClientDisconnected);
    let err = task.await.unwrap().unwrap_err();
    assert!(retry_error(&err).is_cancelled());
    assert_eq!(svc.requests()[1].body(), "body");
}

#[tokio::test(start_paused = true)]
async fn seeded_jitter_is_reproducible_and_within_the_band() {
    async fn gaps(seed: u64) -> Vec<Duration> {
        let svc = Scripted::<()>::new([]).then_always(Reply::err("down"));
        let policy = RetryPolicy::builder()
            .max_attempts(6)
            .backoff(Backoff::exponential(ms(100)).jitter(steadfast::retry::Jitter::Full))
            .seed(seed)
            .build()
            .unwrap();
        let _ = RetryLayer::new(policy).layer(svc.clone()).oneshot(()).await;
        svc.gaps()
    }
    let a = gaps(11).await;
    assert_eq!(a, gaps(11).await);
    assert_ne!(a, gaps(12).await);
    for (i, gap) in a.iter().enumerate() {
        assert!(*gap <= ms(100) * 2u32.pow(i as u32), "gap {i} = {gap:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_static_policy_retries_like_an_owned_one() {
    static POLICY: std::sync::LazyLock<RetryPolicy> = std::sync::LazyLock::new(|| {
        RetryPolicy::builder()
            .max_attempts(3)
            .backoff(Backoff::constant(Duration::from_millis(10)))
            .build()
            .unwrap()
    });
    let svc = Scripted::new([Reply::err("a"), Reply::ok(5)]);
    let layer = RetryLayer::new(&*POLICY);
    assert_eq!(layer.policy().max_attempts(), 3);
    let retry = layer.layer(svc.clone());
    assert_eq!(retry.policy().max_attempts(), 3);
    assert_eq!(retry.oneshot(()).await.unwrap(), 5);
    assert_eq!(svc.gaps(), [ms(10)]);
}

#[tokio::test(start_paused = true)]
async fn a_token_without_retries_gets_one_attempt() {
    let svc = Scripted::<(), Job>::new([])
        .then_always(Reply::err("down"))
        .clone();
    let retry = RetryLayer::new(policy(5, Backoff::constant(ms(10)))).layer(svc.clone());
    let inbound = CancelToken::new().child_without_retries();
    let job = Job {
        id: 1,
        token: Some(inbound.child()),
    };
    let err = retry.clone().oneshot(job).await.unwrap_err();
    assert_eq!(retry_error(&err).reason(), &StopReason::RetriesSuppressed);
    assert_eq!(svc.calls(), 1);
    let job = Job {
        id: 2,
        token: Some(CancelToken::new()),
    };
    let _ = retry.oneshot(job).await;
    assert_eq!(svc.calls(), 6);
}

/// Retries failures and writes down the elapsed time each attempt's context reports; says
/// whether it reads that time through `reads_elapsed`.
#[derive(Clone)]
struct Timing {
    reads: bool,
    seen: Arc<Mutex<Vec<Duration>>>,
}

impl steadfast::classify::Classify<(), u16, TestError> for Timing {
    fn classify(&self, a: &Attempt<'_, ()>, r: Result<&u16, &TestError>) -> Outcome {
        self.seen.lock().unwrap().push(a.elapsed);
        match r {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::retryable(),
        }
    }

    fn reads_elapsed(&self) -> bool {
        self.reads
    }
}

#[tokio::test(start_paused = true)]
async fn the_elapsed_time_is_filled_in_only_for_classifiers_that_read_it() {
    for reads in [true, false] {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let svc = Scripted::<u16>::new([
            Reply::err("first").after(ms(100)),
            Reply::ok(200).after(ms(100)),
        ]);
        let policy = RetryPolicy::builder()
            .max_attempts(3)
            .backoff(Backoff::constant(ms(50)))
            .classify(Timing {
                reads,
                seen: seen.clone(),
            })
            .build()
            .unwrap();
        let resp = RetryLayer::new(policy)
            .layer(svc.clone())
            .oneshot(())
            .await
            .unwrap();
        assert_eq!(resp, 200);
        // A classifier that reads the elapsed time has the clock start with the first attempt:
        // that attempt took 100 ms, and the retry ends 50 ms of backoff and 100 ms of call
        // later. The others see zero, and cost no clock read.
        let expected = if reads {
            vec![ms(100), ms(250)]
        } else {
            vec![Duration::ZERO, Duration::ZERO]
        };
        assert_eq!(*seen.lock().unwrap(), expected, "reads_elapsed = {reads}");
    }
}
