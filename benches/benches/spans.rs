//! What the layers' `tracing` spans cost on the success path: each layer over the bare
//! service with no subscriber, with a subscriber whose filter keeps `info` and above (so it
//! records none of the layers' `debug` spans), and with one that records them all (a registry
//! with no filter: a span made, entered and closed per layer per call).
//!
//! Each iteration is one `poll_ready`, one `call` and one poll with a no-op waker (see
//! `common::call_now`). The subscribers are scoped to the benchmark that uses them, and the
//! no-subscriber rows run first, before any subscriber exists in the process.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use steadfast::cancel::CancelLayer;
use steadfast::circuit_breaker::CircuitBreakerLayer;
use steadfast::validate::ValidateLayer;
use tower::{Layer, Service};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

mod common;

use common::{breaker, call_now, steadfast_default, Bare};

/// Benchmarks `svc` as `name` under `subscriber` (none: no subscriber).
fn bench<S: Service<u64>>(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    svc: &mut S,
    subscriber: Option<tracing::Dispatch>,
) {
    let _guard = subscriber.map(|d| tracing::dispatcher::set_default(&d));
    group.bench_function(name, |b| b.iter(|| call_now(svc, black_box(7))));
}

fn layers(c: &mut Criterion) {
    let mut retry = steadfast_default();
    let mut breaker = CircuitBreakerLayer::new(breaker()).layer(Bare);
    let mut cancel = CancelLayer::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("valid layer")
        .layer(Bare);
    let mut validate = ValidateLayer::builder()
        .response_fn(|n: &u64, _| if *n > 0 { Ok(()) } else { Err("zero") })
        .build()
        .expect("valid layer")
        .layer(Bare);
    let info = || {
        Some(tracing::Dispatch::new(
            tracing_subscriber::registry().with(LevelFilter::INFO),
        ))
    };
    let all = || Some(tracing::Dispatch::new(tracing_subscriber::registry()));

    for (subscriber, make) in [
        (
            "no_subscriber",
            &(|| None) as &dyn Fn() -> Option<tracing::Dispatch>,
        ),
        ("info_filter", &info),
        ("recording", &all),
    ] {
        let mut group = c.benchmark_group(format!("spans_{subscriber}"));
        bench(&mut group, "bare", &mut Bare, make());
        bench(&mut group, "retry", &mut retry, make());
        bench(&mut group, "circuit_breaker", &mut breaker, make());
        bench(&mut group, "cancel_timeout", &mut cancel, make());
        bench(&mut group, "validate", &mut validate, make());
        group.finish();
    }
}

criterion_group!(benches, layers);
criterion_main!(benches);
