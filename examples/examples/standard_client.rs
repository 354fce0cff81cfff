//! The standard client and server presets: the stacks to start from, against servers on
//! 127.0.0.1.
//!
//! ```sh
//! cargo run -p steadfast-examples --example standard_client
//! ```
//!
//! What it shows, and checks (the example exits non-zero if any check fails):
//! 1. the client preset's layers, with its defaults (those of .NET's standard resilience
//!    handler) and the few this example changes;
//! 2. a `503` with `Retry-After: 1` is retried after the second the server asked for;
//! 3. a streamed `POST` with an `Idempotency-Key` is replayed, byte for byte;
//! 4. behind the server preset, a handler's token fires when the client's attempt timeout
//!    runs out: the deadline travelled with the request;
//! 5. after enough failures the breaker opens and ends requests at once;
//! 6. the same preset around a `reqwest::Client`, with reqwest's own request and response.

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use steadfast::circuit_breaker::{CircuitState, Rejected};
use steadfast::describe::Describe;
use steadfast::retry::{Backoff, RetryEvent};
use steadfast::token::CancelReason;
use steadfast_http::preset::{standard_http_client, standard_http_server};
use steadfast_http::replay::ReplayBody;
use steadfast_http::{into_axum_response, RequestToken};
use steadfast_test::server::{Answer, ScriptedServer};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tower::{Layer, ServiceBuilder, ServiceExt};

type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::convert::Infallible>;

fn check(ok: bool, what: &str, failures: &mut u32) {
    println!("  {}  {what}", if ok { "ok  " } else { "FAIL" });
    *failures += u32::from(!ok);
}

fn body(text: &'static str) -> Body {
    Full::new(Bytes::from_static(text.as_bytes())).boxed_unsync()
}

/// An axum server behind the server preset whose handler waits on its token and reports why
/// it fired.
async fn waiting_server() -> (String, mpsc::UnboundedReceiver<Option<CancelReason>>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handler = move |RequestToken(token): RequestToken| {
        let tx = tx.clone();
        async move {
            // Work the handler started: it outlives the handler and stops with the token.
            tokio::spawn(async move {
                token.cancelled().await;
                let _ = tx.send(token.reason());
            });
            tokio::time::sleep(Duration::from_secs(20)).await;
            "done"
        }
    };
    let server = standard_http_server().build().expect("valid server preset");
    println!(
        "The server preset's layers, outermost first:\n{}",
        server.description()
    );
    let app = Router::new().route("/report", get(handler)).layer(
        ServiceBuilder::new()
            .map_response(into_axum_response)
            .layer(server),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/report"), rx)
}

#[tokio::main]
async fn main() {
    let mut failures = 0;
    let server = ScriptedServer::start([Answer::status(503).header("retry-after", "1")]).await;

    // The preset, adjusted: short waits of its own so the example runs fast, and a breaker
    // that judges after 8 calls instead of 100.
    let (tx, mut delays) = mpsc::unbounded_channel();
    let layer = standard_http_client()
        .name("inventory")
        .retry(|r| {
            r.backoff(Backoff::constant(Duration::from_millis(20)))
                .on_event(move |e| {
                    if let RetryEvent::Retry { delay, .. } = e {
                        let _ = tx.send(*delay);
                    }
                })
        })
        .breaker(|b| b.minimum_calls(8))
        .build()
        .expect("valid client preset");
    println!(
        "1. The client preset's layers, outermost first:\n{}",
        layer.description()
    );
    let client =
        layer.layer(Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Body>>());

    println!("2. GET /stock: the server answers 503 with Retry-After: 1");
    let req = Request::get(server.url("/stock")).body(body("")).unwrap();
    let res = client.clone().oneshot(req).await.expect("an answer");
    check(
        res.status() == 200,
        "the GET succeeded on its second attempt",
        &mut failures,
    );
    check(
        delays.try_recv() == Ok(Duration::from_secs(1)),
        "it waited the second the server asked for",
        &mut failures,
    );

    println!("3. POST /orders with an idempotency key: 503, then 502");
    server.push([Answer::status(503), Answer::status(502)]);
    let req = Request::post(server.url("/orders"))
        .header("idempotency-key", "order-7731")
        .body(body("{\"sku\":\"A-17\",\"qty\":2}"))
        .unwrap();
    let res = client.clone().oneshot(req).await.expect("an answer");
    let posts: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/orders")
        .collect();
    check(
        res.status() == 200 && posts.len() == 3,
        "the POST succeeded on its third attempt",
        &mut failures,
    );
    check(
        posts
            .iter()
            .all(|r| r.body == "{\"sku\":\"A-17\",\"qty\":2}"),
        "the server got the same body three times",
        &mut failures,
    );

    println!("4. GET /report, which takes 20 s, with an attempt timeout of 300 ms");
    let (url, mut fired) = waiting_server().await;
    let quick = standard_http_client()
        .name("reports")
        .total_timeout(Duration::from_secs(1))
        .attempt_timeout(Duration::from_millis(300))
        .retry(|r| r.max_attempts(1))
        .build()
        .expect("valid client preset")
        .layer(Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Body>>());
    let result = quick
        .oneshot(Request::get(&url).body(body("")).unwrap())
        .await;
    let reason = tokio::time::timeout(Duration::from_secs(5), fired.recv()).await;
    println!("  client: {:?}", result.map(|r| r.status()));
    check(
        matches!(
            reason,
            Ok(Some(Some(
                CancelReason::Deadline | CancelReason::ClientDisconnected
            )))
        ),
        "the handler's work stopped with the client's deadline",
        &mut failures,
    );

    println!("5. GET /flaky: 503 every time");
    server.push((0..8).map(|_| Answer::status(503)));
    for _ in 0..2 {
        let req = Request::get(server.url("/flaky")).body(body("")).unwrap();
        let _ = client.clone().oneshot(req).await;
    }
    let req = Request::get(server.url("/flaky")).body(body("")).unwrap();
    let refused = client.clone().oneshot(req).await.err();
    check(
        layer.breaker().metrics().state == CircuitState::Open
            && refused.is_some_and(|e| e.is::<Rejected>()),
        "the breaker opened after 8 failed calls and refused the next request at once",
        &mut failures,
    );

    println!("6. The same preset around a reqwest::Client");
    let server = ScriptedServer::start([Answer::status(503).header("retry-after", "1")]).await;
    let http = reqwest::Client::new();
    let client = standard_http_client()
        .name("reqwest")
        .build()
        .expect("valid client preset")
        .reqwest(http.clone());
    let req = http.get(server.url("/stock").to_string()).build().unwrap();
    let res = client.oneshot(req).await.expect("an answer");
    check(
        res.status() == 200 && server.requests().len() == 2,
        "reqwest's GET succeeded on its second attempt",
        &mut failures,
    );

    if failures > 0 {
        println!("{failures} check(s) failed");
        std::process::exit(1);
    }
    println!("all checks passed");
}
