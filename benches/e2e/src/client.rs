//! The clients: a hyper client driving requests to a server on 127.0.0.1, bare, through
//! steadfast's client-side layers, and through the same layers of tower, tower-resilience and
//! seatbelt.

use std::sync::Arc;
use std::time::Duration;

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
use steadfast_http::attempt::AttemptHeaderLayer;
use steadfast_http::deadline::PropagateDeadlineLayer;
use steadfast_http::HttpClassifier;
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_resilience_circuitbreaker::CircuitBreakerError;
use tower_resilience_timelimiter::{TimeLimiterError, TimeLimiterLayer};

/// The client modes `steadfast-e2e client` knows, in the order `benches/e2e-callgrind.sh` runs
/// them:
///
/// - `bare`: hyper's client alone;
/// - `stack`: steadfast's seven layers (timeout, retry, circuit breaker, attempt timeout,
///   response validation, deadline propagation, attempt header);
/// - `core`: steadfast's timeout, retry and circuit breaker;
/// - `tower`: tower's timeout and retry (tower has no circuit breaker);
/// - `tower-resilience`: tower-resilience's time limiter, retry and circuit breaker;
/// - `seatbelt`: seatbelt's timeout, retry and circuit breaker.
pub(crate) const MODES: &[&str] = &[
    "bare",
    "stack",
    "core",
    "tower",
    "tower-resilience",
    "seatbelt",
];

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

/// Drives `conns` connections for `secs` through `mode` (one of [`MODES`]) and prints the
/// rate, the latency percentiles, the errors and the requests on one line.
pub(crate) async fn client(
    mode: &str,
    url: &str,
    secs: Duration,
    conns: usize,
) -> Result<(), BoxError> {
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
        _ => return Err(format!("unknown client mode {mode:?}").into()),
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
/// have passed; returns each task's latencies in microseconds and the error count (requests
/// that failed or were not answered with a success status).
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
                    Ok(res) => res.status().is_success() && res.into_body().collect().await.is_ok(),
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
