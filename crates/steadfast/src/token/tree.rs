//! The tree of tokens: the node behind every [`CancelToken`], linking a child into its parent's
//! table, carrying a cancellation down to the linked descendants in a loop, and dropping a
//! chain of tokens without recursing.

use std::mem::ManuallyDrop;
use std::sync::{Arc, OnceLock};

use super::attachment::Attachment;
use super::waiters::{Shared, Slot};
use super::{CancelReason, CancelToken, WeakToken};
use crate::sync::{fence, AtomicU8, AtomicUsize, Mutex, MutexGuard, Ordering};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// `Node::state` bit: the token's reason is recorded. Set under the token's lock and never
/// cleared.
pub(super) const CANCELLED: u8 = 1;
/// `Node::state` bit: cancelling any ancestor reaches this token (it has a slot in its
/// parent's table, or it is a root). Set once and never cleared.
pub(super) const LINKED: u8 = 2;

/// The most tokens a query walks before it reaches one whose state its ancestors keep up to
/// date: a child made below a longer run of unlinked tokens links that run into the tree
/// first. Requests rarely nest deeper than this, so their tokens are made without a lock.
pub(super) const MAX_RUN: u8 = 8;

/// The state that a [`CancelToken`] and all its clones share.
pub(super) struct Node {
    /// [`CANCELLED`] and [`LINKED`] bits: one atomic load tells whether this token's reason
    /// is recorded and whether a query has to look further up.
    pub(super) state: AtomicU8,
    /// How many unlinked nodes, this one included, a query walked from here when this node
    /// was made (0 for a root); at most [`MAX_RUN`].
    run: u8,
    /// Retry layers must not retry work done for this token (an upstream already retries the
    /// request); inherited by children.
    pub(super) no_retries: bool,
    /// This node's slot in its parent's table, valid once [`LINKED`] is set on a child.
    /// Written once, under the parent's lock, before the bit; a linked node's parent is
    /// linked too (or is the root).
    link: AtomicUsize,
    /// The table of waiters and linked children, then the reason. Dropped by `Node::drop`,
    /// and only when there is something to drop.
    shared: Mutex<ManuallyDrop<Shared>>,
    /// A tokio-util token that follows this one, made on demand by [`CancelToken::as_tokio`].
    /// Dropped by `Node::drop`, and only when it was made.
    pub(super) tokio: ManuallyDrop<OnceLock<CancellationToken>>,
    pub(super) parent: Option<CancelToken>,
    pub(super) deadline: Option<Instant>,
    /// When this fires, the token is draining: no new work should start for it.
    pub(super) drain: Option<CancelToken>,
    /// What is attached to this token (the running operation it belongs to, say), shared
    /// with its children and dropped with the last of them. A thin pointer, so that tokens
    /// with nothing attached stay as small as they were.
    pub(super) attached: Option<Arc<Arc<dyn Attachment>>>,
}

impl Node {
    #[inline(always)]
    pub(super) fn new(
        parent: Option<CancelToken>,
        deadline: Option<Instant>,
        drain: Option<CancelToken>,
        attached: Option<Arc<Arc<dyn Attachment>>>,
    ) -> Self {
        let (run, no_retries, state) = match &parent {
            None => (0, false, LINKED),
            Some(p) => (p.node.child_run(), p.node.no_retries, 0),
        };
        Node {
            state: AtomicU8::new(state),
            run,
            no_retries,
            link: AtomicUsize::new(0),
            shared: Mutex::new(ManuallyDrop::new(Shared::Idle)),
            tokio: ManuallyDrop::new(OnceLock::new()),
            parent,
            deadline,
            drain,
            attached,
        }
    }

    /// The `run` of a child made now: one more than the unlinked run this node ends. A run
    /// already `MAX_RUN` long is linked into the tree first (or found cancelled), once, so
    /// every query stays bounded and the child starts a new run.
    #[inline(always)]
    fn child_run(self: &Arc<Self>) -> u8 {
        let state = self.state.load(Ordering::Acquire);
        if state & (CANCELLED | LINKED) != 0 {
            1
        } else if self.run < MAX_RUN {
            self.run + 1
        } else {
            anchor(self);
            1
        }
    }

    pub(super) fn shared(&self) -> MutexGuard<'_, ManuallyDrop<Shared>> {
        // The state is consistent after every statement, so a panic elsewhere cannot leave it
        // half-changed: a poisoned lock is still safe to use.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `true` when cancelling any ancestor reaches this node (it is linked, or the root).
    #[cfg(test)]
    pub(super) fn is_linked(&self) -> bool {
        self.state.load(Ordering::Acquire) & LINKED != 0
    }

    /// Records `reason` if no reason is recorded yet, closes the table and wakes its waiters;
    /// the linked children still alive are pushed on `children`, for the caller to settle in
    /// turn (a loop, so a deep tree does not recurse). `false` if a reason was already there.
    fn settle(&self, reason: &CancelReason, children: &mut Vec<Arc<Node>>) -> bool {
        let mut shared = self.shared();
        if shared.reason().is_some() {
            return false;
        }
        let open = std::mem::replace(&mut **shared, Shared::Cancelled(reason.clone()));
        self.state.fetch_or(CANCELLED, Ordering::SeqCst);
        drop(shared);
        // Pairs with the fence in `as_tokio`: one of the two sees the other's write.
        fence(Ordering::SeqCst);
        if let Some(t) = self.tokio.get() {
            t.cancel();
        }
        if let Shared::Open(table) = open {
            for slot in table.into_slots() {
                match slot {
                    Slot::Waiting(waker) => waker.wake(),
                    Slot::Child(child) => children.extend(child.0.upgrade()),
                    Slot::Vacant | Slot::Free { .. } => {}
                }
            }
        }
        true
    }
}

impl Drop for Node {
    #[inline]
    fn drop(&mut self) {
        // Most tokens are never waited on, linked, cancelled or asked for a tokio-util token:
        // for them, two loads stand for the drop of both.
        let shared = self.shared.get_mut().unwrap_or_else(|e| e.into_inner());
        if !matches!(**shared, Shared::Idle) {
            drop_shared(shared);
        }
        if self.tokio.get().is_some() {
            drop(self.tokio.take());
        }
        let Some(parent) = self.parent.take() else {
            return;
        };
        if self.state.load(Ordering::Relaxed) & LINKED != 0 {
            unlink(&parent, self.link.load(Ordering::Relaxed));
        }
        if Arc::strong_count(&parent.node) > 1 {
            // Others hold the parent (the usual case: a long-lived parent). Should they all
            // let go meanwhile, dropping it here runs its own release: one frame more.
            return;
        }
        release(parent);
    }
}

/// Drops what a node keeps under its lock, leaving it idle.
#[cold]
#[inline(never)]
fn drop_shared(shared: &mut ManuallyDrop<Shared>) {
    match &**shared {
        // Every waiter and child has left (they hold the node, so they have by now) and
        // nothing spilled: the table owns nothing to release.
        Shared::Open(table) if table.holds_nothing() => {}
        _ => drop(std::mem::take(&mut **shared)),
    }
}

/// Takes `key` out of `parent`'s table: the node that held it is going.
#[cold]
#[inline(never)]
fn unlink(parent: &CancelToken, key: usize) {
    parent.node.shared().remove(key);
}

/// Drops the last handle on `token`'s node and then, in a loop rather than a recursion, each
/// ancestor that this releases: each node leaves its parent's table and hands its handle on its own parent to the next turn.
#[cold]
#[inline(never)]
fn release(mut token: CancelToken) {
    loop {
        // Taken in place when nothing else refers to it, which saves moving the node out.
        let next = match Arc::get_mut(&mut token.node) {
            Some(node) => node.detach(),
            None => Arc::into_inner(token.node).and_then(|mut node| node.detach()),
        };
        match next {
            Some(parent) if Arc::strong_count(&parent.node) == 1 => token = parent,
            // Others hold it: dropping this handle only counts down (or, should they all let
            // go meanwhile, runs the parent's own release: one frame more).
            _ => return,
        }
    }
}

impl Node {
    /// Leaves the parent's table and hands back the handle on the parent, for [`release`].
    fn detach(&mut self) -> Option<CancelToken> {
        let parent = self.parent.take()?;
        if self.state.load(Ordering::Relaxed) & LINKED != 0 {
            unlink(&parent, self.link.load(Ordering::Relaxed));
        }
        Some(parent)
    }
}

/// Records `reason` on `node` (unless it has one), then on every linked descendant that has
/// none yet, waking their waiters. `false` if `node` already had a reason.
pub(super) fn cancel_node(node: &Node, reason: CancelReason) -> bool {
    let mut children = Vec::new();
    if !node.settle(&reason, &mut children) {
        return false;
    }
    while let Some(child) = children.pop() {
        child.settle(&reason, &mut children);
    }
    true
}

/// The reason recorded on `token`, once it has been found cancelled (and so has one).
#[cold]
#[inline(never)]
pub(super) fn recorded_reason(token: &Node) -> Option<CancelReason> {
    token.shared().reason().cloned()
}

/// Gives `token` the reason of `from` (itself or a cancelled ancestor) unless it has one;
/// always `false`, for [`anchor`].
#[cold]
#[inline(never)]
pub(super) fn inherit(token: &Node, from: &Node) -> bool {
    if !std::ptr::eq(token, from) {
        let inherited = from.shared().reason().cloned();
        if let Some(reason) = inherited {
            cancel_node(token, reason);
        }
    }
    false
}

/// Links `token`, and the unlinked ancestors above it, into their parents' tables, so that
/// cancelling any ancestor reaches it. `false` if the token turns out to be cancelled (it
/// then has its reason).
#[inline]
pub(super) fn anchor(token: &Arc<Node>) -> bool {
    let state = token.state.load(Ordering::Acquire);
    if state & CANCELLED != 0 {
        return false;
    }
    if state & LINKED != 0 {
        return true;
    }
    match &token.parent {
        // The usual case: a child of a linked token (a root, or one waited on).
        Some(parent) if parent.node.state.load(Ordering::Acquire) == LINKED => {
            link(token, token, &parent.node)
        }
        _ => anchor_run(token),
    }
}

/// Links `child` into the table of `parent`, itself linked (or the root), unless another
/// thread got there first; `false` if `parent` turns out to be cancelled (`token`, `child`
/// or one of its descendants, then has its reason).
fn link(token: &Node, child: &Arc<Node>, parent: &Node) -> bool {
    let mut shared = parent.shared();
    let Some(table) = shared.table() else {
        drop(shared);
        return inherit(token, parent);
    };
    if child.state.load(Ordering::Acquire) & LINKED == 0 {
        let key = table.insert(Slot::Child(WeakToken(Arc::downgrade(child))));
        child.link.store(key, Ordering::Relaxed);
        // Release: whoever sees the bit sees the key.
        child.state.fetch_or(LINKED, Ordering::Release);
    }
    true
}

/// [`anchor`] for a token below a run of unlinked ones: links them top down.
#[cold]
#[inline(never)]
fn anchor_run(token: &Arc<Node>) -> bool {
    let mut path: [Option<&Arc<Node>>; MAX_RUN as usize] = [None; MAX_RUN as usize];
    let mut len = 0;
    let mut node = token;
    loop {
        let state = node.state.load(Ordering::Acquire);
        if state & CANCELLED != 0 {
            return inherit(token, node);
        }
        let Some(parent) = node.parent.as_ref().filter(|_| state & LINKED == 0) else {
            break;
        };
        // A run is at most `MAX_RUN` long; a longer one would only be linked in part.
        if len == path.len() {
            break;
        }
        path[len] = Some(node);
        len += 1;
        node = &parent.node;
    }
    // Top down: each node is linked to a parent that is linked already.
    for child in path[..len].iter().rev().flatten() {
        let Some(parent) = &child.parent else {
            continue;
        };
        if !link(token, child, &parent.node) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::task::{Context, Waker};

    #[test]
    fn children_inherit_the_parent_reason() {
        let parent = CancelToken::new();
        let child = parent.child();
        let grandchild = child.child();
        assert!(!grandchild.is_cancelled());
        assert_eq!(grandchild.reason(), None);
        parent.cancel_with(CancelReason::Signal(15));
        assert!(grandchild.is_cancelled());
        assert_eq!(grandchild.reason(), Some(CancelReason::Signal(15)));
        // Cancelled through the parent: a later direct cancel does not change the reason.
        assert!(!grandchild.cancel_with(CancelReason::Condition(None)));
        assert_eq!(grandchild.reason(), Some(CancelReason::Signal(15)));
    }

    #[test]
    fn child_keeps_its_own_reason() {
        let parent = CancelToken::new();
        let child = parent.child();
        child.cancel_with(CancelReason::ClientDisconnected);
        assert!(!parent.is_cancelled());
        parent.cancel_with(CancelReason::Shutdown);
        assert_eq!(child.reason(), Some(CancelReason::ClientDisconnected));
    }

    #[test]
    fn a_token_nobody_waits_on_builds_nothing_under_its_lock() {
        let root = CancelToken::new();
        let child = root.child();
        let grandchild = child.child();
        assert!(!grandchild.is_cancelled());
        assert_eq!(grandchild.reason(), None);
        assert!(grandchild.cancel_with(CancelReason::Deadline));
        // Made, queried and cancelled on its own: nothing was registered anywhere.
        let idle = |t: &CancelToken| matches!(**t.node.shared(), Shared::Idle);
        assert!(idle(&root));
        assert!(idle(&child));
        assert!(matches!(
            **grandchild.node.shared(),
            Shared::Cancelled(CancelReason::Deadline)
        ));
        let other = root.child();
        assert!(!other.is_cancelled());
        assert!(idle(&other));
        // Cancelled, the reason takes the table's place; the woken waiter's slot goes with it.
        let mut cx = Context::from_waker(Waker::noop());
        let mut waiting = Box::pin(other.cancelled());
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        assert!(matches!(**other.node.shared(), Shared::Open(_)));
        root.cancel_with(CancelReason::Shutdown);
        assert!(matches!(
            **other.node.shared(),
            Shared::Cancelled(CancelReason::Shutdown)
        ));
        assert!(waiting.as_mut().poll(&mut cx).is_ready());
    }

    #[test]
    fn a_dropped_token_releases_what_its_table_held() {
        use std::task::Wake;
        struct Nop;
        impl Wake for Nop {
            fn wake(self: Arc<Self>) {}
        }
        let task = Arc::new(Nop);
        let waker = Waker::from(task.clone());
        let mut cx = Context::from_waker(&waker);
        let root = CancelToken::new();
        for waiters in [1, 2, 5, 40] {
            let child = root.child();
            let grandchildren: Vec<_> = (0..waiters).map(|_| child.child()).collect();
            let mut waiting: Vec<_> = grandchildren
                .iter()
                .chain(std::iter::repeat_n(&child, waiters))
                .map(|t| Box::pin(t.cancelled()))
                .collect();
            for w in &mut waiting {
                assert!(w.as_mut().poll(&mut cx).is_pending());
            }
            // `task` and `waker`, and one clone of the waker in each slot.
            assert_eq!(Arc::strong_count(&task), 2 + 2 * waiters);
            drop(waiting);
            drop(grandchildren);
            drop(child);
            assert_eq!(Arc::strong_count(&task), 2, "{waiters} waiters");
            assert_eq!(Arc::weak_count(&root.node), 0, "{waiters} waiters");
        }
    }

    /// How many nodes a query reads, from `token` up.
    fn walk_len(token: &CancelToken) -> usize {
        let mut node = &token.node;
        let mut n = 1;
        while let Some(parent) = node.parent.as_ref().filter(|_| !node.is_linked()) {
            node = &parent.node;
            n += 1;
        }
        n
    }

    #[test]
    fn queries_read_a_bounded_number_of_nodes_at_any_depth() {
        let root = CancelToken::new();
        let mut t = root.clone();
        for depth in 1..=10_000 {
            t = t.child();
            assert!(walk_len(&t) <= usize::from(MAX_RUN) + 1, "at depth {depth}");
        }
        // Requests nest shallowly: their tokens are made without linking anything.
        let request = root.child().child().child();
        assert!(!request.node.is_linked());
        assert_eq!(
            root.node.shared().open_table().used(),
            1,
            "only the deep chain linked"
        );
    }

    /// The state loom found in a race: the root is cancelled, its cancellation has not yet
    /// reached the linked child, and a grandchild below an unlinked run has seen the root.
    /// The grandchild must stay cancelled, with the root's reason, from then on.
    #[test]
    fn a_token_seen_cancelled_through_an_ancestor_stays_cancelled() {
        let root = CancelToken::new();
        let child = root.child();
        let grandchild = child.child();
        // The grandchild's walk passes the child while it is unlinked and finds the root
        // cancelled (the root's own children are left unsettled here).
        let mut pending = Vec::new();
        assert!(root.node.settle(&CancelReason::Shutdown, &mut pending));
        assert!(grandchild.is_cancelled());
        // The child then reads as linked but not yet cancelled, as when it was linked just
        // before the root's cancellation, which has yet to settle it.
        child.node.state.fetch_or(LINKED, Ordering::Release);
        assert!(
            grandchild.is_cancelled(),
            "once seen cancelled, it stays so"
        );
        assert_eq!(grandchild.reason(), Some(CancelReason::Shutdown));
    }
}
