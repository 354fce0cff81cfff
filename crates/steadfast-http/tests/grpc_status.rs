//! The gRPC status in a streamed answer's trailers: the circuit breaker records the call when
//! the body ends, by the classifier's rule for that status.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::channel::Channel;
use http_body_util::{BodyExt, Full};
use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer, CircuitState};
use steadfast::validate::{ValidationContext, Validator};
use steadfast_http::grpc_status::{GrpcStatusBody, GrpcStatusLayer};
use steadfast_http::validate::{grpc_status, Buffered};
use steadfast_http::GrpcClassifier;
use tower::{service_fn, BoxError, Layer, Service, ServiceExt};

fn trailers(code: &str) -> HeaderMap {
    let mut t = HeaderMap::new();
    t.insert("grpc-status", code.parse().unwrap());
    t
}

fn breaker() -> CircuitBreaker {
    CircuitBreaker::builder()
        .consecutive_failures(1)
        .open_for(Duration::from_secs(30))
        .build()
        .unwrap()
}

type Streamed = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// A breaker and the status layer around a channel that answers with `body()`.
fn client<F>(
    breaker: &CircuitBreaker,
    body: F,
) -> impl Service<Request<()>, Response = Response<GrpcStatusBody<Streamed>>, Error = BoxError>
where
    F: Fn() -> Response<Streamed> + Clone + Send + 'static,
{
    let channel = service_fn(move |_: Request<()>| {
        let body = body.clone();
        async move { Ok::<_, BoxError>(body()) }
    });
    CircuitBreakerLayer::new(breaker.clone())
        .classify(GrpcClassifier::default())
        .layer(GrpcStatusLayer::new().layer(channel))
}

fn streamed(code: Option<&'static str>) -> Response<Streamed> {
    let body = Full::new(Bytes::from_static(b"message")).map_err(BoxError::from);
    match code {
        Some(code) => Response::new(
            body.with_trailers(async move { Some(Ok(trailers(code))) })
                .boxed(),
        ),
        None => Response::new(body.boxed()),
    }
}

#[tokio::test]
async fn a_failure_status_in_the_trailers_counts_when_the_body_ends() {
    let b = breaker();
    let svc = client(&b, || streamed(Some("14")));
    let answer = svc.oneshot(Request::new(())).await.unwrap();
    assert!(answer.body().is_watching());
    assert_eq!(b.metrics().failures, 0, "the headers said nothing yet");
    assert_eq!(b.metrics().successes, 0, "nor is it a success yet");
    let collected = answer.into_body().collect().await.unwrap();
    assert_eq!(
        collected.trailers().unwrap()["grpc-status"],
        "14",
        "frames unchanged"
    );
    assert_eq!(b.metrics().failures, 1);
    assert_eq!(b.state(), CircuitState::Open);
}

#[tokio::test]
async fn ok_in_the_trailers_is_a_success_and_a_missing_status_a_failure() {
    let b = breaker();
    let svc = client(&b, || streamed(Some("0")));
    let answer = svc.oneshot(Request::new(())).await.unwrap();
    answer.into_body().collect().await.unwrap();
    assert_eq!((b.metrics().successes, b.metrics().failures), (1, 0));

    // The caller's errors are answers: NOT_FOUND is a success for the breaker.
    let svc = client(&b, || streamed(Some("5")));
    let answer = svc.oneshot(Request::new(())).await.unwrap();
    answer.into_body().collect().await.unwrap();
    assert_eq!((b.metrics().successes, b.metrics().failures), (2, 0));

    // A body that ends without any status: UNKNOWN, a failure.
    let svc = client(&b, || streamed(None));
    let answer = svc.oneshot(Request::new(())).await.unwrap();
    answer.into_body().collect().await.unwrap();
    assert_eq!(b.metrics().failures, 1);
}

#[tokio::test]
async fn a_body_whose_stream_fails_is_a_failure() {
    let b = breaker();
    let (tx, rx) = Channel::<Bytes, BoxError>::new(1);
    let rx = std::sync::Mutex::new(Some(rx));
    let rx = std::sync::Arc::new(rx);
    let svc = client(&b, move || {
        Response::new(rx.lock().unwrap().take().unwrap().boxed())
    });
    let answer = svc.oneshot(Request::new(())).await.unwrap();
    tx.abort("stream reset".into());
    assert!(answer.into_body().collect().await.is_err());
    assert_eq!(b.metrics().failures, 1);
}

#[tokio::test(start_paused = true)]
async fn a_body_dropped_before_its_end_is_not_counted_and_frees_a_probe_slot() {
    let b = CircuitBreaker::builder()
        .consecutive_failures(1)
        .open_for(Duration::from_millis(10))
        .half_open_max_calls(1)
        .build()
        .unwrap();
    // Open it with a trailers-only failure, then wait for half-open.
    let fail = client(&b, || {
        let mut res = Response::new(Full::new(Bytes::new()).map_err(BoxError::from).boxed());
        res.headers_mut()
            .insert("grpc-status", "14".parse().unwrap());
        res
    });
    fail.oneshot(Request::new(())).await.unwrap();
    assert_eq!(b.state(), CircuitState::Open);
    tokio::time::sleep(Duration::from_millis(20)).await;

    let mut svc = client(&b, || streamed(Some("14")));
    let answer = svc
        .ready()
        .await
        .unwrap()
        .call(Request::new(()))
        .await
        .unwrap();
    assert_eq!(b.state(), CircuitState::HalfOpen);
    // The probe is out until its body ends: no second probe is admitted.
    assert!(
        b.check().is_err(),
        "the streamed probe still holds its slot"
    );
    drop(answer);
    assert_eq!(b.metrics().failures, 1, "only the first call");
    assert_eq!(b.metrics().successes, 0);
    assert!(b.check().is_ok(), "the slot came back");
}

#[tokio::test]
async fn a_trailers_only_answer_is_judged_at_once() {
    let b = breaker();
    let svc = client(&b, || {
        let mut res = Response::new(Full::new(Bytes::new()).map_err(BoxError::from).boxed());
        res.headers_mut()
            .insert("grpc-status", "14".parse().unwrap());
        res
    });
    let answer = svc.oneshot(Request::new(())).await.unwrap();
    assert!(!answer.body().is_watching());
    assert_eq!(b.metrics().failures, 1);
}

#[tokio::test]
async fn without_the_layer_the_breaker_judges_the_headers() {
    let b = breaker();
    let channel = service_fn(|_: Request<()>| async { Ok::<_, BoxError>(streamed(Some("14"))) });
    let svc = CircuitBreakerLayer::new(b.clone())
        .classify(GrpcClassifier::default())
        .layer(channel);
    let answer = svc.oneshot(Request::new(())).await.unwrap();
    answer.into_body().collect().await.unwrap();
    assert_eq!((b.metrics().successes, b.metrics().failures), (1, 0));
}

#[test]
fn the_validator_reads_the_status_from_buffered_trailers_or_headers() {
    let check = |res: Response<Buffered>| {
        let mut reasons = Vec::new();
        grpc_status().validate(&res, &ValidationContext::first(), &mut reasons);
        reasons.iter().map(ToString::to_string).collect::<Vec<_>>()
    };
    let body = |t: Option<HeaderMap>| Buffered::new(Bytes::from_static(b"m"), t);
    assert!(check(Response::new(body(Some(trailers("0"))))).is_empty());
    assert_eq!(
        check(Response::new(body(Some(trailers("14"))))),
        ["gRPC status Unavailable (14)"]
    );
    assert_eq!(
        check(Response::new(body(None))),
        ["gRPC status Unknown (2)"]
    );
    let mut only = Response::new(body(None));
    only.headers_mut()
        .insert("grpc-status", "0".parse().unwrap());
    assert!(check(only).is_empty());
    let proxy = Response::builder().status(503).body(body(None)).unwrap();
    assert_eq!(check(proxy), ["gRPC status Unavailable (14)"]);
}
