//! The circuit breaker: the closed path and a rejection, each per call against a bare
//! service, and the closed path with two threads sharing one breaker.
//!
//! Services are built once, outside the timed loop; each iteration is one `poll_ready`, one
//! `call` and one poll of the response future with a no-op waker.

// Wall-clock timing of threads is what this file measures, so it uses `std::time::Instant`,
// which library code may not.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

mod common;

use common::{breaker, call_now, call_result, steadfast_breaker, steadfast_static_breaker, Bare};

fn single_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("circuit_breaker");
    let mut bare = Bare;
    group.bench_function("bare", |b| b.iter(|| call_now(&mut bare, black_box(7))));

    let closed = breaker();
    let mut svc = steadfast_breaker(&closed);
    group.bench_function("steadfast_closed", |b| {
        b.iter(|| call_now(&mut svc, black_box(7)))
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

/// Time per call for each of `threads` threads hammering one shared breaker, each through its
/// own clone of a service made by `make`.
fn per_call_with_threads<S>(threads: usize, iters: u64, make: impl Fn() -> S + Sync) -> Duration
where
    S: tower::Service<u64> + Send,
{
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let mut svc = make();
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    for i in 0..iters {
                        black_box(call_result(&mut svc, black_box(i)).is_ok());
                    }
                    start.elapsed()
                })
            })
            .collect();
        // Each thread made `iters` calls; report the slowest thread's time for them.
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread"))
            .max()
            .unwrap_or_default()
    })
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
