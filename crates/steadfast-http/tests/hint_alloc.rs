//! A `ServerHints` reader allocates nothing per response when there is no hint to read, nor
//! when the hint is a number.

// Implementing `GlobalAlloc` requires `unsafe impl` and `unsafe fn`, which the workspace denies
// elsewhere; the counting allocator only forwards to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use http::HeaderMap;
use steadfast_http::hint::{HintSource, ServerHint, ServerHints};

/// Counts the allocations made by the current thread, so tests running beside it on other
/// threads do not disturb the count.
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc` is passed on unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

fn response_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    headers.insert("content-length", "1234".parse().unwrap());
    headers.insert("x-request-id", "7d1c2a".parse().unwrap());
    headers
}

#[test]
fn counting_allocator_counts() {
    let n = allocations_during(|| drop(std::hint::black_box(vec![1u8; 16])));
    assert_eq!(n, 1);
}

#[test]
fn no_hint_header_allocates_nothing() {
    let hints = ServerHints::default();
    let headers = response_headers();
    let empty = HeaderMap::new();
    let n = allocations_during(|| {
        for _ in 0..100 {
            assert_eq!(hints.read(std::hint::black_box(&headers)), ServerHint::None);
            assert_eq!(hints.read(std::hint::black_box(&empty)), ServerHint::None);
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn numeric_hints_allocate_nothing() {
    let hints = ServerHints::default();
    let mut headers = response_headers();
    headers.insert("retry-after", "3".parse().unwrap());
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-retry-pushback-ms", "-1".parse().unwrap());
    let mut limited = response_headers();
    limited.insert("x-ratelimit-remaining", "0".parse().unwrap());
    limited.insert("x-ratelimit-reset", "4".parse().unwrap());
    let n = allocations_during(|| {
        for _ in 0..100 {
            assert_eq!(
                hints.read(std::hint::black_box(&headers)),
                ServerHint::After(Duration::from_secs(3))
            );
            assert_eq!(
                hints.read(std::hint::black_box(&trailers)),
                ServerHint::DoNotRetry
            );
            assert_eq!(
                hints.read(std::hint::black_box(&limited)),
                ServerHint::After(Duration::from_secs(4))
            );
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn cloning_the_reader_allocates_nothing() {
    let hints = ServerHints::builder()
        .sources([HintSource::RetryAfter, HintSource::GrpcRetryPushback])
        .build()
        .unwrap();
    let n = allocations_during(|| {
        std::hint::black_box(hints.clone());
    });
    assert_eq!(n, 0);
}
