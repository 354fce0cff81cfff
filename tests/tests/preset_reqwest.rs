//! The client preset around a `reqwest::Client` and as a `reqwest_middleware` middleware,
//! against real servers on 127.0.0.1: hints honoured, bodies replayed, the deadline and the
//! cancellation reaching the server, the breaker opening.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::StreamBody;
use steadfast::circuit_breaker::{CircuitState, Rejected};
use steadfast::classify::find_source;
use steadfast::retry::{Backoff, RetryEvent};
use steadfast_http::preset::standard_http_client;
use steadfast_http::reqwest::SteadfastMiddleware;
use steadfast_test::server::{Answer, ScriptedServer};
use tokio::time::Instant;
use tower::ServiceExt;

mod common;
use common::{server_tokens_fired, waiting_server};

/// A body in three chunks, streamed: reqwest cannot clone it, steadfast replays it.
fn streamed() -> reqwest::Body {
    struct Iter<I>(I);
    impl<I: Iterator + Unpin> futures_core::Stream for Iter<I> {
        type Item = I::Item;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<I::Item>> {
            std::task::Poll::Ready(self.0.next())
        }
    }
    let frames = ["{\"sku\":", "\"A-17\",", "\"qty\":2}"].map(|c| {
        Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(Bytes::from_static(
            c.as_bytes(),
        )))
    });
    reqwest::Body::wrap(StreamBody::new(Iter(frames.into_iter())))
}

#[tokio::test]
async fn reqwest_a_503_with_retry_after_is_retried_and_a_streamed_body_replayed() {
    let server = ScriptedServer::start([
        Answer::status(503).header("retry-after", "1"),
        Answer::status(502),
    ])
    .await;
    let delays = Arc::new(Mutex::new(Vec::new()));
    let layer = standard_http_client()
        .retry(|r| {
            let delays = delays.clone();
            r.backoff(Backoff::constant(Duration::from_millis(5)))
                .on_event(move |e| {
                    if let RetryEvent::Retry { delay, .. } = e {
                        delays.lock().unwrap().push(*delay);
                    }
                })
        })
        .build()
        .unwrap();
    let http = reqwest::Client::new();
    let client = layer.reqwest(http.clone());
    let url = server.url("/orders").to_string();
    let req = http
        .post(&url)
        .header("idempotency-key", "order-1")
        .body(streamed())
        .build()
        .unwrap();
    let res = client.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.url().as_str(), url);
    assert_eq!(res.text().await.unwrap(), "ok");
    assert_eq!(
        *delays.lock().unwrap(),
        [Duration::from_secs(1), Duration::from_millis(5)]
    );
    let seen = server.requests();
    assert_eq!(seen.len(), 3);
    assert!(seen
        .iter()
        .all(|r| r.body == "{\"sku\":\"A-17\",\"qty\":2}"));
    assert_eq!(seen[2].headers["x-retry-attempt"], "3");
    assert!(seen
        .iter()
        .all(|r| r.headers.contains_key("x-request-timeout-ms")));
}

#[tokio::test]
async fn reqwest_the_breaker_opens_and_ends_requests_at_once() {
    let server = ScriptedServer::start((0..8).map(|_| Answer::status(503))).await;
    let layer = standard_http_client()
        .retry(|r| r.backoff(Backoff::none()))
        .breaker(|b| b.minimum_calls(8))
        .build()
        .unwrap();
    let http = reqwest::Client::new();
    let client = layer.reqwest(http.clone());
    let url = server.url("/flaky").to_string();
    for _ in 0..2 {
        let res = client
            .clone()
            .oneshot(http.get(&url).build().unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), 503);
    }
    assert_eq!(layer.breaker().metrics().state, CircuitState::Open);
    let err = client
        .oneshot(http.get(&url).build().unwrap())
        .await
        .unwrap_err();
    assert!(find_source::<Rejected>(&*err).is_some(), "{err}");
    assert_eq!(server.requests().len(), 8);
}

#[tokio::test]
async fn reqwest_the_attempt_timeout_reaches_the_server_and_cancels_its_token() {
    let (addr, mut ended) = waiting_server().await;
    let url = format!("http://{addr}/wait");
    let layer = standard_http_client()
        .total_timeout(Duration::from_millis(1_500))
        .attempt_timeout(Duration::from_millis(300))
        .retry(|r| r.max_attempts(2).backoff(Backoff::none()))
        .build()
        .unwrap();
    let http = reqwest::Client::new();
    let start = Instant::now();
    let result = layer
        .reqwest(http.clone())
        .oneshot(http.get(&url).build().unwrap())
        .await;
    server_tokens_fired(&mut ended, 2, 300).await;
    match result {
        Ok(res) => assert_eq!(res.status(), 504),
        // The total timeout, or both attempts timed out before the server's answer came.
        Err(e) => assert!(
            find_source::<steadfast::cancel::Cancelled>(&*e).is_some()
                || find_source::<steadfast::retry::RetryError>(&*e).is_some(),
            "{e}"
        ),
    }
    assert!(start.elapsed() < Duration::from_millis(1_500));
}

/// Counts the attempts and leaves the count in the request's extensions.
struct Counter(Arc<Mutex<u32>>);

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for Counter {
    async fn handle(
        &self,
        req: reqwest::Request,
        ext: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let n = {
            let mut n = self.0.lock().unwrap();
            *n += 1;
            *n
        };
        ext.insert(n);
        next.run(req, ext).await
    }
}

#[tokio::test]
async fn middleware_retries_replays_and_keeps_the_chains_extensions() {
    let server = ScriptedServer::start([
        Answer::status(503).header("retry-after", "1"),
        Answer::status(503),
    ])
    .await;
    let layer = standard_http_client()
        .retry(|r| r.backoff(Backoff::constant(Duration::from_millis(5))))
        .build()
        .unwrap();
    // A middleware under steadfast's counts the attempts that pass through it.
    let attempts = Arc::new(Mutex::new(0u32));
    let counter = Counter(attempts.clone());
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(SteadfastMiddleware::new(layer))
        .with(counter)
        .build();
    let start = Instant::now();
    let mut ext = http::Extensions::new();
    let req = client
        .post(server.url("/orders").to_string())
        .header("idempotency-key", "order-1")
        .body(streamed())
        .build()
        .unwrap();
    let res = client.execute_with_extensions(req, &mut ext).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "the server's wait"
    );
    assert_eq!(*attempts.lock().unwrap(), 3);
    assert_eq!(ext.get::<u32>(), Some(&3), "the last attempt's extensions");
    let seen = server.requests();
    assert!(seen
        .iter()
        .all(|r| r.body == "{\"sku\":\"A-17\",\"qty\":2}"));
    assert_eq!(seen.len(), 3);
}

#[tokio::test]
async fn middleware_the_breaker_opens_and_its_error_downcasts() {
    let server = ScriptedServer::start((0..8).map(|_| Answer::status(503))).await;
    let layer = standard_http_client()
        .retry(|r| r.backoff(Backoff::none()))
        .breaker(|b| b.minimum_calls(8))
        .build()
        .unwrap();
    let middleware = SteadfastMiddleware::new(layer);
    let breaker = middleware.layer().breaker().clone();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(middleware)
        .build();
    let url = server.url("/flaky").to_string();
    for _ in 0..2 {
        assert_eq!(client.get(&url).send().await.unwrap().status(), 503);
    }
    assert_eq!(breaker.metrics().state, CircuitState::Open);
    let err = client.get(&url).send().await.unwrap_err();
    match &err {
        reqwest_middleware::Error::Middleware(e) => {
            assert!(e.downcast_ref::<Rejected>().is_some(), "{e:?}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests().len(), 8);
}

#[tokio::test]
async fn middleware_the_attempt_timeout_reaches_the_server_and_cancels_its_token() {
    let (addr, mut ended) = waiting_server().await;
    let url = format!("http://{addr}/wait");
    let layer = standard_http_client()
        .total_timeout(Duration::from_millis(1_500))
        .attempt_timeout(Duration::from_millis(300))
        .retry(|r| r.max_attempts(2).backoff(Backoff::none()))
        .build()
        .unwrap();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(SteadfastMiddleware::new(layer))
        .build();
    let start = Instant::now();
    let result = client.get(&url).send().await;
    server_tokens_fired(&mut ended, 2, 300).await;
    match result {
        Ok(res) => assert_eq!(res.status(), 504),
        // The total timeout, or both attempts timed out before the server's answer came.
        Err(reqwest_middleware::Error::Middleware(e)) => assert!(
            e.downcast_ref::<steadfast::cancel::Cancelled>().is_some()
                || e.downcast_ref::<steadfast::retry::RetryError>().is_some(),
            "{e:?}"
        ),
        Err(e) => panic!("{e:?}"),
    }
    assert!(start.elapsed() < Duration::from_millis(1_500));
}
