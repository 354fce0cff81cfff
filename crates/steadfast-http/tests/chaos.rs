//! The chaos layer over HTTP, on real connections to 127.0.0.1: around an axum server, whose
//! clients see the injected 503s, and around a hyper client, whose caller sees the injected
//! faults.

#![cfg(feature = "hyper-util")]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use steadfast::chaos::{ChaosError, ChaosLayer, ChaosSwitch, FaultInjection};
use steadfast::BoxError;
use steadfast_http::chaos::{has_header, path_is, path_starts_with, StatusOutcome};
use steadfast_http::{ServerHint, ServerHints};
use tokio::net::TcpListener;
use tower::{Layer, Service, ServiceExt};

/// Serves `svc` over HTTP/1.1 on 127.0.0.1 until the test ends.
async fn serve<S>(svc: S) -> SocketAddr
where
    S: Service<Request<Body>, Response = Response<Body>, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
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
    addr
}

fn app() -> Router {
    Router::new()
        .route("/api/orders", get(|| async { "orders" }))
        .route("/health", get(|| async { "healthy" }))
}

/// The app as a service with the error type the chaos layer wraps.
fn app_service(
) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send>
       + Clone
       + Send
       + 'static {
    app().into_service()
}

#[tokio::test]
async fn an_axum_server_answers_injected_503s_with_retry_after_on_the_paths_chosen() {
    let switch = ChaosSwitch::new(true);
    let layer = ChaosLayer::builder()
        .switch(switch.clone())
        .when(path_starts_with("/api/"))
        .outcome(
            StatusOutcome::new(StatusCode::SERVICE_UNAVAILABLE)
                .retry_after(Duration::from_secs(3))
                .injection(),
        )
        .build()
        .unwrap();
    let addr = serve(layer.layer(app_service())).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let get = |path: &str| {
        let uri: http::Uri = format!("http://{addr}{path}").parse().unwrap();
        client.get(uri)
    };

    let res = get("/api/orders").await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    // The client's hint reader sees what a real overloaded server would send.
    assert_eq!(
        ServerHints::default().read(res.headers()),
        ServerHint::After(Duration::from_secs(3))
    );
    let res = get("/health").await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes(),
        "healthy"
    );

    switch.turn_off();
    let res = get("/api/orders").await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes(),
        "orders"
    );
}

#[tokio::test]
async fn a_hyper_client_sees_injected_faults_only_on_marked_requests() {
    let addr = serve(app_service().map_err(BoxError::from)).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let layer = ChaosLayer::builder()
        .name("orders-client")
        .when(path_is("/api/orders"))
        .fault(FaultInjection::chaos().when(has_header(HeaderName::from_static("x-chaos"))))
        .build()
        .unwrap();
    let svc = layer.layer(client);
    let request_to = |path: &str, chaos: bool| {
        let mut req = Request::get(format!("http://{addr}{path}"));
        if chaos {
            req = req.header("x-chaos", HeaderValue::from_static("on"));
        }
        req.body(Empty::<Bytes>::new()).unwrap()
    };

    let request = |chaos: bool| request_to("/api/orders", chaos);
    let err = svc.clone().oneshot(request(true)).await.unwrap_err();
    let chaos = err.downcast_ref::<ChaosError>().unwrap();
    assert_eq!(chaos.layer(), "orders-client");
    let res = svc.clone().oneshot(request(false)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes(),
        "orders"
    );
    // A marked request to another path is left alone too.
    let res = svc.oneshot(request_to("/health", true)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
