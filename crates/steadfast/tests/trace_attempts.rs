//! Decision-trace entries that need more than one layer: the circuit breaker's verdict under a
//! retry layer names the attempt it judged, and a request its caller drops under a cancel
//! layer ends its trace with the drop. On tokio's paused clock.

#![cfg(all(
    feature = "retry",
    feature = "circuit-breaker",
    feature = "cancel",
    feature = "http"
))]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use steadfast::cancel::CancelLayer;
use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
use steadfast::retry::{Backoff, RetryLayer, RetryPolicy};
use steadfast::token::{CancelReason, HasCancelToken};
use steadfast::trace::{Decision, DecisionTrace};
use tower::{service_fn, Layer, ServiceExt};

type Req = http::Request<()>;

fn traced() -> (Req, DecisionTrace) {
    let trace = DecisionTrace::new();
    let mut req = http::Request::new(());
    req.set_decision_trace(trace.clone()).unwrap();
    (req, trace)
}

#[tokio::test(start_paused = true)]
async fn the_breaker_names_the_attempt_it_classified() {
    let calls = Arc::new(AtomicU32::new(0));
    let inner = service_fn(move |_: Req| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        async move {
            if n < 2 {
                Err(std::io::Error::other("reset"))
            } else {
                Ok::<_, std::io::Error>(200u16)
            }
        }
    });
    let breaker = CircuitBreaker::builder().name("db").build().unwrap();
    let policy = RetryPolicy::builder()
        .name("payments")
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(10)))
        .build()
        .unwrap();
    let svc = RetryLayer::new(policy).layer(CircuitBreakerLayer::new(breaker).layer(inner));
    let (req, trace) = traced();
    assert_eq!(svc.oneshot(req).await.unwrap(), 200);
    let attempts: Vec<(String, u32)> = trace
        .entries()
        .into_iter()
        .filter_map(|e| match e.decision {
            Decision::Classified { attempt, .. } => Some((e.layer.into_owned(), attempt)),
            _ => None,
        })
        .collect();
    let both = |n: u32| [("db".to_string(), n), ("payments".to_string(), n)];
    assert_eq!(attempts, [both(1), both(2), both(3)].concat());
}

#[tokio::test(start_paused = true)]
async fn a_request_its_caller_drops_ends_its_trace_with_the_drop() {
    let inner = service_fn(|_: Req| async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok::<_, std::io::Error>(200u16)
    });
    let svc = CancelLayer::builder()
        .name("edge")
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
        .layer(inner);
    let (req, trace) = traced();
    // The caller gives up after a second: the call is dropped, unanswered.
    let given_up = tokio::time::timeout(Duration::from_secs(1), svc.oneshot(req)).await;
    assert!(given_up.is_err());
    let last = trace.entries().pop().expect("the drop is recorded");
    assert_eq!(last.layer, "edge");
    assert_eq!(
        last.decision,
        Decision::Cancelled {
            reason: CancelReason::ClientDisconnected
        }
    );
    assert_eq!(trace.len(), 1);
}
