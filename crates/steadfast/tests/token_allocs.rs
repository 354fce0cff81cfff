//! Waiting on a token allocates nothing while its lineage is short and it has few waiters:
//! the waiter slots and the waiter's keys live inline. Counted with a global allocator of this
//! test binary's own.

#![cfg(feature = "cancel")]
// Implementing `GlobalAlloc` takes `unsafe impl` and `unsafe fn`, which the workspace's lints
// deny; the allocator only forwards to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Waker};

use steadfast::token::CancelToken;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    f();
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

#[test]
fn waiting_on_a_fresh_child_allocates_nothing() {
    // The shape of a request through two cancel layers: a caller's token, the outer layer's
    // child and the attempt layer's grandchild, each waited on by the layer that made it.
    let caller = CancelToken::new();
    let mut cx = Context::from_waker(Waker::noop());
    let outer = caller.child();
    let attempt = outer.child();
    let n = allocations_during(|| {
        let mut a = std::pin::pin!(outer.cancelled());
        let mut b = std::pin::pin!(attempt.cancelled());
        assert!(a.as_mut().poll(&mut cx).is_pending());
        assert!(b.as_mut().poll(&mut cx).is_pending());
        // Polled again (as a woken future is), the registration is only refreshed.
        assert!(a.as_mut().poll(&mut cx).is_pending());
    });
    assert_eq!(n, 0, "registering and unregistering two waiters allocated");

    // Waking through the caller's token still reaches both.
    let mut a = std::pin::pin!(outer.cancelled());
    let mut b = std::pin::pin!(attempt.cancelled());
    assert!(a.as_mut().poll(&mut cx).is_pending());
    assert!(b.as_mut().poll(&mut cx).is_pending());
    caller.cancel();
    assert!(a.as_mut().poll(&mut cx).is_ready());
    assert!(b.as_mut().poll(&mut cx).is_ready());
}
