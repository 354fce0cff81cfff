//! Tests that catch mutants of the hint and header parsing (see "Mutation testing" in
//! docs/reliability.md).

use std::future::{ready, Ready};
use std::task::{Context, Poll};

use http::{HeaderMap, HeaderName, Request};
use steadfast_http::attempt::{AttemptHeaderLayer, UpstreamRetriesLayer};
use tower::{Layer, Service, ServiceExt};

/// Answers with the request's headers once ready; never ready when `ready` is false.
#[derive(Clone)]
struct Echo {
    ready: bool,
}

impl Service<Request<()>> for Echo {
    type Response = HeaderMap;
    type Error = &'static str;
    type Future = Ready<Result<HeaderMap, &'static str>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.ready {
            Poll::Ready(Ok(()))
        } else {
            Poll::Ready(Err("not ready"))
        }
    }

    fn call(&mut self, req: Request<()>) -> Self::Future {
        ready(Ok(req.headers().clone()))
    }
}

#[tokio::test]
async fn the_attempt_header_layer_is_ready_when_its_service_is() {
    let not_ready = AttemptHeaderLayer::new().layer(Echo { ready: false });
    assert_eq!(
        not_ready.oneshot(Request::new(())).await.unwrap_err(),
        "not ready"
    );
    let fine = AttemptHeaderLayer::new().layer(Echo { ready: true });
    assert!(fine.oneshot(Request::new(())).await.is_ok());
}

#[tokio::test]
async fn a_first_grpc_attempt_claims_no_previous_attempts() {
    let svc = AttemptHeaderLayer::new()
        .on_first_attempts()
        .layer(Echo { ready: true });
    let req = Request::post("/pkg.Service/Method")
        .header("content-type", "application/grpc")
        .body(())
        .unwrap();
    let headers = svc.oneshot(req).await.unwrap();
    assert_eq!(headers["x-retry-attempt"], "1");
    assert!(headers.get("grpc-previous-rpc-attempts").is_none());
}

#[test]
fn upstream_retries_read_the_header_they_are_given() {
    let custom = UpstreamRetriesLayer::new().header(HeaderName::from_static("x-try"));
    let mut headers = HeaderMap::new();
    headers.insert("x-try", "2".parse().unwrap());
    assert!(custom.is_retry(&headers));
    let mut headers = HeaderMap::new();
    headers.insert("x-retry-attempt", "2".parse().unwrap());
    assert!(!custom.is_retry(&headers));
    assert!(UpstreamRetriesLayer::new().is_retry(&headers));
}

#[test]
fn server_hint_predicates_name_their_variant() {
    use std::time::Duration;
    use steadfast_http::ServerHint;
    assert!(ServerHint::None.is_none());
    assert!(!ServerHint::After(Duration::from_secs(1)).is_none());
    assert!(!ServerHint::DoNotRetry.is_none());
    assert!(ServerHint::DoNotRetry.is_do_not_retry());
    assert!(!ServerHint::None.is_do_not_retry());
    assert!(!ServerHint::After(Duration::from_secs(1)).is_do_not_retry());
}

#[test]
fn an_accepting_server_that_reads_grpc_only_ignores_the_plain_header() {
    use std::time::Duration;
    use steadfast_http::deadline::AcceptDeadlineLayer;
    let mut headers = HeaderMap::new();
    headers.insert("x-request-timeout-ms", "100".parse().unwrap());
    assert_eq!(
        AcceptDeadlineLayer::new().requested(&headers),
        Some(Duration::from_millis(100))
    );
    assert_eq!(
        AcceptDeadlineLayer::new().grpc_only().requested(&headers),
        None
    );
}

#[tokio::test]
async fn the_accept_deadline_layer_is_ready_when_its_service_is() {
    use steadfast_http::deadline::AcceptDeadlineLayer;
    let not_ready = AcceptDeadlineLayer::new().layer(Echo { ready: false });
    assert_eq!(
        not_ready.oneshot(Request::new(())).await.unwrap_err(),
        "not ready"
    );
}

#[tokio::test(start_paused = true)]
async fn a_propagating_client_that_writes_grpc_only_leaves_plain_requests_alone() {
    use std::time::Duration;
    use steadfast::token::{CancelToken, HasCancelToken};
    use steadfast_http::deadline::PropagateDeadlineLayer;
    let request = || {
        let mut req = Request::new(());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let _ = req.set_cancel_token(CancelToken::with_deadline(deadline));
        req
    };
    let plain = PropagateDeadlineLayer::new().layer(Echo { ready: true });
    let headers = plain.oneshot(request()).await.unwrap();
    assert_eq!(headers["x-request-timeout-ms"], "5000");
    let grpc_only = PropagateDeadlineLayer::new()
        .grpc_only()
        .layer(Echo { ready: true });
    let headers = grpc_only.oneshot(request()).await.unwrap();
    assert!(headers.get("x-request-timeout-ms").is_none());
}
