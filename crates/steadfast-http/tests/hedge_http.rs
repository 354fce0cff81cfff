//! The hedge layer with HTTP's rules, on tokio's paused clock: `Retry-After` read by
//! `HttpClassifier` postpones the next hedge, and `Idempotency::cloner` keeps a `POST` without
//! an idempotency key from being hedged.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use steadfast::hedge::{HedgeDelay, HedgeLayer, HedgeMode};
use steadfast::retry::TokenBucket;
use steadfast_http::replay::{ReplayBody, ReplayCloner};
use steadfast_http::{HttpClassifier, Idempotency};
use tokio::time::Instant;
use tower::{service_fn, Layer, ServiceExt};

type Req = Request<ReplayBody<Full<Bytes>>>;

/// When each call reached the backend.
type Calls = Arc<Mutex<Vec<Instant>>>;

/// A scripted backend.
trait Backend:
    tower::Service<
        Req,
        Response = Response<Full<Bytes>>,
        Error = std::io::Error,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S> Backend for S where
    S: tower::Service<
            Req,
            Response = Response<Full<Bytes>>,
            Error = std::io::Error,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn body() -> ReplayBody<Full<Bytes>> {
    ReplayBody::new(Full::new(Bytes::from_static(b"{}")), 1024)
}

/// A backend that answers each call after `delay` with `status` (and a `Retry-After` of
/// `retry_after` seconds, if given), in order, recording when each call came.
fn backend(script: Vec<(u64, u16, Option<&'static str>)>) -> (impl Backend, Calls) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(Mutex::new(script.into_iter()));
    let seen = calls.clone();
    let svc = service_fn(move |_: Req| {
        seen.lock().unwrap().push(Instant::now());
        let (delay, status, retry_after) = script.lock().unwrap().next().expect("scripted");
        async move {
            tokio::time::sleep(ms(delay)).await;
            let mut res = Response::builder().status(status);
            if let Some(s) = retry_after {
                res = res.header("retry-after", s);
            }
            Ok::<_, std::io::Error>(res.body(Full::new(Bytes::new())).unwrap())
        }
    });
    (svc, calls)
}

fn budget() -> Arc<TokenBucket> {
    Arc::new(TokenBucket::builder().build().unwrap())
}

#[tokio::test(start_paused = true)]
async fn retry_after_postpones_the_next_hedge() {
    let (svc, calls) = backend(vec![(10, 503, Some("2")), (5, 200, None)]);
    let layer = HedgeLayer::builder()
        .mode(HedgeMode::Fallback)
        .budget(budget())
        .classify(HttpClassifier::default())
        .clone_requests(ReplayCloner)
        .build()
        .unwrap();
    let start = Instant::now();
    let res = layer
        .layer(svc)
        .oneshot(Request::get("/item").body(body()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let calls = calls.lock().unwrap();
    // The 503 came at 10 ms and asked for 2 s: the hedge went at 2.01 s.
    assert_eq!(calls[1] - start, ms(2010));
}

#[tokio::test(start_paused = true)]
async fn a_post_without_an_idempotency_key_is_not_hedged() {
    let layer = HedgeLayer::builder()
        .delay(HedgeDelay::fixed(ms(20)))
        .budget(budget())
        .classify(HttpClassifier::default())
        .clone_requests(Idempotency::default().cloner(ReplayCloner))
        .build()
        .unwrap();
    let send = |req: Req| {
        let (svc, calls) = backend(vec![(100, 200, None), (5, 200, None)]);
        let layer = layer.clone();
        async move {
            layer.layer(svc).oneshot(req).await.unwrap();
            let n = calls.lock().unwrap().len();
            n
        }
    };
    assert_eq!(send(Request::post("/pay").body(body()).unwrap()).await, 1);
    let keyed = Request::post("/pay")
        .header("idempotency-key", "8e03")
        .body(body())
        .unwrap();
    assert_eq!(send(keyed).await, 2);
    assert_eq!(send(Request::get("/item").body(body()).unwrap()).await, 2);
}
