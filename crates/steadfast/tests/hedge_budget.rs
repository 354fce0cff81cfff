//! The hedge layer's limits on tokio's paused clock: the budget (alone and shared with a retry
//! layer), no budget, server pushback, unclonable requests, readiness, and a circuit breaker
//! below it.

#![cfg(all(feature = "hedge", feature = "circuit-breaker"))]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer, CircuitState};
use steadfast::classify::{classify_fn, Attempt, Outcome};
use steadfast::hedge::{HedgeDelay, HedgeLayer, HedgeMode};
use steadfast::retry::{Backoff, RetryBudget, RetryLayer, RetryPolicy};
use steadfast::token::{CancelReason, CancelToken, HasCancelToken};
use steadfast::BoxError;
use steadfast_test::{ReadinessProbe, Reply, Scripted, TestError};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A request that carries a token.
#[derive(Clone, Debug, Default)]
struct Req {
    token: Option<CancelToken>,
}

impl HasCancelToken for Req {
    fn cancel_token(&self) -> Option<&CancelToken> {
        self.token.as_ref()
    }
    fn can_carry_cancel_token(&self) -> bool {
        true
    }
    fn set_cancel_token(&mut self, token: CancelToken) -> Result<(), CancelToken> {
        self.token = Some(token);
        Ok(())
    }
}

fn req() -> Req {
    Req {
        token: Some(CancelToken::new()),
    }
}

/// A budget of `n` extra attempts, counting what it was asked.
#[derive(Debug)]
struct Allow {
    left: AtomicU32,
    asked: AtomicU32,
    deposits: AtomicU32,
}

impl Allow {
    fn new(n: u32) -> Arc<Self> {
        Arc::new(Allow {
            left: AtomicU32::new(n),
            asked: AtomicU32::new(0),
            deposits: AtomicU32::new(0),
        })
    }
}

impl RetryBudget for Allow {
    fn deposit(&self) {
        self.deposits.fetch_add(1, Ordering::SeqCst);
    }
    fn withdraw(&self) -> bool {
        self.asked.fetch_add(1, Ordering::SeqCst);
        self.left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// `"busy"` asks for 300 ms, `"refuse"` for no more attempts, `"retry"` is non-fatal; errors
/// are non-fatal; anything else succeeds.
fn pushback(_: &Attempt<'_, Req>, r: Result<&&'static str, &TestError>) -> Outcome {
    match r {
        Ok(&"busy") => Outcome::retry_after(ms(300)),
        Ok(&"refuse") => Outcome::DoNotRetry,
        Ok(&"retry") | Err(_) => Outcome::retryable(),
        Ok(_) => Outcome::Success,
    }
}

async fn send<S>(svc: S) -> (Result<&'static str, BoxError>, Duration)
where
    S: Service<Req, Response = &'static str, Error = BoxError>,
{
    let start = Instant::now();
    let out = svc.oneshot(req()).await;
    (out, start.elapsed())
}

#[tokio::test(start_paused = true)]
async fn the_budget_caps_the_hedges_that_reach_the_service() {
    let budget = Allow::new(2);
    let svc = Scripted::<&'static str, Req>::new([]).then_always(Reply::ok("slow").after(ms(100)));
    let layer = HedgeLayer::builder()
        .delay(HedgeDelay::fixed(ms(10)))
        .max_attempts(3)
        .budget(budget.clone())
        .build()
        .unwrap();
    for _ in 0..5 {
        send(layer.layer(svc.clone())).await.0.unwrap();
    }
    // Five requests, two hedges paid for: the first request's two, then none.
    assert_eq!(svc.calls(), 7);
    // The first request used both; each later one asked once, was refused and stopped asking.
    assert_eq!(budget.asked.load(Ordering::SeqCst), 2 + 4);
    assert_eq!(
        budget.deposits.load(Ordering::SeqCst),
        5,
        "one deposit per request"
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_budget_nothing_is_hedged() {
    let svc = Scripted::<&'static str, Req>::new([Reply::ok("slow").after(ms(1000))]);
    let layer = HedgeLayer::builder()
        .delay(HedgeDelay::fixed(ms(10)))
        .build()
        .unwrap();
    let token = CancelToken::new();
    let out = layer
        .layer(svc.clone())
        .oneshot(Req {
            token: Some(token.clone()),
        })
        .await;
    assert_eq!((out.unwrap(), svc.calls()), ("slow", 1));
    // Nothing to race: the attempt carries the request's own token, not a child.
    assert!(svc.requests()[0].token.as_ref().unwrap().same_as(&token));
}

#[tokio::test(start_paused = true)]
async fn one_budget_caps_a_retry_layer_and_a_hedge_layer_together() {
    let budget = Allow::new(3);
    // Every attempt fails after 50 ms.
    let svc = Scripted::<&'static str, Req>::new([]).then_always(Reply::err("down").after(ms(50)));
    let hedge = HedgeLayer::builder()
        .delay(HedgeDelay::fixed(ms(10)))
        .budget(budget.clone())
        .deposit_requests(false)
        .build()
        .unwrap();
    let retry = RetryPolicy::builder()
        .max_attempts(5)
        .backoff(Backoff::constant(ms(100)))
        .budget(budget.clone())
        .build()
        .unwrap();
    let svc_stack = RetryLayer::new(retry).layer(hedge.layer(svc.clone()));
    let (out, _) = send(svc_stack).await;
    assert!(out.is_err());
    // One first attempt, then three extra attempts in all, hedges and retries together.
    assert_eq!(svc.calls(), 4);
    // The retry layer deposited for the request; the hedge layer, told not to, did not.
    assert_eq!(budget.deposits.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_refusal_stops_further_hedges_and_a_hint_postpones_the_next() {
    let layer = |mode| {
        HedgeLayer::builder()
            .mode(mode)
            .max_attempts(3)
            .delay(HedgeDelay::fixed(ms(50)))
            .budget(Allow::new(10))
            .classify(classify_fn(pushback))
            .build()
            .unwrap()
    };
    // Attempt 2 (sent at 50 ms) refuses at 60 ms: no attempt 3 at 110 ms; attempt 1 answers.
    let svc = Scripted::new([
        Reply::ok("first").after(ms(200)),
        Reply::ok("refuse").after(ms(10)),
    ]);
    let (out, took) = send(layer(HedgeMode::Latency).layer(svc.clone())).await;
    assert_eq!((out.unwrap(), took, svc.calls()), ("first", ms(200), 2));

    // A refusal with nothing else in flight is the answer.
    let svc = Scripted::new([Reply::ok("refuse").after(ms(10))]);
    let (out, _) = send(layer(HedgeMode::Fallback).layer(svc.clone())).await;
    assert_eq!((out.unwrap(), svc.calls()), ("refuse", 1));

    // "busy" at 10 ms asks for 300 ms: the hedge goes at 310 ms, not at once.
    let svc = Scripted::new([
        Reply::ok("busy").after(ms(10)),
        Reply::ok("ok").after(ms(5)),
    ]);
    let (out, took) = send(layer(HedgeMode::Fallback).layer(svc.clone())).await;
    assert_eq!((out.unwrap(), took), ("ok", ms(315)));
    assert_eq!(svc.gaps(), [ms(310)]);
}

#[tokio::test(start_paused = true)]
async fn a_token_that_fires_while_a_hedge_waits_ends_the_request_with_the_last_failure() {
    let layer = HedgeLayer::builder()
        .mode(HedgeMode::Fallback)
        .budget(Allow::new(10))
        .classify(classify_fn(pushback))
        .build()
        .unwrap();
    let svc = Scripted::new([Reply::ok("busy").after(ms(10))]);
    let token = CancelToken::new();
    let fut = layer.layer(svc.clone()).oneshot(Req {
        token: Some(token.clone()),
    });
    let start = Instant::now();
    let (out, ()) = tokio::join!(fut, async {
        tokio::time::sleep(ms(100)).await;
        token.cancel();
    });
    assert_eq!(
        (out.unwrap(), start.elapsed(), svc.calls()),
        ("busy", ms(100), 1)
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_that_cannot_be_cloned_is_sent_once() {
    let svc = Scripted::<&'static str, Req>::new([Reply::ok("slow").after(ms(1000))]);
    let layer = HedgeLayer::builder()
        .delay(HedgeDelay::fixed(ms(10)))
        .budget(Allow::new(10))
        .clone_requests_with(|_: &Req| None)
        .build()
        .unwrap();
    let (out, took) = send(layer.layer(svc.clone())).await;
    assert_eq!((out.unwrap(), took, svc.calls()), ("slow", ms(1000), 1));
}

#[tokio::test(start_paused = true)]
async fn a_hedge_waits_for_readiness_only_once_it_is_due() {
    // Two permits. Request A straggles and hedges at 50 ms; request B, sent at 10 ms, must
    // get the second permit at once: A held none while its delay ran.
    let svc = Scripted::<&'static str, Req>::new([]).then_always(Reply::ok("ok").after(ms(100)));
    let limited = ReadinessProbe::new(tower::limit::ConcurrencyLimit::new(svc.clone(), 2));
    let layer = HedgeLayer::builder()
        .delay(HedgeDelay::fixed(ms(50)))
        .budget(Allow::new(10))
        .build()
        .unwrap();
    let a = layer.layer(limited.clone()).oneshot(req());
    let b = async {
        tokio::time::sleep(ms(10)).await;
        layer.layer(limited.clone()).oneshot(req()).await
    };
    let start = Instant::now();
    let (a, b) = tokio::join!(a, b);
    a.unwrap();
    b.unwrap();
    let times: Vec<Duration> = svc.call_times().iter().map(|t| *t - start).collect();
    // A at 0, B at 10; A's hedge found no permit at 50 ms and went when A's first answered.
    assert_eq!(times, [ms(0), ms(10), ms(100)]);
}

#[tokio::test(start_paused = true)]
async fn a_breaker_below_never_counts_the_loser() {
    let breaker = CircuitBreaker::builder()
        .name("backend")
        .consecutive_failures(1)
        .count_cancellations(true)
        .build()
        .unwrap();
    // The first attempt would fail at 200 ms; the hedge, sent at 50 ms, succeeds at 60 ms.
    let svc = Scripted::<&'static str, Req>::new([
        Reply::err("down").after(ms(200)),
        Reply::ok("ok").after(ms(10)),
    ]);
    let layer = HedgeLayer::builder()
        .delay(HedgeDelay::fixed(ms(50)))
        .budget(Allow::new(10))
        .build()
        .unwrap();
    let stack = layer.layer(CircuitBreakerLayer::new(breaker.clone()).layer(svc.clone()));
    let (out, _) = send(stack).await;
    assert_eq!(out.unwrap(), "ok");
    tokio::time::sleep(ms(500)).await;
    let m = breaker.metrics();
    assert_eq!(
        (m.successes, m.failures, m.state),
        (1, 0, CircuitState::Closed)
    );
    let first = svc.requests().remove(0).token.unwrap();
    assert_eq!(first.reason(), Some(CancelReason::HedgeLost));
}

#[tokio::test(start_paused = true)]
async fn a_hedge_refused_by_an_open_breaker_leaves_the_first_attempt_running() {
    let breaker = CircuitBreaker::builder().name("backend").build().unwrap();
    let svc = Scripted::<&'static str, Req>::new([Reply::ok("first").after(ms(200))]);
    let layer = HedgeLayer::builder()
        .delay(HedgeDelay::fixed(ms(50)))
        .budget(Allow::new(10))
        .build()
        .unwrap();
    let stack = layer.layer(CircuitBreakerLayer::new(breaker.clone()).layer(svc.clone()));
    let open = async {
        tokio::time::sleep(ms(10)).await;
        breaker.force_open();
    };
    let ((out, took), ()) = tokio::join!(send(stack), open);
    // The hedge at 50 ms was refused; the first attempt, admitted before, answered.
    assert_eq!((out.unwrap(), took, svc.calls()), ("first", ms(200), 1));

    // With nothing else running, the refusal is the answer, at once.
    let stack = layer.layer(CircuitBreakerLayer::new(breaker.clone()).layer(svc.clone()));
    let (out, took) = send(stack).await;
    let err = out.unwrap_err();
    assert!(
        err.downcast_ref::<steadfast::circuit_breaker::Rejected>()
            .is_some(),
        "{err}"
    );
    assert_eq!(took, ms(0));
}
