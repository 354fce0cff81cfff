//! Bounded memory: what the registries and tokens of steadfast hold per entry, that a bounded
//! table stays within its bound however many keys pass through it, and that everything is
//! given back when the entries end.
//!
//! Three parts, each measured with a byte-counting global allocator (live bytes, exact) and
//! the process's resident set size:
//!
//! 1. `--entries` operations registered in `Operations::global()`, each with its own request
//!    token; then all of them cancelled with `cancel_all` and dropped.
//! 2. `--entries` live request tokens, each with `--children` children; then every request
//!    token cancelled (which cancels its children) and all of them dropped. While the request
//!    tokens live, their children are made and dropped again three times, which must not
//!    leave anything behind in the request tokens.
//! 3. `--keys` distinct keys sent through `KeyedCircuitBreakerLayer` with `max_keys` set to
//!    `--max-keys`: the set never holds more than `max_keys` breakers, and its live bytes
//!    never exceed those of a full set by more than a tenth; then the set is dropped.
//!
//! `--only operations|tokens|keys` runs one part alone, so that the RSS it reports is that
//! part's own (memory freed by one part is kept by the process and used again by the next).
//!
//! For each part the program checks that the bytes per entry stay within the bound given on
//! the command line (defaults below), and that live bytes return exactly to what they were
//! before the part began. It exits with status 1 if any check fails.
//!
//! ```text
//! cargo run --release -p steadfast-reliability --bin memory -- --entries 100000 --keys 1000000
//! ```

// A byte-counting global allocator takes `unsafe impl GlobalAlloc`, which the workspace's lints
// deny elsewhere. It only adds and subtracts sizes and forwards each call unchanged to
// `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};

use steadfast::cancel::operations::{Operation, Operations};
use steadfast::circuit_breaker::{CircuitBreaker, KeyedBreakers, KeyedCircuitBreakerLayer};
use steadfast::token::{CancelReason, CancelToken};
use steadfast_reliability::{mib, rss_bytes};
use tower::{service_fn, Layer, Service, ServiceExt};

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, keeping the number of bytes allocated and not yet freed, and the
/// highest that number has been since [`reset_peak`].
struct ByteCounter;

fn grow(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

fn shrink(bytes: usize) {
    LIVE.fetch_sub(bytes, Ordering::Relaxed);
}

// SAFETY: every method passes its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; counting touches two atomics, never the memory.
unsafe impl GlobalAlloc for ByteCounter {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's guarantees about `layout` hold for `System` too.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grow(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grow(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        shrink(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from `System` through this allocator, with `layout`; the
        // caller's guarantees about `new_size` hold for `System` too.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            shrink(layout.size());
            grow(new_size);
        }
        new
    }
}

#[global_allocator]
static GLOBAL: ByteCounter = ByteCounter;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

fn reset_peak() {
    PEAK.store(live(), Ordering::Relaxed);
}

fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

fn rss() -> String {
    rss_bytes().map_or_else(|| "n/a".to_owned(), mib)
}

/// What the command line asks for.
struct Args {
    entries: usize,
    children: usize,
    keys: u64,
    max_keys: usize,
    max_operation_bytes: usize,
    max_request_bytes: usize,
    max_key_bytes: usize,
    /// Run only this part (`operations`, `tokens` or `keys`), so that its RSS is its own.
    only: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        entries: 100_000,
        children: 3,
        keys: 1_000_000,
        max_keys: 10_000,
        max_operation_bytes: 1_280,
        max_request_bytes: 1_024,
        max_key_bytes: 2_560,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        if flag == "--only" {
            if !["operations", "tokens", "keys"].contains(&value.as_str()) {
                return Err(format!(
                    "--only: `{value}` is not operations, tokens or keys"
                ));
            }
            args.only = Some(value);
            continue;
        }
        let n: usize = value
            .parse()
            .map_err(|_| format!("{flag}: `{value}` is not a whole number"))?;
        match flag.as_str() {
            "--entries" => args.entries = n,
            "--children" => args.children = n,
            "--keys" => args.keys = n as u64,
            "--max-keys" => args.max_keys = n,
            "--max-operation-bytes" => args.max_operation_bytes = n,
            "--max-request-bytes" => args.max_request_bytes = n,
            "--max-key-bytes" => args.max_key_bytes = n,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if args.entries == 0 || args.max_keys == 0 {
        return Err("--entries and --max-keys must be at least 1".into());
    }
    Ok(args)
}

/// The checks of one run, printed as they are made.
#[derive(Default)]
struct Checks {
    failed: usize,
}

impl Checks {
    fn check(&mut self, ok: bool, what: impl std::fmt::Display) {
        println!("  [{}] {what}", if ok { "ok" } else { "FAILED" });
        self.failed += usize::from(!ok);
    }
}

fn per_entry(bytes: usize, entries: usize) -> usize {
    bytes.div_ceil(entries)
}

fn operations(args: &Args, checks: &mut Checks) {
    let n = args.entries;
    println!("operations: {n} registered in Operations::global()");
    let ops = Operations::global();
    let mut held: Vec<(CancelToken, CancelToken)> = Vec::with_capacity(n);
    // A burst of the same size first: what the process makes once (the registry itself, the
    // clock) and the room the registry keeps after a burst (it never shrinks below room for
    // a few dozen operations) are then part of the baseline, and the measured burst must
    // leave exactly that behind.
    let rss_before = rss();
    let pristine = live();
    let burst = |held: &mut Vec<(CancelToken, CancelToken)>| {
        for _ in 0..n {
            let request = CancelToken::new();
            let tracked = ops.register(&request, Operation::new("job"));
            held.push((request, tracked));
        }
    };
    burst(&mut held);
    ops.cancel_all(CancelReason::Shutdown);
    held.clear();
    let kept = live() as isize - pristine as isize;
    println!("  kept after a first burst: {kept} B (the registry and its least room)");
    let base = live();

    burst(&mut held);
    let full = live() - base;
    let each = per_entry(full, n);
    println!(
        "  live: {} for {n} ({each} B per operation, token included); RSS {rss_before} -> {}",
        mib(full as u64),
        rss()
    );
    checks.check(ops.len() == n, format!("the registry lists {}", ops.len()));
    checks.check(
        each <= args.max_operation_bytes,
        format!("{each} B per operation <= {} B", args.max_operation_bytes),
    );

    let cancelled = ops.cancel_all(CancelReason::Shutdown);
    checks.check(cancelled == n, format!("cancel_all cancelled {cancelled}"));
    checks.check(
        held.iter().all(|(_, tracked)| tracked.is_cancelled()),
        "every tracked token is cancelled",
    );
    held.clear();
    checks.check(ops.is_empty(), format!("the registry lists {}", ops.len()));
    back_to_baseline(base, checks);
}

fn tokens(args: &Args, checks: &mut Checks) {
    let (n, c) = (args.entries, args.children);
    println!("tokens: {n} request tokens with {c} children each");
    drop(CancelToken::new().child());
    let mut requests: Vec<CancelToken> = Vec::with_capacity(n);
    let mut children: Vec<CancelToken> = Vec::with_capacity(n * c);
    let rss_before = rss();
    let base = live();

    requests.extend((0..n).map(|_| CancelToken::new()));
    let alone = live();
    for round in 0..4 {
        children.extend(requests.iter().flat_map(|r| (0..c).map(|_| r.child())));
        if round < 3 {
            children.clear();
            let left = live() as isize - alone as isize;
            checks.check(
                left == 0,
                format!("round {round}: children made and dropped leave nothing ({left:+} B)"),
            );
        }
    }
    let full = live() - base;
    let each = per_entry(full, n);
    println!(
        "  live: {} for {n} ({each} B per request token with its {c} children, {} B per token); \
         RSS {rss_before} -> {}",
        mib(full as u64),
        per_entry(full, n * (c + 1)),
        rss()
    );
    checks.check(
        each <= args.max_request_bytes,
        format!(
            "{each} B per request token and children <= {} B",
            args.max_request_bytes
        ),
    );

    for request in &requests {
        request.cancel_with(CancelReason::Shutdown);
    }
    checks.check(
        children.iter().all(CancelToken::is_cancelled),
        "every child is cancelled with its request token",
    );
    children.clear();
    requests.clear();
    back_to_baseline(base, checks);
}

/// Reports RSS once everything has ended, and checks the live bytes are exactly `base` again.
fn back_to_baseline(base: usize, checks: &mut Checks) {
    let left = live() as isize - base as isize;
    println!("  after cancel and drop: RSS {}", rss());
    checks.check(
        left == 0,
        format!("live bytes back to baseline ({left:+} B)"),
    );
}

fn keyed_breakers(args: &Args, checks: &mut Checks) {
    let (keys, max_keys) = (args.keys, args.max_keys);
    println!("keyed breakers: {keys} distinct keys, max_keys {max_keys}");
    let rss_before = rss();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let backend = service_fn(|_key: u64| async { Ok::<_, Infallible>(()) });
    let make = |max_keys| {
        let breakers =
            KeyedBreakers::<u64>::builder(|| CircuitBreaker::builder().consecutive_failures(5))
                .max_keys(max_keys)
                .build()
                .expect("valid keyed breakers");
        let svc = KeyedCircuitBreakerLayer::new(breakers.clone(), |key: &u64| *key).layer(backend);
        (breakers, svc)
    };
    // Whatever the runtime and the layer make once is made before the baseline.
    runtime.block_on(async {
        let (_, mut svc) = make(max_keys);
        for key in 0..(2 * max_keys as u64).min(keys) {
            svc.ready()
                .await
                .expect("ready")
                .call(key)
                .await
                .expect("call");
        }
    });
    let base = live();

    let (breakers, mut svc) = make(max_keys);
    let (full, most_held, peak_after_full) = runtime.block_on(async {
        let mut most_held = 0;
        let mut full = 0;
        for key in 0..keys {
            svc.ready()
                .await
                .expect("ready")
                .call(key)
                .await
                .expect("call");
            if key + 1 == max_keys as u64 {
                full = live() - base;
                reset_peak();
            }
            if key % 1_000 == 0 {
                most_held = most_held.max(breakers.len());
            }
        }
        most_held = most_held.max(breakers.len());
        (full, most_held, peak().saturating_sub(base))
    });
    let each = per_entry(full, max_keys.min(keys as usize).max(1));
    println!(
        "  live with the set full: {} ({each} B per key); the most at any time after: {}; \
         RSS {rss_before} -> {}",
        mib(full as u64),
        mib(peak_after_full as u64),
        rss()
    );
    checks.check(
        most_held <= max_keys,
        format!("the set held at most {most_held} breakers"),
    );
    checks.check(
        each <= args.max_key_bytes,
        format!("{each} B per key <= {} B", args.max_key_bytes),
    );
    let bound = max_keys * args.max_key_bytes;
    checks.check(
        peak_after_full <= bound,
        format!(
            "live bytes never exceeded max_keys x {} B ({peak_after_full} <= {bound})",
            args.max_key_bytes
        ),
    );
    checks.check(
        peak_after_full <= full + full / 10,
        format!(
            "live bytes after the set was full stayed within a tenth of a full set's ({} <= {})",
            peak_after_full,
            full + full / 10
        ),
    );

    drop((svc, breakers));
    let left = live() as isize - base as isize;
    println!("  after the set is dropped: RSS {}", rss());
    checks.check(
        left == 0,
        format!("live bytes back to baseline ({left:+} B)"),
    );
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("memory: {message}");
            eprintln!(
                "usage: memory [--entries N] [--children N] [--keys N] [--max-keys N] \
                 [--max-operation-bytes B] [--max-request-bytes B] [--max-key-bytes B] \
                 [--only operations|tokens|keys]"
            );
            std::process::exit(2);
        }
    };
    let mut checks = Checks::default();
    let runs = |part: &str| args.only.as_deref().is_none_or(|only| only == part);
    if runs("operations") {
        operations(&args, &mut checks);
    }
    if runs("tokens") {
        tokens(&args, &mut checks);
    }
    if runs("keys") {
        keyed_breakers(&args, &mut checks);
    }
    if checks.failed > 0 {
        eprintln!("memory: {} check(s) failed", checks.failed);
        std::process::exit(1);
    }
}
