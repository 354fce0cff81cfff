//! The pieces of the `prometheus` example, shared with its test: an axum app whose handler
//! calls a flaky backend through a retry layer and a circuit breaker, both reporting through
//! steadfast's `MetricsExport`, and a `/metrics` route that renders the Prometheus recorder.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use steadfast::backoff::Backoff;
use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
use steadfast::export::MetricsExport;
use steadfast::retry::{RetryLayer, RetryPolicy};
use steadfast::BoxError;
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceExt};

/// The buckets of the duration histograms, in seconds.
pub const DURATION_BUCKETS: [f64; 8] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0];

/// A Prometheus recorder whose duration instruments are histograms with [`DURATION_BUCKETS`]
/// (without buckets the exporter renders histograms as summaries).
pub fn recorder() -> PrometheusRecorder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("duration".into()), &DURATION_BUCKETS)
        .expect("buckets are not empty")
        .build_recorder()
}

/// An in-process backend that fails two calls of every three (the third succeeds), or every
/// call while it is down.
#[derive(Clone, Debug, Default)]
pub struct Backend {
    calls: Arc<AtomicU64>,
    down: Arc<AtomicBool>,
}

impl Backend {
    async fn call(&self) -> Result<String, BoxError> {
        let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        if self.down.load(Ordering::Relaxed) || !n.is_multiple_of(3) {
            return Err("backend busy".into());
        }
        Ok(format!("quote {n}"))
    }
}

#[derive(Clone)]
struct AppState {
    client: BoxCloneSyncService<(), String, BoxError>,
    backend: Backend,
    metrics: PrometheusHandle,
}

/// The app: `GET /quote` calls the backend through the client stack (503 when it gives up or
/// the breaker rejects), `POST /outage` takes the backend down, `GET /metrics` renders
/// `metrics` for Prometheus.
///
/// The stack's metrics are registered with the recorder current when this runs (the global
/// one, or the one given to `metrics::with_local_recorder`).
pub fn app(metrics: PrometheusHandle) -> Router {
    let export = MetricsExport::new().shared();
    let breaker = CircuitBreaker::builder()
        .name("quotes-backend")
        .consecutive_failures(3)
        .observe(export.clone())
        .build()
        .expect("valid breaker");
    let policy = RetryPolicy::builder()
        .name("quotes")
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(5)))
        .observe(export)
        .build()
        .expect("valid policy");
    let backend = Backend::default();
    let inner = backend.clone();
    let service = tower::service_fn(move |()| {
        let inner = inner.clone();
        async move { inner.call().await }
    });
    let client = RetryLayer::new(policy).layer(CircuitBreakerLayer::new(breaker).layer(service));
    let state = AppState {
        client: BoxCloneSyncService::new(client),
        backend,
        metrics,
    };
    Router::new()
        .route("/quote", get(quote))
        .route("/outage", post(outage))
        .route("/metrics", get(render))
        .with_state(state)
}

async fn quote(State(state): State<AppState>) -> (StatusCode, String) {
    match state.client.oneshot(()).await {
        Ok(quote) => (StatusCode::OK, quote),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

async fn outage(State(state): State<AppState>) -> StatusCode {
    state.backend.down.store(true, Ordering::Relaxed);
    StatusCode::NO_CONTENT
}

async fn render(State(state): State<AppState>) -> String {
    state.metrics.render()
}

/// Serves `app` on 127.0.0.1 (a port the system picks) and returns its address.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Sends `method path` to `addr` over TCP and returns the status and the body.
pub async fn send(addr: SocketAddr, method: &str, path: &str) -> (StatusCode, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let request = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .body(Empty::new())
        .expect("valid request");
    let response = client.request(request).await.expect("the app answers");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a whole body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The value of the series `name{labels}` in a Prometheus scrape, if it is there. `labels`
/// must be all of the series' labels, in the order the exporter writes them.
pub fn sample(scrape: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    let series = if labels.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{{{}}}", labels.join(","))
    };
    scrape.lines().find_map(|line| {
        let value = line.strip_prefix(&series)?.strip_prefix(' ')?;
        value.parse().ok()
    })
}
