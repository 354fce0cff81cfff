//! The request path of a reloadable stack (`steadfast::config::ReloadableStack`) against the
//! same stack built once from the same settings (`StackSettings::layer`), and against the bare
//! service: the difference is what reading the current version and building the request's
//! stack from it cost per call. Two stacks: a retry policy and a breaker; and the same with a
//! total timeout and an attempt timeout (which need a runtime context for their timers). Then
//! what one reload costs, and the heap allocations per call of each contender (a counting
//! allocator; the program exits with status 1 if the reloadable stack allocates where the
//! fixed one does not). Last, since criterion times one contender after the other and a
//! shared machine's load shifts in between, the fixed and reloadable stacks are timed in
//! alternating batches, and the fastest batch of each is printed.

use std::hint::black_box;
use std::process;
#[allow(clippy::disallowed_types)]
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use steadfast::classify::AnyError;
use steadfast::config::{Config, Format, ReloadableStack};
use steadfast_test::alloc::{allocations_in, CountingAllocator};
use tower::{Layer, Service};

mod common;

use common::{call_now, Bare};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Retry and breaker; with `timeouts`, a total timeout and an attempt timeout too.
fn settings(timeouts: bool, attempts: u32) -> Config {
    let timeouts = if timeouts {
        r#""cancel": "30s", "attempt_timeout": "10s","#
    } else {
        ""
    };
    let text = format!(
        r#"{{ "stacks": {{ "s": {{ {timeouts}
            "retry": {{ "max_attempts": {attempts}, "backoff": {{ "kind": "none" }} }},
            "breaker": {{ "failure_rate": 50, "minimum_calls": 20, "window": {{ "count": 100 }} }}
        }} }} }}"#
    );
    Config::from_str(&text, Format::Json).expect("valid settings")
}

fn fixed(timeouts: bool) -> impl Service<u64, Response = u64> {
    settings(timeouts, 3)
        .find_stack("s")
        .expect("the stack")
        .layer(AnyError)
        .expect("valid layers")
        .layer(Bare)
}

fn reloadable(timeouts: bool) -> (ReloadableStack, impl Service<u64, Response = u64>) {
    let stack = ReloadableStack::new(&settings(timeouts, 3), "s", AnyError).expect("valid");
    let svc = stack.layer(Bare);
    (stack, svc)
}

/// Allocations per successful call of `svc`.
fn allocs<S: Service<u64>>(mut svc: S) -> f64 {
    for i in 0..1_000 {
        black_box(call_now(&mut svc, i));
    }
    let n = allocations_in(|| {
        for i in 0..10_000 {
            black_box(call_now(&mut svc, black_box(i)));
        }
    });
    n as f64 / 10_000.0
}

/// How long 10,000 successful calls of `svc` take.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
fn batch<S: Service<u64>>(svc: &mut S) -> Duration {
    let start = Instant::now();
    for i in 0..10_000 {
        black_box(call_now(svc, black_box(i)));
    }
    start.elapsed()
}

fn reload(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let _guard = rt.enter();

    for (group, timeouts) in [
        ("stack_retry_breaker", false),
        ("stack_with_timeouts", true),
    ] {
        let mut g = c.benchmark_group(group);
        let mut bare = Bare;
        g.bench_function("bare", |b| b.iter(|| call_now(&mut bare, black_box(7))));
        let mut fixed = fixed(timeouts);
        g.bench_function("fixed", |b| b.iter(|| call_now(&mut fixed, black_box(7))));
        let (_stack, mut live) = reloadable(timeouts);
        g.bench_function("reloadable", |b| {
            b.iter(|| call_now(&mut live, black_box(7)))
        });
        g.finish();
    }

    // One reload: check the settings, build the new version's layers, reconfigure the breaker,
    // swap. Alternates between two settings so that every reload changes something.
    let mut g = c.benchmark_group("reload");
    let (stack, _svc) = reloadable(true);
    let (a, b) = (settings(true, 3), settings(true, 4));
    let mut flip = false;
    g.bench_function("reload_settings", |bench| {
        bench.iter(|| {
            flip = !flip;
            black_box(stack.reload(if flip { &a } else { &b }).expect("valid"))
        })
    });
    g.finish();

    println!("allocations per successful call:");
    let mut failed = false;
    for timeouts in [false, true] {
        let fixed = allocs(fixed(timeouts));
        let (_stack, live) = reloadable(timeouts);
        let live = allocs(live);
        let name = if timeouts {
            "with timeouts"
        } else {
            "retry and breaker"
        };
        println!("  {name:<18} fixed {fixed:>5.2}  reloadable {live:>5.2}");
        failed |= live > fixed;
    }
    println!("fastest of 200 alternating batches of 10,000 calls, per call:");
    for timeouts in [false, true] {
        let mut fixed = fixed(timeouts);
        let (_stack, mut live) = reloadable(timeouts);
        let (mut best_fixed, mut best_live) = (Duration::MAX, Duration::MAX);
        for _ in 0..200 {
            best_fixed = best_fixed.min(batch(&mut fixed));
            best_live = best_live.min(batch(&mut live));
        }
        let name = if timeouts {
            "with timeouts"
        } else {
            "retry and breaker"
        };
        println!(
            "  {name:<18} fixed {:>7.1} ns  reloadable {:>7.1} ns",
            best_fixed.as_secs_f64() * 1e9 / 10_000.0,
            best_live.as_secs_f64() * 1e9 / 10_000.0
        );
    }
    if failed {
        println!("the reloadable stack allocates where the fixed one does not");
        process::exit(1);
    }
}

criterion_group!(benches, reload);
criterion_main!(benches);
