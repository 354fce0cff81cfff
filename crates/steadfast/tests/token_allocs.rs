//! Waiting on a token allocates nothing while its lineage is short and it has few waiters:
//! the waiter slots and the waiter's keys live inline. Counted, on the test's own thread, by a
//! global allocator of this test binary's own.

#![cfg(feature = "cancel")]

use std::future::Future;
use std::task::{Context, Waker};

use steadfast::token::CancelToken;
use steadfast_test::alloc::{allocations_in, CountingAllocator};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn waiting_on_a_fresh_child_allocates_nothing() {
    // The shape of a request through two cancel layers: a caller's token, the outer layer's
    // child and the attempt layer's grandchild, each waited on by the layer that made it.
    let caller = CancelToken::new();
    let mut cx = Context::from_waker(Waker::noop());
    let outer = caller.child();
    let attempt = outer.child();
    let n = allocations_in(|| {
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
