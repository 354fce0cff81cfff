//! Model checks of the cancellation token under every interleaving `loom` can find: a child
//! cancelled from one thread while its parent is cancelled from another, with a third reading
//! the child's reason. Run with:
//!
//! ```sh
//! RUSTFLAGS="--cfg steadfast_loom" cargo test -p steadfast --test loom_token --release
//! ```
#![cfg(steadfast_loom)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Waker};

use loom::thread;
use steadfast::token::{CancelReason, CancelToken};

/// Cancels `child` and `parent` from two threads while this one reads `observed`'s reason
/// twice; checks that a reason, once seen, never changes, and that the child's `cancel_with`
/// reports a win exactly when its own reason is the one that stands.
fn race(parent: &CancelToken, child: &CancelToken, observed: &CancelToken) {
    let own = {
        let child = child.clone();
        thread::spawn(move || child.cancel_with(CancelReason::ClientDisconnected))
    };
    let shutdown = {
        let parent = parent.clone();
        thread::spawn(move || parent.cancel_with(CancelReason::Shutdown))
    };
    let first = observed.reason();
    let second = observed.reason();
    let child_won = own.join().unwrap();
    assert!(shutdown.join().unwrap(), "nothing else cancels the parent");
    let last = observed
        .reason()
        .expect("cancelled through the child or the parent");
    if first.is_some() {
        assert!(second.is_some(), "a cancelled token stays cancelled");
    }
    for seen in [first, second].into_iter().flatten() {
        assert_eq!(seen, last, "a reason, once seen, never changes");
    }
    assert_eq!(
        child.reason(),
        Some(if child_won {
            CancelReason::ClientDisconnected
        } else {
            CancelReason::Shutdown
        }),
        "the child's cancel_with wins exactly when its reason stands"
    );
    assert_eq!(parent.reason(), Some(CancelReason::Shutdown));
}

/// A child nobody waits on: its parent does not know it, so readers look up.
#[test]
fn unlinked_child_and_parent_cancelled_together() {
    loom::model(|| {
        let parent = CancelToken::new();
        let child = parent.child();
        race(&parent, &child, &child);
    });
}

/// A child that is waited on: linked to its parent, which records its reason on the child
/// when it is cancelled; the waiter is woken either way.
#[test]
fn waited_child_and_parent_cancelled_together() {
    loom::model(|| {
        let parent = CancelToken::new();
        let child = parent.child();
        let mut waiting = pin!(child.cancelled());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        race(&parent, &child, &child);
        assert!(waiting.as_mut().poll(&mut cx).is_ready());
    });
}

/// A grandchild that nobody waits on, below a waited child: its reason is whichever of the
/// two reached the child first.
#[test]
fn grandchild_of_a_racing_child_and_parent() {
    loom::model(|| {
        let parent = CancelToken::new();
        let child = parent.child();
        let mut waiting = pin!(child.cancelled());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        let grandchild = child.child();
        race(&parent, &child, &grandchild);
        assert_eq!(grandchild.reason(), child.reason());
    });
}
