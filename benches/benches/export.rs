//! What the metrics exports cost a call: the retry + breaker stack with no listener, with a
//! listener on each layer that does nothing, and with each layer watched by `MetricsExport`
//! (over `metrics`' no-op recorder, and over the Prometheus recorder) or by `OtelExport` (over
//! the OpenTelemetry SDK's meter provider), given to the builders' `observe`.
//!
//! The `retry_events` group times the two events the retry layer sends a listener for a
//! request that succeeds at once (the attempt's end and the request's end), given to each
//! export's retry listener directly.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};

mod common;

use common::call_now;
use common::export::{
    otel_provider, prometheus, retry_listener, stack, stack_otel, stack_prometheus, success_events,
    EmptyListeners,
};
use opentelemetry::metrics::MeterProvider as _;
use steadfast::export::{MetricsExport, OtelExport};

fn stacks(c: &mut Criterion) {
    let mut none = stack(None);
    let mut empty = stack(Some(std::sync::Arc::new(EmptyListeners)));
    // No recorder is installed: the facade's handles are no-ops.
    let mut noop = stack(Some(MetricsExport::new().shared()));
    let recorder = prometheus();
    let mut prom = stack_prometheus(&recorder);
    let provider = otel_provider();
    let mut otel = stack_otel(&provider);
    for svc in [&mut none, &mut empty, &mut noop, &mut prom, &mut otel] {
        assert_eq!(call_now(svc, 7), 8);
    }
    // The export really is on: the call above shows in the scrape.
    assert!(recorder
        .handle()
        .render()
        .contains("steadfast_circuit_breaker_calls{steadfast_layer=\"bench\",steadfast_outcome=\"success\"} 1"));

    let mut group = c.benchmark_group("export_stack");
    group.bench_function("no_export", |b| {
        b.iter(|| call_now(&mut none, black_box(7)))
    });
    group.bench_function("empty_listeners", |b| {
        b.iter(|| call_now(&mut empty, black_box(7)))
    });
    group.bench_function("metrics_noop_recorder", |b| {
        b.iter(|| call_now(&mut noop, black_box(7)))
    });
    group.bench_function("metrics_prometheus", |b| {
        b.iter(|| call_now(&mut prom, black_box(7)))
    });
    group.bench_function("opentelemetry_sdk", |b| {
        b.iter(|| call_now(&mut otel, black_box(7)))
    });
    group.finish();
}

fn retry_events(c: &mut Criterion) {
    let noop = retry_listener(&MetricsExport::new());
    let recorder = prometheus();
    let prom = metrics::with_local_recorder(&recorder, || retry_listener(&MetricsExport::new()));
    let provider = otel_provider();
    let otel = retry_listener(&OtelExport::new(&provider.meter("bench")));

    let mut group = c.benchmark_group("export_retry_events");
    group.bench_function("metrics_noop_recorder", |b| {
        b.iter(|| success_events(&*noop))
    });
    group.bench_function("metrics_prometheus", |b| b.iter(|| success_events(&*prom)));
    group.bench_function("opentelemetry_sdk", |b| b.iter(|| success_events(&*otel)));
    group.finish();
}

criterion_group!(benches, stacks, retry_events);
criterion_main!(benches);
