//! End-to-end HTTP benchmark: an axum server on 127.0.0.1 with and without steadfast's
//! server-side stack, and a hyper client with and without the client-side stack.
//!
//! ```sh
//! steadfast-e2e server bare|stack|outer|outer-plain|cancel-timeout PORT  # serve until killed
//! steadfast-e2e client bare|stack|core|tower|tower-resilience|seatbelt URL SECS CONNS
//!                                              # drive load, print a result line
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
use steadfast_http::{into_axum_response, CancelLayerExt, HttpClassifier, RequestToken};
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_resilience_circuitbreaker::CircuitBreakerError;
use tower_resilience_timelimiter::{TimeLimiterError, TimeLimiterLayer};

fn usage() -> ! {
    eprintln!(
        "usage: steadfast-e2e server bare|stack|outer|outer-plain|cancel-timeout PORT | client bare|stack|core|tower URL SECS CONNS"
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
        "outer" | "outer-plain" => {
            // The same layers around the whole router instead of on its routes: axum then
            // neither boxes nor clones a layered route per request. `outer-plain`: a handler
            // that does not take the request's token.
            let router = if mode == "outer" {
                Router::new().route("/", get(hello_with_token))
            } else {
                Router::new().route("/", get(hello))
            };
            let svc = ServiceBuilder::new()
                .layer(server_layers()?)
                .service(router);
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
            axum::serve(listener, tower::make::Shared::new(svc)).await?;
            return Ok(());
        }
        "cancel-timeout" => {
            // The cancel layer alone, in its HTTP form with a 10 s timeout, around the router.
            let svc = ServiceBuilder::new()
                .map_response(into_axum_response as ToAxum)
                .layer(
                    CancelLayer::builder()
                        .timeout(Duration::from_secs(10))
                        .build()?
                        .for_http(),
                )
                .service(Router::new().route("/", get(hello)));
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
            steadfast_http::cancel::HttpCancelLayer,
            tower::layer::util::Stack<
                tower::util::MapResponseLayer<ToAxum>,
                tower::layer::util::Stack<
                    AcceptDeadlineLayer,
                    tower::layer::util::Stack<UpstreamRetriesLayer, tower::layer::util::Identity>,
                >,
            >,
        >,
    >,
>;

/// The cancel layer's response back in axum's body type, boxed only when the body watches the
/// request's token.
type ToAxum = fn(
    http::Response<steadfast_http::cancel::CancelBody<axum::body::Body>>,
) -> http::Response<axum::body::Body>;

fn server_layers() -> Result<ServerLayers, BoxError> {
    Ok(ServiceBuilder::new()
        .layer(UpstreamRetriesLayer::new())
        .layer(AcceptDeadlineLayer::new().max(Duration::from_secs(30)))
        .map_response(into_axum_response as ToAxum)
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
        Some(copy_request(req))
    }
}

/// A copy of a request for another attempt: what steadfast's retry copies (method, URI,
/// version, headers, extensions and the empty body).
fn copy_request(req: &Request<Body>) -> Request<Body> {
    let mut copy = Request::new(Body::new());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    *copy.extensions_mut() = req.extensions().clone();
    copy
}

/// A request that is `Clone`, which tower-resilience's retry asks of its requests
/// (`http::Request` is not); cloning copies it as [`copy_request`] does.
struct Copyable(Request<Body>);

impl Clone for Copyable {
    fn clone(&self) -> Self {
        Copyable(copy_request(&self.0))
    }
}

/// What seatbelt's layers see of an answer.
type Out = Result<http::Response<hyper::body::Incoming>, BoxError>;

/// seatbelt's recovery rule, as `HttpClassifier` classifies: an error or a server error (5xx)
/// is a failure to retry and count, anything else a success.
fn seatbelt_recovery(out: &Out) -> seatbelt::RecoveryInfo {
    match out {
        Ok(r) if !r.status().is_server_error() => seatbelt::RecoveryInfo::never(),
        _ => seatbelt::RecoveryInfo::retry(),
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
        // tower-resilience's time limiter, retry and circuit breaker: the same three layers.
        "tower-resilience" => {
            let svc = ServiceBuilder::new()
                .map_err(|e: TimeLimiterError<CircuitBreakerError<BoxError>>| {
                    BoxError::from(format!("{e:?}"))
                })
                .map_request(Copyable)
                .layer(
                    TimeLimiterLayer::builder()
                        .timeout_duration(Duration::from_secs(10))
                        .build(),
                )
                .layer(
                    tower_resilience_retry::RetryLayer::<Copyable, _, _>::builder()
                        .max_attempts(3)
                        .exponential_backoff(Duration::from_millis(10))
                        .build(),
                )
                .layer(
                    tower_resilience_circuitbreaker::CircuitBreakerLayer::builder()
                        .name("e2e")
                        .build()?,
                )
                .map_request(|r: Copyable| r.0)
                .service(hyper.map_err(BoxError::from));
            drive(svc, &uri, secs, conns).await
        }
        // seatbelt's timeout, retry and circuit breaker: the same three layers.
        "seatbelt" => {
            let ctx =
                seatbelt::ResilienceContext::<Request<Body>, Out>::new(tick::Clock::new_tokio());
            let svc = ServiceBuilder::new()
                .layer(
                    seatbelt::timeout::Timeout::layer("timeout", &ctx)
                        .timeout(Duration::from_secs(10))
                        .timeout_error(|_| BoxError::from("timed out")),
                )
                .layer(
                    seatbelt::retry::Retry::layer("retry", &ctx)
                        .clone_input_with(|req, _| Some(copy_request(req)))
                        .recovery_with(|out: &Out, _| seatbelt_recovery(out))
                        .max_retry_attempts(2)
                        .backoff(seatbelt::retry::Backoff::Exponential)
                        .base_delay(Duration::from_millis(10)),
                )
                .layer(
                    seatbelt::breaker::Breaker::layer("breaker", &ctx)
                        .recovery_with(|out: &Out, _| seatbelt_recovery(out))
                        .rejected_input_error(|_, _| BoxError::from("circuit open")),
                )
                .service(hyper.map_err(BoxError::from));
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
