//! Rehearsing failures with the chaos layer.
//!
//! ```sh
//! cargo run -p steadfast-examples --example chaos
//! ```
//!
//! Two rehearsals. First, a client stack (retry → chaos → backend) where the chaos layer fails
//! 30% of the calls and slows half of them: the retry layer must ride out every injected
//! fault, and once the switch is turned off the backend sees exactly one call per request.
//! Second, an axum server on 127.0.0.1 wrapped in the chaos layer, which answers a seeded share
//! of `/api/` requests with `503` and `Retry-After: 2`, as an overloaded server would, while
//! `/health` is never touched. The example checks what happened and exits non-zero if
//! something did not.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use steadfast::chaos::{ChaosLayer, ChaosSwitch, FaultInjection, LatencyInjection};
use steadfast::retry::{Backoff, RetryLayer, RetryPolicy};
use steadfast::BoxError;
use steadfast_http::chaos::{path_starts_with, StatusOutcome};
use tokio::net::TcpListener;
use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};

fn check(ok: bool, what: &str) -> Result<(), BoxError> {
    if ok {
        println!("ok: {what}");
        Ok(())
    } else {
        Err(format!("failed: {what}").into())
    }
}

async fn client_rehearsal() -> Result<(), BoxError> {
    let switch = ChaosSwitch::new(true);
    let chaos = ChaosLayer::builder()
        .name("inventory")
        .switch(switch.clone())
        .seed(7)
        .fault(FaultInjection::chaos().rate(0.3))
        .latency(
            LatencyInjection::uniform(Duration::from_millis(1), Duration::from_millis(5)).rate(0.5),
        )
        .build()?;
    let backend_calls = Arc::new(AtomicU64::new(0));
    let attempts = Arc::new(AtomicU64::new(0));
    let backend = service_fn({
        let calls = backend_calls.clone();
        move |sku: u64| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, std::io::Error>(sku * 100) }
        }
    });
    let svc = ServiceBuilder::new()
        .layer(RetryLayer::new(
            RetryPolicy::builder()
                .max_attempts(10)
                .backoff(Backoff::constant(Duration::from_millis(1)))
                .build()?,
        ))
        .map_request({
            let attempts = attempts.clone();
            move |sku: u64| {
                attempts.fetch_add(1, Ordering::SeqCst);
                sku
            }
        })
        .layer(chaos)
        .service(backend);

    let mut wrong = 0;
    for sku in 0..200 {
        if svc.clone().oneshot(sku).await? != sku * 100 {
            wrong += 1;
        }
    }
    check(
        wrong == 0,
        "every request answered right despite the faults",
    )?;
    let calls = backend_calls.load(Ordering::SeqCst);
    let faults = attempts.load(Ordering::SeqCst) - calls;
    println!("200 requests, {faults} injected faults retried, {calls} backend calls");
    // At a rate of 0.3, about 86 faults in 286 attempts.
    check(
        (40..=130).contains(&faults),
        "about 30% of the attempts failed",
    )?;
    check(calls == 200, "an injected fault never reaches the backend")?;

    switch.turn_off();
    for sku in 0..50 {
        svc.clone().oneshot(sku).await?;
    }
    check(
        backend_calls.load(Ordering::SeqCst) == 250,
        "with the switch off every request goes straight through",
    )
}

async fn server_rehearsal() -> Result<(), BoxError> {
    let chaos = ChaosLayer::builder()
        .seed(3)
        .when(path_starts_with("/api/"))
        .outcome(
            StatusOutcome::new(StatusCode::SERVICE_UNAVAILABLE)
                .retry_after(Duration::from_secs(2))
                .injection()
                .rate(0.25),
        )
        .build()?;
    let app = Router::new()
        .route("/api/stock", get(|| async { "42" }))
        .route("/health", get(|| async { "healthy" }));
    let svc = chaos.layer(app.into_service::<Body>());

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let svc = svc.clone();
            tokio::spawn(async move {
                let handler =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        svc.clone().oneshot(req.map(Body::new))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), handler)
                    .await;
            });
        }
    });

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let (mut unavailable, mut without_hint, mut health_failures) = (0, 0, 0);
    for _ in 0..200 {
        let res = client
            .get(format!("http://{addr}/api/stock").parse()?)
            .await?;
        if res.status() == StatusCode::SERVICE_UNAVAILABLE {
            unavailable += 1;
            if res.headers().get("retry-after").is_none_or(|v| v != "2") {
                without_hint += 1;
            }
        }
        let res = client.get(format!("http://{addr}/health").parse()?).await?;
        if res.status() != StatusCode::OK {
            health_failures += 1;
        }
    }
    println!("{unavailable} of 200 /api/ requests answered 503");
    check(
        (25..=75).contains(&unavailable),
        "about a quarter of /api/ answered 503",
    )?;
    check(without_hint == 0, "every 503 carries Retry-After: 2")?;
    check(health_failures == 0, "/health is never touched")
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    client_rehearsal().await?;
    server_rehearsal().await?;
    Ok(())
}
