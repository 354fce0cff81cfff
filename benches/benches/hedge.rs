//! Time per call on the hedge layers' success path (the answer arrives before any hedge is
//! due): a bare service, tower's `hedge`, and steadfast's hedge layer without a budget (it
//! never hedges), with a fixed delay and with a percentile delay (which records every winning
//! latency, as tower's records every latency).
//!
//! Calls are driven with a no-op waker, inside an entered tokio runtime (tower's hedge makes a
//! timer per call); see `common::call_now`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};

mod common;

use common::hedge::{steadfast_fixed, steadfast_no_budget, steadfast_percentile, tower_hedge};
use common::{call_now, runtime, Bare};

fn success_path(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();
    let mut bare = Bare;
    let mut tower = tower_hedge();
    let mut no_budget = steadfast_no_budget();
    let mut fixed = steadfast_fixed();
    let mut percentile = steadfast_percentile();

    let mut group = c.benchmark_group("hedge_success");
    group.bench_function("bare", |b| b.iter(|| call_now(&mut bare, black_box(7))));
    group.bench_function("tower_hedge", |b| {
        b.iter(|| call_now(&mut tower, black_box(7)))
    });
    group.bench_function("steadfast_no_budget", |b| {
        b.iter(|| call_now(&mut no_budget, black_box(7)))
    });
    group.bench_function("steadfast_fixed_delay", |b| {
        b.iter(|| call_now(&mut fixed, black_box(7)))
    });
    group.bench_function("steadfast_percentile_delay", |b| {
        b.iter(|| call_now(&mut percentile, black_box(7)))
    });
    group.finish();
}

criterion_group!(benches, success_path);
criterion_main!(benches);
