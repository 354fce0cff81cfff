//! The request path of a breaker and a retry budget shared across a fleet through Redis
//! (`steadfast-redis`) against the same local objects: a breaker's closed path, a budget's
//! success-path calls (`deposit` and `on_success`) and a granted `withdraw`, the retry layer's
//! success path with each budget, and two threads sharing one breaker or budget.
//!
//! A real `redis-server` is started on a free port of 127.0.0.1 for the run
//! (`steadfast_test::redis::RedisServer`; `reliability/redis.sh` installs it when missing).
//! Each shared object's background task runs on a tokio runtime driven by a thread of its own,
//! synchronising every 100 ms (the default) while the request path is timed; timing starts
//! only once every object has synchronised and its budget is the fleet's. Before timing, each
//! shared path is checked to allocate nothing and to take the same branch as the local one (a
//! granted withdraw stays granted).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use steadfast::circuit_breaker::CircuitBreaker;
use steadfast::retry::{RatioBudget, RetryBudget, RetryLayer, RetryPolicy, TokenBucket};
use steadfast_redis::{Fleet, FleetBudget, SharedBreaker, SharedBudget};
use steadfast_test::alloc::{allocations_in, CountingAllocator};
use steadfast_test::redis::RedisServer;
use tower::Layer;

mod common;

use common::{call_now, per_call_with_threads, steadfast_breaker, Bare};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// A budget large enough that a granted withdraw stays granted for a whole run, locally and
/// from the fleet (whose lease the background task tops up every round).
const HUGE: u32 = u32::MAX;
/// Retries a shared budget leases at a time in the withdraw benchmark: more than a round's
/// worth of withdraws at a few nanoseconds each.
const HUGE_LEASE: u32 = 200_000_000;

/// Redis, the runtime driving the background tasks, and the shared objects under test.
struct Setup {
    _server: RedisServer,
    _driver: Driver,
    breaker: SharedBreaker,
    bucket: Arc<SharedBudget>,
    ratio: Arc<SharedBudget>,
    huge: Arc<SharedBudget>,
}

/// A current-thread runtime driven by a thread of its own until dropped.
struct Driver {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Driver {
    fn start() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let handle = rt.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let _ = rt.block_on(stopped);
        });
        Driver {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The breaker of both rows: the benchmarks' usual settings, with the name a shared breaker
/// is keyed by.
fn named_breaker() -> CircuitBreaker {
    CircuitBreaker::builder()
        .name("bench")
        .failure_rate(50.0)
        .minimum_calls(100)
        .window(steadfast::circuit_breaker::SlidingWindow::count(100))
        .build()
        .expect("valid breaker")
}

fn token_bucket() -> Arc<TokenBucket> {
    Arc::new(TokenBucket::builder().build().expect("valid budget"))
}

fn huge_bucket() -> Arc<TokenBucket> {
    Arc::new(
        TokenBucket::builder()
            .capacity(HUGE)
            .retry_cost(1)
            .success_refund(0)
            .build()
            .expect("valid budget"),
    )
}

fn ratio_budget() -> Arc<RatioBudget> {
    Arc::new(RatioBudget::builder().build().expect("valid budget"))
}

// Waiting for the first sync round is wall-clock time of real threads.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
fn setup() -> Setup {
    let server = RedisServer::start();
    let driver = Driver::start();
    let _enter = driver.handle.enter();
    let fleet = Fleet::builder(server.url())
        .namespace("bench")
        .build()
        .expect("valid fleet");
    let breaker = fleet
        .share_breaker(named_breaker())
        .start()
        .expect("valid shared breaker");
    let bucket = fleet
        .share_budget(
            "bucket",
            FleetBudget::token_bucket(500, 5, 1),
            token_bucket(),
        )
        .expect("valid shared budget");
    let ratio = fleet
        .share_budget("ratio", FleetBudget::ratio(0.2, 1000), ratio_budget())
        .expect("valid shared budget");
    let huge = fleet
        .share_budget(
            "huge",
            FleetBudget::token_bucket(HUGE, 1, 0).lease(HUGE_LEASE),
            huge_bucket(),
        )
        .expect("valid shared budget");
    let t = std::time::Instant::now();
    while !(breaker.stats().syncs > 0
        && bucket.is_shared()
        && ratio.is_shared()
        && huge.is_shared()
        && huge.lease() > 0)
    {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the shared objects synchronised with Redis: {:?}",
            fleet.status()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    Setup {
        _server: server,
        _driver: driver,
        breaker,
        bucket,
        ratio,
        huge,
    }
}

/// The retry layer (default policy) over `Bare`, with `budget`.
fn retry_with(budget: Arc<dyn RetryBudget>) -> steadfast::retry::Retry<Bare> {
    let policy = RetryPolicy::builder()
        .budget(budget)
        .build()
        .expect("valid policy");
    RetryLayer::new(policy).layer(Bare)
}

/// Calls per batch and batches of [`paired`].
const BATCH: u32 = 20_000;
const ROUNDS: usize = 301;

/// Local against shared, batch for batch: `ROUNDS` rounds, each timing `BATCH` calls of
/// `local` then `BATCH` calls of `shared`. Returns the medians of local's and shared's time per
/// call, and the median of the per-round differences. Taking both sides of a pair a fraction
/// of a millisecond apart, and medians over many pairs, cancels what other processes on the
/// machine do to both.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
fn paired(mut local: impl FnMut(), mut shared: impl FnMut()) -> (f64, f64, f64) {
    let time = |f: &mut dyn FnMut()| {
        let t = std::time::Instant::now();
        for _ in 0..BATCH {
            f();
        }
        t.elapsed().as_secs_f64() * 1e9 / f64::from(BATCH)
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mut l, mut s, mut d) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // Alternate which side goes first.
        let (a, b) = if round % 2 == 0 {
            let a = time(&mut local);
            (a, time(&mut shared))
        } else {
            let b = time(&mut shared);
            (time(&mut local), b)
        };
        l.push(a);
        s.push(b);
        d.push(b - a);
    }
    (median(l), median(s), median(d))
}

/// Prints [`paired`]'s figures for each path, as a table.
fn paired_table(s: &Setup) {
    let local_breaker = named_breaker();
    let mut local_svc = steadfast_breaker(&local_breaker);
    let mut shared_svc = steadfast_breaker(s.breaker.breaker());
    let local_bucket: Arc<dyn RetryBudget> = token_bucket();
    let shared_bucket: Arc<dyn RetryBudget> = s.bucket.clone();
    let local_ratio: Arc<dyn RetryBudget> = ratio_budget();
    let shared_ratio: Arc<dyn RetryBudget> = s.ratio.clone();
    let local_huge: Arc<dyn RetryBudget> = huge_bucket();
    let shared_huge: Arc<dyn RetryBudget> = s.huge.clone();
    let mut rows = Vec::new();
    rows.push((
        "breaker, closed call",
        paired(
            || {
                black_box(call_now(&mut local_svc, black_box(7)));
            },
            || {
                black_box(call_now(&mut shared_svc, black_box(7)));
            },
        ),
    ));
    rows.push((
        "token bucket: deposit + on_success",
        paired(
            || {
                local_bucket.deposit();
                local_bucket.on_success(black_box(1));
            },
            || {
                shared_bucket.deposit();
                shared_bucket.on_success(black_box(1));
            },
        ),
    ));
    rows.push((
        "ratio: deposit + on_success",
        paired(
            || {
                local_ratio.deposit();
                local_ratio.on_success(black_box(1));
            },
            || {
                shared_ratio.deposit();
                shared_ratio.on_success(black_box(1));
            },
        ),
    ));
    rows.push((
        "granted withdraw",
        paired(
            || assert!(local_huge.withdraw()),
            || assert!(shared_huge.withdraw()),
        ),
    ));
    let mut local_retry = retry_with(local_bucket.clone());
    let mut shared_retry = retry_with(shared_bucket.clone());
    rows.push((
        "retry layer, token bucket",
        paired(
            || {
                black_box(call_now(&mut local_retry, black_box(7)));
            },
            || {
                black_box(call_now(&mut shared_retry, black_box(7)));
            },
        ),
    ));
    let mut local_retry = retry_with(local_bucket.clone());
    let mut other_retry = retry_with(token_bucket());
    rows.push((
        "control: retry layer, token bucket, against a second local one",
        paired(
            || {
                black_box(call_now(&mut local_retry, black_box(7)));
            },
            || {
                black_box(call_now(&mut other_retry, black_box(7)));
            },
        ),
    ));
    let mut local_retry = retry_with(local_ratio.clone());
    let mut shared_retry = retry_with(shared_ratio.clone());
    rows.push((
        "retry layer, ratio",
        paired(
            || {
                black_box(call_now(&mut local_retry, black_box(7)));
            },
            || {
                black_box(call_now(&mut shared_retry, black_box(7)));
            },
        ),
    ));
    println!("\npaired medians, {ROUNDS} rounds of {BATCH} calls each side (ns per call):");
    println!("| path | local | shared | shared - local |");
    println!("|---|---:|---:|---:|");
    for (name, (l, sh, d)) in rows {
        println!("| {name} | {l:.1} | {sh:.1} | {d:+.1} |");
    }
    println!();
}

/// Allocations per call of `one`, after a warm-up.
fn allocations_per_call(mut one: impl FnMut()) -> u64 {
    for _ in 0..1_000 {
        one();
    }
    allocations_in(|| {
        for _ in 0..10_000 {
            one();
        }
    })
}

fn fleet(c: &mut Criterion) {
    let s = setup();
    paired_table(&s);

    // Nothing on the shared request paths allocates.
    let mut shared_svc = steadfast_breaker(s.breaker.breaker());
    assert_eq!(
        allocations_per_call(|| {
            black_box(call_now(&mut shared_svc, black_box(7)));
        }),
        0,
        "the shared breaker's closed path allocates nothing"
    );
    for budget in [&s.bucket, &s.ratio] {
        let mut svc = retry_with(budget.clone());
        assert_eq!(
            allocations_per_call(|| {
                black_box(call_now(&mut svc, black_box(7)));
            }),
            0,
            "the retry layer with a shared budget allocates nothing"
        );
    }
    assert_eq!(
        allocations_per_call(|| assert!(s.huge.withdraw())),
        0,
        "a shared withdraw allocates nothing"
    );

    let mut group = c.benchmark_group("fleet_breaker");
    let local = named_breaker();
    let mut local_svc = steadfast_breaker(&local);
    group.bench_function("local_closed", |b| {
        b.iter(|| call_now(&mut local_svc, black_box(7)))
    });
    group.bench_function("shared_closed", |b| {
        b.iter(|| call_now(&mut shared_svc, black_box(7)))
    });
    for threads in [1, 2] {
        group.bench_function(format!("local_closed_{threads}_threads"), |b| {
            b.iter_custom(|iters| {
                per_call_with_threads(threads, iters, || steadfast_breaker(&local))
            })
        });
        group.bench_function(format!("shared_closed_{threads}_threads"), |b| {
            b.iter_custom(|iters| {
                per_call_with_threads(threads, iters, || steadfast_breaker(s.breaker.breaker()))
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("fleet_budget");
    // What the retry layer's success path asks of its budget: one deposit, one success. Every
    // budget is called through `dyn RetryBudget`, as the retry layer calls it.
    let local_bucket: Arc<dyn RetryBudget> = token_bucket();
    let shared_bucket: Arc<dyn RetryBudget> = s.bucket.clone();
    let local_ratio: Arc<dyn RetryBudget> = ratio_budget();
    let shared_ratio: Arc<dyn RetryBudget> = s.ratio.clone();
    let local_huge: Arc<dyn RetryBudget> = huge_bucket();
    let shared_huge: Arc<dyn RetryBudget> = s.huge.clone();
    group.bench_function("local_token_bucket_deposit_success", |b| {
        b.iter(|| {
            local_bucket.deposit();
            local_bucket.on_success(black_box(1));
        })
    });
    group.bench_function("shared_token_bucket_deposit_success", |b| {
        b.iter(|| {
            shared_bucket.deposit();
            shared_bucket.on_success(black_box(1));
        })
    });
    group.bench_function("local_ratio_deposit_success", |b| {
        b.iter(|| {
            local_ratio.deposit();
            local_ratio.on_success(black_box(1));
        })
    });
    group.bench_function("shared_ratio_deposit_success", |b| {
        b.iter(|| {
            shared_ratio.deposit();
            shared_ratio.on_success(black_box(1));
        })
    });
    // A granted retry.
    let mut refused = 0u64;
    group.bench_function("local_withdraw", |b| {
        b.iter(|| refused += u64::from(!local_huge.withdraw()))
    });
    assert_eq!(refused, 0, "every local withdraw was granted");
    group.bench_function("shared_withdraw", |b| {
        b.iter(|| refused += u64::from(!shared_huge.withdraw()))
    });
    assert_eq!(refused, 0, "every shared withdraw was granted");
    assert!(s.huge.is_shared(), "the fleet's lease decided throughout");
    group.finish();

    let mut group = c.benchmark_group("fleet_retry");
    let mut svc = retry_with(local_bucket.clone());
    group.bench_function("local_token_bucket", |b| {
        b.iter(|| call_now(&mut svc, black_box(7)))
    });
    let mut svc = retry_with(shared_bucket.clone());
    group.bench_function("shared_token_bucket", |b| {
        b.iter(|| call_now(&mut svc, black_box(7)))
    });
    let mut svc = retry_with(local_ratio.clone());
    group.bench_function("local_ratio", |b| {
        b.iter(|| call_now(&mut svc, black_box(7)))
    });
    let mut svc = retry_with(shared_ratio.clone());
    group.bench_function("shared_ratio", |b| {
        b.iter(|| call_now(&mut svc, black_box(7)))
    });
    for threads in [1, 2] {
        group.bench_function(format!("local_token_bucket_{threads}_threads"), |b| {
            b.iter_custom(|iters| {
                per_call_with_threads(threads, iters, || retry_with(local_bucket.clone()))
            })
        });
        group.bench_function(format!("shared_token_bucket_{threads}_threads"), |b| {
            b.iter_custom(|iters| {
                per_call_with_threads(threads, iters, || retry_with(shared_bucket.clone()))
            })
        });
    }
    group.finish();
    assert!(
        s.bucket.is_shared() && s.ratio.is_shared(),
        "the fleet's budgets decided throughout"
    );
}

criterion_group!(benches, fleet);
criterion_main!(benches);
