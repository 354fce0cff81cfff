//! A counting global allocator, for tests that assert how many heap allocations a piece of
//! code makes.
//!
//! A test binary installs it as its global allocator; each thread's allocations are counted
//! separately, so the test harness and tests running in parallel on other threads do not
//! disturb a count.
//!
//! ```
//! use steadfast_test::alloc::{allocations_in, CountingAllocator};
//!
//! #[global_allocator]
//! static GLOBAL: CountingAllocator = CountingAllocator;
//!
//! # fn main() {
//! assert_eq!(allocations_in(|| { std::hint::black_box(1 + 1); }), 0);
//! assert_eq!(allocations_in(|| drop(std::hint::black_box(Box::new(7)))), 1);
//! # }
//! ```

// Implementing `GlobalAlloc` takes `unsafe impl` and `unsafe fn`, which the workspace's lints
// deny elsewhere. The allocator only counts calls and forwards each one unchanged to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: the allocator may run while the thread's locals are being torn down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

/// The system allocator, counting the `alloc`, `alloc_zeroed` and `realloc` calls of each
/// thread. Install it with `#[global_allocator]` and read the counts with
/// [`allocations_in`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAllocator;

// SAFETY: every method passes its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; counting touches a thread-local integer, never the memory.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller's guarantees about `layout` hold for `System` too.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: `ptr` came from `System` through this allocator, with `layout`; the
        // caller's guarantees about `new_size` hold for `System` too.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// The allocations this thread makes while running `f`. Meaningful only in a binary whose
/// global allocator is [`CountingAllocator`] (otherwise it is always zero).
pub fn allocations_in(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}
