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

#[tokio::test]
async fn the_deadline_and_upstream_layers_are_ready_when_their_service_is() {
    use steadfast_http::deadline::PropagateDeadlineLayer;
    let propagate = PropagateDeadlineLayer::new().layer(Echo { ready: false });
    assert_eq!(
        propagate.oneshot(Request::new(())).await.unwrap_err(),
        "not ready"
    );
    let upstream = UpstreamRetriesLayer::new().layer(Echo { ready: false });
    assert_eq!(
        upstream.oneshot(Request::new(())).await.unwrap_err(),
        "not ready"
    );
}

#[test]
fn attempt_counts_have_at_most_nine_digits() {
    let layer = UpstreamRetriesLayer::new();
    let is_retry = |v: &'static str| {
        let mut headers = HeaderMap::new();
        headers.insert("x-retry-attempt", v.parse().unwrap());
        layer.is_retry(&headers)
    };
    assert!(is_retry("100000000"));
    assert!(!is_retry("1000000000"));
}

#[test]
fn deadline_headers_have_at_most_nineteen_digits_and_a_custom_name() {
    use std::time::Duration;
    use steadfast_http::deadline::AcceptDeadlineLayer;
    let requested = |layer: &AcceptDeadlineLayer, name: &'static str, v: &'static str| {
        let mut headers = HeaderMap::new();
        headers.insert(name, v.parse().unwrap());
        layer.requested(&headers)
    };
    let plain = AcceptDeadlineLayer::new();
    let nineteen = "1000000000000000000";
    assert_eq!(
        requested(&plain, "x-request-timeout-ms", nineteen),
        Some(Duration::from_millis(1_000_000_000_000_000_000))
    );
    assert_eq!(
        requested(&plain, "x-request-timeout-ms", "10000000000000000000"),
        None
    );
    let custom = AcceptDeadlineLayer::new().header(HeaderName::from_static("x-budget-ms"));
    assert_eq!(
        requested(&custom, "x-budget-ms", "250"),
        Some(Duration::from_millis(250))
    );
    assert_eq!(requested(&custom, "x-request-timeout-ms", "250"), None);
}

#[tokio::test(start_paused = true)]
async fn a_propagating_client_tightens_looser_deadlines_under_its_own_header() {
    use std::time::Duration;
    use steadfast::token::{CancelToken, HasCancelToken};
    use steadfast_http::deadline::PropagateDeadlineLayer;
    let request = |grpc_timeout: Option<&'static str>| {
        let mut req = Request::post("/pkg.Service/Method")
            .header("content-type", "application/grpc")
            .body(())
            .unwrap();
        if let Some(t) = grpc_timeout {
            req.headers_mut().insert("grpc-timeout", t.parse().unwrap());
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let _ = req.set_cancel_token(CancelToken::with_deadline(deadline));
        req
    };
    let svc = PropagateDeadlineLayer::new().layer(Echo { ready: true });
    let looser = svc.clone().oneshot(request(Some("10S"))).await.unwrap();
    assert_eq!(looser["grpc-timeout"], "5S");
    let tighter = svc.oneshot(request(Some("2S"))).await.unwrap();
    assert_eq!(tighter["grpc-timeout"], "2S");

    let mut plain = Request::new(());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let _ = plain.set_cancel_token(CancelToken::with_deadline(deadline));
    let custom = PropagateDeadlineLayer::new()
        .header(HeaderName::from_static("x-budget-ms"))
        .layer(Echo { ready: true });
    let headers = custom.oneshot(plain).await.unwrap();
    assert_eq!(headers["x-budget-ms"], "5000");
    assert!(headers.get("x-request-timeout-ms").is_none());
}

#[test]
fn only_a_delay_hint_has_a_delay() {
    use std::time::Duration;
    use steadfast_http::ServerHint;
    let d = Duration::from_millis(1_500);
    assert_eq!(ServerHint::After(d).delay(), Some(d));
    assert_eq!(ServerHint::None.delay(), None);
    assert_eq!(ServerHint::DoNotRetry.delay(), None);
}

#[test]
fn a_rate_limit_reset_is_no_hint_while_requests_remain() {
    use std::time::{Duration, UNIX_EPOCH};
    use steadfast_http::hint::{HintSource, ServerHints};
    use steadfast_http::ServerHint;
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for (source, reset, remaining) in [
        (
            HintSource::XRateLimitReset,
            "x-ratelimit-reset",
            "x-ratelimit-remaining",
        ),
        (
            HintSource::RateLimitReset,
            "ratelimit-reset",
            "ratelimit-remaining",
        ),
    ] {
        let hints = ServerHints::builder().sources([source]).build().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(reset, "5".parse().unwrap());
        headers.insert(remaining, "0".parse().unwrap());
        assert_eq!(
            hints.read_at(&headers, now),
            ServerHint::After(Duration::from_secs(5))
        );
        headers.insert(remaining, "3".parse().unwrap());
        assert_eq!(hints.read_at(&headers, now), ServerHint::None, "{reset}");
    }
}
