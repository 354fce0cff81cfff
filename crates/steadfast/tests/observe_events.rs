//! Every layer tells an `Observer` what it does, under the layer's name: the events each kind
//! of layer sends for each way a request can go, on tokio's paused clock.

#![cfg(all(
    feature = "retry",
    feature = "circuit-breaker",
    feature = "cancel",
    feature = "validate",
    feature = "chaos",
    feature = "http"
))]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::cancel::{CancelEvent, CancelLayer};
use steadfast::chaos::{
    ChaosEvent, ChaosLayer, ChaosSwitch, FaultInjection, LatencyInjection, OutcomeInjection,
};
use steadfast::circuit_breaker::{
    BreakerEvent, CircuitBreaker, CircuitBreakerLayer, KeyedBreakers,
};
use steadfast::classify::{Attempt, Outcome};
use steadfast::observe::{
    BreakerListener, CancelListener, ChaosListener, Observer, RetryListener, ValidateListener,
};
use steadfast::retry::{Backoff, RequestEnd, RetryEvent, RetryLayer, RetryPolicy, TokenBucket};
use steadfast::token::{CancelReason, CancelToken, HasCancelToken};
use steadfast::validate::{ensure, ValidateEvent, ValidateLayer};
use steadfast_test::{Reply, Scripted, TestError};
use tower::{Layer, Service, ServiceExt};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// An observer that writes every event it is given as a line: `layer: event`.
#[derive(Clone, Default)]
struct Recorder {
    lines: Arc<Mutex<Vec<String>>>,
    /// The layers it was asked about, as `kind name`.
    asked: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn lines(&self) -> Vec<String> {
        std::mem::take(&mut *self.lines.lock().unwrap())
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }

    fn observer(&self) -> Arc<dyn Observer> {
        Arc::new(self.clone())
    }

    fn sink(&self, kind: &str, layer: &str) -> impl Fn(String) + Send + Sync + 'static {
        self.asked.lock().unwrap().push(format!("{kind} {layer}"));
        let lines = self.lines.clone();
        let layer = layer.to_string();
        move |line| lines.lock().unwrap().push(format!("{layer}: {line}"))
    }
}

fn retry_line(e: &RetryEvent<'_>) -> String {
    match e {
        RetryEvent::AttemptStarting { attempt, .. } => format!("starting {attempt}"),
        RetryEvent::AttemptFinished {
            attempt,
            duration,
            outcome,
        } => format!("attempt {attempt} took {duration:?}: {outcome}"),
        RetryEvent::Retry { attempt, delay, .. } => format!("retry after {attempt} in {delay:?}"),
        RetryEvent::Success { attempts, .. } => format!("success after {attempts}"),
        RetryEvent::BudgetExhausted { attempts } => format!("budget exhausted after {attempts}"),
        RetryEvent::GiveUp {
            attempts, reason, ..
        } => format!("give up after {attempts}: {reason}"),
        RetryEvent::RequestFinished {
            attempts,
            elapsed,
            end,
        } => {
            let end = match end {
                RequestEnd::Success => "success".to_string(),
                RequestEnd::Failed => "failed".to_string(),
                RequestEnd::GaveUp(reason) => format!("gave up ({reason})"),
                other => format!("{other:?}"),
            };
            format!("finished: {attempts} attempts in {elapsed:?}, {end}")
        }
        other => format!("{other:?}"),
    }
}

fn breaker_line(e: &BreakerEvent<'_>) -> String {
    match e {
        BreakerEvent::StateTransition { from, to, .. } => format!("{from} -> {to}"),
        BreakerEvent::CallPermitted { state, .. } => format!("permitted ({state})"),
        BreakerEvent::CallRejected { state, .. } => format!("rejected ({state})"),
        BreakerEvent::Success { .. } => "success".into(),
        BreakerEvent::Failure { .. } => "failure".into(),
        BreakerEvent::Slow { duration, .. } => format!("slow {duration:?}"),
        BreakerEvent::Invalid { .. } => "invalid".into(),
        BreakerEvent::Ignored { .. } => "ignored".into(),
        other => format!("{other:?}"),
    }
}

fn cancel_line(e: &CancelEvent<'_>) -> String {
    match e {
        CancelEvent::Completed { elapsed, ok } => format!("completed in {elapsed:?}, ok: {ok}"),
        CancelEvent::Cancelled { reason, elapsed } => {
            format!("cancelled in {elapsed:?}: {reason}")
        }
        CancelEvent::Dropped { elapsed } => format!("dropped after {elapsed:?}"),
        other => format!("{other:?}"),
    }
}

fn validate_line(e: &ValidateEvent<'_>) -> String {
    let reasons = |r: &[steadfast::validate::Reason]| {
        r.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
    };
    match e {
        ValidateEvent::RequestInvalid { reasons: r } => format!("request invalid: {}", reasons(r)),
        ValidateEvent::ResponseInvalid {
            reasons: r,
            elapsed,
        } => format!("response invalid after {elapsed:?}: {}", reasons(r)),
        ValidateEvent::ResponseValid { elapsed } => format!("response valid after {elapsed:?}"),
        other => format!("{other:?}"),
    }
}

impl Observer for Recorder {
    fn retry(&self, layer: &str) -> Option<RetryListener> {
        let sink = self.sink("retry", layer);
        Some(Arc::new(move |e: &RetryEvent<'_>| sink(retry_line(e))))
    }

    fn breaker(&self, layer: &str) -> Option<BreakerListener> {
        let sink = self.sink("breaker", layer);
        Some(Arc::new(move |e: &BreakerEvent<'_>| sink(breaker_line(e))))
    }

    fn cancel(&self, layer: &str) -> Option<CancelListener> {
        let sink = self.sink("cancel", layer);
        Some(Arc::new(move |e: &CancelEvent<'_>| sink(cancel_line(e))))
    }

    fn validate(&self, layer: &str) -> Option<ValidateListener> {
        let sink = self.sink("validate", layer);
        Some(Arc::new(move |e: &ValidateEvent<'_>| {
            sink(validate_line(e))
        }))
    }

    fn chaos(&self, layer: &str) -> Option<ChaosListener> {
        let sink = self.sink("chaos", layer);
        Some(Arc::new(move |e: &ChaosEvent| match e {
            ChaosEvent::Injected { injection } => sink(format!("injected {injection}")),
            other => sink(format!("{other:?}")),
        }))
    }
}

/// A request type that carries a cancellation token.
#[derive(Clone, Debug, Default)]
struct Job {
    token: Option<CancelToken>,
}

impl HasCancelToken for Job {
    fn cancel_token(&self) -> Option<&CancelToken> {
        self.token.as_ref()
    }
}

fn retry_policy(rec: &Recorder, attempts: u32) -> RetryPolicy {
    RetryPolicy::builder()
        .name("payments")
        .max_attempts(attempts)
        .backoff(Backoff::constant(ms(100)))
        .observe(rec.observer())
        .build()
        .unwrap()
}

// ----- retry -----

#[tokio::test(start_paused = true)]
async fn retry_success_first_time() {
    let rec = Recorder::default();
    let svc = Scripted::<u32, Job>::new([Reply::ok(1).after(ms(10))]);
    let retry = RetryLayer::new(retry_policy(&rec, 3)).layer(svc);
    assert_eq!(retry.oneshot(Job::default()).await.unwrap(), 1);
    assert_eq!(rec.asked(), ["retry payments"]);
    assert_eq!(
        rec.lines(),
        [
            "payments: starting 1",
            "payments: attempt 1 took 10ms: success",
            "payments: finished: 1 attempts in 10ms, success",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn retry_success_after_retries() {
    let rec = Recorder::default();
    let svc =
        Scripted::<u32, Job>::new([Reply::err("busy").after(ms(10)), Reply::ok(2).after(ms(20))]);
    let retry = RetryLayer::new(retry_policy(&rec, 3)).layer(svc);
    assert_eq!(retry.oneshot(Job::default()).await.unwrap(), 2);
    assert_eq!(
        rec.lines(),
        [
            "payments: starting 1",
            "payments: attempt 1 took 10ms: retryable failure",
            "payments: retry after 1 in 100ms",
            "payments: starting 2",
            "payments: attempt 2 took 20ms: success",
            "payments: success after 2",
            "payments: finished: 2 attempts in 130ms, success",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn retry_gives_up_when_the_attempts_run_out() {
    let rec = Recorder::default();
    let svc = Scripted::<u32, Job>::new([Reply::err("a"), Reply::err("b").after(ms(5))]);
    let retry = RetryLayer::new(retry_policy(&rec, 2)).layer(svc);
    retry.oneshot(Job::default()).await.unwrap_err();
    assert_eq!(
        rec.lines(),
        [
            "payments: starting 1",
            "payments: attempt 1 took 0ns: retryable failure",
            "payments: retry after 1 in 100ms",
            "payments: starting 2",
            "payments: attempt 2 took 5ms: retryable failure",
            "payments: give up after 2: attempts exhausted",
            "payments: finished: 2 attempts in 105ms, gave up (attempts exhausted)",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn retry_budget_refusal_ends_the_request_once() {
    let rec = Recorder::default();
    let bucket = TokenBucket::builder()
        .capacity(1)
        .retry_cost(1)
        .success_refund(0)
        .build()
        .unwrap();
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .backoff(Backoff::none())
        .budget(Arc::new(bucket))
        .observe(rec.observer())
        .build()
        .unwrap();
    // The first request spends the only token on its retry, the second is refused one.
    let svc = Scripted::<u32, Job>::new([Reply::err("a"), Reply::ok(1), Reply::err("b")]);
    let retry = RetryLayer::new(policy).layer(svc);
    retry.clone().oneshot(Job::default()).await.unwrap();
    rec.lines();
    let err = retry.oneshot(Job::default()).await.unwrap_err();
    assert!(err.to_string().contains("budget"), "{err}");
    assert_eq!(
        rec.lines(),
        [
            "retry: starting 1",
            "retry: attempt 1 took 0ns: retryable failure",
            "retry: budget exhausted after 1",
            "retry: give up after 1: retry budget exhausted",
            "retry: finished: 1 attempts in 0ns, gave up (retry budget exhausted)",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn retry_failure_not_retried_is_failed() {
    let rec = Recorder::default();
    let policy = RetryPolicy::builder()
        .name("payments")
        .classify_with(
            |_: &Attempt<'_, Job>, r: Result<&u32, &TestError>| match r {
                Ok(_) => Outcome::Success,
                Err(_) => Outcome::NonRetryable,
            },
        )
        .observe(rec.observer())
        .build()
        .unwrap();
    let svc = Scripted::<u32, Job>::new([Reply::err("bad request").after(ms(3))]);
    RetryLayer::new(policy)
        .layer(svc)
        .oneshot(Job::default())
        .await
        .unwrap_err();
    assert_eq!(
        rec.lines(),
        [
            "payments: starting 1",
            "payments: attempt 1 took 3ms: non-retryable failure",
            "payments: finished: 1 attempts in 3ms, failed",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn retry_cancelled_during_the_wait_and_before_the_first_attempt() {
    let rec = Recorder::default();
    let svc = Scripted::<u32, Job>::new([Reply::err("a")]);
    let retry = RetryLayer::new(retry_policy(&rec, 3)).layer(svc.clone());
    let token = CancelToken::new();
    let job = Job {
        token: Some(token.clone()),
    };
    let call = tokio::spawn(retry.clone().oneshot(job.clone()));
    tokio::time::sleep(ms(30)).await;
    token.cancel_with(CancelReason::Timeout(ms(30)));
    call.await.unwrap().unwrap_err();
    assert_eq!(
        rec.lines(),
        [
            "payments: starting 1",
            "payments: attempt 1 took 0ns: retryable failure",
            "payments: retry after 1 in 100ms",
            "payments: give up after 1: cancelled (timed out after 30ms)",
            "payments: finished: 1 attempts in 30ms, gave up (cancelled (timed out after 30ms))",
        ]
    );

    // The token has fired already: nothing is sent, and the request still ends once.
    retry.oneshot(job).await.unwrap_err();
    assert_eq!(svc.calls(), 1);
    assert_eq!(
        rec.lines(),
        [
            "payments: give up after 0: cancelled (timed out after 30ms)",
            "payments: finished: 0 attempts in 0ns, gave up (cancelled (timed out after 30ms))",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn retry_run_and_run_blocking_send_the_same_events() {
    let rec = Recorder::default();
    let policy = retry_policy(&rec, 3);
    let v = policy
        .run(|n| async move {
            tokio::time::sleep(ms(7)).await;
            if n < 2 {
                Err("busy")
            } else {
                Ok(n)
            }
        })
        .await
        .unwrap();
    assert_eq!(v, 2);
    assert_eq!(
        rec.lines(),
        [
            "payments: starting 1",
            "payments: attempt 1 took 7ms: retryable failure",
            "payments: retry after 1 in 100ms",
            "payments: starting 2",
            "payments: attempt 2 took 7ms: success",
            "payments: success after 2",
            "payments: finished: 2 attempts in 114ms, success",
        ]
    );

    let policy = RetryPolicy::builder()
        .max_attempts(2)
        .backoff(Backoff::none())
        .observe(rec.observer())
        .build()
        .unwrap();
    policy.run_blocking(|_| Err::<(), _>("down")).unwrap_err();
    let lines = rec.lines();
    let finished: Vec<_> = lines.iter().filter(|l| l.contains("finished")).collect();
    assert_eq!(
        finished,
        ["retry: finished: 2 attempts in 0ns, gave up (attempts exhausted)"]
    );
    assert_eq!(lines.iter().filter(|l| l.contains("attempt ")).count(), 2);
}

#[tokio::test(start_paused = true)]
async fn retry_stream_ends_once() {
    use futures_util::StreamExt;

    let rec = Recorder::default();
    let policy = retry_policy(&rec, 3);
    let items: Vec<_> = policy
        .stream(|at: steadfast::retry::StreamAttempt| {
            let items: Vec<Result<u32, std::io::Error>> = if at.attempt() == 1 {
                vec![Ok(1), Err(std::io::Error::other("reset"))]
            } else {
                vec![Ok(2)]
            };
            futures_util::stream::iter(items)
        })
        .collect()
        .await;
    assert_eq!(items.len(), 2);
    let lines = rec.lines();
    assert_eq!(
        lines.last().unwrap(),
        "payments: finished: 2 attempts in 100ms, success"
    );
    assert_eq!(lines.iter().filter(|l| l.contains("finished")).count(), 1);
}

// ----- circuit breaker -----

#[tokio::test(start_paused = true)]
async fn breaker_calls_rejection_and_transition() {
    let rec = Recorder::default();
    let breaker = CircuitBreaker::builder()
        .name("inventory")
        .consecutive_failures(2)
        .open_for(Duration::from_secs(30))
        .observe(rec.observer())
        .build()
        .unwrap();
    let svc = Scripted::<u32, u32>::new([Reply::ok(1), Reply::err("a"), Reply::err("b")]);
    let mut svc = CircuitBreakerLayer::new(breaker).layer(svc);
    for _ in 0..4 {
        let _ = svc.ready().await.unwrap().call(7).await;
    }
    assert_eq!(rec.asked(), ["breaker inventory"]);
    assert_eq!(
        rec.lines(),
        [
            "inventory: permitted (closed)",
            "inventory: success",
            "inventory: permitted (closed)",
            "inventory: failure",
            "inventory: permitted (closed)",
            "inventory: failure",
            "inventory: closed -> open",
            "inventory: rejected (open)",
        ]
    );
}

#[test]
fn keyed_breakers_ask_the_observer_once_per_key_under_its_name() {
    let rec = Recorder::default();
    let per_host = KeyedBreakers::builder(|| CircuitBreaker::builder().consecutive_failures(1))
        .name(|host: &String| format!("upstream {host}"))
        .observe(rec.observer())
        .build()
        .unwrap();
    // Building checks the settings, but no breaker is watched yet.
    assert!(rec.asked().is_empty());
    let a = per_host.get(&"a.example".to_string()).unwrap();
    per_host.get(&"a.example".to_string()).unwrap();
    per_host.get(&"b.example".to_string()).unwrap();
    assert_eq!(
        rec.asked(),
        ["breaker upstream a.example", "breaker upstream b.example"]
    );
    a.force_open();
    assert_eq!(rec.lines(), ["upstream a.example: closed -> forced open"]);
}

// ----- cancel -----

fn cancel_layer(rec: &Recorder) -> CancelLayer {
    CancelLayer::builder()
        .name("edge")
        .timeout(Duration::from_secs(1))
        .observe(rec.observer())
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn cancel_completed_with_a_response_or_an_error() {
    let rec = Recorder::default();
    let svc = Scripted::<u32, http::Request<()>>::new([
        Reply::ok(1).after(ms(40)),
        Reply::err("boom").after(ms(5)),
    ]);
    let svc = cancel_layer(&rec).layer(svc);
    svc.clone().oneshot(http::Request::new(())).await.unwrap();
    svc.oneshot(http::Request::new(())).await.unwrap_err();
    assert_eq!(rec.asked(), ["cancel edge"]);
    assert_eq!(
        rec.lines(),
        [
            "edge: completed in 40ms, ok: true",
            "edge: completed in 5ms, ok: false"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn cancel_timeout_refusal_and_drop() {
    let rec = Recorder::default();
    let svc = Scripted::<u32, http::Request<()>>::new([]).then_always(Reply::Hang);
    let mut svc = cancel_layer(&rec).layer(svc);

    // Timed out.
    svc.clone()
        .oneshot(http::Request::new(()))
        .await
        .unwrap_err();
    // Dropped by its caller after 200 ms.
    let late = svc.ready().await.unwrap().call(http::Request::new(()));
    tokio::time::timeout(ms(200), late).await.unwrap_err();
    // Refused: the caller's token has already fired.
    let token = CancelToken::new();
    token.cancel_with(CancelReason::Shutdown);
    let mut req = http::Request::new(());
    req.extensions_mut().insert(token);
    svc.oneshot(req).await.unwrap_err();

    assert_eq!(
        rec.lines(),
        [
            "edge: cancelled in 1s: timed out after 1s",
            "edge: dropped after 200ms",
            "edge: cancelled in 0ns: shutting down",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn cancel_requests_that_cannot_carry_a_token_are_told_too() {
    let rec = Recorder::default();
    let svc = Scripted::<u32, u32>::new([Reply::ok(1), Reply::Hang]);
    let svc = CancelLayer::builder()
        .timeout(ms(300))
        .observe(rec.observer())
        .build()
        .unwrap()
        .layer(svc);
    svc.clone().oneshot(5).await.unwrap();
    svc.oneshot(6).await.unwrap_err();
    assert_eq!(rec.asked(), ["cancel cancel"]);
    assert_eq!(
        rec.lines(),
        [
            "cancel: completed in 0ns, ok: true",
            "cancel: cancelled in 300ms: timed out after 300ms",
        ]
    );
}

// ----- validate -----

#[tokio::test(start_paused = true)]
async fn validate_requests_and_responses() {
    let rec = Recorder::default();
    let layer = ValidateLayer::builder()
        .name("model")
        .request(ensure("too long", |p: &String| p.len() <= 5))
        .response(ensure("empty", |r: &String| !r.is_empty()))
        .observe(rec.observer())
        .build()
        .unwrap();
    let svc = Scripted::<String, String>::new([
        Reply::ok("fine".to_string()).after(ms(12)),
        Reply::ok(String::new()).after(ms(8)),
        Reply::err("down"),
    ]);
    let svc = layer.layer(svc);
    svc.clone().oneshot("hi".into()).await.unwrap();
    svc.clone().oneshot("hi".into()).await.unwrap_err();
    svc.clone()
        .oneshot("far too long".into())
        .await
        .unwrap_err();
    // An error of the service is not judged.
    svc.oneshot("hi".into()).await.unwrap_err();
    assert_eq!(rec.asked(), ["validate model"]);
    assert_eq!(
        rec.lines(),
        [
            "model: response valid after 12ms",
            "model: response invalid after 8ms: empty",
            "model: request invalid: too long",
        ]
    );
}

// ----- chaos -----

#[tokio::test(start_paused = true)]
async fn chaos_tells_each_injection() {
    let rec = Recorder::default();
    let switch = ChaosSwitch::new(true);
    let layer = ChaosLayer::<u32, u32>::builder()
        .name("rehearsal")
        .switch(switch.clone())
        .latency(LatencyInjection::fixed(ms(50)).rate(1.0))
        .fault(FaultInjection::chaos().rate(1.0))
        .observe(rec.observer())
        .build()
        .unwrap();
    let svc = Scripted::<u32, u32>::new([]).then_always(Reply::ok(1));
    let svc = layer.layer(svc);
    svc.clone().oneshot(1).await.unwrap_err();
    switch.turn_off();
    svc.oneshot(2).await.unwrap();
    assert_eq!(rec.asked(), ["chaos rehearsal"]);
    assert_eq!(
        rec.lines(),
        ["rehearsal: injected latency", "rehearsal: injected fault"]
    );

    let outcome = ChaosLayer::<u32, u32>::builder()
        .outcome(OutcomeInjection::value(9))
        .observe(rec.observer())
        .build()
        .unwrap();
    let svc = Scripted::<u32, u32>::new([]);
    assert_eq!(outcome.layer(svc).oneshot(3).await.unwrap(), 9);
    assert_eq!(rec.lines(), ["chaos: injected outcome"]);
}

// ----- names and several observers -----

#[tokio::test(start_paused = true)]
async fn default_names_and_several_observers() {
    let (one, two) = (Recorder::default(), Recorder::default());
    let policy = RetryPolicy::builder()
        .observe(one.observer())
        .observe(two.observer())
        .build()
        .unwrap();
    policy
        .run(|_| async { Ok::<_, TestError>(()) })
        .await
        .unwrap();
    CircuitBreaker::builder()
        .observe(one.observer())
        .build()
        .unwrap();
    ValidateLayer::builder()
        .response(ensure("x", |_: &u32| true))
        .observe(one.observer())
        .build()
        .unwrap();
    ChaosLayer::<u32, u32>::builder()
        .fault(FaultInjection::chaos())
        .observe(one.observer())
        .build()
        .unwrap();
    assert_eq!(
        one.asked(),
        [
            "retry retry",
            "breaker circuit-breaker",
            "validate validate",
            "chaos chaos"
        ]
    );
    assert_eq!(two.asked(), ["retry retry"]);
    assert_eq!(one.lines(), two.lines());
}
