//! An HTTP client that knows HTTP's rules: hyper-util's pooled client behind steadfast's
//! layers and steadfast-http's classifier, against a flaky server on 127.0.0.1.
//!
//! ```sh
//! cargo run -p steadfast-examples --example http_client
//! ```
//!
//! What it shows, and checks (the example exits non-zero if any check fails):
//! 1. a `503` with `Retry-After` is retried after the delay the server asked for (clamped);
//! 2. a streamed `POST` body is replayed on the retry, byte for byte, because the request
//!    carries an `Idempotency-Key`; without one, the `POST` is not retried;
//! 3. the time left on the request's token goes out as `x-request-timeout-ms`;
//! 4. a `404` is an answer, not a failure: it is neither retried nor counted by the breaker.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, StreamBody};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
use steadfast::describe::Describe;
use steadfast::retry::{Backoff, RetryEvent, RetryLayer, RetryPolicy};
use steadfast::token::CancelToken;
use steadfast_http::deadline::PropagateDeadlineLayer;
use steadfast_http::replay::{ReplayBody, ReplayCloner, ReplayLayer};
use steadfast_http::{HttpClassifier, WithCancelToken};
use steadfast_test::server::{Answer, ScriptedServer};
use tower::{ServiceBuilder, ServiceExt};

type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::convert::Infallible>;

/// A body sent in three chunks, as a stream.
fn streamed(chunks: [&'static str; 3]) -> Body {
    let frames = chunks.map(|c| Ok(hyper::body::Frame::data(Bytes::from_static(c.as_bytes()))));
    StreamBody::new(stream_of(frames)).boxed_unsync()
}

/// A stream over a fixed array, without pulling in a stream crate.
fn stream_of<T>(items: [T; 3]) -> impl futures_core::Stream<Item = T> + Unpin + Send + 'static
where
    T: Unpin + Send + 'static,
{
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
    Iter(items.into_iter())
}

fn check(ok: bool, what: &str, failures: &mut u32) {
    if ok {
        println!("  ok    {what}");
    } else {
        println!("  FAIL  {what}");
        *failures += 1;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut failures = 0;
    let server = ScriptedServer::start([Answer::status(503).header("retry-after", "3")]).await;

    // One breaker and one policy, both judging with HTTP's rules.
    let breaker = CircuitBreaker::builder()
        .name("inventory")
        .build()
        .expect("valid breaker");
    let delays = Arc::new(Mutex::new(Vec::new()));
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .backoff(Backoff::exponential(Duration::from_millis(50)))
        // Servers may ask for long waits; this client never waits more than 200 ms.
        .max_hint(Duration::from_millis(200))
        .classify(HttpClassifier::default())
        .clone_requests(ReplayCloner)
        .on_event({
            let delays = delays.clone();
            move |e| {
                if let RetryEvent::Retry {
                    attempt,
                    delay,
                    outcome,
                    ..
                } = e
                {
                    println!("  retry after attempt {attempt} ({outcome}): waiting {delay:?}");
                    delays.lock().unwrap().push(*delay);
                }
            }
        })
        .build()
        .expect("valid policy");

    let layers = ServiceBuilder::new()
        .layer(ReplayLayer::new()) // keeps up to 64 KiB of each body for a retry
        .layer(RetryLayer::new(policy))
        .layer(CircuitBreakerLayer::new(breaker.clone()).classify(HttpClassifier::default()))
        .layer(PropagateDeadlineLayer::new()); // under retry: each attempt sends the time left now
    println!(
        "The client's layers, outermost first:\n{}",
        layers.description()
    );
    let client =
        layers.service(Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Body>>());

    println!("1. GET /stock: the server answers 503 with Retry-After: 3");
    let token = CancelToken::with_deadline(tokio::time::Instant::now() + Duration::from_secs(10));
    let req = Request::get(server.url("/stock"))
        .with_cancel_token(&token)
        .body(Body::default())
        .unwrap();
    let res = client.clone().oneshot(req).await.expect("an answer");
    check(
        res.status() == 200,
        "the GET succeeded on its second attempt",
        &mut failures,
    );
    check(
        delays.lock().unwrap().first() == Some(&Duration::from_millis(200)),
        "the server's 3 s was clamped to the client's 200 ms",
        &mut failures,
    );

    println!("2. POST /orders with a streamed body: 503 twice");
    server.push([Answer::status(503), Answer::status(503)]);
    let req = Request::post(server.url("/orders"))
        .header("idempotency-key", "order-7731")
        .with_cancel_token(&token)
        .body(streamed(["{\"sku\":", "\"A-17\",", "\"qty\":2}"]))
        .unwrap();
    let res = client.clone().oneshot(req).await.expect("an answer");
    let seen = server.requests();
    let posts: Vec<_> = seen.iter().filter(|r| r.path == "/orders").collect();
    check(
        res.status() == 200,
        "the keyed POST succeeded on its third attempt",
        &mut failures,
    );
    check(
        posts.len() == 3
            && posts
                .iter()
                .all(|r| r.body == "{\"sku\":\"A-17\",\"qty\":2}"),
        "the server got the same streamed body three times",
        &mut failures,
    );
    check(
        posts.iter().all(|r| {
            r.headers
                .get("x-request-timeout-ms")
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                .is_some_and(|ms| ms > 0 && ms <= 10_000)
        }),
        "every attempt told the server how long it had left",
        &mut failures,
    );

    server.push([Answer::status(503)]);
    let req = Request::post(server.url("/payments"))
        .body(streamed(["amount=", "10", "&currency=EUR"]))
        .unwrap();
    let res = client.clone().oneshot(req).await.expect("an answer");
    let payments = server
        .requests()
        .iter()
        .filter(|r| r.path == "/payments")
        .count();
    check(
        res.status() == 503 && payments == 1,
        "a POST without an idempotency key was sent once and its 503 returned",
        &mut failures,
    );

    println!("3. GET /missing: 404 five times");
    let before = breaker.metrics();
    server.push((0..5).map(|_| Answer::status(404)));
    for _ in 0..5 {
        let req = Request::get(server.url("/missing"))
            .body(Body::default())
            .unwrap();
        let _ = client.clone().oneshot(req).await;
    }
    let after = breaker.metrics();
    check(
        after.failures == before.failures && after.successes == before.successes + 5,
        "404s are answers: the breaker counted them as successes, not failures",
        &mut failures,
    );
    println!(
        "  breaker '{}': {:?}, {} successes, {} failures",
        breaker.name(),
        after.state,
        after.successes,
        after.failures
    );

    if failures > 0 {
        println!("{failures} check(s) failed");
        std::process::exit(1);
    }
    println!("all checks passed");
}
