//! steadfast against the other resilience crates for tower, layer by layer: the success path
//! of each retry layer, circuit breaker and timeout and of a full stack; two threads sharing
//! one breaker or one retry budget; and the failure paths (a rejection by an open breaker, one
//! retry, a request cancelled or dropped while it waits to retry).
//!
//! Services are built once, outside the timed loop, with the settings in `common::peers`.
//! Success-path and rejection iterations are one `poll_ready`, one `call` and one poll of the
//! response future with a no-op waker (`common::call_now`), inside an entered tokio runtime
//! (timeouts and clocks need one to exist). Method and results: `docs/benchmarks.md`.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
use steadfast::retry::{RatioBudget, RetryError, StopReason, TokenBucket};
use tower::{Layer, Service};

mod common;

use common::peers::{self, Delay, LONG_DELAY, OPEN_FOR};
use common::{
    breaker, call_blocking, call_now, call_result, cancel_mid_backoff, drop_mid_backoff,
    per_call_with_threads, runtime, steadfast_breaker, steadfast_default, steadfast_static,
    steadfast_static_breaker, token_request, tower_retry, two_calls_blocking, AlwaysFail, Bare,
    FailOn, Flaky, TokenReq, TRIP,
};

/// Adds a success-path benchmark of `svc` (a fresh request each iteration, the same for every
/// contender) to `group`.
fn success<S>(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, name: &str, svc: S)
where
    S: Service<u64, Response = u64>,
{
    let mut svc = svc;
    // Every contender answers at once and correctly before it is timed.
    assert_eq!(call_now(&mut svc, 7), 8, "{name} answers");
    group.bench_function(name, |b| b.iter(|| call_now(&mut svc, black_box(7))));
}

fn retry(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();
    let ctx = peers::seatbelt_context();
    let mut group = c.benchmark_group("peers_retry");
    success(&mut group, "bare", Bare);
    success(&mut group, "tower_retry", tower_retry());
    success(
        &mut group,
        "tower_retry_default_like",
        peers::tower_retry_default_like(Bare),
    );
    success(&mut group, "steadfast", steadfast_default());
    success(&mut group, "steadfast_static", steadfast_static());
    success(
        &mut group,
        "tower_resilience",
        peers::tr_retry::<u64, std::io::Error, _>(Bare, Delay::Exponential),
    );
    success(
        &mut group,
        "seatbelt",
        peers::seatbelt_retry(&ctx, Bare, Delay::Exponential),
    );
    group.finish();
}

fn circuit_breaker(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();
    let ctx = peers::seatbelt_context();
    let owned = breaker();
    let mut group = c.benchmark_group("peers_breaker");
    success(&mut group, "bare", Bare);
    success(&mut group, "steadfast", steadfast_breaker(&owned));
    success(&mut group, "steadfast_static", steadfast_static_breaker());
    success(&mut group, "tower_resilience", peers::tr_breaker(Bare));
    success(
        &mut group,
        "seatbelt",
        peers::seatbelt_breaker(&ctx, Bare, Duration::from_secs(5)),
    );
    success(&mut group, "failsafe", peers::failsafe_breaker(Bare));
    group.finish();
}

fn timeout(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();
    let ctx = peers::seatbelt_context();
    let mut group = c.benchmark_group("peers_timeout");
    success(&mut group, "bare", Bare);
    success(&mut group, "tower_timeout", peers::tower_timeout(Bare));
    success(&mut group, "steadfast", peers::steadfast_timeout(Bare));
    success(
        &mut group,
        "steadfast_no_timeout",
        steadfast::cancel::CancelLayer::new().layer(Bare),
    );
    success(&mut group, "tower_resilience", peers::tr_timelimiter(Bare));
    success(&mut group, "seatbelt", peers::seatbelt_timeout(&ctx, Bare));
    group.finish();
}

fn stack(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();
    let ctx = peers::seatbelt_context();
    let owned = breaker();
    let mut group = c.benchmark_group("peers_stack");
    success(&mut group, "bare", Bare);
    success(&mut group, "steadfast", peers::steadfast_stack(&owned));
    success(
        &mut group,
        "steadfast_static",
        peers::steadfast_stack_static(),
    );
    success(&mut group, "tower", peers::tower_stack());
    success(&mut group, "tower_resilience", peers::tr_stack());
    success(&mut group, "seatbelt", peers::seatbelt_stack(&ctx));
    group.finish();
}

/// Adds the 1- and 2-thread benchmarks of a shared `svc` to `group`.
fn threads<S>(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, name: &str, svc: S)
where
    S: Service<u64> + Clone + Send,
{
    for n in [1, 2] {
        group.bench_function(format!("{name}_{n}_threads"), |b| {
            b.iter_custom(|iters| per_call_with_threads(n, iters, || svc.clone()))
        });
    }
}

fn contention(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();
    let ctx = peers::seatbelt_context();

    // `bare` is the control: it shares nothing, so its two-thread figure equals its
    // one-thread figure only when the machine really gave the run two idle cores.
    let mut group = c.benchmark_group("peers_breaker_contention");
    threads(&mut group, "bare", Bare);
    let owned = breaker();
    threads(&mut group, "steadfast", steadfast_breaker(&owned));
    threads(&mut group, "steadfast_static", steadfast_static_breaker());
    threads(&mut group, "tower_resilience", peers::tr_breaker(Bare));
    threads(
        &mut group,
        "seatbelt",
        peers::seatbelt_breaker(&ctx, Bare, Duration::from_secs(5)),
    );
    threads(&mut group, "failsafe", peers::failsafe_breaker(Bare));
    group.finish();

    let mut group = c.benchmark_group("peers_budget_contention");
    threads(&mut group, "bare", Bare);
    let ratio = RatioBudget::builder().build().expect("valid budget");
    threads(
        &mut group,
        "steadfast_ratio",
        peers::steadfast_retry_with_budget(Arc::new(ratio)),
    );
    let bucket = TokenBucket::builder().build().expect("valid budget");
    threads(
        &mut group,
        "steadfast_token_bucket",
        peers::steadfast_retry_with_budget(Arc::new(bucket)),
    );
    threads(
        &mut group,
        "steadfast_ratio_static",
        peers::steadfast_retry_static_ratio(),
    );
    threads(
        &mut group,
        "steadfast_token_bucket_static",
        peers::steadfast_retry_static_bucket(),
    );
    threads(
        &mut group,
        "tower_tps_budget",
        peers::tower_retry_with_budget(),
    );
    let tr_bucket = tower_resilience_retry::RetryBudgetBuilder::new()
        .token_bucket()
        .build()
        .expect("valid budget");
    threads(
        &mut group,
        "tower_resilience_token_bucket",
        peers::tr_retry_with_budget(tr_bucket),
    );
    let tr_aimd = tower_resilience_retry::RetryBudgetBuilder::new()
        .aimd()
        .build()
        .expect("valid budget");
    threads(
        &mut group,
        "tower_resilience_aimd",
        peers::tr_retry_with_budget(tr_aimd),
    );
    group.finish();
}

/// Polls `fut` once with a no-op waker; it must be ready.
fn now<F: Future>(fut: F) -> F::Output {
    match pin!(fut).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the future is not ready at once"),
    }
}

/// Adds a benchmark of a rejected call to `group`, after checking that `svc` rejects.
fn rejected<S>(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, name: &str, svc: S)
where
    S: Service<u64>,
{
    let mut svc = svc;
    assert!(call_result(&mut svc, 7).is_err(), "{name} rejects");
    group.bench_function(name, |b| {
        b.iter(|| black_box(call_result(&mut svc, black_box(7)).is_err()))
    });
}

/// Makes `n` calls that fail, to trip a breaker.
fn trip<S: Service<u64>>(svc: &mut S, n: usize) {
    for _ in 0..n {
        let _ = call_result(svc, TRIP);
    }
}

fn failure_paths(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();
    let ctx = peers::seatbelt_context();

    // A rejection by an open breaker. Each contender is opened its own way (forced where the
    // crate can force it, tripped by failures otherwise) and left open for the whole run.
    let mut group = c.benchmark_group("peers_rejected");
    let open = breaker();
    open.force_open();
    rejected(
        &mut group,
        "steadfast",
        CircuitBreakerLayer::new(open.clone()).layer(FailOn),
    );
    static OPEN: LazyLock<CircuitBreaker> = LazyLock::new(|| {
        let b = breaker();
        b.force_open();
        b
    });
    rejected(
        &mut group,
        "steadfast_static",
        CircuitBreakerLayer::new(&*OPEN).layer(FailOn),
    );
    let tr = peers::tr_breaker(FailOn);
    now(tr.force_open());
    rejected(&mut group, "tower_resilience", tr);
    let mut sb = peers::seatbelt_breaker(&ctx, FailOn, OPEN_FOR);
    trip(&mut sb, 200);
    rejected(&mut group, "seatbelt", sb);
    let mut fs = peers::failsafe_breaker_tripwire(FailOn);
    trip(&mut fs, 1);
    rejected(&mut group, "failsafe", fs);
    group.finish();

    // One retry: the first attempt fails, the retry (no delay) succeeds. The tower-resilience
    // layer sleeps even for a zero delay, which needs the runtime's timer to turn, so every
    // contender here is driven by `block_on` of the current-thread runtime.
    let mut group = c.benchmark_group("peers_retry_once");
    let mut bare = Flaky::default();
    group.bench_function("bare_two_calls", |b| {
        b.iter(|| two_calls_blocking(&rt, &mut bare, black_box(7)).expect("succeeds"))
    });
    retry_once(
        &mut group,
        &rt,
        "tower_retry",
        tower::retry::RetryLayer::new(common::RetryOnErr).layer(Flaky::default()),
    );
    retry_once(
        &mut group,
        &rt,
        "steadfast",
        peers::steadfast_retry_fixed(Flaky::default(), Duration::ZERO),
    );
    retry_once(
        &mut group,
        &rt,
        "tower_resilience",
        peers::tr_retry::<u64, std::io::Error, _>(Flaky::default(), Delay::Fixed(Duration::ZERO)),
    );
    retry_once(
        &mut group,
        &rt,
        "seatbelt",
        peers::seatbelt_retry(&ctx, Flaky::default(), Delay::Fixed(Duration::ZERO)),
    );
    group.finish();

    mid_backoff(c);
}

/// Adds a benchmark of one request that fails once and succeeds on its retry.
fn retry_once<S>(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &tokio::runtime::Runtime,
    name: &str,
    svc: S,
) where
    S: Service<u64, Response = u64>,
{
    let mut svc = svc;
    assert_eq!(
        call_blocking(rt, &mut svc, 7),
        Some(8),
        "{name} retries once and succeeds"
    );
    group.bench_function(name, |b| {
        b.iter(|| call_blocking(rt, &mut svc, black_box(7)).expect("succeeds"))
    });
}

/// A request whose first attempt fails, so that the retry layer goes to sleep for
/// `LONG_DELAY`; then either its token fires (steadfast) or the caller drops it (every
/// contender). The whole round trip is timed: call, failure, scheduling the backoff and its
/// timer, the wake-up or the drop.
fn mid_backoff(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();
    let mut group = c.benchmark_group("peers_cancel_mid_backoff");

    let mut bare = AlwaysFail;
    group.bench_function("bare_failed_call", |b| {
        b.iter(|| call_result(&mut bare, black_box(token_request())).is_err())
    });

    // steadfast: the token fires while the layer sleeps, and the layer answers at once.
    let mut svc = peers::steadfast_retry_fixed(AlwaysFail, LONG_DELAY);
    let err = cancel_mid_backoff(&mut svc, token_request());
    let err = err.downcast_ref::<RetryError>().expect("a RetryError");
    assert!(matches!(err.reason(), StopReason::Cancelled(_)));
    assert_eq!(err.attempts(), 1);
    group.bench_function("steadfast_token_fires", |b| {
        b.iter(|| cancel_mid_backoff(&mut svc, black_box(token_request())))
    });

    dropped(
        &mut group,
        "steadfast_dropped",
        peers::steadfast_retry_fixed(AlwaysFail, LONG_DELAY),
    );
    dropped(
        &mut group,
        "tower_retry_dropped",
        peers::tower_retry_sleeping(AlwaysFail),
    );
    dropped(
        &mut group,
        "tower_resilience_dropped",
        peers::tr_retry::<TokenReq, std::io::Error, _>(AlwaysFail, Delay::Fixed(LONG_DELAY)),
    );
    let ctx = peers::seatbelt_context::<TokenReq>();
    dropped(
        &mut group,
        "seatbelt_dropped",
        peers::seatbelt_retry(&ctx, AlwaysFail, Delay::Fixed(LONG_DELAY)),
    );
    group.finish();
}

/// Adds a benchmark of a request dropped while its retry layer sleeps.
fn dropped<S>(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, name: &str, svc: S)
where
    S: Service<TokenReq>,
{
    let mut svc = svc;
    assert!(
        drop_mid_backoff(&mut svc, token_request()),
        "{name} sleeps after the first failure"
    );
    group.bench_function(name, |b| {
        b.iter(|| assert!(drop_mid_backoff(&mut svc, black_box(token_request()))))
    });
}

criterion_group!(
    benches,
    retry,
    circuit_breaker,
    timeout,
    stack,
    contention,
    failure_paths
);
criterion_main!(benches);
