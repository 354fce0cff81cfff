//! A real hyper server on 127.0.0.1 and a real hyper client behind steadfast's replay and
//! retry layers: a streamed request body that failed once is sent again, byte for byte, and a
//! body past the replay cap is sent once and not again.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::channel::{Channel, Sender};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use steadfast::classify::{Attempt, Outcome};
use steadfast::retry::{Backoff, RetryError, RetryEvent, RetryLayer, RetryPolicy, StopReason};
use steadfast::BoxError;
use steadfast_http::replay::{ReplayBody, ReplayCloner, ReplayLayer};
use tokio::net::TcpListener;
use tower::{Service, ServiceBuilder, ServiceExt};

/// How long a test waits for something that should happen at once; only a bound, so a broken
/// build fails instead of hanging.
const BOUND: Duration = Duration::from_secs(10);

/// What the server does with the n-th request, once it has read the whole body.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Status(u16),
    /// Answers with this status at once, without reading the body.
    Early(u16),
    /// Closes the connection without answering (the service fails).
    HangUp,
}

/// One request as the server received it.
#[derive(Debug, Clone)]
struct Received {
    body: Bytes,
    chunked: bool,
}

/// Starts a hyper server that records every request body it receives and answers the n-th
/// request with `script[n]` (the last entry repeats).
async fn serve(script: Vec<Answer>) -> (SocketAddr, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let log = log.clone();
            let script = script.clone();
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let log = log.clone();
                let script = script.clone();
                async move {
                    let chunked = req
                        .headers()
                        .get(http::header::TRANSFER_ENCODING)
                        .is_some_and(|v| v == "chunked");
                    let seen = log.lock().unwrap().len();
                    if let Answer::Early(s) = script[seen.min(script.len() - 1)] {
                        log.lock().unwrap().push(Received {
                            body: Bytes::new(),
                            chunked,
                        });
                        return Ok(Response::builder()
                            .status(s)
                            .body(Empty::<Bytes>::new())
                            .unwrap());
                    }
                    let body = match req.into_body().collect().await {
                        Ok(collected) => collected.to_bytes(),
                        Err(e) => return Err(std::io::Error::other(e)),
                    };
                    let n = {
                        let mut log = log.lock().unwrap();
                        log.push(Received { body, chunked });
                        log.len() - 1
                    };
                    match script[n.min(script.len() - 1)] {
                        Answer::Status(s) => Ok(Response::builder()
                            .status(s)
                            .body(Empty::<Bytes>::new())
                            .unwrap()),
                        Answer::HangUp => Err(std::io::Error::other("hanging up")),
                        Answer::Early(_) => unreachable!("answered before reading"),
                    }
                }
            });
            tokio::spawn(async move {
                // A connection the service hangs up on ends with that error: expected.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, received)
}

type Body = ReplayBody<Channel<Bytes, Infallible>>;
type Req = Request<Body>;
type ClientError = hyper_util::client::legacy::Error;
/// A request as the caller sends it: a streamed body.
type Upload = Request<Channel<Bytes, Infallible>>;
/// Why the retry layer gave up, each time it did.
type GaveUp = Arc<Mutex<Vec<StopReason>>>;

/// The client under test: replay outside retry, around hyper's client. 503s and errors are
/// retried at once. Also returns the reasons the retry layer gave up for.
fn client(
    max_bytes: usize,
) -> (
    impl Service<Upload, Response = Response<Incoming>, Error = BoxError>,
    GaveUp,
) {
    let gave_up = Arc::new(Mutex::new(Vec::new()));
    let log = gave_up.clone();
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .backoff(Backoff::none())
        .classify_with(
            |_: &Attempt<'_, Req>, r: Result<&Response<Incoming>, &ClientError>| match r {
                Ok(resp) if resp.status() == StatusCode::SERVICE_UNAVAILABLE => {
                    Outcome::retryable()
                }
                Ok(_) => Outcome::Success,
                Err(_) => Outcome::retryable(),
            },
        )
        .clone_requests(ReplayCloner)
        .on_event(move |e: &RetryEvent<'_>| {
            if let RetryEvent::GiveUp { reason, .. } = e {
                log.lock().unwrap().push((*reason).clone());
            }
        })
        .build()
        .unwrap();
    let hyper_client: Client<HttpConnector, Body> =
        Client::builder(TokioExecutor::new()).build_http();
    let svc = ServiceBuilder::new()
        .layer(ReplayLayer::builder().max_bytes(max_bytes).build().unwrap())
        .layer(RetryLayer::new(policy))
        .service(hyper_client);
    (svc, gave_up)
}

/// A streamed body: `n` chunks of `size` bytes, sent one at a time by a task. Returns the
/// body and every byte it will carry.
fn streamed(n: usize, size: usize) -> (Channel<Bytes, Infallible>, Vec<u8>) {
    let (tx, body) = Channel::new(1);
    let chunks: Vec<Bytes> = (0..n)
        .map(|i| Bytes::from(vec![b'a' + (i % 26) as u8; size]))
        .collect();
    let all = chunks.concat();
    tokio::spawn(feed(tx, chunks));
    (body, all)
}

async fn feed(mut tx: Sender<Bytes, Infallible>, chunks: Vec<Bytes>) {
    for c in chunks {
        if tx.send_data(c).await.is_err() {
            return;
        }
        tokio::task::yield_now().await;
    }
}

async fn send(
    svc: impl Service<Upload, Response = Response<Incoming>, Error = BoxError>,
    addr: SocketAddr,
    body: Channel<Bytes, Infallible>,
) -> Result<Response<Incoming>, BoxError> {
    let req = Request::post(format!("http://{addr}/upload"))
        .body(body)
        .unwrap();
    tokio::time::timeout(BOUND, svc.oneshot(req))
        .await
        .expect("the request finishes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_body_answered_with_503_is_sent_again_byte_for_byte() {
    let (addr, received) = serve(vec![Answer::Status(503), Answer::Status(200)]).await;
    let (svc, gave_up) = client(64 * 1024);
    let (body, sent) = streamed(8, 1000);

    let resp = send(svc, addr, body).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 2, "one 503, one retry");
    assert!(received[0].chunked, "the first attempt streamed the body");
    assert_eq!(received[0].body, sent);
    assert_eq!(received[1].body, sent, "the retry sent identical bytes");
    assert!(gave_up.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_body_whose_connection_dropped_is_sent_again() {
    let (addr, received) = serve(vec![Answer::HangUp, Answer::Status(200)]).await;
    let (svc, _) = client(64 * 1024);
    let (body, sent) = streamed(5, 700);

    let resp = send(svc, addr, body).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].body, sent);
    assert_eq!(received[1].body, sent);
}

/// The server answers the first attempt before reading its body, so that attempt's copy may
/// still be streaming when the retry starts; the retry's copy replays what was read and goes
/// on from the original stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_answered_before_it_was_read_is_sent_whole_by_the_retry() {
    let (addr, received) = serve(vec![Answer::Early(503), Answer::Status(200)]).await;
    let (svc, gave_up) = client(64 * 1024);
    let (body, sent) = streamed(16, 1000);

    let resp = send(svc, addr, body).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 2);
    assert_eq!(received[1].body, sent, "the retry sent every byte");
    assert!(gave_up.lock().unwrap().is_empty());
}

/// A retryable *response* is the answer when the retry layer stops: the 503 comes back, and
/// the layer reports that it gave up because the body could not be sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_past_the_cap_is_sent_once_and_the_503_is_the_answer() {
    let (addr, received) = serve(vec![Answer::Status(503), Answer::Status(200)]).await;
    let (svc, gave_up) = client(1024);
    let (body, sent) = streamed(4, 512);

    let resp = send(svc, addr, body).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "not sent again");
    assert_eq!(received[0].body, sent, "sent once, whole");
    let gave_up = gave_up.lock().unwrap().clone();
    assert!(
        matches!(&gave_up[..], [StopReason::NotReplayable(why)] if why.contains("replay cap")),
        "{gave_up:?}"
    );
}

/// A retryable *error* becomes a `RetryError` when the retry layer stops: here it says the
/// body could not be sent again, and carries the client's error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_past_the_cap_is_sent_once_and_a_failed_attempt_is_a_retry_error() {
    let (addr, received) = serve(vec![Answer::HangUp, Answer::Status(200)]).await;
    let (svc, _) = client(1024);
    let (body, sent) = streamed(4, 512);

    let err = send(svc, addr, body).await.unwrap_err();
    let err = err
        .downcast_ref::<RetryError>()
        .unwrap_or_else(|| panic!("expected a RetryError, got {err}"));
    assert!(
        matches!(err.reason(), StopReason::NotReplayable(why) if why.contains("replay cap")),
        "{err}"
    );
    assert_eq!(err.attempts(), 1);
    assert!(err
        .last_error()
        .and_then(|e| e.downcast_ref::<ClientError>())
        .is_some());
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "not sent again");
    assert_eq!(received[0].body, sent, "sent once, whole");
}
