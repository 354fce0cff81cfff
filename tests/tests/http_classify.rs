//! steadfast-http's classifier in front of a real hyper server on 127.0.0.1, through hyper's
//! pooled client: every row of the status table, both forms of `Retry-After`, malformed and
//! oversized hints, idempotency, transport failures, and what a circuit breaker counts.
//!
//! Tests run on tokio's paused clock: the only timers are the retry layer's, so backoff
//! sleeps pass at once and the delays the layer chose can be checked exactly.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer, CircuitState};
use steadfast::retry::{Backoff, RetryError, RetryEvent, RetryLayer, RetryPolicy, StopReason};
use steadfast::BoxError;
use steadfast_http::HttpClassifier;
use steadfast_test::server::{Answer, ScriptedServer};
use tower::{Layer, ServiceExt};

const BACKOFF: Duration = Duration::from_millis(100);

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends `req` through a retry layer with the HTTP classifier (3 attempts, 100 ms apart) and
/// returns the result and the delays the layer chose.
async fn send(req: Request<Full<Bytes>>) -> (Result<Response<Incoming>, BoxError>, Vec<Duration>) {
    let delays = Arc::new(Mutex::new(Vec::new()));
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .backoff(Backoff::constant(BACKOFF))
        .max_hint(Duration::from_secs(3600))
        .classify(HttpClassifier::default())
        .on_event({
            let delays = delays.clone();
            move |e| {
                if let RetryEvent::Retry { delay, .. } = e {
                    delays.lock().unwrap().push(*delay);
                }
            }
        })
        .build()
        .unwrap();
    let result = RetryLayer::new(policy).layer(client()).oneshot(req).await;
    let delays = delays.lock().unwrap().clone();
    (result, delays)
}

fn get(server: &ScriptedServer) -> Request<Full<Bytes>> {
    Request::get(server.url("/items"))
        .body(Full::default())
        .unwrap()
}

fn post(server: &ScriptedServer) -> http::request::Builder {
    Request::post(server.url("/orders"))
}

#[tokio::test(start_paused = true)]
async fn every_status_row_is_retried_or_not_as_the_table_says() {
    let rows: [(u16, usize); 12] = [
        (200, 1),
        (204, 1),
        (301, 1),
        (400, 1),
        (404, 1),
        (500, 1),
        (501, 1),
        (408, 2),
        (429, 2),
        (502, 2),
        (503, 2),
        (504, 2),
    ];
    for (status, attempts) in rows {
        let server = ScriptedServer::start([Answer::status(status)]).await;
        let (result, delays) = send(get(&server)).await;
        let res = result.unwrap_or_else(|e| panic!("{status}: {e}"));
        assert_eq!(server.requests().len(), attempts, "status {status}");
        let expected = if attempts == 2 { 200 } else { status };
        assert_eq!(res.status(), expected, "status {status}");
        assert_eq!(delays.len(), attempts - 1, "status {status}");
    }
}

#[tokio::test(start_paused = true)]
async fn retry_after_in_seconds_sets_the_delay() {
    let server = ScriptedServer::start([Answer::status(503).header("retry-after", "7")]).await;
    let (result, delays) = send(get(&server)).await;
    assert_eq!(result.unwrap().status(), 200);
    assert_eq!(delays, [Duration::from_secs(7)]);
}

#[tokio::test(start_paused = true)]
#[allow(clippy::disallowed_types)] // An HTTP-date is wall-clock time.
async fn retry_after_as_an_http_date_sets_the_delay() {
    let at = std::time::SystemTime::now() + Duration::from_secs(30);
    let date = httpdate::fmt_http_date(at);
    let server = ScriptedServer::start([Answer::status(429).header("retry-after", &date)]).await;
    let (result, delays) = send(get(&server)).await;
    assert_eq!(result.unwrap().status(), 200);
    // The date has whole seconds and the wall clock moves on while the test runs.
    let delay = delays[0];
    assert!(
        delay > Duration::from_secs(27) && delay <= Duration::from_secs(30),
        "{delay:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn rate_limit_reset_sets_the_delay() {
    let server = ScriptedServer::start([Answer::status(429)
        .header("x-ratelimit-remaining", "0")
        .header("x-ratelimit-reset", "12")])
    .await;
    let (_, delays) = send(get(&server)).await;
    assert_eq!(delays, [Duration::from_secs(12)]);
}

#[tokio::test(start_paused = true)]
async fn malformed_hints_fall_back_to_the_backoff() {
    for bad in ["soon", "-3", "1.5", "", "Wed, 99 Foo 2015"] {
        let server = ScriptedServer::start([Answer::status(503).header("retry-after", bad)]).await;
        let (result, delays) = send(get(&server)).await;
        assert_eq!(result.unwrap().status(), 200, "{bad:?}");
        assert_eq!(delays, [BACKOFF], "{bad:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_huge_hint_is_clamped() {
    let server = ScriptedServer::start([Answer::status(503).header("retry-after", "86400")]).await;
    let (_, delays) = send(get(&server)).await;
    // The classifier's default clamp is one minute.
    assert_eq!(delays, [Duration::from_secs(60)]);
    // Too large for 64 bits is a valid delay too (RFC 9110): clamped the same way.
    let server = ScriptedServer::start([
        Answer::status(503).header("retry-after", "99999999999999999999999")
    ])
    .await;
    let (_, delays) = send(get(&server)).await;
    assert_eq!(delays, [Duration::from_secs(60)]);
}

#[tokio::test(start_paused = true)]
async fn a_post_is_not_retried_without_an_idempotency_key() {
    let server = ScriptedServer::start([Answer::status(503)]).await;
    let req = post(&server).body(Full::from("pay 10")).unwrap();
    let (result, _) = send(req).await;
    assert_eq!(result.unwrap().status(), 503);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_post_with_an_idempotency_key_is_retried() {
    let server = ScriptedServer::start([Answer::status(503)]).await;
    let req = post(&server)
        .header("idempotency-key", "order-81")
        .body(Full::from("pay 10"))
        .unwrap();
    let (result, _) = send(req).await;
    assert_eq!(result.unwrap().status(), 200);
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|r| r.body == "pay 10"));
    assert!(seen
        .iter()
        .all(|r| r.headers["idempotency-key"] == "order-81"));
}

#[tokio::test(start_paused = true)]
async fn a_hang_up_is_retried_for_a_get_but_not_for_a_post() {
    let server = ScriptedServer::start([Answer::hang_up()]).await;
    let (result, _) = send(get(&server)).await;
    assert_eq!(result.unwrap().status(), 200);
    assert_eq!(server.requests().len(), 2);

    let server = ScriptedServer::start([Answer::hang_up()]).await;
    let (result, delays) = send(post(&server).body(Full::from("x")).unwrap()).await;
    assert!(result.is_err());
    assert!(delays.is_empty());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_refused_connection_is_retried_even_for_a_post() {
    // A port nobody listens on: bind one, then let it go.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let req = Request::post(format!("http://{addr}/orders"))
        .body(Full::from("x"))
        .unwrap();
    let (result, delays) = send(req).await;
    let err = result.unwrap_err();
    let err = err.downcast_ref::<RetryError>().expect("a RetryError");
    assert_eq!(err.reason(), &StopReason::AttemptsExhausted);
    assert_eq!(err.attempts(), 3);
    assert_eq!(delays, [BACKOFF, BACKOFF]);
}

#[tokio::test(start_paused = true)]
async fn the_breaker_counts_server_errors_but_not_client_errors() {
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(3)
        .build()
        .unwrap();
    let server = ScriptedServer::start((0..5).map(|_| Answer::status(404))).await;
    let svc = CircuitBreakerLayer::new(breaker.clone())
        .classify(HttpClassifier::default())
        .layer(client());
    for _ in 0..5 {
        let res = svc.clone().oneshot(get(&server)).await.unwrap();
        assert_eq!(res.status(), 404);
    }
    assert_eq!(breaker.state(), CircuitState::Closed);

    server.push((0..3).map(|_| Answer::status(500)));
    for _ in 0..3 {
        let _ = svc.clone().oneshot(get(&server)).await;
    }
    assert_eq!(breaker.state(), CircuitState::Open);
}
