//! The hedge layer on tokio's paused clock: each mode, the winner rule, the losers' tokens,
//! the events and the latency histogram.

#![cfg(feature = "hedge")]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::classify::{classify_fn, Attempt, Outcome};
use steadfast::hedge::{HedgeDelay, HedgeEvent, HedgeLayer, HedgeLayerBuilder, HedgeMode};
use steadfast::retry::RetryBudget;
use steadfast::token::{CancelReason, CancelToken, HasCancelToken};
use steadfast_test::{Reply, Scripted, TestError};
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A request that carries a token.
#[derive(Clone, Debug)]
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

/// A budget that allows every hedge and counts them.
#[derive(Debug, Default)]
struct Unlimited(AtomicU32);

impl RetryBudget for Unlimited {
    fn deposit(&self) {}
    fn withdraw(&self) -> bool {
        self.0.fetch_add(1, Ordering::SeqCst);
        true
    }
}

fn builder() -> HedgeLayerBuilder {
    HedgeLayer::builder().budget(Arc::new(Unlimited::default()))
}

/// Answers: `"retry"` is a non-fatal failure, `"fatal"` a fatal one, anything else a success;
/// errors are non-fatal.
fn by_value(_: &Attempt<'_, Req>, r: Result<&&'static str, &TestError>) -> Outcome {
    match r {
        Ok(&"retry") | Err(_) => Outcome::retryable(),
        Ok(&"fatal") => Outcome::NonRetryable,
        Ok(_) => Outcome::Success,
    }
}

/// Sends one request with a fresh token through `layer` around `svc`; returns the answer, the
/// time it took and the request's token.
async fn send<L>(
    layer: L,
    svc: &Scripted<&'static str, Req>,
) -> (
    Result<&'static str, steadfast::BoxError>,
    Duration,
    CancelToken,
)
where
    L: Layer<Scripted<&'static str, Req>>,
    L::Service: tower::Service<Req, Response = &'static str, Error = steadfast::BoxError>,
{
    let token = CancelToken::new();
    let start = Instant::now();
    let out = layer
        .layer(svc.clone())
        .oneshot(Req {
            token: Some(token.clone()),
        })
        .await;
    (out, start.elapsed(), token)
}

/// The reasons the attempts' tokens were cancelled with, in the order the attempts were sent.
fn reasons(svc: &Scripted<&'static str, Req>) -> Vec<Option<CancelReason>> {
    svc.requests()
        .iter()
        .map(|r| r.token.as_ref().unwrap().reason())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn latency_mode_hedges_after_the_delay_and_cancels_the_loser() {
    let svc = Scripted::new([
        Reply::ok("first").after(ms(1000)),
        Reply::ok("second").after(ms(10)),
    ]);
    let layer = builder().delay(HedgeDelay::fixed(ms(50))).build().unwrap();
    let (out, took, token) = send(layer, &svc).await;
    assert_eq!(out.unwrap(), "second");
    assert_eq!(took, ms(60));
    assert_eq!(svc.gaps(), [ms(50)]);
    assert_eq!(reasons(&svc), [Some(CancelReason::HedgeLost), None]);
    // Each attempt has a child of the request's token; the request's own is left alone.
    for r in svc.requests() {
        assert!(!r.token.unwrap().same_as(&token));
    }
    assert!(!token.is_cancelled());
    assert_eq!(svc.max_in_flight(), 2);
}

#[tokio::test(start_paused = true)]
async fn an_answer_before_the_delay_sends_no_hedge() {
    let svc = Scripted::new([Reply::ok("first").after(ms(49))]);
    let layer = builder().delay(HedgeDelay::fixed(ms(50))).build().unwrap();
    let (out, took, _) = send(layer, &svc).await;
    assert_eq!((out.unwrap(), took, svc.calls()), ("first", ms(49), 1));
}

#[tokio::test(start_paused = true)]
async fn latency_mode_spaces_hedges_by_the_delay_of_each_attempt() {
    let svc = Scripted::new([
        Reply::ok("1").after(ms(1000)),
        Reply::ok("2").after(ms(1000)),
        Reply::ok("3").after(ms(5)),
    ]);
    let layer = builder()
        .max_attempts(3)
        .delay(HedgeDelay::from_fn(|n| ms(10 * u64::from(n))))
        .build()
        .unwrap();
    let (out, took, _) = send(layer, &svc).await;
    assert_eq!(out.unwrap(), "3");
    // Attempt 2 after 20 ms, attempt 3 30 ms later.
    assert_eq!(svc.gaps(), [ms(20), ms(30)]);
    assert_eq!(took, ms(55));
    assert_eq!(
        reasons(&svc),
        [
            Some(CancelReason::HedgeLost),
            Some(CancelReason::HedgeLost),
            None
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn parallel_mode_sends_every_attempt_at_once() {
    let svc = Scripted::new([
        Reply::ok("1").after(ms(30)),
        Reply::ok("2").after(ms(10)),
        Reply::ok("3").after(ms(20)),
    ]);
    let layer = builder()
        .mode(HedgeMode::Parallel)
        .max_attempts(3)
        .build()
        .unwrap();
    let (out, took, _) = send(layer, &svc).await;
    assert_eq!((out.unwrap(), took), ("2", ms(10)));
    assert_eq!(svc.gaps(), [ms(0), ms(0)]);
    assert_eq!(
        reasons(&svc),
        [
            Some(CancelReason::HedgeLost),
            None,
            Some(CancelReason::HedgeLost)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn fallback_mode_hedges_only_after_a_non_fatal_failure() {
    // Slow but not failing: no hedge, however long it takes.
    let svc = Scripted::new([Reply::ok("slow").after(ms(5000))]);
    let layer = builder().mode(HedgeMode::Fallback).build().unwrap();
    let (out, took, _) = send(layer.clone(), &svc).await;
    assert_eq!((out.unwrap(), took, svc.calls()), ("slow", ms(5000), 1));

    // A failure: the hedge goes at once.
    let svc = Scripted::new([
        Reply::err("down").after(ms(10)),
        Reply::ok("ok").after(ms(10)),
    ]);
    let (out, took, _) = send(layer, &svc).await;
    assert_eq!((out.unwrap(), took), ("ok", ms(20)));
    assert_eq!(svc.gaps(), [ms(10)]);
}

#[tokio::test(start_paused = true)]
async fn a_non_fatal_failure_lets_the_others_run_and_sends_the_next_hedge_at_once() {
    let svc = Scripted::new([
        Reply::ok("retry").after(ms(70)),
        Reply::ok("second").after(ms(100)),
        Reply::ok("third").after(ms(100)),
    ]);
    let layer = builder()
        .max_attempts(3)
        .delay(HedgeDelay::fixed(ms(50)))
        .classify(classify_fn(by_value))
        .build()
        .unwrap();
    let (out, took, _) = send(layer, &svc).await;
    // Attempt 2 went at 50 ms, attempt 3 when attempt 1 failed at 70 ms (not at 100 ms).
    assert_eq!((out.unwrap(), took), ("second", ms(150)));
    assert_eq!(svc.gaps(), [ms(50), ms(20)]);
    assert_eq!(
        reasons(&svc),
        [None, None, Some(CancelReason::HedgeLost)],
        "the failed attempt ended by itself; only the third lost"
    );
}

#[tokio::test(start_paused = true)]
async fn a_fatal_failure_ends_the_request_at_once() {
    let svc = Scripted::new([
        Reply::ok("fatal").after(ms(100)),
        Reply::ok("good").after(ms(200)),
    ]);
    let layer = builder()
        .delay(HedgeDelay::fixed(ms(50)))
        .classify(classify_fn(by_value))
        .build()
        .unwrap();
    let (out, took, _) = send(layer, &svc).await;
    assert_eq!((out.unwrap(), took), ("fatal", ms(100)));
    assert_eq!(reasons(&svc), [None, Some(CancelReason::HedgeLost)]);
}

#[tokio::test(start_paused = true)]
async fn when_every_attempt_fails_the_last_failure_is_returned() {
    let svc = Scripted::new([
        Reply::err("first").after(ms(30)),
        Reply::err("second").after(ms(30)),
    ]);
    let layer = builder().delay(HedgeDelay::fixed(ms(10))).build().unwrap();
    let (out, took, _) = send(layer, &svc).await;
    let err = out.unwrap_err();
    // Attempt 2 (sent at 10 ms) failed last, at 40 ms.
    assert_eq!(err.downcast_ref::<TestError>().unwrap().0, "second");
    assert_eq!(took, ms(40));
}

#[tokio::test(start_paused = true)]
async fn exhausted_tells_how_long_the_request_took() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let svc = Scripted::new([
        Reply::err("first").after(ms(30)),
        Reply::err("second").after(ms(30)),
    ]);
    let layer = builder()
        .delay(HedgeDelay::fixed(ms(10)))
        .on_event({
            let events = events.clone();
            move |e: &HedgeEvent| events.lock().unwrap().push(*e)
        })
        .build()
        .unwrap();
    send(layer, &svc).await.0.unwrap_err();
    assert_eq!(
        events.lock().unwrap().last(),
        Some(&HedgeEvent::Exhausted {
            attempts: 2,
            elapsed: ms(40),
        })
    );
}

#[tokio::test(start_paused = true)]
async fn events_tell_the_hedge_the_winner_and_the_losers() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let svc = Scripted::new([
        Reply::ok("first").after(ms(1000)),
        Reply::ok("second").after(ms(10)),
    ]);
    let layer = builder()
        .delay(HedgeDelay::fixed(ms(50)))
        .on_event({
            let events = events.clone();
            move |e: &HedgeEvent| events.lock().unwrap().push(*e)
        })
        .build()
        .unwrap();
    send(layer, &svc).await.0.unwrap();
    assert_eq!(
        *events.lock().unwrap(),
        [
            HedgeEvent::HedgeSent {
                attempt: 2,
                in_flight: 1
            },
            HedgeEvent::Won {
                attempt: 2,
                attempts: 2,
                outcome: Outcome::Success,
                elapsed: ms(60),
            },
            HedgeEvent::LosersCancelled { count: 1 },
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_percentile_delay_learns_from_winning_attempts() {
    let histogram = Arc::new(steadfast::hedge::LatencyHistogram::new(
        Duration::from_secs(10),
        10,
    ));
    let layer = builder()
        .delay(
            HedgeDelay::percentile(0.5)
                .min_samples(3)
                .fallback(ms(500))
                .histogram(histogram.clone()),
        )
        .build()
        .unwrap();
    let svc = Scripted::new([]).then_always(Reply::ok("ok").after(ms(20)));
    for _ in 0..3 {
        send(layer.clone(), &svc).await.0.unwrap();
    }
    assert_eq!(histogram.len(), 3);
    // The median is now about 20 ms: a straggler is hedged then, not after the 500 ms fallback.
    tokio::time::advance(Duration::from_secs(1)).await;
    let svc = Scripted::new([
        Reply::ok("straggler").after(ms(1000)),
        Reply::ok("hedge").after(ms(20)),
    ]);
    let (out, took, _) = send(layer, &svc).await;
    assert_eq!(out.unwrap(), "hedge");
    assert!(took >= ms(40) && took <= ms(42), "{took:?}");
    assert_eq!(
        histogram.len(),
        4,
        "the winning hedge's latency is recorded"
    );
}

#[test]
fn invalid_settings_are_rejected_by_field() {
    for n in [0, steadfast::hedge::MAX_ATTEMPTS + 1] {
        let err = builder().max_attempts(n).build().unwrap_err();
        assert_eq!(
            (err.layer(), err.field()),
            ("hedge", "max_attempts"),
            "{err}"
        );
    }
    builder()
        .max_attempts(steadfast::hedge::MAX_ATTEMPTS)
        .build()
        .unwrap();
    for q in [0.2, 1.0, f64::NAN] {
        let err = builder()
            .delay(HedgeDelay::percentile(q))
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "delay", "{err}");
    }
    let err = builder()
        .delay(HedgeDelay::percentile(0.9).window(ms(1)))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("window"), "{err}");
}

#[test]
fn the_layer_describes_its_settings() {
    use steadfast::describe::{Describe, Value};
    let layer = builder()
        .name("inventory")
        .mode(HedgeMode::Parallel)
        .max_attempts(3)
        .build()
        .unwrap();
    let d = layer.describe().remove(0);
    assert_eq!((d.kind(), d.name()), ("hedge", Some("inventory")));
    assert_eq!(d.get("mode"), Some(&Value::text("parallel")));
    assert_eq!(d.get("max_attempts"), Some(&Value::Integer(3)));
    assert_eq!(d.get("budget"), Some(&Value::text("custom")));
    let text = layer.description().to_string();
    // The parallel mode waits for nothing: no delay to show.
    assert!(
        text.contains("hedge \"inventory\": mode parallel, max_attempts 3, budget custom"),
        "{text}"
    );
}

/// A request that carries a token and a decision trace.
#[derive(Clone, Debug)]
struct Traced {
    token: Option<CancelToken>,
    trace: steadfast::trace::DecisionTrace,
}

impl HasCancelToken for Traced {
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
    fn decision_trace(&self) -> Option<&steadfast::trace::DecisionTrace> {
        Some(&self.trace)
    }
}

#[tokio::test(start_paused = true)]
async fn a_traced_request_records_each_verdict_the_hedge_and_the_winner() {
    use steadfast::trace::{Decision, DecisionTrace};
    let trace = DecisionTrace::new();
    let svc = Scripted::<&'static str, Traced>::new([
        Reply::err("down").after(ms(100)),
        Reply::ok("ok").after(ms(100)),
    ]);
    let layer = builder()
        .name("backend")
        .mode(HedgeMode::Fallback)
        .build()
        .unwrap();
    let req = Traced {
        token: Some(CancelToken::new()),
        trace: trace.clone(),
    };
    assert_eq!(layer.layer(svc).oneshot(req).await.unwrap(), "ok");
    let entries: Vec<(String, Decision)> = trace
        .entries()
        .into_iter()
        .map(|e| (e.layer.to_string(), e.decision))
        .collect();
    assert_eq!(
        entries,
        [
            (
                "backend".to_string(),
                Decision::Classified {
                    attempt: 1,
                    outcome: Outcome::retryable(),
                    rule: Some("any error".into())
                }
            ),
            (
                "backend".to_string(),
                Decision::HedgeSent {
                    attempt: 2,
                    balance: None
                }
            ),
            (
                "backend".to_string(),
                Decision::Classified {
                    attempt: 2,
                    outcome: Outcome::Success,
                    rule: Some("ok".into())
                }
            ),
            (
                "backend".to_string(),
                Decision::HedgeWon {
                    attempt: 2,
                    attempts: 2,
                    losers: 0
                }
            ),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn an_observer_gets_a_listener_named_after_the_layer() {
    use steadfast::observe::{HedgeListener, Observer};

    #[derive(Default)]
    struct Hedges(Mutex<Vec<String>>, Arc<AtomicU32>);

    impl Observer for Hedges {
        fn hedge(&self, layer: &str) -> Option<HedgeListener> {
            self.0.lock().unwrap().push(layer.to_string());
            let sent = self.1.clone();
            Some(Arc::new(move |e: &HedgeEvent| {
                if let HedgeEvent::HedgeSent { .. } = e {
                    sent.fetch_add(1, Ordering::SeqCst);
                }
            }))
        }
    }

    let observer = Arc::new(Hedges::default());
    let layer = builder()
        .name("inventory")
        .delay(HedgeDelay::fixed(ms(50)))
        .observe(observer.clone())
        .build()
        .unwrap();
    let svc = Scripted::new([
        Reply::ok("first").after(ms(1000)),
        Reply::ok("second").after(ms(10)),
    ]);
    send(layer, &svc).await.0.unwrap();
    assert_eq!(*observer.0.lock().unwrap(), ["inventory"]);
    assert_eq!(observer.1.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn the_service_is_clone_and_its_future_is_send() {
    fn send_future<F: std::future::Future + Send + 'static>(f: F) -> F {
        f
    }
    let svc = Scripted::new([Reply::ok("a").after(ms(100)), Reply::ok("b")]);
    let hedged = builder()
        .delay(HedgeDelay::fixed(ms(10)))
        .build()
        .unwrap()
        .layer(svc.clone());
    let fut = send_future(hedged.clone().oneshot(Req {
        token: Some(CancelToken::new()),
    }));
    // Spawned on the runtime: it runs as a task of its own.
    assert_eq!(tokio::spawn(fut).await.unwrap().unwrap(), "b");
}
