//! Time per call on the success path: a bare service, `tower::retry`, and steadfast's retry
//! layer with its default policy and with a budget and metrics attached.
//!
//! Services are built once, outside the timed loop; each iteration is one `poll_ready`, one
//! `call` and one poll of the response future with a no-op waker (see `common::call_now`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};

mod common;

use common::{
    call_now, steadfast_budget_metrics, steadfast_default, steadfast_static, tower_retry, Bare,
};

fn success_path(c: &mut Criterion) {
    let mut bare = Bare;
    let mut tower = tower_retry();
    let mut default = steadfast_default();
    let mut static_policy = steadfast_static();
    let mut extras = steadfast_budget_metrics();

    // The extras really are on: one call is counted by the metrics.
    call_now(&mut extras, 7);
    let metrics = extras.policy().metrics().expect("the policy has metrics");
    assert_eq!(metrics.snapshot().requests, 1);

    let mut group = c.benchmark_group("retry_success");
    group.bench_function("bare", |b| b.iter(|| call_now(&mut bare, black_box(7))));
    group.bench_function("tower_retry", |b| {
        b.iter(|| call_now(&mut tower, black_box(7)))
    });
    group.bench_function("steadfast_default", |b| {
        b.iter(|| call_now(&mut default, black_box(7)))
    });
    group.bench_function("steadfast_static_policy", |b| {
        b.iter(|| call_now(&mut static_policy, black_box(7)))
    });
    group.bench_function("steadfast_budget_metrics", |b| {
        b.iter(|| call_now(&mut extras, black_box(7)))
    });
    group.finish();
}

criterion_group!(benches, success_path);
criterion_main!(benches);
