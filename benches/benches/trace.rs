//! The decision trace's cost per call on `http::Request`: a bare service, the same service
//! behind a `TraceLayer` that starts no trace (how it sits in a stack that only hands back the
//! traces callers ask for), behind one that samples 1 request in a million (the sampling
//! counter on every call), and behind one that traces every request (a trace made, carried on
//! the request and handed back on the response).
//!
//! Calls are driven with a no-op waker, as in the other benches; the bare service answers at
//! once.

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use steadfast::trace::TraceLayer;
use tower::{service_fn, Layer, Service};

mod common;

use common::call_result;

type Bare = tower::util::ServiceFn<
    fn(http::Request<u64>) -> Ready<Result<http::Response<u64>, Infallible>>,
>;

fn bare() -> Bare {
    fn answer(req: http::Request<u64>) -> Ready<Result<http::Response<u64>, Infallible>> {
        ready(Ok(http::Response::new(req.into_body().wrapping_add(1))))
    }
    service_fn(answer as fn(_) -> _)
}

fn call<S>(svc: &mut S, n: u64) -> http::Response<u64>
where
    S: Service<http::Request<u64>, Response = http::Response<u64>>,
{
    match call_result(svc, http::Request::new(n)) {
        Ok(res) => res,
        Err(_) => panic!("the call failed"),
    }
}

fn trace(c: &mut Criterion) {
    let mut group = c.benchmark_group("trace");
    let mut plain = bare();
    group.bench_function("bare", |b| b.iter(|| call(&mut plain, black_box(7))));
    let mut off = TraceLayer::new().layer(bare());
    group.bench_function("steadfast_no_trace", |b| {
        b.iter(|| call(&mut off, black_box(7)))
    });
    let mut sampled_out = TraceLayer::sample(1_000_000)
        .expect("valid layer")
        .layer(bare());
    call(&mut sampled_out, 0); // the first request of a sample is traced; time the others
    group.bench_function("steadfast_sampled_out", |b| {
        b.iter(|| call(&mut sampled_out, black_box(7)))
    });
    let mut every = TraceLayer::sample(1).expect("valid layer").layer(bare());
    group.bench_function("steadfast_every_request", |b| {
        b.iter(|| call(&mut every, black_box(7)))
    });
    group.finish();
}

criterion_group!(benches, trace);
criterion_main!(benches);
