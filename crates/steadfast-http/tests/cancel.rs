//! The HTTP and gRPC forms of steadfast's cancel layer on tokio's paused clock: status answers
//! for each reason, the reason in the answer's extensions, and the layer in a `ServiceBuilder`.

use std::time::Duration;

use steadfast::cancel::CancelLayer;
use steadfast::token::CancelReason;
use steadfast::token::CancelToken;
use steadfast::ServiceBuilderExt;
use steadfast_http::cancel::{grpc_status_for, status_for};
use steadfast_http::CancelLayerExt;
use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

type Req = http::Request<()>;

fn req() -> Req {
    http::Request::new(())
}

#[tokio::test(start_paused = true)]
async fn the_http_form_answers_cancellations_with_a_status() {
    use http_body_util::Empty;
    type Body = Empty<bytes::Bytes>;
    let shutdown = CancelToken::new();
    let layer = CancelLayer::builder()
        .timeout(secs(5))
        .parent(shutdown.clone())
        .build()
        .unwrap()
        .for_http();
    let slow = service_fn(|_: Req| async {
        tokio::time::sleep(secs(60)).await;
        Ok::<_, std::convert::Infallible>(http::Response::new(Body::new()))
    });
    let svc = layer.layer(slow);

    // A timeout answers 504, with the reason in the response's extensions.
    let resp = svc.clone().oneshot(req()).await.unwrap();
    assert_eq!(resp.status(), http::StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        resp.extensions().get::<CancelReason>(),
        Some(&CancelReason::Timeout(secs(5)))
    );

    // Shutdown answers 503.
    let task = tokio::spawn(svc.clone().oneshot(req()));
    tokio::time::sleep(secs(1)).await;
    shutdown.cancel_with(CancelReason::Shutdown);
    let resp = task.await.unwrap().unwrap();
    assert_eq!(resp.status(), http::StatusCode::SERVICE_UNAVAILABLE);

    // After shutdown, new requests are refused at once, with the same status.
    let fast = service_fn(|_: Req| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(Body::new()))
    });
    let resp = layer.layer(fast).oneshot(req()).await.unwrap();
    assert_eq!(resp.status(), http::StatusCode::SERVICE_UNAVAILABLE);

    // An answer in time passes through untouched.
    let fresh = CancelLayer::builder()
        .timeout(secs(5))
        .build()
        .unwrap()
        .for_http();
    let resp = fresh.layer(fast).oneshot(req()).await.unwrap();
    assert_eq!(resp.status(), http::StatusCode::OK);
}

#[test]
fn statuses_for_each_reason() {
    assert_eq!(status_for(&CancelReason::Deadline).as_u16(), 504);
    assert_eq!(status_for(&CancelReason::Signal(15)).as_u16(), 503);
    assert_eq!(status_for(&CancelReason::Condition(None)).as_u16(), 503);
    assert_eq!(status_for(&CancelReason::ClientDisconnected).as_u16(), 499);
    assert_eq!(status_for(&CancelReason::Timeout(secs(1))).as_u16(), 504);
    assert_eq!(status_for(&CancelReason::Shutdown).as_u16(), 503);
}

#[test]
fn grpc_statuses_for_each_reason() {
    assert_eq!(grpc_status_for(&CancelReason::Timeout(secs(1))), 4);
    assert_eq!(grpc_status_for(&CancelReason::Deadline), 4);
    assert_eq!(grpc_status_for(&CancelReason::Shutdown), 14);
    assert_eq!(grpc_status_for(&CancelReason::Signal(15)), 14);
    assert_eq!(grpc_status_for(&CancelReason::ClientDisconnected), 1);
    assert_eq!(grpc_status_for(&CancelReason::Condition(None)), 1);
}

#[tokio::test(start_paused = true)]
async fn the_grpc_form_answers_with_a_trailers_only_status() {
    use http_body_util::Empty;
    let layer = CancelLayer::builder()
        .timeout(secs(2))
        .build()
        .unwrap()
        .for_grpc();
    let slow = service_fn(|_: Req| async {
        tokio::time::sleep(secs(60)).await;
        Ok::<_, std::convert::Infallible>(http::Response::new(Empty::<bytes::Bytes>::new()))
    });
    let resp = layer.layer(slow).oneshot(req()).await.unwrap();
    assert_eq!(resp.status(), http::StatusCode::OK);
    let headers = resp.headers();
    assert_eq!(headers["content-type"], "application/grpc");
    assert_eq!(headers["grpc-status"], "4");
    assert!(headers.contains_key("grpc-message"));
    assert_eq!(
        resp.extensions().get::<CancelReason>(),
        Some(&CancelReason::Timeout(secs(2)))
    );
}

#[tokio::test(start_paused = true)]
async fn service_builder_cancel_takes_the_http_form() {
    use http_body_util::Empty;
    let svc = ServiceBuilder::new()
        .cancel(
            CancelLayer::builder()
                .timeout(secs(3))
                .build()
                .unwrap()
                .for_http(),
        )
        .service_fn(|_: Req| async {
            tokio::time::sleep(secs(60)).await;
            Ok::<_, std::convert::Infallible>(http::Response::new(Empty::<bytes::Bytes>::new()))
        });
    let resp = svc.oneshot(req()).await.unwrap();
    assert_eq!(resp.status(), http::StatusCode::GATEWAY_TIMEOUT);
}
