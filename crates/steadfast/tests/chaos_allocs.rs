//! Heap allocations made by the chaos layer for a request it injects nothing into, counted by a
//! global allocator that is local to this test binary (on the test's own thread only).

#![cfg(feature = "chaos")]

use std::future::{ready, Future, Ready};
use std::io;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use steadfast::chaos::{ChaosLayer, ChaosSwitch, FaultInjection, LatencyInjection};
use tower::{Layer, Service};

use steadfast_test::alloc::{allocations_in, CountingAllocator};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Always ready, answers `n + 1` at once, allocates nothing.
#[derive(Clone, Copy)]
struct Plus1;

impl Service<u64> for Plus1 {
    type Response = u64;
    type Error = io::Error;
    type Future = Ready<Result<u64, io::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, n: u64) -> Self::Future {
        ready(Ok(n + 1))
    }
}

/// `poll_ready`, `call` and one poll of the response future, which must answer at once.
fn call<S: Service<u64, Response = u64>>(svc: &mut S, n: u64) -> Option<u64> {
    let mut cx = Context::from_waker(Waker::noop());
    match svc.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        _ => return None,
    }
    match pin!(svc.call(n)).poll(&mut cx) {
        Poll::Ready(Ok(v)) => Some(v),
        _ => None,
    }
}

/// Allocations over 100 calls of `svc`, after one call to warm up; every call must answer
/// `n + 1`.
fn allocations_per_100_calls<S: Service<u64, Response = u64>>(svc: &mut S) -> u64 {
    assert_eq!(call(svc, 0), Some(1));
    allocations_in(|| {
        for n in 0..100 {
            assert_eq!(call(svc, n), Some(n + 1));
        }
    })
}

#[test]
fn a_switched_off_layer_allocates_nothing() {
    // Every injection would fire if the switch were on.
    let mut svc = ChaosLayer::builder()
        .switch(ChaosSwitch::new(false))
        .seed(1)
        .latency(LatencyInjection::fixed(std::time::Duration::from_secs(1)))
        .fault(FaultInjection::chaos())
        .build()
        .unwrap()
        .layer(Plus1);
    assert_eq!(allocations_per_100_calls(&mut svc), 0);
}

#[test]
fn a_switched_on_layer_that_injects_nothing_allocates_nothing() {
    let mut svc = ChaosLayer::builder()
        .seed(1)
        .latency(LatencyInjection::fixed(std::time::Duration::from_secs(1)).rate(0.0))
        .fault(FaultInjection::chaos().rate(0.0))
        .build()
        .unwrap()
        .layer(Plus1);
    assert_eq!(allocations_per_100_calls(&mut svc), 0);

    // The same layer with requests its predicate turns away.
    let mut svc = ChaosLayer::builder()
        .seed(1)
        .when(|n: &u64| *n == u64::MAX)
        .fault(FaultInjection::chaos())
        .build()
        .unwrap()
        .layer(Plus1);
    assert_eq!(allocations_per_100_calls(&mut svc), 0);
}
