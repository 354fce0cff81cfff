//! Heap allocations per call: on the success path of every contender of `benches/peers.rs`
//! (and of the original retry and breaker benchmarks), and on its failure paths (a rejection,
//! one retry, a request cancelled or dropped while its retry layer sleeps).
//!
//! A counting global allocator (`steadfast_test::alloc`, counting this thread's allocations)
//! wraps the system allocator. Each contender is built, warmed
//! up, then driven through `CALLS` calls, each made exactly as the timing benchmark makes it
//! (see `common`); the table shows the allocations counted during those calls divided by
//! `CALLS`. Exits with status 1 if steadfast's retry layer (either policy form, with or
//! without budget and metrics), its hedge layer or its closed circuit breaker allocates on the
//! success path.

use std::hint::black_box;
use std::process;
use std::sync::LazyLock;
use std::time::Duration;

use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
use steadfast_test::alloc::{allocations_in, CountingAllocator};
use tower::{Layer, Service};

mod common;

use common::hedge;
use common::peers::{self, Delay, LONG_DELAY, OPEN_FOR};
use common::{
    breaker, call_blocking, call_now, call_result, cancel_mid_backoff, drop_mid_backoff, runtime,
    steadfast_breaker, steadfast_budget_metrics, steadfast_default, steadfast_static,
    steadfast_static_breaker, token_request, tower_retry, two_calls_blocking, AlwaysFail, Bare,
    FailOn, Flaky, TokenReq, TRIP,
};

/// Calls per contender that are counted.
const CALLS: u64 = 10_000;
/// Calls per contender before counting starts (lazy statics, first-use setup).
const WARM_UP: u64 = 1_000;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Warms `one` up, then returns the allocations per call of `one` over `CALLS` calls.
fn per_call(mut one: impl FnMut(u64)) -> f64 {
    for i in 0..WARM_UP {
        one(i);
    }
    let counted = allocations_in(|| {
        for i in 0..CALLS {
            one(i);
        }
    });
    counted as f64 / CALLS as f64
}

/// Allocations per successful call of `svc`.
fn success<S: Service<u64>>(mut svc: S) -> f64 {
    per_call(|i| {
        black_box(call_now(&mut svc, black_box(i)));
    })
}

/// Allocations per rejected call of `svc`.
fn rejected<S: Service<u64>>(mut svc: S) -> f64 {
    assert!(call_result(&mut svc, 7).is_err(), "the breaker rejects");
    per_call(|i| {
        assert!(call_result(&mut svc, black_box(i)).is_err());
    })
}

/// Allocations per request of `svc` that fails once and succeeds on its retry, driven by
/// `block_on`.
fn retried<S: Service<u64, Response = u64>>(rt: &tokio::runtime::Runtime, mut svc: S) -> f64 {
    per_call(|i| {
        call_blocking(rt, &mut svc, i).expect("the retry succeeds");
    })
}

/// Allocations per request of `svc` dropped while its retry layer sleeps.
fn dropped<S: Service<TokenReq>>(mut svc: S) -> f64 {
    per_call(|_| {
        assert!(drop_mid_backoff(&mut svc, token_request()));
    })
}

/// Makes `n` calls that fail, to trip a breaker.
fn trip<S: Service<u64>>(svc: &mut S, n: usize) {
    for _ in 0..n {
        let _ = call_result(svc, TRIP);
    }
}

/// A row of the table.
struct Row {
    section: &'static str,
    name: &'static str,
    per_call: f64,
    /// Whether steadfast promises no allocation on this path.
    must_be_zero: bool,
}

fn main() {
    // The counter must see an allocation, or every zero below would mean nothing.
    assert!(
        allocations_in(|| drop(black_box(Box::new(black_box(0_u64))))) > 0,
        "the counting allocator is not installed"
    );

    let rt = runtime();
    let _guard = rt.enter();
    let ctx = peers::seatbelt_context();
    let token_ctx = peers::seatbelt_context();
    let owned = breaker();

    let mut rows = Vec::new();
    let mut row = |section, name, per_call, must_be_zero| {
        rows.push(Row {
            section,
            name,
            per_call,
            must_be_zero,
        })
    };

    const RETRY: &str = "retry, success";
    row(RETRY, "bare", success(Bare), false);
    row(RETRY, "tower::retry", success(tower_retry()), false);
    row(
        RETRY,
        "tower::retry, policy like steadfast's default",
        success(peers::tower_retry_default_like(Bare)),
        false,
    );
    row(
        RETRY,
        "steadfast, default policy",
        success(steadfast_default()),
        true,
    );
    row(
        RETRY,
        "steadfast, &'static policy",
        success(steadfast_static()),
        true,
    );
    row(
        RETRY,
        "steadfast, budget + metrics",
        success(steadfast_budget_metrics()),
        true,
    );
    row(
        RETRY,
        "tower-resilience",
        success(peers::tr_retry::<u64, std::io::Error, _>(
            Bare,
            Delay::Exponential,
        )),
        false,
    );
    row(
        RETRY,
        "seatbelt",
        success(peers::seatbelt_retry(&ctx, Bare, Delay::Exponential)),
        false,
    );

    const HEDGE: &str = "hedge, success before any hedge is due";
    row(HEDGE, "tower::hedge", success(hedge::tower_hedge()), false);
    row(
        HEDGE,
        "steadfast, no budget",
        success(hedge::steadfast_no_budget()),
        true,
    );
    row(
        HEDGE,
        "steadfast, fixed delay",
        success(hedge::steadfast_fixed()),
        true,
    );
    row(
        HEDGE,
        "steadfast, percentile delay",
        success(hedge::steadfast_percentile()),
        true,
    );

    const BUDGET: &str = "retry with a shared budget, success";
    let ratio = steadfast::retry::RatioBudget::builder()
        .build()
        .expect("valid budget");
    row(
        BUDGET,
        "steadfast, RatioBudget",
        success(peers::steadfast_retry_with_budget(std::sync::Arc::new(
            ratio,
        ))),
        true,
    );
    let bucket = steadfast::retry::TokenBucket::builder()
        .build()
        .expect("valid budget");
    row(
        BUDGET,
        "steadfast, TokenBucket",
        success(peers::steadfast_retry_with_budget(std::sync::Arc::new(
            bucket,
        ))),
        true,
    );
    row(
        BUDGET,
        "steadfast, RatioBudget, &'static policy",
        success(peers::steadfast_retry_static_ratio()),
        true,
    );
    row(
        BUDGET,
        "tower::retry, TpsBudget",
        success(peers::tower_retry_with_budget()),
        false,
    );
    let tr_bucket = tower_resilience_retry::RetryBudgetBuilder::new()
        .token_bucket()
        .build()
        .expect("valid budget");
    row(
        BUDGET,
        "tower-resilience, token bucket",
        success(peers::tr_retry_with_budget(tr_bucket)),
        false,
    );
    let tr_aimd = tower_resilience_retry::RetryBudgetBuilder::new()
        .aimd()
        .build()
        .expect("valid budget");
    row(
        BUDGET,
        "tower-resilience, AIMD",
        success(peers::tr_retry_with_budget(tr_aimd)),
        false,
    );

    const BREAKER: &str = "circuit breaker, closed";
    row(BREAKER, "bare", success(Bare), false);
    row(
        BREAKER,
        "steadfast",
        success(steadfast_breaker(&owned)),
        true,
    );
    row(
        BREAKER,
        "steadfast, &'static",
        success(steadfast_static_breaker()),
        true,
    );
    row(
        BREAKER,
        "tower-resilience",
        success(peers::tr_breaker(Bare)),
        false,
    );
    row(
        BREAKER,
        "seatbelt",
        success(peers::seatbelt_breaker(&ctx, Bare, Duration::from_secs(5))),
        false,
    );
    row(
        BREAKER,
        "failsafe",
        success(peers::failsafe_breaker(Bare)),
        false,
    );

    const TIMEOUT: &str = "timeout (30 s), success";
    row(TIMEOUT, "bare", success(Bare), false);
    row(
        TIMEOUT,
        "tower::timeout",
        success(peers::tower_timeout(Bare)),
        false,
    );
    row(
        TIMEOUT,
        "steadfast CancelLayer",
        success(peers::steadfast_timeout(Bare)),
        false,
    );
    row(
        TIMEOUT,
        "steadfast CancelLayer, no timeout",
        success(steadfast::cancel::CancelLayer::new().layer(Bare)),
        false,
    );
    row(
        TIMEOUT,
        "tower-resilience",
        success(peers::tr_timelimiter(Bare)),
        false,
    );
    row(
        TIMEOUT,
        "seatbelt",
        success(peers::seatbelt_timeout(&ctx, Bare)),
        false,
    );

    const STACK: &str = "full stack, success";
    row(STACK, "bare", success(Bare), false);
    row(
        STACK,
        "steadfast",
        success(peers::steadfast_stack(&owned)),
        false,
    );
    row(
        STACK,
        "steadfast, &'static",
        success(peers::steadfast_stack_static()),
        false,
    );
    row(
        STACK,
        "tower (timeout, retry)",
        success(peers::tower_stack()),
        false,
    );
    row(STACK, "tower-resilience", success(peers::tr_stack()), false);
    row(
        STACK,
        "seatbelt",
        success(peers::seatbelt_stack(&ctx)),
        false,
    );

    const REJECTED: &str = "open breaker, rejection";
    let open = breaker();
    open.force_open();
    row(
        REJECTED,
        "steadfast",
        rejected(CircuitBreakerLayer::new(open.clone()).layer(FailOn)),
        false,
    );
    static OPEN: LazyLock<CircuitBreaker> = LazyLock::new(|| {
        let b = breaker();
        b.force_open();
        b
    });
    row(
        REJECTED,
        "steadfast, &'static",
        rejected(CircuitBreakerLayer::new(&*OPEN).layer(FailOn)),
        false,
    );
    let tr = peers::tr_breaker(FailOn);
    {
        let mut fut = std::pin::pin!(tr.force_open());
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(std::future::Future::poll(fut.as_mut(), &mut cx).is_ready());
    }
    row(REJECTED, "tower-resilience", rejected(tr), false);
    let mut sb = peers::seatbelt_breaker(&ctx, FailOn, OPEN_FOR);
    trip(&mut sb, 200);
    row(REJECTED, "seatbelt", rejected(sb), false);
    let mut fs = peers::failsafe_breaker_tripwire(FailOn);
    trip(&mut fs, 1);
    row(REJECTED, "failsafe", rejected(fs), false);

    const ONCE: &str = "one failure, one retry (block_on)";
    let mut bare = Flaky::default();
    row(
        ONCE,
        "bare, two calls",
        per_call(|i| {
            two_calls_blocking(&rt, &mut bare, i).expect("succeeds");
        }),
        false,
    );
    let t = tower::retry::RetryLayer::new(common::RetryOnErr).layer(Flaky::default());
    row(ONCE, "tower::retry", retried(&rt, t), false);
    let s = peers::steadfast_retry_fixed(Flaky::default(), Duration::ZERO);
    row(ONCE, "steadfast", retried(&rt, s), false);
    let r =
        peers::tr_retry::<u64, std::io::Error, _>(Flaky::default(), Delay::Fixed(Duration::ZERO));
    row(ONCE, "tower-resilience", retried(&rt, r), false);
    let b = peers::seatbelt_retry(&ctx, Flaky::default(), Delay::Fixed(Duration::ZERO));
    row(ONCE, "seatbelt", retried(&rt, b), false);

    const MID: &str = "mid-backoff (10 s): cancelled or dropped";
    let mut bare = AlwaysFail;
    row(
        MID,
        "bare, failed call (request with a fresh token)",
        per_call(|_| {
            assert!(call_result(&mut bare, token_request()).is_err());
        }),
        false,
    );
    let mut s = peers::steadfast_retry_fixed(AlwaysFail, LONG_DELAY);
    row(
        MID,
        "steadfast, token fires",
        per_call(|_| {
            black_box(cancel_mid_backoff(&mut s, token_request()));
        }),
        false,
    );
    let s = peers::steadfast_retry_fixed(AlwaysFail, LONG_DELAY);
    row(MID, "steadfast, dropped", dropped(s), false);
    let t = peers::tower_retry_sleeping(AlwaysFail);
    row(MID, "tower::retry, dropped", dropped(t), false);
    let r = peers::tr_retry::<TokenReq, std::io::Error, _>(AlwaysFail, Delay::Fixed(LONG_DELAY));
    row(MID, "tower-resilience, dropped", dropped(r), false);
    let b = peers::seatbelt_retry(&token_ctx, AlwaysFail, Delay::Fixed(LONG_DELAY));
    row(MID, "seatbelt, dropped", dropped(b), false);

    {
        use common::export::*;
        use opentelemetry::metrics::MeterProvider as _;
        use steadfast::export::{MetricsExport, OtelExport};

        const EXPORT: &str = "metrics export: retry + breaker stack, success";
        let recorder = prometheus();
        let provider = otel_provider();
        row(EXPORT, "no listener", success(stack(None)), true);
        row(
            EXPORT,
            "empty listeners",
            success(stack(Some(std::sync::Arc::new(EmptyListeners)))),
            true,
        );
        row(
            EXPORT,
            "MetricsExport, no recorder",
            success(stack(Some(MetricsExport::new().shared()))),
            true,
        );
        // The retry layer's attempt and request durations go to the recorder's histograms,
        // whose lock-free buckets allocate a block every 64 values: the recorder's, not
        // steadfast's.
        row(
            EXPORT,
            "MetricsExport, Prometheus recorder",
            success(stack_prometheus(&recorder)),
            false,
        );
        row(
            EXPORT,
            "OtelExport, SDK",
            success(stack_otel(&provider)),
            true,
        );

        const EVENTS: &str = "metrics export: a first-attempt success's two retry events";
        let events = |listener: &(dyn Fn(&steadfast::retry::RetryEvent<'_>) + Send + Sync)| {
            per_call(|_| success_events(black_box(listener)))
        };
        let noop = retry_listener(&MetricsExport::new());
        row(EVENTS, "MetricsExport, no recorder", events(&*noop), true);
        let prom =
            metrics::with_local_recorder(&recorder, || retry_listener(&MetricsExport::new()));
        row(
            EVENTS,
            "MetricsExport, Prometheus recorder",
            events(&*prom),
            false,
        );
        let otel = retry_listener(&OtelExport::new(&provider.meter("allocs")));
        row(EVENTS, "OtelExport, SDK", events(&*otel), false);
    }

    println!("{CALLS} calls each after {WARM_UP} warm-up calls");
    let mut section = "";
    for r in &rows {
        if r.section != section {
            section = r.section;
            println!();
            println!("{section}");
            println!();
            println!("| {:<48} | {:>15} |", "contender", "allocs per call");
            println!("|{:-<50}|{:->16}:|", "", "");
        }
        println!("| {:<48} | {:>15.3} |", r.name, r.per_call);
    }

    let mut failed = false;
    for r in rows.iter().filter(|r| r.must_be_zero && r.per_call > 0.0) {
        eprintln!(
            "FAIL: {} ({}) allocates {:.3} times per call (target: 0)",
            r.name, r.section, r.per_call
        );
        failed = true;
    }
    if failed {
        process::exit(1);
    }
}
