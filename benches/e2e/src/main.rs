//! End-to-end HTTP benchmark: an axum server on 127.0.0.1 with and without steadfast's
//! server-side stack, and a hyper client with and without the client-side stack.
//!
//! ```sh
//! steadfast-e2e server bare|stack|outer PORT      # serve until killed
//! steadfast-e2e client bare|stack|core|tower URL SECS CONNS  # drive load, print a result line
//! ```
//!
//! `benches/e2e.sh` runs the whole comparison: the servers under `wrk` (from the
//! distribution's packages), and the clients against the bare server. The client prints
//! `requests_per_second p50_us p99_us errors requests` on one line. `benches/e2e-callgrind.sh`
//! counts the instructions each process runs per request under callgrind.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use steadfast::cancel::CancelLayer;
use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
use steadfast::retry::{Backoff, RetryPolicy};
use steadfast::token::CancelToken;
use steadfast::validate::{ensure, ValidateLayer};
use steadfast::{BoxError, ServiceBuilderExt};
use steadfast_http::attempt::{AttemptHeaderLayer, UpstreamRetriesLayer};
use steadfast_http::deadline::{AcceptDeadlineLayer, PropagateDeadlineLayer};
use steadfast_http::{HttpClassifier, RequestToken};
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt};

fn usage() -> ! {
    eprintln!(
        "usage: steadfast-e2e server bare|stack|outer PORT | client bare|stack|core|tower URL SECS CONNS"
    );
    std::process::exit(2);
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["server", mode, port] => server(mode, port.parse()?).await,
        ["client", mode, url, secs, conns] => {
            client(
                mode,
                url,
                Duration::from_secs(secs.parse()?),
                conns.parse()?,
            )
            .await
        }
        _ => usage(),
    }
}

async fn hello() -> &'static str {
    "hello"
}

async fn hello_with_token(RequestToken(token): RequestToken) -> &'static str {
    if token.is_cancelled() {
        "late"
    } else {
        "hello"
    }
}

/// The server: bare, with the server-side stack on its routes (`Router::layer`), or with the
/// same stack around the whole router (`outer`).
async fn server(mode: &str, port: u16) -> Result<(), BoxError> {
    let app = match mode {
        "bare" => Router::new().route("/", get(hello)),
        "stack" => Router::new()
            .route("/", get(hello_with_token))
            .layer(server_layers()?),
        "outer" => {
            // The same layers around the whole router instead of on its routes: axum then
            // neither boxes nor clones a layered route per request.
            let svc = ServiceBuilder::new()
                .map_response(|r: http::Response<_>| r.map(axum::body::Body::new))
                .layer(server_layers()?)
                .service(Router::new().route("/", get(hello_with_token)));
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
            axum::serve(listener, tower::make::Shared::new(svc)).await?;
            return Ok(());
        }
        _ => usage(),
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

fn only_get(r: &Request<axum::body::Body>) -> bool {
    r.method() == http::Method::GET
}

/// The server-side stack: a retry marker read, deadlines accepted from callers, a cancel layer
/// with a timeout answering 504, request validation.
type ServerLayers = ServiceBuilder<
    tower::layer::util::Stack<
        steadfast_http::validate::ValidateRequestsLayer<
            steadfast::validate::Ensure<fn(&Request<axum::body::Body>) -> bool>,
        >,
        tower::layer::util::Stack<
            steadfast::cancel::HttpCancelLayer,
            tower::layer::util::Stack<
                AcceptDeadlineLayer,
                tower::layer::util::Stack<UpstreamRetriesLayer, tower::layer::util::Identity>,
            >,
        >,
    >,
>;

fn server_layers() -> Result<ServerLayers, BoxError> {
    Ok(ServiceBuilder::new()
        .layer(UpstreamRetriesLayer::new())
        .layer(AcceptDeadlineLayer::new().max(Duration::from_secs(30)))
        .layer(
            CancelLayer::builder()
                .timeout(Duration::from_secs(10))
                .build()?
                .for_http(),
        )
        .layer(steadfast_http::validate::ValidateRequestsLayer::new(
            ensure(
                "only GET",
                only_get as fn(&Request<axum::body::Body>) -> bool,
            ),
        )))
}

type Body = Empty<Bytes>;

/// A `tower::retry::Policy`: up to two retries of a request that failed, at once.
#[derive(Clone)]
struct RetryErrors {
    retries_left: u32,
}

impl<Res, E> tower::retry::Policy<Request<Body>, Res, E> for RetryErrors {
    type Future = std::future::Ready<()>;

    fn retry(
        &mut self,
        _req: &mut Request<Body>,
        result: &mut Result<Res, E>,
    ) -> Option<Self::Future> {
        match result {
            Err(_) if self.retries_left > 0 => {
                self.retries_left -= 1;
                Some(std::future::ready(()))
            }
            _ => None,
        }
    }

    fn clone_request(&mut self, req: &Request<Body>) -> Option<Request<Body>> {
        let mut copy = Request::new(Body::new());
        *copy.method_mut() = req.method().clone();
        *copy.uri_mut() = req.uri().clone();
        *copy.version_mut() = req.version();
        *copy.headers_mut() = req.headers().clone();
        *copy.extensions_mut() = req.extensions().clone();
        Some(copy)
    }
}

/// The client's timeout (10 s), retry (3 attempts, `HttpClassifier`) and circuit breaker, as a
/// `ServiceBuilder` more layers can be added to. A macro, so that each setup gets its own
/// layer types without spelling them out; `?` returns from the enclosing function.
macro_rules! timeout_retry_breaker {
    () => {
        ServiceBuilder::new()
            .cancel(
                CancelLayer::builder()
                    .timeout(Duration::from_secs(10))
                    .build()?,
            )
            .retry_with(
                RetryPolicy::builder()
                    .max_attempts(3)
                    .backoff(Backoff::exponential(Duration::from_millis(10)))
                    .classify(HttpClassifier::default())
                    .build()?,
            )
            .circuit_breaker(
                CircuitBreakerLayer::new(CircuitBreaker::builder().name("e2e").build()?)
                    .classify(HttpClassifier::default()),
            )
    };
}

/// Drives `conns` connections for `secs` and prints the rate and latency percentiles.
async fn client(mode: &str, url: &str, secs: Duration, conns: usize) -> Result<(), BoxError> {
    let hyper = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(conns)
        .build_http::<Body>();
    let uri: http::Uri = url.parse()?;
    let results = match mode {
        "bare" => drive(hyper.map_err(BoxError::from), &uri, secs, conns).await,
        "stack" => {
            let svc = timeout_retry_breaker!()
                .attempt_timeout(
                    CancelLayer::builder()
                        .timeout(Duration::from_secs(2))
                        .build()?,
                )
                .validate(
                    ValidateLayer::builder()
                        .response(ensure(
                            "success status",
                            |r: &http::Response<hyper::body::Incoming>| r.status().is_success(),
                        ))
                        .build()?,
                )
                .layer(PropagateDeadlineLayer::new())
                .layer(AttemptHeaderLayer::new())
                .service(hyper);
            drive(svc, &uri, secs, conns).await
        }
        // The per-layer benchmarks' full stack: timeout, retry, breaker.
        "core" => {
            let svc = timeout_retry_breaker!().service(hyper);
            drive(svc, &uri, secs, conns).await
        }
        // tower's own timeout and retry (it has no breaker), for scale.
        "tower" => {
            let svc = ServiceBuilder::new()
                .layer(tower::timeout::TimeoutLayer::new(Duration::from_secs(10)))
                .layer(tower::retry::RetryLayer::new(RetryErrors {
                    retries_left: 2,
                }))
                .service(hyper.map_err(BoxError::from));
            drive(svc, &uri, secs, conns).await
        }
        _ => usage(),
    };
    let (latencies, errors) = results;
    let mut all: Vec<u32> = latencies.into_iter().flatten().collect();
    all.sort_unstable();
    let pct = |p: f64| -> u32 {
        if all.is_empty() {
            return 0;
        }
        let i = ((all.len() as f64 - 1.0) * p).round() as usize;
        all[i]
    };
    println!(
        "{:.0} {} {} {} {}",
        all.len() as f64 / secs.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        errors,
        all.len()
    );
    Ok(())
}

/// Runs `conns` tasks, each sending one request after another through `svc` until `secs`
/// have passed; returns each task's latencies in microseconds and the error count.
async fn drive<S>(svc: S, uri: &http::Uri, secs: Duration, conns: usize) -> (Vec<Vec<u32>>, u64)
where
    S: Service<Request<Body>, Response = http::Response<hyper::body::Incoming>, Error = BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let end = Instant::now() + secs;
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let svc = svc.clone();
        let uri = uri.clone();
        let errors = errors.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(100_000);
            let token = CancelToken::new();
            while Instant::now() < end {
                let mut req = Request::get(uri.clone())
                    .body(Body::new())
                    .expect("request");
                req.extensions_mut().insert(token.clone());
                let start = Instant::now();
                let ok = match svc.clone().oneshot(req).await {
                    Ok(res) => res.into_body().collect().await.is_ok(),
                    Err(_) => false,
                };
                if ok {
                    lat.push(u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX));
                } else {
                    errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.push(t.await.unwrap_or_default());
    }
    (all, errors.load(std::sync::atomic::Ordering::Relaxed))
}
