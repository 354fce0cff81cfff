//! The retry + breaker stack of the export benchmarks, each layer watched by a metrics export
//! (given to the builders' `observe`), or by none.

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use steadfast::circuit_breaker::{CircuitBreakerLayer, CircuitBreakerService};
use steadfast::classify::Outcome;
use steadfast::export::{MetricsExport, OtelExport};
use steadfast::observe::Observer;
use steadfast::retry::{RequestEnd, Retry, RetryEvent, RetryLayer, RetryPolicy};
use tower::Layer;

use super::Bare;

/// The stack: steadfast's retry layer (default policy) over its breaker ([`super::breaker`]'s
/// settings) over `Bare`.
pub(crate) type Stack = Retry<CircuitBreakerService<Bare>>;

/// The stack with each layer watched by `observer`, or by none.
pub(crate) fn stack(observer: Option<Arc<dyn Observer>>) -> Stack {
    let mut policy = RetryPolicy::builder();
    let mut breaker = steadfast::circuit_breaker::CircuitBreaker::builder()
        .name("bench")
        .failure_rate(50.0)
        .minimum_calls(100)
        .window(steadfast::circuit_breaker::SlidingWindow::count(100));
    if let Some(observer) = observer {
        policy = policy.name("bench").observe(observer.clone());
        breaker = breaker.observe(observer);
    }
    let breaker = breaker.build().expect("valid breaker");
    RetryLayer::new(policy.build().expect("valid policy"))
        .layer(CircuitBreakerLayer::new(breaker).layer(Bare))
}

/// Watches nothing: a listener on each layer that does nothing, to tell what the layers pay
/// for having a listener from what an export pays for its instruments.
#[derive(Debug)]
pub(crate) struct EmptyListeners;

impl Observer for EmptyListeners {
    fn retry(&self, _layer: &str) -> Option<steadfast::observe::RetryListener> {
        Some(Arc::new(|_| {}))
    }

    fn breaker(&self, _layer: &str) -> Option<steadfast::observe::BreakerListener> {
        Some(Arc::new(|_| {}))
    }
}

/// A Prometheus recorder (not installed: listeners are made under `with_local_recorder`).
pub(crate) fn prometheus() -> PrometheusRecorder {
    PrometheusBuilder::new().build_recorder()
}

/// The stack exported to `recorder` through the `metrics` facade.
pub(crate) fn stack_prometheus(recorder: &PrometheusRecorder) -> Stack {
    metrics::with_local_recorder(recorder, || stack(Some(MetricsExport::new().shared())))
}

/// An OpenTelemetry SDK meter provider whose reader exports to memory (never collected while
/// timing).
pub(crate) fn otel_provider() -> SdkMeterProvider {
    SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(InMemoryMetricExporter::default()).build())
        .build()
}

/// The stack exported through `provider`'s meter.
pub(crate) fn stack_otel(provider: &SdkMeterProvider) -> Stack {
    stack(Some(OtelExport::new(&provider.meter("bench")).shared()))
}

/// The events the retry layer sends a listener for a request that succeeds on its first
/// attempt: the attempt's end and the request's end.
pub(crate) fn success_events(listener: &(dyn Fn(&RetryEvent<'_>) + Send + Sync)) {
    listener(&RetryEvent::AttemptFinished {
        attempt: 1,
        duration: Duration::from_micros(250),
        outcome: Outcome::Success,
    });
    listener(&RetryEvent::RequestFinished {
        attempts: 1,
        elapsed: Duration::from_micros(250),
        end: RequestEnd::Success,
    });
}

/// A retry listener from `observer`.
pub(crate) fn retry_listener(
    observer: &dyn Observer,
) -> Arc<dyn Fn(&RetryEvent<'_>) + Send + Sync> {
    observer.retry("bench").expect("a retry listener")
}
