//! Tokens nested far deeper than any request nests them: made, queried, waited on, cancelled
//! and dropped without recursion, on a thread with a small stack.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Waker};

use steadfast::token::{CancelReason, CancelToken};

/// Far deeper than a recursion per level survives on the stack below.
const DEPTH: usize = 200_000;
const SMALL_STACK: usize = 256 * 1024;

fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(f)
        .expect("thread")
        .join()
        .expect("the thread finished without a panic");
}

fn chain(root: &CancelToken, depth: usize) -> CancelToken {
    let mut t = root.clone();
    for _ in 0..depth {
        t = t.child();
    }
    t
}

#[test]
fn a_deep_chain_is_dropped_without_recursion() {
    on_small_stack(|| {
        let root = CancelToken::new();
        let leaf = chain(&root, DEPTH);
        assert!(!leaf.is_cancelled());
        drop(root);
        // The leaf holds the only handle on the whole chain.
        drop(leaf);
    });
}

#[test]
fn a_deep_chain_is_queried_cancelled_and_waited_on_without_recursion() {
    on_small_stack(|| {
        let root = CancelToken::new();
        let leaf = chain(&root, DEPTH);
        let middle = chain(&root, DEPTH / 2);
        let mut cx = Context::from_waker(Waker::noop());
        let mut waiting = pin!(leaf.cancelled());
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        let tokio = leaf.as_tokio().clone();
        assert!(!tokio.is_cancelled());
        assert_eq!(leaf.reason(), None);
        assert!(root.cancel_with(CancelReason::Shutdown));
        assert!(leaf.is_cancelled());
        assert!(middle.is_cancelled());
        assert!(tokio.is_cancelled());
        assert!(waiting.as_mut().poll(&mut cx).is_ready());
        assert_eq!(leaf.reason(), Some(CancelReason::Shutdown));
        assert_eq!(middle.reason(), Some(CancelReason::Shutdown));
        assert!(!leaf.cancel_with(CancelReason::Condition(None)));
        // Children made below a cancelled chain are cancelled at once.
        let below = chain(&leaf, 1_000);
        assert_eq!(below.reason(), Some(CancelReason::Shutdown));
    });
}

#[test]
fn a_deep_chain_cancelled_in_the_middle_reaches_only_what_is_below() {
    on_small_stack(|| {
        let root = CancelToken::new();
        let middle = chain(&root, DEPTH / 2);
        let leaf = chain(&middle, DEPTH / 2);
        let mut cx = Context::from_waker(Waker::noop());
        let mut waiting = pin!(leaf.cancelled());
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        assert!(middle.cancel_with(CancelReason::ClientDisconnected));
        assert!(!root.is_cancelled());
        assert!(waiting.as_mut().poll(&mut cx).is_ready());
        assert_eq!(leaf.reason(), Some(CancelReason::ClientDisconnected));
        root.cancel_with(CancelReason::Shutdown);
        assert_eq!(leaf.reason(), Some(CancelReason::ClientDisconnected));
    });
}
