//! The HTTP and gRPC classifiers explain their verdicts for a decision trace: `explain`
//! gives `classify`'s outcome, over any status, hint header, method and client error, and
//! names the rule (the status or code, the hint that set the delay, the error's kind, the
//! idempotency check); and a traced request through a retry layer records those rules.

use std::time::Duration;

use http::{Method, Request, Response};
use proptest::prelude::*;
use steadfast::classify::{Attempt, Classify, Outcome};
use steadfast::retry::{Backoff, RetryLayer, RetryPolicy};
use steadfast::trace::{Decision, DecisionTrace, DelaySource};
use steadfast_http::{GrpcClassifier, HttpClassifier};
use tower::{service_fn, Layer, ServiceExt};

type Err = std::io::Error;

/// A classifier's answer to one result, explained.
type Explained = (Outcome, Option<String>);

fn explain_and_classify<C>(
    c: &C,
    req: &Request<()>,
    result: Result<&Response<()>, &Err>,
) -> Explained
where
    C: Classify<Request<()>, Response<()>, Err>,
{
    let ctx = Attempt::first(req);
    let (outcome, rule) = c.explain(&ctx, result);
    assert_eq!(outcome, c.classify(&ctx, result), "{rule:?}");
    (outcome, rule.map(|r| r.into_owned()))
}

fn response(status: u16, header: Option<(&'static str, &'static str)>) -> Response<()> {
    let mut b = Response::builder().status(status);
    if let Some((name, value)) = header {
        b = b.header(name, value);
    }
    b.body(()).unwrap()
}

fn any_header() -> impl Strategy<Value = Option<(&'static str, &'static str)>> {
    prop_oneof![
        Just(None),
        Just(Some(("retry-after", "2"))),
        Just(Some(("retry-after", "soon"))),
        Just(Some(("grpc-retry-pushback-ms", "500"))),
        Just(Some(("grpc-retry-pushback-ms", "-1"))),
        Just(Some(("grpc-status", "14"))),
        Just(Some(("grpc-status", "5"))),
        Just(Some(("grpc-status", "0"))),
        Just(Some(("x-ratelimit-reset", "3"))),
    ]
}

fn any_error() -> impl Strategy<Value = std::io::ErrorKind> {
    use std::io::ErrorKind as K;
    prop_oneof![
        Just(K::ConnectionRefused),
        Just(K::ConnectionReset),
        Just(K::TimedOut),
        Just(K::PermissionDenied),
        Just(K::Other),
    ]
}

proptest! {
    #[test]
    fn explain_gives_classifys_verdict(
        status in 100u16..=999,
        header in any_header(),
        post in any::<bool>(),
        error in proptest::option::of(any_error()),
    ) {
        let method = if post { Method::POST } else { Method::GET };
        let req = Request::builder().method(method).body(()).unwrap();
        let res = response(status, header);
        let err = error.map(std::io::Error::from);
        let result = match &err {
            Some(e) => Err(e),
            None => Ok(&res),
        };
        let (_, http_rule) = explain_and_classify(&HttpClassifier::default(), &req, result);
        let (_, grpc_rule) = explain_and_classify(&GrpcClassifier::default(), &req, result);
        prop_assert!(http_rule.is_some() && grpc_rule.is_some());
    }
}

#[test]
fn the_rules_name_the_status_the_hint_the_error_and_the_idempotency_check() {
    let http = HttpClassifier::default();
    let get = Request::get("/").body(()).unwrap();
    let post = Request::post("/").body(()).unwrap();
    let rule = |e: Explained| e.1.unwrap();
    let on_get = |r: Result<&Response<()>, &Err>| explain_and_classify(&http, &get, r);
    let on_post = |r: Result<&Response<()>, &Err>| explain_and_classify(&http, &post, r);

    assert_eq!(rule(on_get(Ok(&response(200, None)))), "status 200");
    assert_eq!(rule(on_get(Ok(&response(503, None)))), "status 503");
    assert_eq!(
        on_get(Ok(&response(503, Some(("retry-after", "2"))))),
        (
            Outcome::retry_after(Duration::from_secs(2)),
            Some("status 503, retry-after 2s".into())
        )
    );
    assert_eq!(
        rule(on_post(Ok(&response(503, None)))),
        "status 503, not idempotent"
    );
    let refused = Err::from(std::io::ErrorKind::ConnectionRefused);
    // Never sent: retried whatever the method.
    assert_eq!(
        on_post(Err(&refused)),
        (Outcome::retryable(), Some("connect error".into()))
    );
    let reset = Err::from(std::io::ErrorKind::ConnectionReset);
    assert_eq!(
        rule(on_post(Err(&reset))),
        "transport error, not idempotent"
    );
    let timeout = Err::from(std::io::ErrorKind::TimedOut);
    assert_eq!(rule(on_get(Err(&timeout))), "timeout");

    let grpc = GrpcClassifier::default();
    let on_grpc = |r: Result<&Response<()>, &Err>| explain_and_classify(&grpc, &post, r);
    assert_eq!(
        rule(on_grpc(Ok(&response(200, Some(("grpc-status", "14")))))),
        "grpc UNAVAILABLE"
    );
    let mut pushed = response(200, Some(("grpc-status", "14")));
    pushed
        .headers_mut()
        .insert("grpc-retry-pushback-ms", "500".parse().unwrap());
    assert_eq!(
        on_grpc(Ok(&pushed)),
        (
            Outcome::pushed_back(Duration::from_millis(500)),
            Some("grpc UNAVAILABLE, grpc-retry-pushback-ms 500ms".into())
        )
    );
    pushed
        .headers_mut()
        .insert("grpc-retry-pushback-ms", "-1".parse().unwrap());
    assert_eq!(
        on_grpc(Ok(&pushed)),
        (
            Outcome::DoNotRetry,
            Some("grpc UNAVAILABLE, grpc-retry-pushback-ms refused a retry".into())
        )
    );
    assert_eq!(rule(on_grpc(Ok(&response(503, None)))), "grpc UNAVAILABLE");
}

#[tokio::test(start_paused = true)]
async fn a_traced_http_request_records_the_rules_and_the_hint() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let server = service_fn({
        let calls = calls.clone();
        move |_: Request<()>| {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let res = if n == 0 {
                response(503, Some(("retry-after", "2")))
            } else {
                response(200, None)
            };
            async move { Ok::<_, Err>(res) }
        }
    });
    let policy = RetryPolicy::builder()
        .backoff(Backoff::constant(Duration::from_millis(10)))
        .classify(HttpClassifier::default())
        .build()
        .unwrap();
    let trace = DecisionTrace::new();
    let mut req = Request::get("/").body(()).unwrap();
    req.extensions_mut().insert(trace.clone());
    let res = RetryLayer::new(policy)
        .layer(server)
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let decisions: Vec<Decision> = trace.entries().into_iter().map(|e| e.decision).collect();
    assert_eq!(
        decisions,
        [
            Decision::Classified {
                attempt: 1,
                outcome: Outcome::retry_after(Duration::from_secs(2)),
                rule: Some("status 503, retry-after 2s".into()),
            },
            Decision::Backoff {
                attempt: 1,
                delay: Duration::from_secs(2),
                source: DelaySource::Hint {
                    asked: Duration::from_secs(2),
                    clamped: false
                },
            },
            Decision::Classified {
                attempt: 2,
                outcome: Outcome::Success,
                rule: Some("status 200".into()),
            },
        ]
    );
}
