//! Heap allocations per call on the success path, for a bare service, `tower::retry`, and
//! steadfast's retry layer (default policy; budget and metrics attached).
//!
//! A counting global allocator wraps the system allocator. Each contender is built, warmed
//! up, then driven through `CALLS` calls (see `common::call_now`); the table shows the
//! allocations counted during those calls divided by `CALLS`. Exits with status 1 if
//! steadfast's default policy allocates on the success path.

// Implementing `GlobalAlloc` requires `unsafe impl` and `unsafe fn`, which the workspace
// forbids by default. This target is the only place that needs it: the allocator below only
// counts calls and forwards every one of them unchanged to `std::alloc::System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::process;
use std::sync::atomic::{AtomicU64, Ordering};

use tower::Service;

mod common;

use common::{
    breaker, call_now, steadfast_breaker, steadfast_budget_metrics, steadfast_default,
    steadfast_static, tower_retry, Bare,
};

/// Calls per contender that are counted.
const CALLS: u64 = 10_000;
/// Calls per contender before counting starts (lazy statics, first-use setup).
const WARM_UP: u64 = 1_000;

/// Allocations and reallocations since the process started.
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting `alloc`, `alloc_zeroed` and `realloc` calls.
struct Counting;

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the counter does not touch the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's guarantees for `layout` are passed on as they are.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` through this wrapper with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` through this wrapper with `layout`; the
        // caller's guarantees for `new_size` are passed on as they are.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Warms `svc` up, then returns the allocations per call over `CALLS` calls.
fn allocations_per_call<S: Service<u64>>(mut svc: S) -> f64 {
    for i in 0..WARM_UP {
        black_box(call_now(&mut svc, black_box(i)));
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for i in 0..CALLS {
        black_box(call_now(&mut svc, black_box(i)));
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    (after - before) as f64 / CALLS as f64
}

fn main() {
    // The counter must see an allocation, or every zero below would mean nothing.
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    drop(black_box(Box::new(black_box(0_u64))));
    assert!(
        ALLOCATIONS.load(Ordering::Relaxed) > before,
        "the counting allocator is not installed"
    );

    let rows = [
        ("bare", allocations_per_call(Bare)),
        ("tower::retry", allocations_per_call(tower_retry())),
        (
            "steadfast, default policy",
            allocations_per_call(steadfast_default()),
        ),
        (
            "steadfast, &'static policy",
            allocations_per_call(steadfast_static()),
        ),
        (
            "steadfast, budget + metrics",
            allocations_per_call(steadfast_budget_metrics()),
        ),
        (
            "steadfast breaker, closed",
            allocations_per_call(steadfast_breaker(&breaker())),
        ),
    ];

    println!("success path, {CALLS} calls each after {WARM_UP} warm-up calls");
    println!();
    println!("| {:<28} | {:>15} |", "contender", "allocs per call");
    println!("|{:-<30}|{:->16}:|", "", "");
    for (name, per_call) in &rows {
        println!("| {name:<28} | {per_call:>15.3} |");
    }

    let mut failed = false;
    for (name, per_call) in rows
        .iter()
        .filter(|(name, _)| name.starts_with("steadfast"))
    {
        if *per_call > 0.0 {
            eprintln!("FAIL: {name} allocates {per_call:.3} times per call on the success path (target: 0)");
            failed = true;
        }
    }
    if failed {
        process::exit(1);
    }
}
