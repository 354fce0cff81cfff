//! Model checks of the cancellation token under every interleaving `loom` can find: a child
//! cancelled from one thread while its parent is cancelled from another, with a third reading
//! the child's reason; waiters registering, dropped, or created on new children while a
//! cancellation runs on another thread, each woken exactly once. Run with:
//!
//! ```sh
//! RUSTFLAGS="--cfg steadfast_loom" cargo test -p steadfast --test loom_token --release
//! ```
#![cfg(steadfast_loom)]

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering as StdOrdering};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

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

/// Counts the times it is woken.
#[derive(Default)]
struct Wakes(AtomicUsize);

impl Wake for Wakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, StdOrdering::SeqCst);
    }
}

/// A waker that counts its wake-ups, and the count.
fn counting_waker() -> (Arc<Wakes>, Waker) {
    let wakes = Arc::new(Wakes::default());
    (wakes.clone(), Waker::from(wakes))
}

impl Wakes {
    fn count(&self) -> usize {
        self.0.load(StdOrdering::SeqCst)
    }
}

/// Polls a waiter on `waited` for the first time while another thread cancels `cancelled`
/// (the same token, or an ancestor): the waiter is woken exactly once if that poll had to
/// wait and never if it did not, and is ready afterwards.
fn register_while_cancelling(cancelled: &CancelToken, waited: &CancelToken) {
    let canceller = {
        let token = cancelled.clone();
        thread::spawn(move || token.cancel_with(CancelReason::Shutdown))
    };
    let (wakes, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut waiting = pin!(waited.cancelled());
    let first = waiting.as_mut().poll(&mut cx);
    assert!(canceller.join().unwrap());
    let expected = usize::from(first.is_pending());
    assert_eq!(
        wakes.count(),
        expected,
        "a waiter that had to wait is woken exactly once"
    );
    assert!(waiting.as_mut().poll(&mut cx).is_ready());
    assert_eq!(waited.reason(), Some(CancelReason::Shutdown));
    assert_eq!(wakes.count(), expected, "no wake-up after the last poll");
}

/// A waiter registers on a token while another thread cancels that token.
#[test]
fn waiter_registers_while_its_token_is_cancelled() {
    loom::model(|| {
        let token = CancelToken::new();
        register_while_cancelling(&token, &token);
    });
}

/// A waiter registers on a child (linking the child to its parent) while another thread
/// cancels the parent: the cancellation reaches the link or the waiter sees the parent
/// cancelled, and either way no wake-up is lost.
#[test]
fn waiter_on_a_child_registers_while_the_parent_is_cancelled() {
    loom::model(|| {
        let parent = CancelToken::new();
        let child = parent.child();
        register_while_cancelling(&parent, &child);
    });
}

/// A child is made, and waited on, while another thread cancels its parent: the child ends
/// with the parent's reason and its waiter is woken exactly once if it had to wait.
#[test]
fn child_created_while_the_parent_is_cancelled() {
    loom::model(|| {
        let parent = CancelToken::new();
        let canceller = {
            let parent = parent.clone();
            thread::spawn(move || parent.cancel_with(CancelReason::Shutdown))
        };
        let child = parent.child();
        let (wakes, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut waiting = pin!(child.cancelled());
        let first = waiting.as_mut().poll(&mut cx);
        assert!(canceller.join().unwrap());
        assert_eq!(child.reason(), Some(CancelReason::Shutdown));
        assert_eq!(wakes.count(), usize::from(first.is_pending()));
        assert!(waiting.as_mut().poll(&mut cx).is_ready());
    });
}

/// Of two waiters on a child, one is dropped on another thread while a third cancels the
/// parent: the dropped waiter is woken at most once, the other exactly once, and nothing is
/// left registered (loom checks that every handle is released).
#[test]
fn waiter_dropped_while_the_parent_is_cancelled() {
    loom::model(|| {
        let parent = CancelToken::new();
        let child = parent.child();
        let (kept_wakes, kept_waker) = counting_waker();
        let (dropped_wakes, dropped_waker) = counting_waker();
        let mut kept = pin!(child.cancelled());
        let mut dropped = Box::pin(child.cancelled());
        assert!(kept
            .as_mut()
            .poll(&mut Context::from_waker(&kept_waker))
            .is_pending());
        assert!(dropped
            .as_mut()
            .poll(&mut Context::from_waker(&dropped_waker))
            .is_pending());
        let dropper = thread::spawn(move || drop(dropped));
        let canceller = {
            let parent = parent.clone();
            thread::spawn(move || parent.cancel())
        };
        dropper.join().unwrap();
        assert!(canceller.join().unwrap());
        assert!(dropped_wakes.count() <= 1, "woken at most once");
        assert_eq!(kept_wakes.count(), 1, "the waiter left is woken once");
        assert!(kept
            .as_mut()
            .poll(&mut Context::from_waker(&kept_waker))
            .is_ready());
    });
}

/// A thread blocks on a grandchild's cancellation while the root is cancelled from another:
/// the waiting thread always wakes (a lost wake-up would leave it blocked, which loom reports
/// as a deadlock).
#[test]
fn blocked_waiter_is_always_woken() {
    loom::model(|| {
        let root = CancelToken::new();
        let grandchild = root.child().child();
        let waiter = thread::spawn(move || {
            loom::future::block_on(grandchild.cancelled());
            grandchild.reason()
        });
        assert!(root.cancel_with(CancelReason::Shutdown));
        assert_eq!(waiter.join().unwrap(), Some(CancelReason::Shutdown));
    });
}

/// Two threads block on a child and on a grandchild of a root cancelled from a third: both
/// wake, and a token whose wait has completed reads as cancelled from then on, with its
/// reason, even while the root's cancellation is still on its way to a linked child between
/// them.
#[test]
fn two_blocked_waiters_on_a_child_and_a_grandchild() {
    loom::model(|| {
        let root = CancelToken::new();
        let child = root.child();
        let grandchild = child.child();
        let waiters: Vec<_> = [child, grandchild]
            .into_iter()
            .map(|token| {
                thread::spawn(move || {
                    loom::future::block_on(token.cancelled());
                    (token.is_cancelled(), token.reason())
                })
            })
            .collect();
        assert!(root.cancel_with(CancelReason::Shutdown));
        for waiter in waiters {
            assert_eq!(
                waiter.join().unwrap(),
                (true, Some(CancelReason::Shutdown)),
                "a token whose wait completed reads as cancelled"
            );
        }
    });
}
