//! Attempt counts across real hops on 127.0.0.1: retries carry their attempt number, and a
//! server that receives a retry does not retry the calls it makes for it.
//!
//! client ──retry──▶ middle (axum: UpstreamRetriesLayer, CancelLayer) ──retry──▶ downstream

use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use steadfast::cancel::CancelLayer;
use steadfast::retry::{Backoff, RetryLayer, RetryPolicy};
use steadfast_http::attempt::{AttemptHeaderLayer, UpstreamRetriesLayer};
use steadfast_http::{CancelLayerExt, HttpClassifier, RequestToken, WithCancelToken};
use steadfast_test::server::{Answer, ScriptedServer};
use tokio::net::TcpListener;
use tower::{ServiceBuilder, ServiceExt};

/// A client that retries (3 attempts, no backoff) and writes the attempt header.
fn retrying_client() -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = http::Response<hyper::body::Incoming>,
    Error = steadfast::BoxError,
    Future = impl Send,
> + Clone
       + Send {
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .backoff(Backoff::none())
        .classify(HttpClassifier::default())
        .build()
        .unwrap();
    ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .layer(AttemptHeaderLayer::new())
        .service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>())
}

#[tokio::test]
async fn retries_carry_their_attempt_number() {
    let server = ScriptedServer::start([Answer::status(503), Answer::status(502)]).await;
    let req = Request::get(server.url("/a"))
        .body(Full::default())
        .unwrap();
    let res = retrying_client().oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
    let seen: Vec<Option<String>> = server
        .requests()
        .iter()
        .map(|r| {
            r.headers
                .get("x-retry-attempt")
                .map(|v| v.to_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(seen, [None, Some("2".into()), Some("3".into())]);
}

#[derive(Clone)]
struct Middle {
    downstream: ScriptedServer,
}

/// The middle server's handler: calls downstream with the request's token, through a retrying
/// client, and answers with downstream's status.
async fn relay(State(m): State<Middle>, RequestToken(token): RequestToken) -> StatusCode {
    let req = Request::get(m.downstream.url("/data"))
        .with_cancel_token(&token)
        .body(Full::default())
        .unwrap();
    match retrying_client().oneshot(req).await {
        Ok(res) => res.status(),
        Err(_) => StatusCode::BAD_GATEWAY,
    }
}

#[tokio::test]
async fn a_server_does_not_retry_for_a_request_that_is_itself_a_retry() {
    let downstream = ScriptedServer::start([]).await;
    let app = Router::new()
        .route("/relay", get(relay))
        .with_state(Middle {
            downstream: downstream.clone(),
        })
        .layer(
            CancelLayer::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap()
                .for_http(),
        )
        .layer(UpstreamRetriesLayer::new());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let call = |retry: Option<&'static str>| {
        let mut req = Request::get(format!("http://{addr}/relay"));
        if let Some(n) = retry {
            req = req.header("x-retry-attempt", n);
        }
        client.request(req.body(Full::default()).unwrap())
    };

    // A first attempt: the middle server retries its downstream call.
    downstream.push([Answer::status(503)]);
    let res = call(None).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(downstream.requests().len(), 2);

    // A retry: the middle server tries downstream once and hands back its 503, leaving the
    // retrying to the caller.
    downstream.push([Answer::status(503)]);
    let res = call(Some("2")).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(downstream.requests().len(), 3);
}
