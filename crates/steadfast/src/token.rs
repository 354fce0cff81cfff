//! The per-request cancellation token.
//!
//! A [`CancelToken`] travels with a request (for HTTP, in the request's extensions) and says
//! whether anyone is still waiting for the work. It is cheap to clone, can be cancelled from any
//! thread or from synchronous code, remembers *why* it was cancelled ([`CancelReason`]), and
//! hands that reason down to its children. Layers read it through [`HasCancelToken`]: the retry
//! layer never starts an attempt on a cancelled token and wakes from a backoff sleep the moment
//! the token fires.
//!
//! ```
//! use steadfast::token::{CancelReason, CancelToken};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let shutdown = CancelToken::new();
//! let request = shutdown.child();
//!
//! let waiter = tokio::spawn({
//!     let request = request.clone();
//!     async move {
//!         request.cancelled().await;
//!         request.reason()
//!     }
//! });
//!
//! // Cancel from a plain thread: safe, and the first reason wins.
//! std::thread::spawn(move || shutdown.cancel_with(CancelReason::Shutdown)).join().unwrap();
//! assert_eq!(waiter.await.unwrap(), Some(CancelReason::Shutdown));
//! # }
//! ```
//!
//! # Invariants
//!
//! * A token's reason is recorded at most once, under its lock, and its `state` is set to
//!   cancelled in the same critical section and never back: one atomic load tells whether
//!   this token's own reason is recorded (and whether it is linked), and once any observer
//!   has seen a reason it never changes. Of racing `cancel*` calls on one token, only the one
//!   that records its reason returns `true`.
//! * A child is *linked* when it has a slot in its parent's table; a linked child's parent is
//!   linked too (or is the root). Cancelling a token records its reason on every linked
//!   descendant (the same reason, unless one got there first), in a loop with a work list,
//!   never a recursion.
//! * Making a child does not link it, so it takes no lock; it is linked when it is first
//!   waited on, when [`CancelToken::as_tokio`] is asked for, or when children are made more
//!   than `MAX_RUN` (8) levels below the nearest linked ancestor. A query (`is_cancelled`,
//!   `reason`, `cancel_with`) therefore reads at most `MAX_RUN` unlinked tokens before it
//!   reaches a linked one, whatever the depth. A query that finds an unlinked ancestor
//!   cancelled records that ancestor's reason on the token before returning it, so a reason
//!   is seen only once it is the token's own.
//! * A waiting [`Cancelled`] future links its token and holds one slot in its token's table.
//!   Cancelling closes the table under its lock and wakes what it held; a waiter registers
//!   under the same lock after checking for a reason, so a wake-up is never lost.
//! * A token's table is opened when the first waiter or linked child registers, and replaced
//!   by the reason when the token is cancelled: a token that is never waited on, linked or
//!   cancelled builds nothing under its lock and has nothing there to drop.
//! * Waiting allocates nothing while a token's table holds at most two entries (waiters and
//!   linked children): the first slots live in the token itself. Freed slots are reused
//!   before new ones, and a table that is mostly empty gives its memory back.
//! * A waiter polled again by the same task (a waker that `will_wake` the registered one)
//!   takes no lock: the registered waker, kept alive by the slot, still wakes that task.
//! * Dropping a token releases its ancestors in a loop: each node, before it goes, leaves its
//!   parent's table and hands its handle on the parent back to the loop.

use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::operations::Entry;
use crate::sync::{fence, AtomicU8, AtomicUsize, Mutex, MutexGuard, Ordering};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Why a token was cancelled.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CancelReason {
    /// A timeout of the given length ran out.
    Timeout(Duration),
    /// An absolute deadline passed.
    Deadline,
    /// Someone called [`CancelToken::cancel`] or cancelled with a message.
    Manual(Option<Arc<str>>),
    /// A parent token (typically the server's) is shutting down.
    Shutdown,
    /// The process received an OS signal (its number, e.g. 15 for `SIGTERM`).
    Signal(i32),
    /// A user-supplied condition became true.
    Condition,
    /// The client that sent the request went away before the response was ready.
    ClientDisconnected,
}

impl CancelReason {
    /// A manual cancellation with a message.
    pub fn manual(message: impl Into<Arc<str>>) -> Self {
        CancelReason::Manual(Some(message.into()))
    }
}

impl fmt::Display for CancelReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CancelReason::Timeout(d) => write!(f, "timed out after {d:?}"),
            CancelReason::Deadline => f.write_str("deadline passed"),
            CancelReason::Manual(None) => f.write_str("cancelled by caller"),
            CancelReason::Manual(Some(m)) => write!(f, "cancelled by caller: {m}"),
            CancelReason::Shutdown => f.write_str("shutting down"),
            CancelReason::Signal(n) => write!(f, "received signal {n}"),
            CancelReason::Condition => f.write_str("cancel condition met"),
            CancelReason::ClientDisconnected => f.write_str("client disconnected"),
        }
    }
}

/// `Node::state` bit: the token's reason is recorded. Set under the token's lock and never
/// cleared.
const CANCELLED: u8 = 1;
/// `Node::state` bit: cancelling any ancestor reaches this token (it has a slot in its
/// parent's table, or it is a root). Set once and never cleared.
const LINKED: u8 = 2;

/// The most tokens a query walks before it reaches one whose state its ancestors keep up to
/// date: a child made below a longer run of unlinked tokens links that run into the tree
/// first. Requests rarely nest deeper than this, so their tokens are made without a lock.
const MAX_RUN: u8 = 8;

struct Node {
    /// [`CANCELLED`] and [`LINKED`] bits: one atomic load tells whether this token's reason
    /// is recorded and whether a query has to look further up.
    state: AtomicU8,
    /// How many unlinked nodes, this one included, a query walked from here when this node
    /// was made (0 for a root); at most [`MAX_RUN`].
    run: u8,
    /// Whether this node is the one registered for `op` (and leaves the registry when dropped).
    registered: bool,
    /// Retry layers must not retry work done for this token (an upstream already retries the
    /// request); inherited by children.
    no_retries: bool,
    /// This node's slot in its parent's table, valid once [`LINKED`] is set on a child.
    /// Written once, under the parent's lock, before the bit; a linked node's parent is
    /// linked too (or is the root).
    link: AtomicUsize,
    /// The table of waiters and linked children, then the reason. Dropped by `Node::drop`,
    /// and only when there is something to drop.
    shared: Mutex<ManuallyDrop<Shared>>,
    /// A tokio-util token that follows this one, made on demand by [`CancelToken::as_tokio`].
    /// Dropped by `Node::drop`, and only when it was made.
    tokio: ManuallyDrop<OnceLock<CancellationToken>>,
    parent: Option<CancelToken>,
    deadline: Option<Instant>,
    /// When this fires, the token is draining: no new work should start for it.
    drain: Option<CancelToken>,
    /// The running operation this token belongs to, inherited by children.
    op: Option<Arc<Entry>>,
}

/// What a node keeps under its lock. A token that is never waited on, linked or cancelled
/// stays `Idle`: nothing to build and nothing to drop.
#[derive(Default)]
enum Shared {
    #[default]
    Idle,
    /// Waiters or linked children have registered.
    Open(Table),
    /// The token's reason, recorded once (directly, or by an ancestor's cancellation
    /// reaching it); the table is closed from then on.
    Cancelled(CancelReason),
}

impl Shared {
    #[inline]
    fn reason(&self) -> Option<&CancelReason> {
        match self {
            Shared::Cancelled(reason) => Some(reason),
            _ => None,
        }
    }

    /// The table to register in, opened on first use; `None` once the token is cancelled.
    #[inline]
    fn table(&mut self) -> Option<&mut Table> {
        if let Shared::Idle = self {
            *self = Shared::Open(Table::default());
        }
        match self {
            Shared::Open(table) => Some(table),
            _ => None,
        }
    }

    /// The open table, for tests that look inside it.
    #[cfg(test)]
    fn open_table(&self) -> &Table {
        match self {
            Shared::Open(table) => table,
            _ => panic!("the table is not open"),
        }
    }

    /// Releases `key`, if the table still holds it.
    #[inline]
    fn remove(&mut self, key: usize) {
        if let Shared::Open(table) = self {
            table.remove(key);
        }
    }
}

impl Node {
    #[inline(always)]
    fn new(
        parent: Option<CancelToken>,
        deadline: Option<Instant>,
        drain: Option<CancelToken>,
        op: Option<Arc<Entry>>,
        registered: bool,
    ) -> Self {
        let (run, no_retries, state) = match &parent {
            None => (0, false, LINKED),
            Some(p) => (p.node.child_run(), p.node.no_retries, 0),
        };
        Node {
            state: AtomicU8::new(state),
            run,
            registered,
            no_retries,
            link: AtomicUsize::new(0),
            shared: Mutex::new(ManuallyDrop::new(Shared::Idle)),
            tokio: ManuallyDrop::new(OnceLock::new()),
            parent,
            deadline,
            drain,
            op,
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

    fn shared(&self) -> MutexGuard<'_, ManuallyDrop<Shared>> {
        // The state is consistent after every statement, so a panic elsewhere cannot leave it
        // half-changed: a poisoned lock is still safe to use.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `true` when cancelling any ancestor reaches this node (it is linked, or the root).
    #[cfg(test)]
    fn is_linked(&self) -> bool {
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
                    Slot::Child(child) => children.extend(child.upgrade()),
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
        if self.registered {
            if let Some(op) = &self.op {
                op.leave();
            }
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
/// ancestor that this releases: each node leaves its parent's table and the registry of
/// operations, and hands its handle on its own parent to the next turn.
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
    /// Leaves the parent's table and the registry of operations, and hands back the handle
    /// on the parent, for [`release`].
    fn detach(&mut self) -> Option<CancelToken> {
        if self.registered {
            self.registered = false;
            if let Some(op) = &self.op {
                op.leave();
            }
        }
        let parent = self.parent.take()?;
        if self.state.load(Ordering::Relaxed) & LINKED != 0 {
            unlink(&parent, self.link.load(Ordering::Relaxed));
        }
        Some(parent)
    }
}

/// Records `reason` on `node` (unless it has one), then on every linked descendant that has
/// none yet, waking their waiters. `false` if `node` already had a reason.
fn cancel_node(node: &Node, reason: CancelReason) -> bool {
    let mut children = Vec::new();
    if !node.settle(&reason, &mut children) {
        return false;
    }
    while let Some(child) = children.pop() {
        child.settle(&reason, &mut children);
    }
    true
}

/// The reason recorded on `token`, found cancelled at `cancelled` (itself or an ancestor).
/// Cancelled through an ancestor that has not reached `token` yet, the ancestor's reason
/// becomes `token`'s (unless another got there first) before anyone sees it.
#[cold]
#[inline(never)]
fn recorded_reason(token: &Node, cancelled: &Node) -> Option<CancelReason> {
    inherit(token, cancelled);
    token.shared().reason().cloned()
}

/// Gives `token` the reason of `from` (itself or a cancelled ancestor) unless it has one;
/// always `false`, for [`anchor`].
fn inherit(token: &Node, from: &Node) -> bool {
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
fn anchor(token: &Arc<Node>) -> bool {
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
        let key = table.insert(Slot::Child(Arc::downgrade(child)));
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

/// How many slots a token keeps inside its own node before it allocates: most tokens are
/// waited on by one or two futures (the layer that made the token and one below it), or have
/// a waiting child and a waiter.
const INLINE_SLOTS: usize = 2;

/// A table whose spilled part has at least this many slots of capacity gives memory back when
/// it is mostly empty.
const SHRINK_MIN: usize = 32;

/// The wakers waiting on one token and the children linked to it: a slab of slots, so that a
/// waiter or a child can update or remove its own slot by index. The first [`INLINE_SLOTS`]
/// slots live in the node itself, so the usual one or two entries never allocate; the rest
/// spill into a `Vec`. Free slots are chained through the slab itself, so removing an entry
/// never allocates. Handed back whole when the token is cancelled (the reason takes its place).
///
/// When fewer than a quarter of the spilled capacity is in use and the upper half of the slots
/// is free, the free tail is cut off and the capacity brought down to twice what is in use:
/// a token that once had many waiters (a server's shutdown token after a burst) gives the
/// memory back, and the cost is amortised over the removals that emptied it.
#[derive(Default)]
struct Table {
    inline: [Slot; INLINE_SLOTS],
    spill: Vec<Slot>,
    /// How many slots have ever been used (in use or free): the next new slot's index.
    len: usize,
    /// How many slots are in use.
    used: usize,
    /// The first free slot, if any; each free slot names the next.
    free: Option<usize>,
}

#[derive(Default)]
enum Slot {
    Waiting(Waker),
    /// A child linked to this token: cancelling this token cancels it.
    Child(std::sync::Weak<Node>),
    #[default]
    Vacant,
    Free {
        next: Option<usize>,
    },
}

impl Table {
    fn slot_mut(&mut self, key: usize) -> Option<&mut Slot> {
        if key < INLINE_SLOTS {
            (key < self.len).then(|| &mut self.inline[key])
        } else {
            self.spill.get_mut(key - INLINE_SLOTS)
        }
    }

    #[inline]
    fn insert(&mut self, entry: Slot) -> usize {
        let reused = match self.free {
            Some(i) => match self.slot_mut(i) {
                Some(&mut Slot::Free { next }) => Some((i, next)),
                _ => None,
            },
            None => None,
        };
        let key = match reused {
            Some((i, next)) => {
                self.free = next;
                i
            }
            None => {
                let i = self.len;
                self.len += 1;
                if i >= INLINE_SLOTS {
                    self.grow();
                }
                i
            }
        };
        if let Some(slot) = self.slot_mut(key) {
            *slot = entry;
        }
        self.used += 1;
        key
    }

    /// Adds a spilled slot, for [`insert`](Self::insert).
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        self.spill.push(Slot::Vacant);
    }

    fn update(&mut self, key: usize, waker: &Waker) {
        if let Some(Slot::Waiting(slot)) = self.slot_mut(key) {
            if !slot.will_wake(waker) {
                *slot = waker.clone();
            }
        }
    }

    fn remove(&mut self, key: usize) {
        let next = self.free;
        match self.slot_mut(key) {
            Some(slot @ (Slot::Waiting(_) | Slot::Child(_))) => *slot = Slot::Free { next },
            _ => return,
        }
        self.free = Some(key);
        self.used -= 1;
        if self.spill.capacity() >= SHRINK_MIN && self.used * 4 < self.spill.capacity() {
            self.shrink();
        }
    }

    /// Cuts off the free tail of the spilled slots when it is at least half of them, and gives
    /// back the capacity beyond twice what is in use.
    #[cold]
    #[inline(never)]
    fn shrink(&mut self) {
        let tail = self
            .spill
            .iter()
            .rev()
            .take_while(|s| matches!(s, Slot::Free { .. }))
            .count();
        if tail * 2 < self.spill.len() {
            return;
        }
        self.spill.truncate(self.spill.len() - tail);
        self.len = if self.spill.is_empty() {
            self.len.min(INLINE_SLOTS)
        } else {
            INLINE_SLOTS + self.spill.len()
        };
        // Chains the free slots that are left in ascending order, so new entries fill the
        // lowest slots and the tail stays free for the next shrink.
        self.free = None;
        for i in (0..self.len).rev() {
            let next = self.free;
            if let Some(slot @ Slot::Free { .. }) = self.slot_mut(i) {
                *slot = Slot::Free { next };
                self.free = Some(i);
            }
        }
        self.spill.shrink_to(2 * self.used);
    }

    /// Every entry, to be woken or settled once the lock is released.
    fn into_slots(self) -> impl Iterator<Item = Slot> {
        self.inline.into_iter().chain(self.spill)
    }

    /// `true` when the table owns nothing that needs releasing: no entry in use and no spilled
    /// slots.
    #[inline]
    fn holds_nothing(&self) -> bool {
        self.used == 0 && self.spill.capacity() == 0
    }

    /// How many slots the table could hold without allocating.
    #[cfg(test)]
    fn capacity(&self) -> usize {
        INLINE_SLOTS + self.spill.capacity()
    }
}

/// A token that does not keep its request's state alive (for the registry of operations).
#[derive(Clone)]
pub(crate) struct WeakToken(std::sync::Weak<Node>);

impl WeakToken {
    pub(crate) fn upgrade(&self) -> Option<CancelToken> {
        self.0.upgrade().map(|node| CancelToken { node })
    }
}

/// A cheap-to-clone cancellation token with a reason, carried by a request.
///
/// Clones share one state; children are cancelled with their parent (and report its reason)
/// but can be cancelled on their own. Cloning, checking, making a child and dropping are
/// lock-free; see the module's invariants.
#[derive(Clone)]
pub struct CancelToken {
    node: Arc<Node>,
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .field("reason", &self.reason())
            .field("deadline", &self.node.deadline)
            .finish()
    }
}

impl Default for CancelToken {
    fn default() -> Self {
        Self::new()
    }
}

impl CancelToken {
    /// A new, uncancelled root token with no deadline.
    pub fn new() -> Self {
        Self::from_parts(None, None, None)
    }

    /// A root token that carries `deadline`.
    ///
    /// The deadline is information for the layers that read the token: the retry layer will
    /// not start an attempt or a backoff sleep that ends past it. Firing the token when the
    /// deadline passes is the job of whoever owns the timer (the cancel layer does).
    pub fn with_deadline(deadline: Instant) -> Self {
        Self::from_parts(None, Some(deadline), None)
    }

    fn from_parts(
        parent: Option<CancelToken>,
        deadline: Option<Instant>,
        drain: Option<CancelToken>,
    ) -> Self {
        let op = parent.as_ref().and_then(|p| p.node.op.clone());
        CancelToken {
            node: Arc::new(Node::new(parent, deadline, drain, op, false)),
        }
    }

    /// A child registered as a running operation: it (and its children) carry `entry`, and
    /// the entry leaves the registry when this child is dropped.
    pub(crate) fn child_tracked(&self, entry: Arc<Entry>) -> Self {
        CancelToken {
            node: Arc::new(Node::new(
                Some(self.clone()),
                self.node.deadline,
                self.node.drain.clone(),
                Some(entry),
                true,
            )),
        }
    }

    /// A child whose work is not to be retried: retry layers that see it (or any of its
    /// children) on a request make one attempt and stop with
    /// [`StopReason::RetriesSuppressed`](crate::retry::StopReason::RetriesSuppressed). A server
    /// gives its requests such a token when its caller already retries them, so that retries
    /// do not multiply from hop to hop.
    ///
    /// ```
    /// use steadfast::token::CancelToken;
    ///
    /// let inbound = CancelToken::new();
    /// assert!(inbound.retries_allowed());
    /// let no_retry = inbound.child_without_retries();
    /// assert!(!no_retry.retries_allowed());
    /// assert!(!no_retry.child().retries_allowed());
    /// ```
    pub fn child_without_retries(&self) -> Self {
        let mut node = Node::new(
            Some(self.clone()),
            self.node.deadline,
            self.node.drain.clone(),
            self.node.op.clone(),
            false,
        );
        node.no_retries = true;
        CancelToken {
            node: Arc::new(node),
        }
    }

    /// `false` when retry layers must not retry work done for this token; see
    /// [`child_without_retries`](Self::child_without_retries).
    pub fn retries_allowed(&self) -> bool {
        !self.node.no_retries
    }

    /// `true` when this handle is the token's only one and nothing can observe it through
    /// another way: no clone, no child, no waiting future, no weak reference (the registry of
    /// operations holds one), and no tokio-util token made by [`as_tokio`](Self::as_tokio).
    /// Whoever holds the only handle can then drop it, or leave it uncancelled, unseen.
    #[cfg(all(feature = "cancel", feature = "http"))]
    pub(crate) fn is_sole(&mut self) -> bool {
        Arc::get_mut(&mut self.node).is_some_and(|node| node.tokio.get().is_none())
    }

    pub(crate) fn downgrade(&self) -> WeakToken {
        WeakToken(Arc::downgrade(&self.node))
    }

    /// Reports progress for the running operation this token belongs to (see
    /// [`crate::operations`]). Does nothing for a token that is not tracked.
    pub fn report_progress(&self, message: impl Into<Arc<str>>) {
        if let Some(op) = &self.node.op {
            op.report(message.into());
        }
    }

    /// The last progress reported for this token's operation.
    pub fn progress(&self) -> Option<Arc<str>> {
        self.node.op.as_ref().and_then(|op| op.progress())
    }

    /// A token for a request: a child of `base` (or a new root), with the earlier of the two
    /// deadlines, draining with `drain` (or with `base`'s drain).
    pub(crate) fn derive(
        base: Option<&CancelToken>,
        deadline: Option<Instant>,
        drain: Option<&CancelToken>,
    ) -> Self {
        let inherited = base.and_then(|b| b.node.deadline);
        let deadline = match (inherited, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let drain = drain
            .cloned()
            .or_else(|| base.and_then(|b| b.node.drain.clone()));
        Self::from_parts(base.cloned(), deadline, drain)
    }

    /// A child token that also *drains* when `drain` fires: while draining, layers start no
    /// new work for it (no new attempt, no new retry) but let work in progress finish; it is
    /// cancelled only when it (or an ancestor) is. Children inherit the drain.
    pub fn child_draining_with(&self, drain: &CancelToken) -> Self {
        Self::derive(Some(self), None, Some(drain))
    }

    /// `true` when no new work should start for this token: it is cancelled, or its drain
    /// token has fired.
    pub fn is_draining(&self) -> bool {
        self.is_cancelled()
            || self
                .node
                .drain
                .as_ref()
                .is_some_and(CancelToken::is_cancelled)
    }

    /// The token whose firing makes this one drain, if any.
    pub fn drain_token(&self) -> Option<&CancelToken> {
        self.node.drain.as_ref()
    }

    /// A child token: cancelled when this one is (with this one's reason), and cancellable on
    /// its own without affecting this one. It inherits this token's deadline.
    pub fn child(&self) -> Self {
        Self::derive(Some(self), None, None)
    }

    /// A child token whose deadline is the earlier of `deadline` and this token's.
    pub fn child_with_deadline(&self, deadline: Instant) -> Self {
        Self::derive(Some(self), Some(deadline), None)
    }

    /// `true` if `other` is a clone of this very token (not merely a relative).
    pub fn same_as(&self, other: &CancelToken) -> bool {
        Arc::ptr_eq(&self.node, &other.node)
    }

    /// The deadline carried by this token, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.node.deadline
    }

    /// Time left until the deadline (zero once it has passed), or `None` without a deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.node
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Cancels the token with [`CancelReason::Manual`] and no message.
    pub fn cancel(&self) -> bool {
        self.cancel_with(CancelReason::Manual(None))
    }

    /// Cancels the token with `reason`.
    ///
    /// Returns `true` if this call cancelled the token, `false` if it was already cancelled
    /// (directly or through an ancestor), in which case the earlier reason stands. When
    /// several sources race (this token cancelled from one thread while its parent is from
    /// another), at most one call returns `true`, and the reason every observer sees is the
    /// one that reached the token first: once seen, it never changes.
    pub fn cancel_with(&self, reason: CancelReason) -> bool {
        if self.reason().is_some() {
            return false;
        }
        cancel_node(&self.node, reason)
    }

    /// The first node, from this one up, that is cancelled; the walk stops at the first linked
    /// node, whose state its ancestors keep up to date, so it reads at most [`MAX_RUN`] nodes.
    #[inline]
    fn cancelled_node(&self) -> Option<&Arc<Node>> {
        let mut node = &self.node;
        loop {
            let state = node.state.load(Ordering::Acquire);
            if state & CANCELLED != 0 {
                return Some(node);
            }
            match &node.parent {
                Some(parent) if state & LINKED == 0 => node = &parent.node,
                _ => return None,
            }
        }
    }

    /// `true` once the token, or any ancestor, has been cancelled.
    ///
    /// Takes no lock and does not depend on how deep the token is: it reads this token's state
    /// and, for a child not yet linked to its parent, those of at most a few ancestors.
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.cancelled_node().is_some()
    }

    /// Why the token was cancelled, or `None` while it is not.
    ///
    /// A token cancelled through an ancestor reports the reason that reached it first. Once a
    /// reason has been returned, this token's reason never changes.
    #[inline]
    pub fn reason(&self) -> Option<CancelReason> {
        let node = self.cancelled_node()?;
        recorded_reason(&self.node, node)
    }

    /// Waits until the token is cancelled.
    ///
    /// Making the future costs one reference count; it registers with the token only when it
    /// is polled and finds the token not yet cancelled.
    pub fn cancelled(&self) -> Cancelled {
        Cancelled {
            token: self.clone(),
            key: NO_KEY,
            registered: (0, 0),
        }
    }

    /// A `tokio_util` token that follows this one, for APIs that take one: it is cancelled when
    /// this token is, directly or through an ancestor. It is made on the first call; cancel
    /// through the [`CancelToken`], since cancelling the tokio-util token does not cancel this
    /// one (and records no reason).
    pub fn as_tokio(&self) -> &CancellationToken {
        if self.node.tokio.get().is_none() {
            // Linked, so that an ancestor's cancellation reaches this node and its tokio-util
            // token.
            anchor(&self.node);
        }
        let t = self.node.tokio.get_or_init(CancellationToken::new);
        // Pairs with the fence in `Node::settle`.
        fence(Ordering::SeqCst);
        if self.is_cancelled() {
            t.cancel();
        }
        t
    }
}

/// `Cancelled::key` while the future holds no slot.
const NO_KEY: usize = usize::MAX;

/// Future returned by [`CancelToken::cancelled`]; completes when the token is cancelled.
///
/// It owns a handle on the token, so it can be stored in other futures. While pending, it
/// holds one slot in its token's table (and its token is linked to its parent's, so that an
/// ancestor's cancellation reaches it), released when it completes or is dropped.
#[must_use = "futures do nothing unless polled"]
pub struct Cancelled {
    token: CancelToken,
    /// The slot taken in the token's table, or [`NO_KEY`] until the first poll that has to
    /// wait.
    key: usize,
    /// The data and vtable addresses of the waker in that slot: a later poll with a waker that
    /// would wake the same task leaves the table alone, without taking its lock.
    registered: (usize, usize),
}

/// What identifies a waker for [`Waker::will_wake`]: its data and vtable addresses.
fn waker_id(waker: &Waker) -> (usize, usize) {
    (
        waker.data() as usize,
        std::ptr::from_ref(waker.vtable()) as usize,
    )
}

impl fmt::Debug for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancelled")
            .field("waiting", &(self.key != NO_KEY))
            .finish_non_exhaustive()
    }
}

impl Cancelled {
    /// The token this future waits on.
    pub fn token(&self) -> &CancelToken {
        &self.token
    }

    fn unregister(&mut self) {
        if self.key != NO_KEY {
            self.token.node.shared().remove(self.key);
            self.key = NO_KEY;
        }
    }
}

impl Future for Cancelled {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.token.is_cancelled() {
            this.unregister();
            return Poll::Ready(());
        }
        if this.key == NO_KEY {
            if !anchor(&this.token.node) {
                return Poll::Ready(());
            }
            let mut shared = this.token.node.shared();
            // Cancelled meanwhile (the table is closed), or the canceller will find the waker:
            // both are decided under this lock, so no wake-up is lost.
            let Some(table) = shared.table() else {
                return Poll::Ready(());
            };
            this.key = table.insert(Slot::Waiting(cx.waker().clone()));
            drop(shared);
            this.registered = waker_id(cx.waker());
        } else if this.registered != waker_id(cx.waker()) {
            // Polled by another task: the slot must wake that one now. (The same task's waker
            // is kept alive by the slot, so its addresses cannot be reused meanwhile.)
            if let Shared::Open(table) = &mut **this.token.node.shared() {
                table.update(this.key, cx.waker());
            }
            this.registered = waker_id(cx.waker());
        }
        Poll::Pending
    }
}

impl Drop for Cancelled {
    fn drop(&mut self) {
        self.unregister();
    }
}

/// Which attempt of a retried request this is, as the retry layer tells the layers below it.
///
/// The retry layer puts one on every attempt after the first (through
/// [`HasCancelToken::set_retry_attempt`]); the first attempt carries none, so it costs nothing.
/// Layers below the retry layer (the validate layer, for one) read it with
/// [`HasCancelToken::retry_attempt`]: no tag means attempt 1.
///
/// `http::Request` keeps it in its extensions; a request type of your own keeps it in a field:
///
/// ```
/// use std::time::Duration;
/// use steadfast::token::{HasCancelToken, RetryAttempt};
///
/// #[derive(Clone)]
/// struct Prompt {
///     text: String,
///     attempt: Option<RetryAttempt>,
/// }
///
/// impl HasCancelToken for Prompt {
///     fn retry_attempt(&self) -> Option<RetryAttempt> {
///         self.attempt
///     }
///     fn set_retry_attempt(&mut self, attempt: RetryAttempt) -> bool {
///         self.attempt = Some(attempt);
///         true
///     }
/// }
///
/// let mut req = Prompt { text: "summarise".into(), attempt: None };
/// assert_eq!(req.retry_attempt(), None); // a first attempt
/// assert!(req.set_retry_attempt(RetryAttempt::new(2, Duration::from_millis(150))));
/// assert_eq!(req.retry_attempt().map(|a| a.number()), Some(2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RetryAttempt {
    number: u32,
    elapsed: Duration,
}

impl RetryAttempt {
    /// Attempt `number` (from 1), sent `elapsed` after the retry layer's clock started.
    pub const fn new(number: u32, elapsed: Duration) -> Self {
        RetryAttempt { number, elapsed }
    }

    /// The attempt number, from 1.
    pub const fn number(&self) -> u32 {
        self.number
    }

    /// Time from the retry layer's start (see
    /// [`RetryPolicyBuilder::max_elapsed`](crate::retry::RetryPolicyBuilder::max_elapsed) for
    /// when its clock starts) to the moment this attempt was sent.
    pub const fn elapsed(&self) -> Duration {
        self.elapsed
    }
}

/// Request types that may carry a [`CancelToken`], and the [`RetryAttempt`] the retry layer
/// tags retries with.
///
/// Implemented for `http::Request<B>` (both live in its extensions) and for common plain
/// types (which never carry either). For your own request type, return the token it carries,
/// or write an empty `impl HasCancelToken for MyRequest {}` if it carries none; implement the
/// two `retry_attempt` methods too if the layers below a retry layer should know which attempt
/// they see.
///
/// A type with room for a token implements [`set_cancel_token`](Self::set_cancel_token) and
/// [`can_carry_cancel_token`](Self::can_carry_cancel_token) together: the cancel layer hands
/// a token only to a request that says it can carry one.
///
/// ```
/// use steadfast::token::{CancelToken, HasCancelToken};
///
/// struct Job {
///     id: u64,
///     token: Option<CancelToken>,
/// }
///
/// impl HasCancelToken for Job {
///     fn cancel_token(&self) -> Option<&CancelToken> {
///         self.token.as_ref()
///     }
///     fn can_carry_cancel_token(&self) -> bool {
///         true
///     }
///     fn set_cancel_token(&mut self, token: CancelToken) -> Result<(), CancelToken> {
///         self.token = Some(token);
///         Ok(())
///     }
/// }
///
/// let mut job = Job { id: 7, token: None };
/// let token = CancelToken::new();
/// assert!(job.can_carry_cancel_token());
/// assert!(job.set_cancel_token(token.clone()).is_ok());
/// assert!(job.cancel_token().unwrap().same_as(&token));
///
/// // A type that cannot carry one hands the token back, so nothing is lost.
/// let mut plain = 7u64;
/// assert!(!plain.can_carry_cancel_token());
/// let back = plain.set_cancel_token(token.clone()).unwrap_err();
/// assert!(back.same_as(&token));
/// # let _ = job.id;
/// ```
pub trait HasCancelToken {
    /// The token this request carries, if any.
    fn cancel_token(&self) -> Option<&CancelToken> {
        None
    }

    /// `true` when [`set_cancel_token`](Self::set_cancel_token) puts a token on this request;
    /// `false` (the default) for request types that have nowhere to put one.
    ///
    /// It must be cheap (a constant, typically): the cancel layer asks it for every request.
    /// When it is `false`, nothing below the layer can see the token the layer would make, so
    /// the layer makes it (and reads the clock for its timeout) only if the answer is not
    /// ready at once.
    fn can_carry_cancel_token(&self) -> bool {
        false
    }

    /// Puts `token` on the request, replacing any it carried. A request type that cannot
    /// carry a token (the default) gives it back as `Err`, unused.
    fn set_cancel_token(&mut self, token: CancelToken) -> Result<(), CancelToken> {
        Err(token)
    }

    /// What the request calls itself in the registry of running operations
    /// ([`crate::operations`]); `None` (the default) registers it as `"request"`.
    fn operation(&self) -> Option<crate::operations::Operation> {
        None
    }

    /// The attempt this request is, when a retry layer above tagged it; `None` (the default)
    /// for a first attempt or a request type that carries no tag.
    fn retry_attempt(&self) -> Option<RetryAttempt> {
        None
    }

    /// Tags the request with the attempt it is. The retry layer calls it for every attempt
    /// after the first. Returns `false` for request types that cannot carry a tag (the
    /// default).
    fn set_retry_attempt(&mut self, attempt: RetryAttempt) -> bool {
        let _ = attempt;
        false
    }
}

/// Puts `value` in `extensions`. One already there (a caller's token, an earlier tag) is
/// replaced where it is: no new entry and no allocation, where `insert` would box the new
/// value and free the old.
#[cfg(feature = "http")]
fn put<T: Clone + Send + Sync + 'static>(extensions: &mut http::Extensions, value: T) {
    match extensions.get_mut::<T>() {
        Some(slot) => *slot = value,
        None => {
            extensions.insert(value);
        }
    }
}

#[cfg(feature = "http")]
impl<B> HasCancelToken for http::Request<B> {
    fn cancel_token(&self) -> Option<&CancelToken> {
        self.extensions().get::<CancelToken>()
    }

    fn can_carry_cancel_token(&self) -> bool {
        true
    }

    fn set_cancel_token(&mut self, token: CancelToken) -> Result<(), CancelToken> {
        put(self.extensions_mut(), token);
        Ok(())
    }

    fn retry_attempt(&self) -> Option<RetryAttempt> {
        self.extensions().get::<RetryAttempt>().copied()
    }

    fn set_retry_attempt(&mut self, attempt: RetryAttempt) -> bool {
        put(self.extensions_mut(), attempt);
        true
    }

    /// The [`Operation`](crate::operations::Operation) in the extensions, or one named after
    /// the method and path (`"GET /reports"`).
    fn operation(&self) -> Option<crate::operations::Operation> {
        Some(
            self.extensions()
                .get::<crate::operations::Operation>()
                .cloned()
                .unwrap_or_else(|| {
                    crate::operations::Operation::new(format!(
                        "{} {}",
                        self.method(),
                        self.uri().path()
                    ))
                }),
        )
    }
}

macro_rules! no_token {
    ($($t:ty),* $(,)?) => { $(impl HasCancelToken for $t {})* };
}
no_token!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    String,
    &'static str,
    Arc<str>,
    Box<str>,
);
impl<T> HasCancelToken for Vec<T> {}
impl<T> HasCancelToken for Option<T> {}

impl<T: HasCancelToken + ?Sized> HasCancelToken for Box<T> {
    fn cancel_token(&self) -> Option<&CancelToken> {
        (**self).cancel_token()
    }

    fn can_carry_cancel_token(&self) -> bool {
        (**self).can_carry_cancel_token()
    }

    fn set_cancel_token(&mut self, token: CancelToken) -> Result<(), CancelToken> {
        (**self).set_cancel_token(token)
    }

    fn operation(&self) -> Option<crate::operations::Operation> {
        (**self).operation()
    }

    fn retry_attempt(&self) -> Option<RetryAttempt> {
        (**self).retry_attempt()
    }

    fn set_retry_attempt(&mut self, attempt: RetryAttempt) -> bool {
        (**self).set_retry_attempt(attempt)
    }
}

impl<T: HasCancelToken + ?Sized> HasCancelToken for Arc<T> {
    fn cancel_token(&self) -> Option<&CancelToken> {
        (**self).cancel_token()
    }

    fn operation(&self) -> Option<crate::operations::Operation> {
        (**self).operation()
    }

    fn retry_attempt(&self) -> Option<RetryAttempt> {
        (**self).retry_attempt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn first_reason_wins() {
        let t = CancelToken::new();
        assert!(t.cancel_with(CancelReason::Deadline));
        assert!(!t.cancel_with(CancelReason::Shutdown));
        assert_eq!(t.reason(), Some(CancelReason::Deadline));
    }

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
        assert!(!grandchild.cancel_with(CancelReason::Condition));
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
    fn the_tokio_token_follows_this_one_and_its_ancestors() {
        let parent = CancelToken::new();
        let child = parent.child();
        let early = child.as_tokio().clone();
        assert!(!early.is_cancelled());
        // Cancelling the tokio-util token does not cancel ours.
        let other = CancelToken::new();
        other.as_tokio().cancel();
        assert!(!other.is_cancelled());
        parent.cancel_with(CancelReason::Shutdown);
        assert!(early.is_cancelled());
        // Made after the cancellation: cancelled at once.
        let late = parent.child();
        assert!(late.as_tokio().is_cancelled());
        let direct = CancelToken::new();
        direct.cancel();
        assert!(direct.as_tokio().is_cancelled());
    }

    #[test]
    fn a_waiter_moved_to_another_task_wakes_that_task() {
        use std::task::Wake;
        struct Flag(AtomicBool);
        impl Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let root = CancelToken::new();
        let token = root.child();
        let first = Arc::new(Flag(AtomicBool::new(false)));
        let second = Arc::new(Flag(AtomicBool::new(false)));
        let mut waiting = Box::pin(token.cancelled());
        let w1 = Waker::from(first.clone());
        let w2 = Waker::from(second.clone());
        assert!(waiting
            .as_mut()
            .poll(&mut Context::from_waker(&w1))
            .is_pending());
        // The same task again: nothing to change.
        assert!(waiting
            .as_mut()
            .poll(&mut Context::from_waker(&w1.clone()))
            .is_pending());
        // Another task: its waker replaces the first in every slot.
        assert!(waiting
            .as_mut()
            .poll(&mut Context::from_waker(&w2))
            .is_pending());
        root.cancel();
        assert!(
            second.0.load(Ordering::SeqCst),
            "the task now polling is woken"
        );
        assert!(!first.0.load(Ordering::SeqCst), "the task it left is not");
    }

    #[test]
    fn many_waiters_spill_free_their_slots_and_all_wake() {
        use std::task::Wake;
        struct Count(std::sync::atomic::AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let root = CancelToken::new();
        let leaf = root.child().child().child().child().child();
        let count = Arc::new(Count(std::sync::atomic::AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        // Five waiters: more slots than a node keeps inline.
        let mut waiting: Vec<_> = (0..5).map(|_| Box::pin(leaf.cancelled())).collect();
        for w in &mut waiting {
            assert!(w.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(leaf.node.shared().open_table().used, 5);
        assert_eq!(leaf.node.shared().open_table().spill.len(), 3);
        // Each waiting token holds one slot in its parent's table, however many wait on it.
        assert_eq!(root.node.shared().open_table().used, 1);
        // Dropping a spilled and an inline waiter frees both slots for reuse.
        let spilled = waiting.remove(4).key;
        let inline = waiting.remove(0).key;
        assert_eq!(leaf.node.shared().open_table().free, Some(inline));
        for _ in 0..2 {
            let mut w = Box::pin(leaf.cancelled());
            assert!(w.as_mut().poll(&mut cx).is_pending());
            assert!(
                w.key == inline || w.key == spilled,
                "a freed slot is reused"
            );
            waiting.push(w);
        }
        assert_eq!(
            leaf.node.shared().open_table().len,
            5,
            "no new slot was needed"
        );
        root.cancel_with(CancelReason::Shutdown);
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            5,
            "every waiter is woken once"
        );
        for w in &mut waiting {
            assert!(w.as_mut().poll(&mut cx).is_ready());
        }
        assert_eq!(leaf.reason(), Some(CancelReason::Shutdown));
    }

    #[test]
    fn waiters_on_deep_children_wake_and_leave_no_slots() {
        use std::task::Wake;
        struct Flag(AtomicBool);
        impl Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let root = CancelToken::new();
        let leaf = root.child().child().child();
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        let mut waiting = Box::pin(leaf.cancelled());
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        assert!(
            leaf.node.is_linked(),
            "a waited token is linked to its parent"
        );
        // A second future that gives up leaves its slot free for the next one.
        let mut other = Box::pin(leaf.cancelled());
        assert!(other.as_mut().poll(&mut cx).is_pending());
        let taken = other.key;
        drop(other);
        assert_eq!(leaf.node.shared().open_table().free, Some(taken));
        let mut again = Box::pin(leaf.cancelled());
        assert!(again.as_mut().poll(&mut cx).is_pending());
        assert_eq!(again.key, taken, "the freed slot is reused");
        assert_eq!(leaf.node.shared().open_table().len, 2);
        assert!(std::mem::size_of::<Cancelled>() <= 48, "kept small");
        assert!(
            leaf.node.shared().open_table().spill.is_empty(),
            "two waiters fit inside the node"
        );
        drop(again);
        root.cancel_with(CancelReason::Signal(2));
        assert!(flag.0.load(Ordering::SeqCst));
        assert!(waiting.as_mut().poll(&mut cx).is_ready());
        assert_eq!(leaf.reason(), Some(CancelReason::Signal(2)));
        // Waiting on a token already cancelled is ready at once and registers nothing.
        let mut after = Box::pin(leaf.cancelled());
        assert!(after.as_mut().poll(&mut cx).is_ready());
        assert_eq!(after.key, NO_KEY);
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
            root.node.shared().open_table().used,
            1,
            "only the deep chain linked"
        );
    }

    #[test]
    fn a_parent_gives_back_its_table_after_a_burst() {
        let parent = CancelToken::new();
        let mut cx = Context::from_waker(Waker::noop());
        // Long-lived waiters (a server's connections, say), then a burst of requests: children
        // waited on, and futures waiting on the parent itself.
        let mut staying: Vec<_> = (0..3).map(|_| Box::pin(parent.cancelled())).collect();
        let children: Vec<_> = (0..10_000).map(|_| parent.child()).collect();
        let mut burst: Vec<_> = children.iter().map(|c| Box::pin(c.cancelled())).collect();
        burst.extend((0..10_000).map(|_| Box::pin(parent.cancelled())));
        for w in staying.iter_mut().chain(burst.iter_mut()) {
            assert!(w.as_mut().poll(&mut cx).is_pending());
        }
        assert!(parent.node.shared().open_table().capacity() >= 20_000);
        drop(burst);
        drop(children);
        let shared = parent.node.shared();
        assert_eq!(shared.open_table().used, 3);
        assert!(
            shared.open_table().capacity() <= SHRINK_MIN,
            "{} slots kept for 3 entries",
            shared.open_table().capacity()
        );
        drop(shared);
        // What is left still works, and the table grows again as needed.
        let more: Vec<_> = (0..100).map(|_| parent.child()).collect();
        let mut waits: Vec<_> = more.iter().map(|c| Box::pin(c.cancelled())).collect();
        for w in &mut waits {
            assert!(w.as_mut().poll(&mut cx).is_pending());
        }
        parent.cancel_with(CancelReason::Shutdown);
        for w in staying.iter_mut().chain(waits.iter_mut()) {
            assert!(w.as_mut().poll(&mut cx).is_ready());
        }
    }

    #[test]
    fn cancelling_from_many_threads_wakes_every_waiter() {
        // Stress: waiters register on children while other threads cancel the root.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        rt.block_on(async {
            for _ in 0..200 {
                let root = CancelToken::new();
                let waits: Vec<_> = (0..8)
                    .map(|i| {
                        let t = if i % 2 == 0 {
                            root.child()
                        } else {
                            root.child().child()
                        };
                        tokio::spawn(async move { t.cancelled().await })
                    })
                    .collect();
                let r = root.clone();
                let c = std::thread::spawn(move || r.cancel_with(CancelReason::Shutdown));
                for w in waits {
                    w.await.unwrap();
                }
                assert!(c.join().unwrap());
            }
        });
    }

    #[test]
    fn racing_threads_agree_on_one_reason() {
        for _ in 0..200 {
            let t = CancelToken::new();
            let handles: Vec<_> = (0..4)
                .map(|i| {
                    let t = t.clone();
                    std::thread::spawn(move || t.cancel_with(CancelReason::Signal(i)))
                })
                .collect();
            let winners: Vec<bool> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            assert_eq!(winners.iter().filter(|w| **w).count(), 1);
            let winner = winners.iter().position(|w| *w).unwrap() as i32;
            assert_eq!(t.reason(), Some(CancelReason::Signal(winner)));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn deadlines_take_the_earlier() {
        let now = Instant::now();
        let parent = CancelToken::with_deadline(now + Duration::from_secs(5));
        let later = parent.child_with_deadline(now + Duration::from_secs(10));
        let sooner = parent.child_with_deadline(now + Duration::from_secs(1));
        assert_eq!(later.deadline(), Some(now + Duration::from_secs(5)));
        assert_eq!(sooner.deadline(), Some(now + Duration::from_secs(1)));
        assert_eq!(parent.child().deadline(), parent.deadline());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(sooner.remaining(), Some(Duration::ZERO));
        assert_eq!(parent.remaining(), Some(Duration::from_secs(3)));
        assert_eq!(CancelToken::new().remaining(), None);
    }

    #[tokio::test]
    async fn cancelled_future_wakes() {
        let t = CancelToken::new();
        let c = t.child();
        let wait = tokio::spawn(async move { c.cancelled().await });
        tokio::task::yield_now().await;
        t.cancel_with(CancelReason::manual("stop"));
        wait.await.unwrap();
        assert_eq!(t.reason().unwrap().to_string(), "cancelled by caller: stop");
    }

    #[cfg(feature = "http")]
    #[test]
    fn http_requests_carry_tokens_in_extensions() {
        let mut req = http::Request::new(());
        assert!(req.cancel_token().is_none());
        let t = CancelToken::new();
        req.extensions_mut().insert(t.clone());
        t.cancel();
        assert!(req.cancel_token().unwrap().is_cancelled());
    }

    #[cfg(feature = "http")]
    #[test]
    fn setting_a_token_or_a_retry_tag_replaces_the_one_already_there() {
        let mut req = http::Request::new(());
        let first = CancelToken::new();
        let second = CancelToken::new();
        assert!(req.set_cancel_token(first.clone()).is_ok());
        assert!(req.set_cancel_token(second.clone()).is_ok());
        assert!(req.cancel_token().unwrap().same_as(&second));
        assert!(!req.cancel_token().unwrap().same_as(&first));
        assert!(req.set_retry_attempt(RetryAttempt::new(2, Duration::ZERO)));
        assert!(req.set_retry_attempt(RetryAttempt::new(3, Duration::ZERO)));
        assert_eq!(
            req.retry_attempt().as_ref().map(RetryAttempt::number),
            Some(3)
        );
        // One entry each: the token, the tag.
        assert_eq!(req.extensions().len(), 2);
    }
}
