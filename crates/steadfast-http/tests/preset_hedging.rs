//! The hedging client preset on real connections to 127.0.0.1: a server whose first answer
//! straggles, and the hedge that wins the race for it.

#![cfg(feature = "hyper-util")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use steadfast::hedge::HedgeDelay;
use steadfast_http::preset::standard_hedging_client;
use steadfast_http::replay::ReplayBody;
use tokio::net::TcpListener;
use tower::{Layer, ServiceExt};

/// Serves an app on 127.0.0.1 whose first call (`GET` or `POST /item`) answers after
/// `straggle` and every later one at once; returns its address and the count of calls it saw.
async fn straggler(straggle: Duration) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let answer = move || {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 0 {
                tokio::time::sleep(straggle).await;
                "slow"
            } else {
                "fast"
            }
        }
    };
    let app = Router::new().route("/item", get(answer.clone()).post(answer));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let app = app.clone();
            tokio::spawn(async move {
                let handler = hyper::service::service_fn(move |req: Request<Incoming>| {
                    app.clone().oneshot(req.map(axum::body::Body::new))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), handler)
                    .await;
            });
        }
    });
    (addr, calls)
}

#[tokio::test]
async fn a_hedge_wins_over_a_straggling_first_answer() {
    let (addr, calls) = straggler(Duration::from_secs(5)).await;
    let layer = standard_hedging_client()
        .name("items")
        .hedge(|h| h.delay(HedgeDelay::fixed(Duration::from_millis(100))))
        .build()
        .unwrap();
    let transport = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Full<Bytes>>>();
    let client = layer.layer(transport);
    let started = tokio::time::Instant::now();
    let res = client
        .oneshot(
            Request::get(format!("http://{addr}/item"))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(res.status(), 200);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"fast");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // The hedge went after 100 ms, far before the straggler's 5 s.
    assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[test]
fn the_defaults_are_the_standard_hedging_handlers() {
    let layer = standard_hedging_client().build().unwrap();
    assert_eq!(layer.hedge().max_attempts(), 2);
    assert_eq!(layer.hedge().delay().to_string(), "fixed 2s");
    assert_eq!(layer.breaker().name(), "circuit-breaker");
    let err = standard_hedging_client()
        .attempt_timeout(Duration::from_secs(30))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "attempt_timeout");
}

#[tokio::test]
async fn a_post_without_an_idempotency_key_is_not_hedged() {
    let (addr, calls) = straggler(Duration::from_millis(400)).await;
    let layer = standard_hedging_client()
        .hedge(|h| h.delay(HedgeDelay::fixed(Duration::from_millis(50))))
        .build()
        .unwrap();
    let transport = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Full<Bytes>>>();
    let client = layer.layer(transport);
    let started = tokio::time::Instant::now();
    let res = client
        .oneshot(
            Request::post(format!("http://{addr}/item"))
                .body(Full::new(Bytes::from_static(b"{}")))
                .unwrap(),
        )
        .await
        .unwrap();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"slow");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(started.elapsed() >= Duration::from_millis(400));
}
