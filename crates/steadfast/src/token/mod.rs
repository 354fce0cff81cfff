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
//! * A waiting [`WaitForCancellationFuture`] links its token and holds one slot in its token's table.
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

mod attachment;
mod operation;
mod progress;
mod request;
mod run;
mod tree;
mod waiters;

pub(crate) use attachment::Attachment;
pub use operation::Operation;
pub use progress::Progress;
pub use request::{HasCancelToken, RetryAttempt};
pub use run::{Interrupted, Run};
pub use waiters::WaitForCancellationFuture;

/// The future returned by [`CancelToken::cancelled`], under its former name.
#[deprecated(note = "renamed to `WaitForCancellationFuture`")]
pub type Cancelled = WaitForCancellationFuture;

use std::fmt;
use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::time::Duration;

use crate::sync::{fence, MutexGuard, Ordering};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use tree::{anchor, cancel_node, inherit, recorded_reason, Node, CANCELLED, LINKED};
use waiters::Shared;

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
    /// A condition became true; its name (`"circuit_open"`, `"disk_full"`), if it has one.
    Condition(Option<Arc<str>>),
    /// The client that sent the request went away before the response was ready.
    ClientDisconnected,
    /// The attempt lost a hedge race: another attempt of the same request answered first,
    /// so this one is no longer wanted (see `steadfast::hedge`). A circuit breaker never
    /// counts such an attempt as a failure.
    HedgeLost,
}

impl CancelReason {
    /// A manual cancellation with a message.
    pub fn manual(message: impl Into<Arc<str>>) -> Self {
        CancelReason::Manual(Some(message.into()))
    }

    /// The condition called `name` became true.
    ///
    /// ```
    /// use steadfast::token::CancelReason;
    ///
    /// let reason = CancelReason::condition("disk_full");
    /// assert_eq!(reason.to_string(), "cancel condition met: disk_full");
    /// ```
    pub fn condition(name: impl Into<Arc<str>>) -> Self {
        CancelReason::Condition(Some(name.into()))
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
            CancelReason::Condition(None) => f.write_str("cancel condition met"),
            CancelReason::Condition(Some(name)) => write!(f, "cancel condition met: {name}"),
            CancelReason::ClientDisconnected => f.write_str("client disconnected"),
            CancelReason::HedgeLost => f.write_str("lost a hedge race"),
        }
    }
}

/// A token that does not keep its request's state alive (for the registry of operations).
#[derive(Clone)]
pub(crate) struct WeakToken(std::sync::Weak<Node>);

impl WeakToken {
    #[cfg_attr(not(feature = "cancel"), allow(dead_code))]
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
        let attached = parent.as_ref().and_then(|p| p.node.attached.clone());
        CancelToken {
            node: Arc::new(Node::new(parent, deadline, drain, attached)),
        }
    }

    /// A child that carries `attached` in place of what this token carries; it (and its
    /// children) hold it, and it is dropped with the last of them.
    #[cfg_attr(not(feature = "cancel"), allow(dead_code))]
    pub(crate) fn child_attached(&self, attached: Arc<dyn Attachment>) -> Self {
        self.child_attached_until(attached, None)
    }

    /// [`child_attached`](Self::child_attached) whose deadline is the earlier of `deadline`
    /// and this token's.
    #[cfg_attr(not(feature = "cancel"), allow(dead_code))]
    pub(crate) fn child_attached_until(
        &self,
        attached: Arc<dyn Attachment>,
        deadline: Option<Instant>,
    ) -> Self {
        let deadline = match (self.node.deadline, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        CancelToken {
            node: Arc::new(Node::new(
                Some(self.clone()),
                deadline,
                self.node.drain.clone(),
                Some(Arc::new(attached)),
            )),
        }
    }

    /// What this token carries, for an attachment that wraps it.
    #[cfg(feature = "cancel")]
    pub(crate) fn attached(&self) -> Option<&Arc<dyn Attachment>> {
        self.node.attached.as_deref()
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
            self.node.attached.clone(),
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
    #[cfg(feature = "cancel")]
    pub(crate) fn is_sole(&mut self) -> bool {
        Arc::get_mut(&mut self.node).is_some_and(|node| node.tokio.get().is_none())
    }

    #[cfg_attr(not(feature = "cancel"), allow(dead_code))]
    pub(crate) fn downgrade(&self) -> WeakToken {
        WeakToken(Arc::downgrade(&self.node))
    }

    /// Reports progress for the running operation this token belongs to (see
    /// `steadfast::cancel::operations`): a message, or a [`Progress`] with fields and data.
    /// Does nothing for a token that is not tracked.
    ///
    /// ```
    /// use steadfast::token::{CancelToken, Progress};
    ///
    /// let untracked = CancelToken::new();
    /// untracked.report_progress(Progress::new("3 of 10").field("done", 3));
    /// assert!(untracked.progress().is_none());
    /// ```
    pub fn report_progress(&self, progress: impl Into<Progress>) {
        if let Some(attached) = &self.node.attached {
            attached.report(progress.into());
        }
    }

    /// The last progress reported for this token's operation.
    pub fn progress(&self) -> Option<Progress> {
        self.node.attached.as_ref().and_then(|a| a.progress())
    }

    /// A channel that sees each progress report of this token's operation from now on (it
    /// holds the latest, `None` until the first); `None` for a token that is not tracked. A
    /// `tokio::sync::watch` receiver: `changed().await`, then `borrow()`.
    ///
    /// ```
    /// use steadfast::cancel::operations::{Operation, Operations};
    /// use steadfast::token::CancelToken;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let ops = Operations::new();
    /// let token = ops.register(&CancelToken::new(), Operation::new("export"));
    /// let mut rx = token.watch_progress().unwrap();
    /// token.report_progress("page 1");
    /// rx.changed().await.unwrap();
    /// assert_eq!(rx.borrow().as_deref(), Some("page 1"));
    /// # }
    /// ```
    #[cfg(feature = "cancel")]
    pub fn watch_progress(&self) -> Option<tokio::sync::watch::Receiver<Option<Progress>>> {
        self.node.attached.as_ref().and_then(|a| a.watch())
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

    /// `true` once this token, or an ancestor, is cancelled. The walk stops at the first
    /// linked node, whose state its ancestors keep up to date, so it reads at most
    /// [`MAX_RUN`](tree::MAX_RUN) nodes.
    ///
    /// An ancestor found cancelled gives its reason to this token before this returns, so a
    /// token once seen cancelled stays so: otherwise a linked node between the two, not yet
    /// reached by the ancestor's cancellation, would make the next walk stop short of it.
    #[inline]
    fn walk_cancelled(&self) -> bool {
        let mut node = &self.node;
        loop {
            let state = node.state.load(Ordering::Acquire);
            if state & CANCELLED != 0 {
                inherit(&self.node, node);
                return true;
            }
            match &node.parent {
                Some(parent) if state & LINKED == 0 => node = &parent.node,
                _ => return false,
            }
        }
    }

    /// `true` once the token, or any ancestor, has been cancelled. Once `true`, it stays so.
    ///
    /// Takes no lock and does not depend on how deep the token is: it reads this token's state
    /// and, for a child not yet linked to its parent, those of at most a few ancestors.
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.walk_cancelled()
    }

    /// Why the token was cancelled, or `None` while it is not.
    ///
    /// A token cancelled through an ancestor reports the reason that reached it first. Once a
    /// reason has been returned, this token's reason never changes.
    #[inline]
    pub fn reason(&self) -> Option<CancelReason> {
        if !self.walk_cancelled() {
            return None;
        }
        recorded_reason(&self.node)
    }

    /// Waits until the token is cancelled.
    ///
    /// Making the future costs one reference count; it registers with the token only when it
    /// is polled and finds the token not yet cancelled.
    pub fn cancelled(&self) -> WaitForCancellationFuture {
        WaitForCancellationFuture::new(self.clone())
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

    /// Links this token into its parent's table (and the unlinked ancestors above it into
    /// theirs), for a waiter about to register; `false` if it turns out to be cancelled.
    #[inline(always)]
    fn anchor(&self) -> bool {
        anchor(&self.node)
    }

    /// What this token keeps under its lock: its table of waiters and linked children, or its
    /// reason.
    #[inline(always)]
    fn shared(&self) -> MutexGuard<'_, ManuallyDrop<Shared>> {
        self.node.shared()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_reason_wins() {
        let t = CancelToken::new();
        assert!(t.cancel_with(CancelReason::Deadline));
        assert!(!t.cancel_with(CancelReason::Shutdown));
        assert_eq!(t.reason(), Some(CancelReason::Deadline));
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
}
