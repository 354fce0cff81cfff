//! The decision trace's handle and the trace layer: sampling, handing a trace back on the
//! response, its bound and its story.
#![cfg(feature = "http")]

use std::convert::Infallible;
use std::time::Duration;

use steadfast::classify::Outcome;
use steadfast::token::CancelReason;
use steadfast::trace::{Decision, DecisionTrace, DelaySource, TraceLayer};
use tower::{service_fn, Layer, ServiceExt};

fn echo() -> impl tower::Service<
    http::Request<()>,
    Response = http::Response<()>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    service_fn(|_req: http::Request<()>| async { Ok::<_, Infallible>(http::Response::new(())) })
}

/// Whether `svc`'s answer to one request carries a trace.
async fn traced<S>(svc: &mut S) -> bool
where
    S: tower::Service<http::Request<()>, Response = http::Response<()>, Error = Infallible>,
{
    let res = svc
        .ready()
        .await
        .unwrap()
        .call(http::Request::new(()))
        .await
        .unwrap();
    res.extensions().get::<DecisionTrace>().is_some()
}

#[tokio::test]
async fn a_service_traces_its_first_request_then_one_in_n() {
    let mut svc = TraceLayer::sample(3).unwrap().layer(echo());
    let mut seen = Vec::new();
    for _ in 0..9 {
        seen.push(traced(&mut svc).await);
    }
    assert_eq!(
        seen,
        [true, false, false, true, false, false, true, false, false]
    );
}

#[tokio::test]
async fn each_clone_traces_exactly_one_in_n_of_its_own_requests() {
    let mut first = TraceLayer::sample(4).unwrap().layer(echo());
    assert!(traced(&mut first).await);
    for _ in 0..50 {
        // A clone counts on its own, from a random point of its cycle: any 4 requests in a
        // row hold exactly one traced, and the original's count is not moved.
        let mut clone = first.clone();
        let mut seen = Vec::new();
        for _ in 0..12 {
            seen.push(traced(&mut clone).await);
        }
        let at = seen.iter().position(|t| *t).unwrap();
        assert!(at < 4, "{seen:?}");
        for (i, t) in seen.iter().enumerate() {
            assert_eq!(*t, i % 4 == at, "{seen:?}");
        }
    }
    let rest = [
        traced(&mut first).await,
        traced(&mut first).await,
        traced(&mut first).await,
    ];
    assert_eq!(rest, [false, false, false]);
    assert!(traced(&mut first).await);
}

#[tokio::test]
async fn services_cloned_per_request_trace_one_in_n_on_average() {
    // A clone per request (as axum's router makes): each starts at a random point of its
    // cycle, so about 1 in 4 is traced; not all, not none. 4,000 draws: the count's
    // standard deviation is about 27.
    let svc = TraceLayer::sample(4).unwrap().layer(echo());
    let mut count = 0;
    for _ in 0..4_000 {
        if traced(&mut svc.clone()).await {
            count += 1;
        }
    }
    assert!((800..1_200).contains(&count), "{count} of 4000 traced");
}

#[tokio::test]
async fn a_sampled_trace_is_on_the_request_the_service_sees() {
    let inner = service_fn(|req: http::Request<()>| async move {
        let trace = req.extensions().get::<DecisionTrace>().cloned().unwrap();
        trace.record(
            "handler",
            Decision::Injected {
                fault: "latency".into(),
            },
        );
        Ok::<_, Infallible>(http::Response::new(()))
    });
    let res = TraceLayer::sample(1)
        .unwrap()
        .layer(inner)
        .oneshot(http::Request::new(()))
        .await
        .unwrap();
    let trace = res.extensions().get::<DecisionTrace>().unwrap();
    assert_eq!(trace.len(), 1);
    assert_eq!(trace.entries()[0].layer, "handler");
}

#[tokio::test]
async fn a_callers_trace_comes_back_on_the_response_and_is_not_replaced() {
    let svc = TraceLayer::sample(1).unwrap().layer(echo());
    let mine = DecisionTrace::new();
    let mut req = http::Request::new(());
    req.extensions_mut().insert(mine.clone());
    let res = svc.oneshot(req).await.unwrap();
    assert!(res
        .extensions()
        .get::<DecisionTrace>()
        .unwrap()
        .same_as(&mine));
}

#[tokio::test]
async fn a_layer_that_samples_nothing_still_hands_back_a_callers_trace() {
    let svc = TraceLayer::new().layer(echo());
    let res = svc.clone().oneshot(http::Request::new(())).await.unwrap();
    assert!(res.extensions().get::<DecisionTrace>().is_none());
    let mut req = http::Request::new(());
    req.extensions_mut().insert(DecisionTrace::new());
    let res = svc.oneshot(req).await.unwrap();
    assert!(res.extensions().get::<DecisionTrace>().is_some());
}

#[tokio::test]
async fn requests_with_nowhere_to_keep_a_trace_pass_through() {
    let svc = TraceLayer::sample(1)
        .unwrap()
        .layer(service_fn(
            |n: u64| async move { Ok::<_, Infallible>(n + 1) },
        ));
    assert_eq!(svc.oneshot(41).await.unwrap(), 42);
}

#[test]
fn sampling_none_is_refused_naming_the_setting() {
    let err = TraceLayer::sample(0).unwrap_err();
    assert_eq!(err.layer(), "trace");
    assert_eq!(err.field(), "sample");
}

#[test]
fn a_full_trace_counts_what_it_did_not_keep() {
    let trace = DecisionTrace::with_capacity(2);
    for _ in 0..5 {
        trace.record(
            "x",
            Decision::Recorded {
                outcome: "success".into(),
            },
        );
    }
    assert_eq!(trace.len(), 2);
    assert_eq!(trace.dropped(), 3);
    assert!(trace.to_string().ends_with("(3 more not kept)"));
}

#[test]
fn the_story_has_one_line_per_decision() {
    let trace = DecisionTrace::new();
    trace.record(
        "inventory",
        Decision::Classified {
            attempt: 1,
            outcome: Outcome::retry_after(Duration::from_secs(5)),
            rule: Some("status 503 with Retry-After".into()),
        },
    );
    trace.record(
        "inventory",
        Decision::Backoff {
            attempt: 1,
            delay: Duration::from_secs(2),
            source: DelaySource::Hint {
                asked: Duration::from_secs(5),
                clamped: true,
            },
        },
    );
    trace.record(
        "inventory",
        Decision::Budget {
            allowed: true,
            balance: Some(9.0),
        },
    );
    trace.record(
        "edge",
        Decision::Cancelled {
            reason: CancelReason::Timeout(Duration::from_secs(1)),
        },
    );
    let story = trace.to_string();
    let lines: Vec<&str> = story.lines().collect();
    assert_eq!(lines.len(), 4, "{story}");
    assert!(lines[0].ends_with("inventory: attempt 1: retryable failure (server asked to wait 5s) (rule: status 503 with Retry-After)"), "{story}");
    assert!(lines[1].ends_with("inventory: attempt 1 failed: retrying in 2s (the server asked 5s, clamped to the policy's maximum)"), "{story}");
    assert!(
        lines[2].ends_with("inventory: budget allowed a retry (balance 9.0)"),
        "{story}"
    );
    assert!(
        lines[3].ends_with("edge: cancelled: timed out after 1s"),
        "{story}"
    );
    assert!(lines[0].trim_start().starts_with('+'), "{story}");
}

#[test]
fn the_layer_describes_its_sampling() {
    use steadfast::describe::Describe;
    let text = TraceLayer::sample(100)
        .unwrap()
        .capacity(16)
        .describe()
        .iter()
        .map(ToString::to_string)
        .collect::<String>();
    assert_eq!(text, "trace: sample 1 in 100, capacity 16");
    let text = TraceLayer::new().describe()[0].to_string();
    assert_eq!(text, "trace: sample callers' traces only, capacity 64");
}
