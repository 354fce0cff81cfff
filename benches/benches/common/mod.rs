//! The harness the benchmark targets share: the bare service, the contenders built around
//! it, and `call_now`, which drives one call to completion without a runtime.

// Each benchmark target compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::future::{self, Future, Ready};
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use steadfast::retry::{RatioBudget, Retry, RetryLayer, RetryMetrics, RetryPolicy};
use tower::{Layer, Service};

/// The bare service: every call is ready at once and answers `Ok(req + 1)`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Bare;

impl Service<u64> for Bare {
    type Response = u64;
    type Error = io::Error;
    type Future = Ready<Result<u64, io::Error>>;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, req: u64) -> Self::Future {
        future::ready(Ok(req.wrapping_add(1)))
    }
}

/// The smallest useful `tower::retry::Policy`: retry on any `Err`, at once, forever; copy
/// the request with `Clone`. On the success path it only answers "no retry".
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RetryOnErr;

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for RetryOnErr {
    type Future = Ready<()>;

    fn retry(&mut self, _req: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        match result {
            Ok(_) => None,
            Err(_) => Some(future::ready(())),
        }
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// (b) `tower::retry::Retry` around the bare service.
pub(crate) fn tower_retry() -> tower::retry::Retry<RetryOnErr, Bare> {
    tower::retry::RetryLayer::new(RetryOnErr).layer(Bare)
}

/// (c) steadfast's retry layer with the default policy.
pub(crate) fn steadfast_default() -> Retry<Bare> {
    RetryLayer::new(RetryPolicy::default()).layer(Bare)
}

/// (c') steadfast's retry layer with the default policy held as `&'static`: the future
/// carries a pointer instead of a copy of the settings.
pub(crate) fn steadfast_static() -> Retry<Bare, &'static RetryPolicy> {
    static POLICY: std::sync::LazyLock<RetryPolicy> =
        std::sync::LazyLock::new(RetryPolicy::default);
    RetryLayer::new(&*POLICY).layer(Bare)
}

/// (d) steadfast's retry layer with the opt-in extras: a `RatioBudget` (default settings)
/// and `RetryMetrics` counters.
pub(crate) fn steadfast_budget_metrics() -> Retry<Bare> {
    let budget = RatioBudget::builder()
        .build()
        .expect("the default ratio budget is valid");
    let policy = RetryPolicy::builder()
        .budget(Arc::new(budget))
        .metrics(Arc::new(RetryMetrics::default()))
        .build()
        .expect("a policy with a budget and metrics is valid");
    RetryLayer::new(policy).layer(Bare)
}

/// One call, start to finish, with no runtime: `poll_ready`, `call`, then one poll of the
/// response future with a waker that does nothing.
///
/// Every contender is ready at once and answers on the first poll. If one ever returns
/// `Pending` (or an error), this panics rather than let a benchmark time something other
/// than a completed successful call.
#[inline]
pub(crate) fn call_now<S: Service<u64>>(svc: &mut S, req: u64) -> S::Response {
    match call_result(svc, req) {
        Ok(res) => res,
        Err(_) => panic!("the call failed"),
    }
}

/// Like [`call_now`], but returns the call's result (for paths that fail on purpose).
#[inline]
pub(crate) fn call_result<Req, S: Service<Req>>(
    svc: &mut S,
    req: Req,
) -> Result<S::Response, S::Error> {
    let mut cx = Context::from_waker(Waker::noop());
    match svc.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(_)) => panic!("poll_ready failed"),
        Poll::Pending => panic!("poll_ready returned Pending"),
    }
    let fut = pin!(svc.call(req));
    match fut.poll(&mut cx) {
        Poll::Ready(r) => r,
        Poll::Pending => panic!("the response future returned Pending"),
    }
}

/// A breaker with the settings most users start from: failure rate over the last 100 calls.
pub(crate) fn breaker() -> steadfast::circuit_breaker::CircuitBreaker {
    steadfast::circuit_breaker::CircuitBreaker::builder()
        .failure_rate(50.0)
        .minimum_calls(100)
        .window(steadfast::circuit_breaker::SlidingWindow::count(100))
        .build()
        .expect("valid breaker")
}

/// `Bare` behind a breaker kept in a `static` and held as `&'static` (no reference count per
/// call).
pub(crate) fn steadfast_static_breaker() -> steadfast::circuit_breaker::CircuitBreakerService<
    Bare,
    steadfast::classify::AnyError,
    steadfast::circuit_breaker::NoFallback,
    &'static steadfast::circuit_breaker::CircuitBreaker,
> {
    static BREAKER: std::sync::LazyLock<steadfast::circuit_breaker::CircuitBreaker> =
        std::sync::LazyLock::new(breaker);
    steadfast::circuit_breaker::CircuitBreakerLayer::new(&*BREAKER).layer(Bare)
}

/// `Bare` behind steadfast's circuit breaker.
pub(crate) fn steadfast_breaker(
    b: &steadfast::circuit_breaker::CircuitBreaker,
) -> steadfast::circuit_breaker::CircuitBreakerService<Bare> {
    steadfast::circuit_breaker::CircuitBreakerLayer::new(b.clone()).layer(Bare)
}
