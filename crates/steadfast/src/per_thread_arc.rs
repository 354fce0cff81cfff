//! [`PerThreadArc`]: a shared reference whose clones and drops, on the thread that made them, are
//! plain arithmetic instead of locked instructions.
//!
//! A layer that keeps shared state alive from every response future (the circuit breaker held
//! by value does, and so does a retry policy held by value, for its shared settings) would
//! otherwise clone and drop an `Arc` per request:
//! two locked read-modify-writes on one cache line that every thread writes. A `PerThreadArc`
//! counts its references per thread instead. Each thread that uses a value gets a *slot* for
//! it, kept in a small per-thread cache; references made on a thread point at that thread's
//! slot, and while they are cloned and dropped there the slot's count is an ordinary integer.
//! A reference dropped on another thread (a future that moved to another worker) subtracts
//! from the slot's atomic count instead.
//!
//! ```text
//! outstanding references to a slot = local (owner thread only) + shared (atomic)
//! ```
//!
//! A slot is freed once the thread's cache has given it up and no reference to it remains.
//! A cache holds at most [`SLOTS_PER_THREAD`] slots and gives one up when the thread ends, or
//! when it is full and nothing can reach the slot's value any more. A thread whose cache is
//! full of values still in use counts further references atomically, on the slot it already
//! has: as an `Arc` would, and never with a slot made and dropped per call.
//!
//! # Invariants
//!
//! * `local` is read and written only by the slot's owner thread, and only before the slot is
//!   orphaned; `orphaned` is written and read only by the owner thread. Thread identities are
//!   numbers that are never reused, so no other thread can take itself for the owner.
//! * Any thread may always release through `shared` instead: the sum stays right. Only the
//!   owner, before orphaning, may use `local`.
//! * Before the cache orphans a slot, `shared` holds no [`ORPHANED`] bit, so no release can
//!   see the freeing value. Orphaning adds `local + ORPHANED` in one read-modify-write, after
//!   which every release goes through `shared`; the operation that brings `shared` to exactly
//!   `ORPHANED` (no reference left) frees the slot, and only one can.
//! * The slot holds an `Arc` of the value, so the value's address (the cache key) cannot be
//!   reused while a slot for it exists.
//!
//! This is the crate's only `unsafe` code (the rest of the crate denies it): a slot is shared
//! by threads and freed by whichever of them lets go last, which safe Rust can only express
//! with the very atomic reference count this module exists to avoid. It is model-checked with
//! `loom` (the `loom` tests below, run by CI) and tested with threads.
#![allow(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::fmt;
use std::ops::Deref;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::ptr::NonNull;
use std::sync::Arc;

#[cfg(steadfast_loom)]
use ::loom::sync::atomic::{fence, AtomicI64, Ordering};
#[cfg(not(steadfast_loom))]
use std::sync::atomic::{fence, AtomicI64, Ordering};

/// Set in `shared` once the owner's cache has given the slot up.
const ORPHANED: i64 = 1 << 60;

/// How many values a thread keeps slots for. Beyond that a slot whose value nothing can reach
/// any more makes room; if there is none, further references are counted atomically on a slot
/// they already have (see [`PerThreadArc::from_arc`]).
const SLOTS_PER_THREAD: usize = 32;

/// With the cache full, how often a miss looks for a dead entry to let go.
const RESCAN_EVERY: u32 = 64;

/// A reference-counted pointer to a `T`, counted per thread (see the module docs).
pub(crate) struct PerThreadArc<T: Send + Sync + 'static> {
    slot: NonNull<Slot<T>>,
}

struct Slot<T> {
    value: Arc<T>,
    /// The thread whose cache holds the slot; 0 for a slot no cache holds.
    owner: u64,
    /// References made minus references dropped on the owner thread, before orphaning.
    local: Cell<i64>,
    /// Set by the owner thread when it orphans the slot (set from the start when no cache
    /// holds it, and never written again).
    orphaned: Cell<bool>,
    /// References made or dropped through the atomic count, plus [`ORPHANED`] once orphaned.
    shared: AtomicI64,
}

// SAFETY: the value is reached through `&T` from any thread, so `T: Send + Sync` is needed, as
// for `Arc<T>`. The `Cell`s in a slot are written only by its owner thread (checked against a
// thread identity that is never reused), and the rest is atomic.
unsafe impl<T: Send + Sync + 'static> Send for PerThreadArc<T> {}
// SAFETY: as above; `clone` through a shared reference takes the same owner check.
unsafe impl<T: Send + Sync + 'static> Sync for PerThreadArc<T> {}

// As for `Arc<T>`: the `Cell`s are the count's, never left half-updated by a panic.
impl<T: RefUnwindSafe + Send + Sync + 'static> UnwindSafe for PerThreadArc<T> {}
impl<T: RefUnwindSafe + Send + Sync + 'static> RefUnwindSafe for PerThreadArc<T> {}

impl<T: Send + Sync + 'static> PerThreadArc<T> {
    /// A new value, referenced from this thread.
    pub(crate) fn new(value: T) -> Self {
        Self::from_arc(&Arc::new(value), None)
    }

    /// A reference to `value` through this thread's slot for it, made on first use.
    ///
    /// When the thread's cache is full of values still in use (or gone), the reference is
    /// counted atomically instead: on `fallback` (a live slot of the same value, which the
    /// caller holds a reference to), or on a new slot that no cache holds.
    fn from_arc(value: &Arc<T>, fallback: Option<NonNull<Slot<T>>>) -> Self {
        let key = Arc::as_ptr(value) as usize;
        let found = CACHE.try_with(|cache| {
            let mut cache = cache.borrow_mut();
            if let Some(e) = cache.entries.iter().find(|e| e.key == key) {
                let slot = e.slot.cast::<Slot<T>>();
                // SAFETY: a slot in this thread's cache is owned by this thread and not orphaned.
                let s = unsafe { slot.as_ref() };
                s.local.set(s.local.get() + 1);
                return (Some(slot), None);
            }
            let mut evicted = None;
            if cache.entries.len() >= SLOTS_PER_THREAD {
                // Looking for a dead entry visits every entry, so a thread that keeps more
                // values in use than it has slots looks only on every `RESCAN_EVERY`th miss.
                let misses = cache.full_misses;
                cache.full_misses = misses.wrapping_add(1);
                if misses % RESCAN_EVERY != 0 {
                    return (None, None);
                }
                // SAFETY: every entry is a live slot of this thread's, of its own type.
                let dead = cache
                    .entries
                    .iter()
                    .position(|e| unsafe { (e.dead)(e.slot) });
                match dead {
                    Some(i) => {
                        evicted = Some(cache.entries.swap_remove(i));
                        cache.full_misses = 0;
                    }
                    None => return (None, None),
                }
            }
            let slot = Slot::boxed(value.clone(), thread_id(), 1, 0);
            cache.entries.push(Entry {
                key,
                slot: slot.cast(),
                orphan: orphan::<T>,
                dead: dead::<T>,
            });
            (Some(slot), evicted)
        });
        let (slot, evicted) = found.unwrap_or((None, None));
        // Orphaned outside the cache's borrow: freeing a value may run code that makes more
        // references.
        if let Some(e) = evicted {
            // SAFETY: the entry was this thread's and has left the cache.
            unsafe { (e.orphan)(e.slot) };
        }
        let slot = match (slot, fallback) {
            (Some(slot), _) => slot,
            (None, Some(slot)) => {
                // SAFETY: the caller holds a reference to `slot`, so it is alive.
                unsafe { slot.as_ref() }
                    .shared
                    .fetch_add(1, Ordering::Relaxed);
                slot
            }
            (None, None) => Slot::boxed(value.clone(), 0, 0, ORPHANED + 1),
        };
        PerThreadArc { slot }
    }

    #[inline]
    fn slot(&self) -> &Slot<T> {
        // SAFETY: this reference counts towards the slot, so the slot is alive.
        unsafe { self.slot.as_ref() }
    }

    /// `true` when this thread owns the slot and has not orphaned it: `local` may be used.
    #[inline]
    fn is_local(&self) -> bool {
        let s = self.slot();
        // Only the owner writes `orphaned`, and a slot no cache holds never changes it.
        s.owner == thread_id() && !s.orphaned.get()
    }

    /// The `Arc` behind this reference.
    pub(crate) fn arc(&self) -> &Arc<T> {
        &self.slot().value
    }

    /// Points this reference at the current thread's slot, so that clones made here stay
    /// local. Does nothing when it already does.
    #[inline]
    pub(crate) fn localize(&mut self) {
        if !self.is_local() {
            *self = Self::from_arc(self.arc(), Some(self.slot));
        }
    }

    /// A clone for use on this thread, pointing this reference at the current thread's slot
    /// first if it does not already: [`localize`](Self::localize) then [`clone`](Clone::clone),
    /// with one thread check on the common path instead of two.
    #[cfg(feature = "retry")]
    #[inline]
    pub(crate) fn clone_here(&mut self) -> Self {
        if self.is_local() {
            let s = self.slot();
            s.local.set(s.local.get() + 1);
            return PerThreadArc { slot: self.slot };
        }
        self.clone_here_slow()
    }

    #[cfg(feature = "retry")]
    #[cold]
    #[inline(never)]
    fn clone_here_slow(&mut self) -> Self {
        self.localize();
        self.clone()
    }
}

impl<T> Slot<T> {
    fn boxed(value: Arc<T>, owner: u64, local: i64, shared: i64) -> NonNull<Slot<T>> {
        let slot = Box::new(Slot {
            value,
            owner,
            local: Cell::new(local),
            orphaned: Cell::new(owner == 0),
            shared: AtomicI64::new(shared),
        });
        NonNull::from(Box::leak(slot))
    }
}

/// Releases one reference through the atomic count, freeing the slot if it was the last.
///
/// # Safety
///
/// `slot` must be a live slot and the caller must hold one of its references, given up here.
unsafe fn release_shared<T>(slot: NonNull<Slot<T>>) {
    // SAFETY: the caller's reference keeps the slot alive until the subtraction.
    let prev = unsafe { slot.as_ref() }
        .shared
        .fetch_sub(1, Ordering::Release);
    if prev - 1 == ORPHANED {
        fence(Ordering::Acquire);
        // SAFETY: no reference is left and the owner has given the slot up: this is the last
        // use, and only the operation that reached `ORPHANED` gets here.
        drop(unsafe { Box::from_raw(slot.as_ptr()) });
    }
}

/// Gives up the cache's hold on a slot (owner thread only).
///
/// # Safety
///
/// Called once per slot, on its owner thread, after the slot has left the cache.
unsafe fn orphan<T>(slot: NonNull<()>) {
    let slot = slot.cast::<Slot<T>>();
    // SAFETY: the cache's hold keeps the slot alive until the addition below.
    let s = unsafe { slot.as_ref() };
    s.orphaned.set(true);
    let local = s.local.get();
    let prev = s.shared.fetch_add(local + ORPHANED, Ordering::AcqRel);
    if prev + local + ORPHANED == ORPHANED {
        // SAFETY: no reference is left and the cache's hold is gone.
        drop(unsafe { Box::from_raw(slot.as_ptr()) });
    }
}

/// `true` when nothing can reach the slot's value any more: no reference counts on the slot
/// and the slot's is the value's last `Arc`. Such an entry may leave the cache.
///
/// # Safety
///
/// `slot` is a live, not yet orphaned slot of this thread's cache.
unsafe fn dead<T>(slot: NonNull<()>) -> bool {
    // SAFETY: as the caller promises; `local` is read on the owner thread.
    let s = unsafe { slot.cast::<Slot<T>>().as_ref() };
    s.local.get() + s.shared.load(Ordering::Acquire) == 0 && Arc::strong_count(&s.value) == 1
}

impl<T: Send + Sync + 'static> Clone for PerThreadArc<T> {
    #[inline]
    fn clone(&self) -> Self {
        if self.is_local() {
            let s = self.slot();
            s.local.set(s.local.get() + 1);
            return PerThreadArc { slot: self.slot };
        }
        Self::from_arc(self.arc(), Some(self.slot))
    }
}

impl<T: Send + Sync + 'static> Drop for PerThreadArc<T> {
    #[inline]
    fn drop(&mut self) {
        if self.is_local() {
            let s = self.slot();
            s.local.set(s.local.get() - 1);
            return;
        }
        // SAFETY: this reference is live and is given up here.
        unsafe { release_shared(self.slot) }
    }
}

impl<T: Send + Sync + 'static> Deref for PerThreadArc<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.slot().value
    }
}

impl<T: Send + Sync + fmt::Debug + 'static> fmt::Debug for PerThreadArc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

struct Entry {
    key: usize,
    slot: NonNull<()>,
    orphan: unsafe fn(NonNull<()>),
    dead: unsafe fn(NonNull<()>) -> bool,
}

struct Cache {
    entries: Vec<Entry>,
    /// Misses since the cache was last found full with a dead entry to let go.
    full_misses: u32,
}

impl Drop for Cache {
    fn drop(&mut self) {
        orphan_all(std::mem::take(&mut self.entries));
    }
}

fn orphan_all(entries: Vec<Entry>) {
    for e in entries {
        // SAFETY: each entry has left its thread's cache (the caller took it out), once.
        unsafe { (e.orphan)(e.slot) };
    }
}

/// Lets go of every slot in this thread's cache now, as the thread's end would.
#[cfg(all(test, steadfast_loom))]
fn release_this_thread() {
    let entries = CACHE.with(|c| std::mem::take(&mut c.borrow_mut().entries));
    orphan_all(entries);
}

#[cfg(not(steadfast_loom))]
std::thread_local! {
    static CACHE: RefCell<Cache> = const {
        RefCell::new(Cache {
            entries: Vec::new(),
            full_misses: 0,
        })
    };
    static THREAD_ID: Cell<u64> = const { Cell::new(0) };
}

#[cfg(steadfast_loom)]
::loom::thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache {
        entries: Vec::new(),
        full_misses: 0,
    });
    static THREAD_ID: Cell<u64> = Cell::new(0);
}

/// This thread's identity: 1, 2, 3… in the order threads first ask, never reused; 0 (no
/// thread's) when the thread's locals are gone.
#[inline]
fn thread_id() -> u64 {
    THREAD_ID
        .try_with(|id| match id.get() {
            0 => {
                static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
                let fresh = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                id.set(fresh);
                fresh
            }
            n => n,
        })
        .unwrap_or(0)
}

#[cfg(all(test, not(steadfast_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering as StdOrdering};

    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, StdOrdering::SeqCst);
        }
    }

    /// The slot of `a`, if this thread's cache holds it.
    fn slot_of<T: Send + Sync>(a: &PerThreadArc<T>) -> Option<NonNull<Slot<T>>> {
        a.is_local().then_some(a.slot)
    }

    fn drops(d: &AtomicUsize) -> usize {
        d.load(StdOrdering::SeqCst)
    }

    /// Fills this thread's cache with values still in use, and returns them.
    fn fill_cache() -> Vec<PerThreadArc<usize>> {
        (0..SLOTS_PER_THREAD).map(PerThreadArc::new).collect()
    }

    #[test]
    fn the_value_lives_until_the_last_reference_and_the_cache_let_go() {
        let count = Arc::new(AtomicUsize::new(0));
        let d = count.clone();
        std::thread::spawn(move || {
            let a = PerThreadArc::new(Counted(d));
            let b = a.clone();
            drop(a);
            assert_eq!(drops(&b.0), 0);
            drop(b);
        })
        .join()
        .unwrap();
        // The thread's cache let go when the thread ended, after the last reference.
        assert_eq!(drops(&count), 1);
    }

    #[test]
    fn references_dropped_on_other_threads_keep_the_count() {
        let count = Arc::new(AtomicUsize::new(0));
        let d = count.clone();
        let moved = std::thread::spawn(move || {
            let a = PerThreadArc::new(Counted(d));
            let many: Vec<_> = (0..10).map(|_| a.clone()).collect();
            drop(a);
            many
        })
        .join()
        .unwrap();
        // The owner thread has ended and orphaned its slot; ten references remain here.
        assert_eq!(drops(&count), 0);
        let again: Vec<_> = moved.iter().map(PerThreadArc::clone).collect();
        drop(moved);
        assert_eq!(drops(&count), 0);
        drop(again);
        assert_eq!(drops(&count), 0, "this thread's cache still holds it");
        // A full cache makes room by letting go of a value nothing can reach.
        let others = fill_cache();
        assert_eq!(drops(&count), 1);
        drop(others);
    }

    #[test]
    fn clones_on_one_thread_share_its_slot() {
        let a = PerThreadArc::new(5u32);
        let b = PerThreadArc::from_arc(a.arc(), None);
        assert_eq!(slot_of(&a), slot_of(&b));
        let c = std::thread::scope(|s| s.spawn(|| a.clone()).join().unwrap());
        assert_ne!(
            slot_of(&c),
            slot_of(&a),
            "another thread clones into its own slot"
        );
        assert_eq!(*c, 5);
    }

    #[test]
    fn localize_moves_a_reference_to_this_threads_slot() {
        let a = PerThreadArc::new(7u32);
        let mut moved = std::thread::scope(|s| s.spawn(|| a.clone()).join().unwrap());
        assert_ne!(slot_of(&moved), slot_of(&a));
        moved.localize();
        assert_eq!(slot_of(&moved), slot_of(&a));
    }

    #[cfg(feature = "retry")]
    #[test]
    fn clone_here_moves_the_source_and_the_clone_to_this_threads_slot() {
        let count = Arc::new(AtomicUsize::new(0));
        let a = PerThreadArc::new(Counted(count.clone()));
        let mut moved = std::thread::scope(|s| s.spawn(|| a.clone()).join().unwrap());
        assert_ne!(slot_of(&moved), slot_of(&a));
        let here = moved.clone_here();
        assert_eq!(slot_of(&moved), slot_of(&a), "the source was moved here");
        assert_eq!(slot_of(&here), slot_of(&a), "and so was its clone");
        let again = moved.clone_here();
        assert_eq!(slot_of(&again), slot_of(&a));
        drop((a, moved, here, again));
        assert_eq!(drops(&count), 0, "this thread's cache still holds it");
        let others = fill_cache();
        assert_eq!(drops(&count), 1, "freed once nothing could reach it");
        drop(others);
    }

    #[test]
    fn a_full_cache_of_values_in_use_counts_atomically() {
        std::thread::spawn(|| {
            let count = Arc::new(AtomicUsize::new(0));
            let in_use = fill_cache();
            let a = PerThreadArc::new(Counted(count.clone()));
            assert!(
                slot_of(&a).is_none(),
                "no slot is free, and none is evicted"
            );
            let b = a.clone();
            assert!(slot_of(&b).is_none());
            drop(a);
            assert_eq!(drops(&count), 0);
            drop(b);
            assert_eq!(
                drops(&count),
                1,
                "a plain Arc frees with its last reference"
            );
            // Values in use kept their slots.
            assert!(in_use.iter().all(|v| slot_of(v).is_some()));
            let x = in_use[3].clone();
            assert_eq!(slot_of(&x), slot_of(&in_use[3]));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_full_cache_looks_for_room_again_after_a_while() {
        std::thread::spawn(|| {
            let mut in_use = fill_cache();
            // Full of values in use: no slot for a new one.
            assert!(slot_of(&PerThreadArc::new(0usize)).is_none());
            // One of them is dropped: its slot is dead, and a later miss reclaims it.
            drop(in_use.pop());
            let got_a_slot =
                (0..=RESCAN_EVERY).any(|i| slot_of(&PerThreadArc::new(i as usize)).is_some());
            assert!(got_a_slot, "a dead slot was never let go");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn many_threads_cloning_and_dropping_free_the_value_once() {
        let count = Arc::new(AtomicUsize::new(0));
        let a = PerThreadArc::new(Counted(count.clone()));
        let kept: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let mine = a.clone();
                    s.spawn(move || {
                        let mut kept = Vec::new();
                        for i in 0..if cfg!(miri) { 100 } else { 10_000 } {
                            let c = mine.clone();
                            if i % 3 == 0 {
                                kept.push(c);
                            }
                        }
                        kept
                    })
                })
                .collect();
            // `join` returns once a thread has ended, its cache's slots orphaned.
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(drops(&count), 0);
        // Dropped here, on another thread than their slots' owners.
        drop(kept);
        assert_eq!(drops(&count), 0);
        drop(a);
        // This thread's cache still holds one slot, which a full cache lets go.
        let others = fill_cache();
        assert_eq!(drops(&count), 1);
        drop(others);
    }
}

/// Model checks of the count under every interleaving `loom` finds. Run with
/// `RUSTFLAGS="--cfg steadfast_loom" cargo test -p steadfast --lib --release per_thread_arc::loom`.
#[cfg(all(test, steadfast_loom))]
mod loom {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering as StdOrdering};

    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, StdOrdering::SeqCst);
        }
    }

    /// A thread makes a value and a second reference, hands that to another thread, which
    /// does `remote` with it and ends, while the first drops its own and ends (orphaning its
    /// slot): the value is freed exactly once, after both.
    fn race(remote: fn(PerThreadArc<Counted>)) {
        ::loom::model(move || {
            let drops = Arc::new(AtomicUsize::new(0));
            let d = drops.clone();
            let owner = ::loom::thread::spawn(move || {
                let a = PerThreadArc::new(Counted(d));
                let b = a.clone();
                let other = ::loom::thread::spawn(move || {
                    remote(b);
                    release_this_thread();
                });
                drop(a);
                // What the thread's end does (loom's `join` returns before a thread's locals
                // are dropped, so the test does it here).
                release_this_thread();
                other
            });
            owner.join().unwrap().join().unwrap();
            assert_eq!(drops.load(StdOrdering::SeqCst), 1);
        });
    }

    #[test]
    fn orphaning_races_a_remote_drop() {
        race(drop);
    }

    /// The other thread clones the reference into a slot of its own and drops both.
    #[test]
    fn a_remote_clone_and_the_owner_end_together() {
        race(|b| {
            let c = b.clone();
            drop(b);
            drop(c);
        });
    }
}
