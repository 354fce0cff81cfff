//! The client preset costs what its layers cost stacked by hand: a successful request through
//! `standard_http_client()` makes as many heap allocations as the same layers, with the same
//! settings, put in a `ServiceBuilder` one by one.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use steadfast::cancel::CancelLayer;
use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer, SlidingWindow};
use steadfast::retry::{Backoff, Jitter, RatioBudget, RetryLayer, RetryPolicy};
use steadfast_http::attempt::AttemptHeaderLayer;
use steadfast_http::deadline::PropagateDeadlineLayer;
use steadfast_http::preset::standard_http_client;
use steadfast_http::replay::{ReplayBody, ReplayCloner, ReplayLayer};
use steadfast_http::HttpClassifier;
use steadfast_test::alloc::{allocations_in, CountingAllocator};
use tower::{service_fn, Layer, Service, ServiceBuilder, ServiceExt};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

type Req = Request<Full<Bytes>>;

/// A transport that answers `200` at once.
fn transport() -> impl Service<
    Request<ReplayBody<Full<Bytes>>>,
    Response = Response<()>,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone {
    service_fn(|_req: Request<ReplayBody<Full<Bytes>>>| async { Ok(Response::new(())) })
}

/// Allocations per request, over 100 requests after one to warm up.
fn per_request<S>(rt: &tokio::runtime::Runtime, svc: S) -> u64
where
    S: Service<Req, Response = Response<()>> + Clone,
    S::Error: std::fmt::Debug,
{
    let send = |svc: S| {
        rt.block_on(async move {
            let req = Request::get("http://inventory.internal/stock")
                .body(Full::new(Bytes::from_static(b"q")))
                .unwrap();
            let res = svc.oneshot(req).await.unwrap();
            assert_eq!(res.status(), 200);
        })
    };
    send(svc.clone());
    allocations_in(|| {
        for _ in 0..100 {
            send(svc.clone());
        }
    }) / 100
}

#[test]
fn the_preset_allocates_what_its_layers_allocate_by_hand() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let preset = standard_http_client().build().unwrap().layer(transport());

    let policy = RetryPolicy::builder()
        .max_attempts(4)
        .backoff(
            Backoff::exponential(Duration::from_secs(2))
                .max(Duration::from_secs(30))
                .jitter(Jitter::Equal),
        )
        .max_hint(Duration::from_secs(30))
        .budget(std::sync::Arc::new(RatioBudget::builder().build().unwrap()))
        .classify(HttpClassifier::default())
        .clone_requests(ReplayCloner)
        .build()
        .unwrap();
    let breaker = CircuitBreaker::builder()
        .failure_rate(10.0)
        .window(SlidingWindow::time(Duration::from_secs(30)))
        .minimum_calls(100)
        .open_for(Duration::from_secs(5))
        .build()
        .unwrap();
    let by_hand = ServiceBuilder::new()
        .load_shed()
        .concurrency_limit(1000)
        .layer(
            CancelLayer::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        )
        .layer(ReplayLayer::new())
        .layer(RetryLayer::new(policy))
        .layer(CircuitBreakerLayer::new(breaker).classify(HttpClassifier::default()))
        .layer(
            CancelLayer::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        )
        .layer(AttemptHeaderLayer::new())
        .layer(PropagateDeadlineLayer::new())
        .service(transport());

    let bare = per_request(
        &rt,
        ServiceBuilder::new()
            .layer(ReplayLayer::new())
            .service(transport()),
    );
    let (preset, by_hand) = (per_request(&rt, preset), per_request(&rt, by_hand));
    println!("allocations per request: preset {preset}, by hand {by_hand}, replay alone {bare}");
    assert_eq!(preset, by_hand);
}
