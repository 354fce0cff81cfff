//! An axum server whose handlers notice when their client has gone.
//!
//! ```sh
//! cargo run -p steadfast-examples --example axum_server
//! ```
//!
//! steadfast's `CancelLayer` in its HTTP form (`.for_http()`, from steadfast-http's
//! `CancelLayerExt`) gives every request a cancellation token (a child of the server's
//! shutdown token, with a 2 s timeout) and answers 504 when the timeout fires. Handlers take
//! the token with the `RequestToken` extractor and hand it to the work they start. When a
//! client hangs up, hyper drops the request's future, the token fires with "client
//! disconnected", and that work stops. `into_axum_response` hands axum its own body type back
//! from the cancel layer, so a response whose token nobody else holds is not boxed again.
//!
//! The example plays both sides: it starts the server, then a client that hangs up half-way
//! through a slow report, and one that waits longer than the timeout. It checks what happened
//! and exits non-zero if something did not.

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use steadfast::cancel::CancelLayer;
use steadfast::token::{CancelReason, CancelToken};
use steadfast_http::{into_axum_response, CancelLayerExt, RequestToken};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tower::ServiceBuilder;

/// A slow report: ten steps of work, each checking the token. The work runs in a task of its
/// own, as real handlers spawn work, and tells `done` how it ended: the handler itself is
/// dropped when its client leaves, but the task it started outlives it and must stop too.
async fn report(
    RequestToken(token): RequestToken,
    done: mpsc::UnboundedSender<Option<CancelReason>>,
) -> &'static str {
    let work = tokio::spawn(async move {
        let mut ended = None;
        for step in 1..=10 {
            tokio::select! {
                _ = token.cancelled() => {
                    ended = token.reason();
                    break;
                }
                _ = tokio::time::sleep(Duration::from_millis(300)) => {
                    token.report_progress(format!("step {step} of 10"));
                }
            }
        }
        let _ = done.send(ended.clone());
        ended
    });
    match work.await {
        Ok(None) => "report ready",
        _ => "stopped",
    }
}

async fn send(addr: std::net::SocketAddr, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: example\r\n\r\n");
    stream.write_all(req.as_bytes()).await.expect("send");
    stream
}

#[tokio::main]
async fn main() {
    let shutdown = CancelToken::new();
    let (done_tx, mut done) = mpsc::unbounded_channel();
    let app = Router::new()
        .route(
            "/report",
            get(move |token: RequestToken| report(token, done_tx.clone())),
        )
        .layer(
            ServiceBuilder::new()
                // axum's own body type back, boxed only while the body watches the token.
                .map_response(into_axum_response)
                .layer(
                    CancelLayer::builder()
                        .timeout(Duration::from_secs(2))
                        .parent(shutdown.clone())
                        .build()
                        .expect("valid layer")
                        .for_http(),
                ),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut failed = 0;
    let mut check = |ok: bool, what: &str| {
        println!("  {}  {what}", if ok { "ok  " } else { "FAIL" });
        failed += u32::from(!ok);
    };

    println!("1. a client asks for a report and hangs up after 0.5 s");
    let stream = send(addr, "/report").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(stream);
    let why = tokio::time::timeout(Duration::from_secs(5), done.recv()).await;
    check(
        matches!(why, Ok(Some(Some(CancelReason::ClientDisconnected)))),
        "the handler's work stopped: client disconnected",
    );

    println!("2. a client waits for a report that takes longer than the 2 s timeout");
    let mut stream = send(addr, "/report").await;
    let mut answer = String::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        answer.push_str(&String::from_utf8_lossy(&buf[..n]));
        if answer.contains("\r\n\r\n") {
            break;
        }
    }
    check(
        answer.starts_with("HTTP/1.1 504"),
        "the server answered 504 Gateway Timeout",
    );
    let why = tokio::time::timeout(Duration::from_secs(5), done.recv()).await;
    check(
        matches!(why, Ok(Some(Some(CancelReason::Timeout(_))))),
        "the handler's work stopped: timed out after 2s",
    );

    shutdown.cancel_with(CancelReason::Shutdown);
    if failed > 0 {
        std::process::exit(1);
    }
    println!("all checks passed");
}
