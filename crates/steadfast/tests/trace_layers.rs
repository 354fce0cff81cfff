//! The decision trace through the circuit breaker, cancel, validate and chaos layers: what
//! each records for a traced request, the errors carrying the trace, and nothing recorded for
//! a request without one. On tokio's paused clock.

#![cfg(all(
    feature = "circuit-breaker",
    feature = "cancel",
    feature = "validate",
    feature = "chaos",
    feature = "http"
))]

use std::borrow::Cow;
use std::time::Duration;

use steadfast::cancel::{CancelLayer, Cancelled};
use steadfast::chaos::{ChaosError, ChaosLayer, FaultInjection, LatencyInjection};
use steadfast::circuit_breaker::{
    CircuitBreaker, CircuitBreakerLayer, KeyTableFull, KeyedBreakers, KeyedCircuitBreakerLayer,
    Rejected, SlidingWindow,
};
use steadfast::classify::{Attempt, Classify, Outcome};
use steadfast::token::{CancelReason, CancelToken, HasCancelToken};
use steadfast::trace::{Decision, DecisionTrace};
use steadfast::validate::{Invalid, InvalidRequest, InvalidResponse, ValidateLayer};
use steadfast::BoxError;
use tower::{service_fn, Layer, ServiceExt};

type Req = http::Request<u32>;

fn traced(n: u32) -> (Req, DecisionTrace) {
    let trace = DecisionTrace::new();
    let mut req = http::Request::new(n);
    req.set_decision_trace(trace.clone()).unwrap();
    (req, trace)
}

fn decisions(trace: &DecisionTrace) -> Vec<(String, Decision)> {
    trace
        .entries()
        .into_iter()
        .map(|e| (e.layer.into_owned(), e.decision))
        .collect()
}

/// Odd numbers are failures, by the rule "odd body"; even ones successes, by "even body".
#[derive(Clone)]
struct Parity;

impl Classify<Req, u32, std::io::Error> for Parity {
    fn classify(&self, a: &Attempt<'_, Req>, r: Result<&u32, &std::io::Error>) -> Outcome {
        self.explain(a, r).0
    }

    fn explain(
        &self,
        _: &Attempt<'_, Req>,
        result: Result<&u32, &std::io::Error>,
    ) -> (Outcome, Option<Cow<'static, str>>) {
        match result {
            Ok(n) if n % 2 == 0 => (Outcome::Success, Some("even body".into())),
            _ => (Outcome::NonRetryable, Some("odd body".into())),
        }
    }
}

fn admission(state: &str, permitted: bool, failures: u64, calls: u64) -> Decision {
    Decision::Admission {
        state: state.to_string().into(),
        permitted,
        failures,
        calls,
    }
}

fn recorded(outcome: &str) -> Decision {
    Decision::Recorded {
        outcome: outcome.to_string().into(),
    }
}

fn classified(outcome: Outcome, rule: &'static str) -> Decision {
    Decision::Classified {
        attempt: 1,
        outcome,
        rule: Some(rule.into()),
    }
}

#[tokio::test(start_paused = true)]
async fn the_breaker_records_admission_verdict_and_count_then_its_refusal() {
    let breaker = CircuitBreaker::builder()
        .name("inventory")
        .consecutive_failures(2)
        .open_for(Duration::from_secs(30))
        .slow_call_rate(100.0, Duration::from_secs(1))
        .build()
        .unwrap();
    let svc = CircuitBreakerLayer::new(breaker.clone())
        .classify(Parity)
        .layer(service_fn(|req: Req| async move {
            let n = *req.body();
            if n == 4 {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Ok::<_, std::io::Error>(n)
        }));
    let name = || "inventory".to_string();

    let (req, trace) = traced(2);
    assert_eq!(svc.clone().oneshot(req).await.unwrap(), 2);
    assert_eq!(
        decisions(&trace),
        vec![
            (name(), admission("closed", true, 0, 0)),
            (name(), classified(Outcome::Success, "even body")),
            (name(), recorded("success")),
        ]
    );

    let (req, trace) = traced(4);
    assert_eq!(svc.clone().oneshot(req).await.unwrap(), 4);
    assert_eq!(decisions(&trace)[2], (name(), recorded("slow")), "{trace}");

    // An answer the classifier judges a failure is still the caller's answer.
    let (req, trace) = traced(3);
    assert_eq!(svc.clone().oneshot(req).await.unwrap(), 3);
    assert_eq!(
        decisions(&trace),
        vec![
            (name(), admission("closed", true, 0, 2)),
            (name(), classified(Outcome::NonRetryable, "odd body")),
            (name(), recorded("failure")),
        ]
    );

    // The second failure in a row trips the breaker.
    assert_eq!(svc.clone().oneshot(traced(5).0).await.unwrap(), 5);
    let (req, trace) = traced(6);
    let err = svc.clone().oneshot(req).await.unwrap_err();
    let rejected = err.downcast_ref::<Rejected>().unwrap();
    assert!(rejected.decision_trace().unwrap().same_as(&trace));
    assert_eq!(
        decisions(&trace),
        vec![(name(), admission("open", false, 2, 4))]
    );
    assert!(
        trace
            .to_string()
            .ends_with("inventory: call rejected while open (2 failures in 4 calls)"),
        "{trace}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_cancel_layer_records_why_a_request_was_cancelled() {
    let layer = CancelLayer::builder()
        .name("edge")
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let svc = layer.layer(service_fn(|req: Req| async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok::<_, std::io::Error>(*req.body())
    }));

    // Timed out while the layer waited.
    let (req, trace) = traced(1);
    let err = svc.clone().oneshot(req).await.unwrap_err();
    let cancelled = err.downcast_ref::<Cancelled>().unwrap();
    assert!(cancelled.decision_trace().unwrap().same_as(&trace));
    assert_eq!(
        decisions(&trace),
        vec![(
            "edge".to_string(),
            Decision::Cancelled {
                reason: CancelReason::Timeout(Duration::from_secs(1))
            }
        )]
    );
    assert!(
        trace
            .to_string()
            .contains("edge: cancelled: timed out after 1s"),
        "{trace}"
    );

    // The caller's token, cancelled before the request was sent.
    let (mut req, trace) = traced(2);
    let token = CancelToken::new();
    token.cancel_with(CancelReason::manual("user left"));
    req.set_cancel_token(token).unwrap();
    let err = CancelLayer::new()
        .layer(service_fn(|_: Req| async { Ok::<_, std::io::Error>(0) }))
        .oneshot(req)
        .await
        .unwrap_err();
    let cancelled = err.downcast_ref::<Cancelled>().unwrap();
    assert!(cancelled.decision_trace().unwrap().same_as(&trace));
    assert_eq!(
        decisions(&trace),
        vec![(
            "cancel".to_string(),
            Decision::Cancelled {
                reason: CancelReason::manual("user left")
            }
        )]
    );
}

#[tokio::test(start_paused = true)]
async fn the_validate_layer_records_each_refusal() {
    let layer = ValidateLayer::builder()
        .name("answers")
        .request_fn(|req: &Req, _| {
            if *req.body() == 0 {
                Err("zero")
            } else {
                Ok(())
            }
        })
        .response_fn(|n: &u32, _| if n % 2 == 1 { Err("odd") } else { Ok(()) })
        .build()
        .unwrap();
    let svc = layer.layer(service_fn(|req: Req| async move {
        Ok::<_, std::io::Error>(*req.body())
    }));
    let invalid = |validator: &'static str, reason: &'static str| {
        (
            "answers".to_string(),
            Decision::Invalid {
                validator: validator.into(),
                reason: reason.into(),
            },
        )
    };

    let (req, trace) = traced(3);
    let err = svc.clone().oneshot(req).await.unwrap_err();
    let refused = err.downcast_ref::<Invalid<u32>>().unwrap();
    assert!(refused.decision_trace().unwrap().same_as(&trace));
    assert!(refused.details().decision_trace().is_some());
    assert_eq!(
        decisions(&trace),
        vec![invalid("response validator", "odd")]
    );

    let (req, trace) = traced(0);
    let err = svc.clone().oneshot(req).await.unwrap_err();
    let refused = err.downcast_ref::<InvalidRequest>().unwrap();
    assert!(refused.decision_trace().unwrap().same_as(&trace));
    assert_eq!(
        decisions(&trace),
        vec![invalid("request validator", "zero")]
    );

    let (req, trace) = traced(2);
    assert_eq!(svc.oneshot(req).await.unwrap(), 2);
    assert!(trace.is_empty(), "a valid answer records nothing: {trace}");
}

#[tokio::test(start_paused = true)]
async fn the_chaos_layer_records_each_injection() {
    let layer = ChaosLayer::builder()
        .name("rehearsal")
        .latency(LatencyInjection::fixed(Duration::from_millis(10)).rate(1.0))
        .fault(FaultInjection::chaos().rate(1.0))
        .build()
        .unwrap();
    let svc = layer.layer(service_fn(|req: Req| async move {
        Ok::<_, std::io::Error>(*req.body())
    }));
    let (req, trace) = traced(1);
    let err = svc.oneshot(req).await.unwrap_err();
    let chaos = err.downcast_ref::<ChaosError>().unwrap();
    assert!(chaos.decision_trace().unwrap().same_as(&trace));
    let injected = |fault: &'static str| {
        (
            "rehearsal".to_string(),
            Decision::Injected {
                fault: fault.into(),
            },
        )
    };
    assert_eq!(
        decisions(&trace),
        vec![injected("latency"), injected("fault")]
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_without_a_trace_records_nothing_and_its_errors_carry_none() {
    // A trace exists in the process: the layers look for one on each request.
    let bystander = DecisionTrace::new();

    let breaker = CircuitBreaker::builder()
        .consecutive_failures(1)
        .build()
        .unwrap();
    let svc = CircuitBreakerLayer::new(breaker.clone())
        .classify(Parity)
        .layer(service_fn(|req: Req| async move {
            Ok::<_, std::io::Error>(*req.body())
        }));
    svc.clone().oneshot(http::Request::new(1)).await.unwrap();
    let err = svc.oneshot(http::Request::new(2)).await.unwrap_err();
    assert!(err
        .downcast_ref::<Rejected>()
        .unwrap()
        .decision_trace()
        .is_none());

    let slow = service_fn(|_: Req| async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok::<_, std::io::Error>(0)
    });
    let err = CancelLayer::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap()
        .layer(slow)
        .oneshot(http::Request::new(0))
        .await
        .unwrap_err();
    assert!(err
        .downcast_ref::<Cancelled>()
        .unwrap()
        .decision_trace()
        .is_none());

    let validate = ValidateLayer::builder()
        .request_fn(|req: &Req, _| {
            if *req.body() == 0 {
                Err("zero")
            } else {
                Ok(())
            }
        })
        .response_fn(|_: &u32, _| Err("never"))
        .build()
        .unwrap()
        .layer(service_fn(|req: Req| async move {
            Ok::<_, std::io::Error>(*req.body())
        }));
    let err = validate
        .clone()
        .oneshot(http::Request::new(0))
        .await
        .unwrap_err();
    assert!(err
        .downcast_ref::<InvalidRequest>()
        .unwrap()
        .decision_trace()
        .is_none());
    let err: BoxError = validate.oneshot(http::Request::new(1)).await.unwrap_err();
    assert!(err
        .downcast_ref::<Invalid<u32>>()
        .unwrap()
        .decision_trace()
        .is_none());
    assert!(steadfast::classify::find_source::<InvalidResponse>(&*err)
        .unwrap()
        .decision_trace()
        .is_none());

    let err = ChaosLayer::builder()
        .fault(FaultInjection::chaos().rate(1.0))
        .build()
        .unwrap()
        .layer(service_fn(|_: Req| async { Ok::<_, std::io::Error>(0) }))
        .oneshot(http::Request::new(0))
        .await
        .unwrap_err();
    assert!(err
        .downcast_ref::<ChaosError>()
        .unwrap()
        .decision_trace()
        .is_none());

    assert!(bystander.is_empty());
}

#[tokio::test(start_paused = true)]
async fn keyed_breakers_trace_under_each_key_s_breaker_and_a_full_table_carries_the_trace() {
    let per_key = KeyedBreakers::builder(|| {
        CircuitBreaker::builder()
            .consecutive_failures(1)
            .no_failure_rate()
            .window(SlidingWindow::count(1))
            .minimum_calls(1)
            .open_for(Duration::from_secs(30))
    })
    .max_keys(1)
    .name(|k: &u32| format!("key-{k}"))
    .build()
    .unwrap();
    let svc = KeyedCircuitBreakerLayer::new(per_key, |req: &Req| *req.body()).layer(service_fn(
        |req: Req| async move {
            match *req.body() {
                1 => Err(std::io::Error::other("down")),
                n => Ok(n),
            }
        },
    ));

    let (req, trace) = traced(1);
    svc.clone().oneshot(req).await.unwrap_err();
    let layers: Vec<String> = decisions(&trace).into_iter().map(|(l, _)| l).collect();
    assert_eq!(layers, ["key-1", "key-1", "key-1"], "{trace}");
    assert_eq!(
        decisions(&trace)[1].1,
        Decision::Classified {
            attempt: 1,
            outcome: Outcome::retryable(),
            rule: Some("any error".into())
        }
    );
    assert_eq!(decisions(&trace)[2].1, recorded("failure"));

    // The only slot holds key 1's open circuit: key 2 is refused a breaker.
    let (req, trace) = traced(2);
    let err = svc.clone().oneshot(req).await.unwrap_err();
    let full = err.downcast_ref::<KeyTableFull>().unwrap();
    assert!(full.decision_trace().unwrap().same_as(&trace));
    let err = svc.oneshot(http::Request::new(2)).await.unwrap_err();
    assert!(err
        .downcast_ref::<KeyTableFull>()
        .unwrap()
        .decision_trace()
        .is_none());
}
