//! The harness the benchmark targets share: the bare service, the contenders built around
//! it, and `call_now`, which drives one call to completion without a runtime.

// Each benchmark target compiles this module on its own and uses only part of it.
#![allow(dead_code)]

pub(crate) mod export;
pub(crate) mod hedge;
pub(crate) mod peers;

use std::future::{self, Future, Ready};
use std::hint::black_box;
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Waker};
#[allow(clippy::disallowed_types)]
use std::time::{Duration, Instant};

use steadfast::retry::{RatioBudget, Retry, RetryLayer, RetryMetrics, RetryPolicy};
use steadfast::token::{CancelToken, HasCancelToken};
use tower::{Layer, Service};

/// Implements `Service<u64>` for a benchmark service that is always ready and answers at
/// once: `$answer` computes the `Result<u64, io::Error>` from the service (`$svc`) and the
/// request (`$req`). Every such service has the same shape as [`Bare`], so their costs differ
/// only by what `$answer` does.
macro_rules! ready_service {
    ($name:ty, |$svc:ident, $req:ident| $answer:expr) => {
        impl Service<u64> for $name {
            type Response = u64;
            type Error = io::Error;
            type Future = Ready<Result<u64, io::Error>>;

            #[inline]
            fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
                Poll::Ready(Ok(()))
            }

            #[inline]
            fn call(&mut self, $req: u64) -> Self::Future {
                let $svc = self;
                future::ready($answer)
            }
        }
    };
}

/// The bare service: every call is ready at once and answers `Ok(req + 1)`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Bare;

ready_service!(Bare, |_svc, req| Ok(req.wrapping_add(1)));

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

/// Time per call of each of `threads` threads making `iters` calls each through its own
/// service from `make` (a clone of one shared service), all started together behind a barrier;
/// the slowest thread's time is returned, so equal figures for one and two threads mean
/// throughput doubles. A call that finds a lock held polls again (`call_spin`).
// Wall-clock time of real threads: tokio's clock (which the lint asks for) is for tests that
// pause it.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
pub(crate) fn per_call_with_threads<S>(threads: usize, iters: u64, make: impl Fn() -> S) -> Duration
where
    S: Service<u64> + Send,
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
                        black_box(call_spin(&mut svc, black_box(i)).is_ok());
                    }
                    start.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread"))
            .max()
            .unwrap_or_default()
    })
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

/// The breaker of the time-window benchmarks: [`breaker`]'s rule over the calls of the last
/// 10 s, in ten buckets.
pub(crate) fn breaker_time() -> steadfast::circuit_breaker::CircuitBreaker {
    steadfast::circuit_breaker::CircuitBreaker::builder()
        .failure_rate(50.0)
        .minimum_calls(100)
        .window(steadfast::circuit_breaker::SlidingWindow::time(
            std::time::Duration::from_secs(10),
        ))
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

/// Like [`call_result`], but a `Pending` readiness or response is polled again after
/// yielding the thread, instead of being an error: for services that may wait on a lock
/// another thread holds (yielding lets that thread run if it shares the core).
#[inline]
pub(crate) fn call_spin<Req, S: Service<Req>>(
    svc: &mut S,
    req: Req,
) -> Result<S::Response, S::Error> {
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        match svc.poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => break,
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Pending => std::thread::yield_now(),
        }
    }
    let mut fut = pin!(svc.call(req));
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(r) => return r,
            Poll::Pending => std::thread::yield_now(),
        }
    }
}

/// A current-thread tokio runtime with timers: the timeouts, the peers' clocks and the
/// retry layers' sleeps need one to exist (entered) even when nothing waits.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

/// The request that trips a breaker: [`FailOn`] fails it.
pub(crate) const TRIP: u64 = u64::MAX;

/// An error that does not allocate (no payload), so that an error path's allocations are
/// the layer's own.
pub(crate) fn plain_error() -> io::Error {
    io::Error::from(io::ErrorKind::ConnectionRefused)
}

/// Like [`Bare`], but fails the request [`TRIP`]: used to trip breakers without a shared
/// switch.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FailOn;

ready_service!(FailOn, |_svc, req| if req == TRIP {
    Err(plain_error())
} else {
    Ok(req.wrapping_add(1))
});

/// Fails every other call, starting with the first: behind a retry layer, each request fails
/// once and succeeds on its retry. Clones share the switch.
#[derive(Debug, Clone, Default)]
pub(crate) struct Flaky {
    next_ok: Arc<AtomicBool>,
}

ready_service!(
    Flaky,
    |svc, req| if svc.next_ok.fetch_xor(true, Ordering::Relaxed) {
        Ok(req.wrapping_add(1))
    } else {
        Err(plain_error())
    }
);

/// A request that carries a cancellation token without an extensions map: what the retry
/// layer reads to stop sleeping when the token fires.
#[derive(Debug, Clone)]
pub(crate) struct TokenReq {
    pub(crate) n: u64,
    pub(crate) token: CancelToken,
}

impl HasCancelToken for TokenReq {
    fn cancel_token(&self) -> Option<&CancelToken> {
        Some(&self.token)
    }

    fn can_carry_cancel_token(&self) -> bool {
        true
    }

    fn set_cancel_token(&mut self, token: CancelToken) -> Result<(), CancelToken> {
        self.token = token;
        Ok(())
    }
}

/// Fails every call at once.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AlwaysFail;

impl<Req> Service<Req> for AlwaysFail {
    type Response = u64;
    type Error = io::Error;
    type Future = Ready<Result<u64, io::Error>>;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, _req: Req) -> Self::Future {
        future::ready(Err(plain_error()))
    }
}

/// A request whose first attempt fails while its retry layer is set to wait before the next:
/// polls once (the layer is then asleep), fires the request's token, and polls again, which
/// must end the request with an error. Needs an entered tokio runtime (the sleep's timer).
pub(crate) fn cancel_mid_backoff<S>(svc: &mut S, req: TokenReq) -> S::Error
where
    S: Service<TokenReq>,
{
    let token = req.token.clone();
    let mut cx = Context::from_waker(Waker::noop());
    assert!(svc.poll_ready(&mut cx).is_ready());
    let mut fut = pin!(svc.call(req));
    assert!(
        fut.as_mut().poll(&mut cx).is_pending(),
        "asleep after the failure"
    );
    token.cancel();
    match fut.poll(&mut cx) {
        Poll::Ready(Err(e)) => e,
        _ => panic!("the cancelled request ends at once with an error"),
    }
}

/// Like [`cancel_mid_backoff`], but the caller drops the request while the layer sleeps.
/// Returns whether the layer was asleep (it must be).
pub(crate) fn drop_mid_backoff<S>(svc: &mut S, req: TokenReq) -> bool
where
    S: Service<TokenReq>,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(svc.poll_ready(&mut cx).is_ready());
    let mut fut = pin!(svc.call(req));
    fut.as_mut().poll(&mut cx).is_pending()
}

/// One request driven to its end by the current-thread runtime's `block_on` (for layers that
/// wait on the runtime's timer even for a zero delay). `None` if it failed.
pub(crate) fn call_blocking<S>(
    rt: &tokio::runtime::Runtime,
    svc: &mut S,
    req: u64,
) -> Option<S::Response>
where
    S: Service<u64>,
{
    use tower::ServiceExt;
    rt.block_on(async {
        match svc.ready().await {
            Ok(svc) => svc.call(req).await.ok(),
            Err(_) => None,
        }
    })
}

/// Two calls to `svc` driven by `block_on`, the first of which must fail: the baseline of a
/// request that is retried once.
pub(crate) fn two_calls_blocking<S>(
    rt: &tokio::runtime::Runtime,
    svc: &mut S,
    req: u64,
) -> Option<S::Response>
where
    S: Service<u64>,
    S::Error: std::fmt::Debug,
{
    use tower::ServiceExt;
    rt.block_on(async {
        let first = svc.ready().await.ok()?.call(req).await;
        assert!(first.is_err(), "the first call fails");
        svc.ready().await.ok()?.call(req).await.ok()
    })
}

/// A fresh request with a fresh token, as a caller would make it.
pub(crate) fn token_request() -> TokenReq {
    TokenReq {
        n: 7,
        token: CancelToken::new(),
    }
}

/// The chaos layer around the bare service with its switch off: a fault at every request
/// would be injected if it were on.
pub(crate) fn chaos_off() -> steadfast::chaos::Chaos<Bare, u64, u64> {
    steadfast::chaos::ChaosLayer::builder()
        .switch(steadfast::chaos::ChaosSwitch::new(false))
        .fault(steadfast::chaos::FaultInjection::chaos())
        .build()
        .expect("valid layer")
        .layer(Bare)
}
