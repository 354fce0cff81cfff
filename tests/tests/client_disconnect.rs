//! A real axum server on 127.0.0.1 with steadfast's cancel layer, and real TCP clients that
//! hang up: the work their requests started must stop.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use steadfast::cancel::CancelLayer;
use steadfast::retry::{Backoff, RetryLayer, RetryPolicy};
use steadfast::token::{CancelReason, CancelToken};
use steadfast_http::{CancelLayerExt, RequestToken, WithCancelToken};
use steadfast_test::{Reply, Scripted};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tower::{Layer, ServiceExt};

/// How long a test waits for something that should happen at once; only a bound, so a broken
/// build fails instead of hanging.
const BOUND: Duration = Duration::from_secs(10);

async fn serve(app: Router) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Sends a GET and returns the open connection without reading the answer.
async fn send_get(addr: std::net::SocketAddr, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    stream
}

async fn recv<T>(rx: &mut mpsc::UnboundedReceiver<T>, what: &str) -> T {
    tokio::time::timeout(BOUND, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .unwrap_or_else(|| panic!("channel closed waiting for {what}"))
}

/// Reports, for each request, that its handler started and, later, why its token fired.
#[derive(Clone)]
struct Probe {
    started: mpsc::UnboundedSender<()>,
    fired: mpsc::UnboundedSender<Option<CancelReason>>,
}

impl Probe {
    fn new() -> (
        Self,
        mpsc::UnboundedReceiver<()>,
        mpsc::UnboundedReceiver<Option<CancelReason>>,
    ) {
        let (started, started_rx) = mpsc::unbounded_channel();
        let (fired, fired_rx) = mpsc::unbounded_channel();
        (Probe { started, fired }, started_rx, fired_rx)
    }

    /// Spawns the background work a handler would start with its token.
    fn watch(&self, token: CancelToken) {
        let fired = self.fired.clone();
        tokio::spawn(async move {
            token.cancelled().await;
            let _ = fired.send(token.reason());
        });
        let _ = self.started.send(());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_cancels_its_request() {
    let (probe, mut started, mut fired) = Probe::new();
    let app = Router::new()
        .route(
            "/slow",
            get(move |RequestToken(token): RequestToken| {
                let probe = probe.clone();
                async move {
                    probe.watch(token);
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    "too late"
                }
            }),
        )
        .layer(CancelLayer::new().for_http());
    let addr = serve(app).await;

    let conn = send_get(addr, "/slow").await;
    recv(&mut started, "the handler to start").await;
    drop(conn);
    assert_eq!(
        recv(&mut fired, "the token to fire").await,
        Some(CancelReason::ClientDisconnected)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_mid_stream_cancels_its_request() {
    let (probe, started, fired) = Probe::new();
    let app = streaming(probe).layer(CancelLayer::new().for_http());
    hang_up_mid_stream(app, started, fired).await;
}

/// The same with axum handed its own body type back: the handler's task holds the token, so
/// the body still watches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_mid_stream_cancels_its_request_with_axums_body() {
    let (probe, started, fired) = Probe::new();
    let app = streaming(probe).layer(
        tower::ServiceBuilder::new()
            .map_response(steadfast_http::into_axum_response)
            .layer(CancelLayer::new().for_http()),
    );
    hang_up_mid_stream(app, started, fired).await;
}

/// A route, `/stream`, whose handler hands its token to `probe`'s background work and streams
/// a body of a chunk a second.
fn streaming(probe: Probe) -> Router {
    Router::new().route(
        "/stream",
        get(move |RequestToken(token): RequestToken| {
            let probe = probe.clone();
            async move {
                probe.watch(token);
                // One chunk now, then one a second, for an hour.
                Body::new(slow_body(3600))
            }
        }),
    )
}

/// Reads `/stream`'s headers and first chunk from `app`, checks that the token has not fired,
/// hangs up, and checks that it fires then, with `ClientDisconnected`.
async fn hang_up_mid_stream(
    app: Router,
    mut started: mpsc::UnboundedReceiver<()>,
    mut fired: mpsc::UnboundedReceiver<Option<CancelReason>>,
) {
    let addr = serve(app).await;

    let mut conn = send_get(addr, "/stream").await;
    recv(&mut started, "the handler to start").await;
    // Read the headers and the first chunk: the response is under way.
    let mut buf = vec![0u8; 4096];
    let mut seen = String::new();
    while !seen.contains("chunk 0") {
        let n = tokio::time::timeout(BOUND, conn.read(&mut buf))
            .await
            .expect("the first chunk arrives")
            .unwrap();
        assert!(n > 0, "the server closed the connection");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    // The handler has returned; only the body keeps the token now.
    assert!(
        tokio::time::timeout(Duration::from_millis(50), fired.recv())
            .await
            .is_err(),
        "the token must not fire while the body streams"
    );
    drop(conn);
    assert_eq!(
        recv(&mut fired, "the token to fire").await,
        Some(CancelReason::ClientDisconnected)
    );
}

/// A response body: chunk 0 at once, then one chunk a second, for `n` chunks.
struct SlowBody {
    next: u64,
    n: u64,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

fn slow_body(n: u64) -> SlowBody {
    SlowBody {
        next: 0,
        n,
        sleep: None,
    }
}

impl http_body::Body for SlowBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        if self.next == self.n {
            return Poll::Ready(None);
        }
        if let Some(s) = &mut self.sleep {
            if s.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        let n = self.next;
        self.next += 1;
        self.sleep = Some(Box::pin(tokio::time::sleep(Duration::from_secs(1))));
        Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(format!(
            "chunk {n}\n"
        ))))))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_retries_stop_when_the_inbound_client_hangs_up() {
    // The downstream the handler calls keeps failing; the outbound client retries it with
    // long backoffs.
    let downstream =
        Scripted::<String, http::Request<()>>::new([]).then_always(Reply::err("unavailable"));
    let client = RetryLayer::new(
        RetryPolicy::builder()
            .max_attempts(1_000)
            .backoff(Backoff::constant(Duration::from_secs(3600)))
            .build()
            .unwrap(),
    )
    .layer(downstream.clone());

    let (outcome_tx, mut outcome) = mpsc::unbounded_channel();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let app = Router::new()
        .route(
            "/report",
            get(move |RequestToken(token): RequestToken| {
                let client = client.clone();
                let outcome_tx = outcome_tx.clone();
                let started_tx = started_tx.clone();
                async move {
                    tokio::spawn(async move {
                        let req = http::Request::new(()).with_cancel_token(&token);
                        let result = client.oneshot(req).await;
                        let _ = outcome_tx.send(result.map_err(|e| e.to_string()));
                    });
                    let _ = started_tx.send(());
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    "too late"
                }
            }),
        )
        .layer(CancelLayer::new().for_http());
    let addr = serve(app).await;

    let conn = send_get(addr, "/report").await;
    recv(&mut started, "the handler to start").await;
    // Wait until the first outbound attempt has failed and the client sleeps.
    tokio::time::timeout(BOUND, async {
        while downstream.calls() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the first outbound attempt");
    drop(conn);

    let result = recv(&mut outcome, "the outbound call to stop").await;
    let err = result.unwrap_err();
    assert!(
        err.contains("cancelled (client disconnected)"),
        "unexpected error: {err}"
    );
    assert_eq!(downstream.calls(), 1, "no attempt after the client left");
}
