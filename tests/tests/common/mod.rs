//! What the preset tests share: a server behind the server preset whose handler waits on its
//! token, and the check that each attempt's token on that server fired with its deadline.

// Each test file uses only part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use steadfast::token::CancelReason;
use steadfast_http::preset::standard_http_server;
use steadfast_http::{into_axum_response, RequestToken};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tower::ServiceBuilder;

/// How each request to `/wait` ended on the server: its token's reason, the deadline header it
/// came with, and how long after its arrival the token fired.
pub(crate) type Ended = mpsc::UnboundedReceiver<(Option<CancelReason>, Option<String>, Duration)>;

/// A server on 127.0.0.1 behind the server preset. `/wait` waits 20 s, with work started on
/// its token that reports how the token ended (see [`Ended`]); `/retries` answers whether the
/// request's token allows retries.
pub(crate) async fn waiting_server() -> (SocketAddr, Ended) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handler = move |RequestToken(token): RequestToken, headers: http::HeaderMap| {
        let tx = tx.clone();
        async move {
            let header = headers
                .get("x-request-timeout-ms")
                .map(|v| v.to_str().unwrap().to_owned());
            let start = Instant::now();
            // Work the handler started: it outlives the handler, and stops with the token.
            tokio::spawn(async move {
                token.cancelled().await;
                let _ = tx.send((token.reason(), header, start.elapsed()));
            });
            tokio::time::sleep(Duration::from_secs(20)).await;
            "done"
        }
    };
    let retries = |RequestToken(token): RequestToken| async move {
        if token.retries_allowed() {
            "retries allowed"
        } else {
            "no retries"
        }
    };
    let app = Router::new()
        .route("/wait", get(handler))
        .route("/retries", get(retries))
        .layer(
            ServiceBuilder::new()
                .map_response(into_axum_response)
                .layer(standard_http_server().build().unwrap()),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, rx)
}

/// Checks that `n` attempts reached the server with a deadline of at most `ms` and had their
/// tokens cancelled with it (within twice that).
pub(crate) async fn server_tokens_fired(ended: &mut Ended, n: usize, ms: u64) {
    for i in 1..=n {
        let (reason, header, lasted) = tokio::time::timeout(Duration::from_secs(5), ended.recv())
            .await
            .expect("the server's token fired")
            .unwrap();
        let sent: u64 = header.expect("the deadline was sent").parse().unwrap();
        assert!(sent <= ms, "attempt {i}: {sent} ms");
        assert!(
            matches!(
                reason,
                Some(
                    CancelReason::Deadline
                        | CancelReason::Timeout(_)
                        | CancelReason::ClientDisconnected
                )
            ),
            "attempt {i}: {reason:?}"
        );
        assert!(
            lasted < Duration::from_millis(ms * 2),
            "attempt {i}: {lasted:?}"
        );
    }
}
