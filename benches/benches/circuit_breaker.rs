//! The circuit breaker: the closed path (over a count window and over a time window) and a
//! rejection, each per call against a bare service, and the closed path with two threads
//! sharing one breaker.
//!
//! Services are built once, outside the timed loop; each iteration is one `poll_ready`, one
//! `call` and one poll of the response future with a no-op waker.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};

mod common;

use common::{
    breaker, breaker_time, call_now, call_result, per_call_with_threads, steadfast_breaker,
    steadfast_static_breaker, Bare,
};

fn single_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("circuit_breaker");
    let mut bare = Bare;
    group.bench_function("bare", |b| b.iter(|| call_now(&mut bare, black_box(7))));

    let closed = breaker();
    let mut svc = steadfast_breaker(&closed);
    group.bench_function("steadfast_closed", |b| {
        b.iter(|| call_now(&mut svc, black_box(7)))
    });

    let timed = breaker_time();
    let mut time_svc = steadfast_breaker(&timed);
    group.bench_function("steadfast_closed_time_window", |b| {
        b.iter(|| call_now(&mut time_svc, black_box(7)))
    });

    let mut static_svc = steadfast_static_breaker();
    group.bench_function("steadfast_closed_static", |b| {
        b.iter(|| call_now(&mut static_svc, black_box(7)))
    });

    let open = breaker();
    open.force_open();
    let mut rejecting = steadfast_breaker(&open);
    assert!(
        call_result(&mut rejecting, 7).is_err(),
        "the breaker rejects"
    );
    group.bench_function("steadfast_rejected", |b| {
        b.iter(|| call_result(&mut rejecting, black_box(7)).unwrap_err())
    });
    group.finish();
}

fn contention(c: &mut Criterion) {
    let mut group = c.benchmark_group("circuit_breaker_contention");
    let shared = breaker();
    for threads in [1, 2] {
        group.bench_function(format!("closed_{threads}_threads"), |b| {
            b.iter_custom(|iters| {
                per_call_with_threads(threads, iters, || steadfast_breaker(&shared))
            })
        });
        group.bench_function(format!("closed_static_{threads}_threads"), |b| {
            b.iter_custom(|iters| per_call_with_threads(threads, iters, steadfast_static_breaker))
        });
    }
    group.finish();
}

criterion_group!(benches, single_thread, contention);
criterion_main!(benches);
