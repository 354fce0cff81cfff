//! Waiting on a token: the table of waiters and linked children each token keeps under its
//! lock (slots inline in the node first, spilled to the heap after, given back when mostly
//! empty), and the [`WaitForCancellationFuture`] that takes a slot in it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::{CancelReason, CancelToken, WeakToken};

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
pub(super) struct Table {
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
pub(super) enum Slot {
    Waiting(Waker),
    /// A child linked to this token: cancelling this token cancels it.
    Child(WeakToken),
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
    pub(super) fn insert(&mut self, entry: Slot) -> usize {
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
    pub(super) fn into_slots(self) -> impl Iterator<Item = Slot> {
        self.inline.into_iter().chain(self.spill)
    }

    /// `true` when the table owns nothing that needs releasing: no entry in use and no spilled
    /// slots.
    #[inline]
    pub(super) fn holds_nothing(&self) -> bool {
        self.used == 0 && self.spill.capacity() == 0
    }

    /// How many slots the table could hold without allocating.
    #[cfg(test)]
    fn capacity(&self) -> usize {
        INLINE_SLOTS + self.spill.capacity()
    }

    /// How many slots are in use, for tests that look inside the table.
    #[cfg(test)]
    pub(super) fn used(&self) -> usize {
        self.used
    }
}

/// What a node keeps under its lock. A token that is never waited on, linked or cancelled
/// stays `Idle`: nothing to build and nothing to drop.
#[derive(Default)]
pub(super) enum Shared {
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
    pub(super) fn reason(&self) -> Option<&CancelReason> {
        match self {
            Shared::Cancelled(reason) => Some(reason),
            _ => None,
        }
    }

    /// The table to register in, opened on first use; `None` once the token is cancelled.
    #[inline]
    pub(super) fn table(&mut self) -> Option<&mut Table> {
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
    pub(super) fn open_table(&self) -> &Table {
        match self {
            Shared::Open(table) => table,
            _ => panic!("the table is not open"),
        }
    }

    /// Releases `key`, if the table still holds it.
    #[inline]
    pub(super) fn remove(&mut self, key: usize) {
        if let Shared::Open(table) = self {
            table.remove(key);
        }
    }
}

/// `WaitForCancellationFuture::key` while the future holds no slot.
const NO_KEY: usize = usize::MAX;

/// Future returned by [`CancelToken::cancelled`]; completes when the token is cancelled.
///
/// It owns a handle on the token, so it can be stored in other futures. While pending, it
/// holds one slot in its token's table (and its token is linked to its parent's, so that an
/// ancestor's cancellation reaches it), released when it completes or is dropped.
#[must_use = "futures do nothing unless polled"]
pub struct WaitForCancellationFuture {
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

impl fmt::Debug for WaitForCancellationFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForCancellationFuture")
            .field("waiting", &(self.key != NO_KEY))
            .finish_non_exhaustive()
    }
}

impl WaitForCancellationFuture {
    /// A future waiting on `token`, holding no slot until a poll has to wait.
    #[inline]
    pub(super) fn new(token: CancelToken) -> Self {
        WaitForCancellationFuture {
            token,
            key: NO_KEY,
            registered: (0, 0),
        }
    }

    /// The token this future waits on.
    pub fn token(&self) -> &CancelToken {
        &self.token
    }

    fn unregister(&mut self) {
        if self.key != NO_KEY {
            self.token.shared().remove(self.key);
            self.key = NO_KEY;
        }
    }
}

impl Future for WaitForCancellationFuture {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.token.is_cancelled() {
            this.unregister();
            return Poll::Ready(());
        }
        if this.key == NO_KEY {
            if !this.token.anchor() {
                return Poll::Ready(());
            }
            let mut shared = this.token.shared();
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
            if let Shared::Open(table) = &mut **this.token.shared() {
                table.update(this.key, cx.waker());
            }
            this.registered = waker_id(cx.waker());
        }
        Poll::Pending
    }
}

impl Drop for WaitForCancellationFuture {
    fn drop(&mut self) {
        self.unregister();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::Ordering;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

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
        assert_eq!(leaf.shared().open_table().used, 5);
        assert_eq!(leaf.shared().open_table().spill.len(), 3);
        // Each waiting token holds one slot in its parent's table, however many wait on it.
        assert_eq!(root.shared().open_table().used, 1);
        // Dropping a spilled and an inline waiter frees both slots for reuse.
        let spilled = waiting.remove(4).key;
        let inline = waiting.remove(0).key;
        assert_eq!(leaf.shared().open_table().free, Some(inline));
        for _ in 0..2 {
            let mut w = Box::pin(leaf.cancelled());
            assert!(w.as_mut().poll(&mut cx).is_pending());
            assert!(
                w.key == inline || w.key == spilled,
                "a freed slot is reused"
            );
            waiting.push(w);
        }
        assert_eq!(leaf.shared().open_table().len, 5, "no new slot was needed");
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
        assert_eq!(leaf.shared().open_table().free, Some(taken));
        let mut again = Box::pin(leaf.cancelled());
        assert!(again.as_mut().poll(&mut cx).is_pending());
        assert_eq!(again.key, taken, "the freed slot is reused");
        assert_eq!(leaf.shared().open_table().len, 2);
        assert!(
            std::mem::size_of::<WaitForCancellationFuture>() <= 48,
            "kept small"
        );
        assert!(
            leaf.shared().open_table().spill.is_empty(),
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
        assert!(parent.shared().open_table().capacity() >= 20_000);
        drop(burst);
        drop(children);
        let shared = parent.shared();
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
}
