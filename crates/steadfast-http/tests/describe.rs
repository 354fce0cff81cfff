//! The HTTP layers describe themselves, in a stack with steadfast's own layers, outermost
//! first.

use std::time::Duration;

use http::HeaderName;
use steadfast::cancel::CancelLayer;
use steadfast::describe::{Describe, LayerDescription, Value};
use steadfast::retry::{RetryLayer, RetryPolicy};
use steadfast::validate::NonEmpty;
use steadfast_http::attempt::{AttemptHeaderLayer, UpstreamRetriesLayer};
use steadfast_http::deadline::{AcceptDeadlineLayer, PropagateDeadlineLayer};
use steadfast_http::grpc_status::GrpcStatusLayer;
use steadfast_http::replay::ReplayLayer;
use steadfast_http::validate::{BufferLayer, ValidateRequestsLayer};
use steadfast_http::CancelLayerExt;
use tower::ServiceBuilder;

fn one(layer: &impl Describe) -> LayerDescription {
    let mut layers = layer.describe();
    assert_eq!(layers.len(), 1, "{layers:?}");
    layers.remove(0)
}

fn cancel(timeout: Duration) -> CancelLayer {
    CancelLayer::builder().timeout(timeout).build().unwrap()
}

#[test]
fn each_layer_lists_the_settings_it_was_built_with() {
    let http = cancel(Duration::from_secs(10)).for_http();
    assert_eq!(one(&http).to_string(), "http-cancel: timeout 10s");
    let grpc = cancel(Duration::from_millis(2500)).for_grpc();
    assert_eq!(one(&grpc).to_string(), "grpc-cancel: timeout 2.5s");

    let replay = ReplayLayer::builder().max_bytes(1024).build().unwrap();
    assert_eq!(one(&replay).to_string(), "replay: max_bytes 1024");
    assert_eq!(
        one(&ReplayLayer::new()).get("max_bytes"),
        Some(&Value::Integer(65536))
    );

    assert_eq!(
        one(&PropagateDeadlineLayer::new()).to_string(),
        "propagate-deadline: header x-request-timeout-ms"
    );
    assert_eq!(
        one(&PropagateDeadlineLayer::new().grpc_only()).to_string(),
        "propagate-deadline: grpc_only true"
    );
    let accept = AcceptDeadlineLayer::new()
        .header(HeaderName::from_static("x-budget-ms"))
        .max(Duration::from_secs(5));
    assert_eq!(
        one(&accept).to_string(),
        "accept-deadline: header x-budget-ms, max 5s"
    );
    assert_eq!(
        one(&AttemptHeaderLayer::new().on_first_attempts()).to_string(),
        "attempt-header: header x-retry-attempt, on_first_attempts true"
    );
    assert_eq!(
        one(&UpstreamRetriesLayer::new()).to_string(),
        "upstream-retries: header x-retry-attempt"
    );
    assert_eq!(one(&BufferLayer::new(4096)).to_string(), "buffer: cap 4096");
    assert_eq!(one(&GrpcStatusLayer::new()).to_string(), "grpc-status");
    let requests = ValidateRequestsLayer::new(NonEmpty).status(http::StatusCode::BAD_REQUEST);
    assert_eq!(
        one(&requests).to_string(),
        "validate-requests: validator NonEmpty, status 400"
    );
}

#[test]
fn an_http_client_stack_reads_outermost_first() {
    let builder = ServiceBuilder::new()
        .layer(cancel(Duration::from_secs(10)).for_http())
        .layer(ReplayLayer::new())
        .layer(RetryLayer::new(
            RetryPolicy::builder().max_attempts(2).build().unwrap(),
        ))
        .layer(AttemptHeaderLayer::new())
        .layer(PropagateDeadlineLayer::new())
        .layer(BufferLayer::new(1 << 20));
    let kinds: Vec<String> = builder
        .description()
        .layers()
        .iter()
        .map(|l| l.kind().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "http-cancel",
            "replay",
            "retry",
            "attempt-header",
            "propagate-deadline",
            "buffer"
        ]
    );
}
