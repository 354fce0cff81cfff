//! [`Tally`]: the requests and successes a shared budget counts for its background task,
//! counted without a locked instruction on the request path.
//!
//! Each thread that counts claims one of [`SLOTS`] slot numbers for as long as it lives (one
//! process-wide claim, the same slot in every tally). A slot has one writer, its thread, so
//! an increment is a plain load and store of the thread's own cache lines: no
//! read-modify-write, no line shared with another writer. Threads beyond [`SLOTS`] at once
//! share one overflow slot, counted with `fetch_add`. The background task sums the slots and
//! sends what grew since its last round.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Slot numbers threads can hold at once (one bit each of [`CLAIMED`]).
const SLOTS: usize = 64;

/// Which slot numbers a live thread holds.
static CLAIMED: AtomicU64 = AtomicU64::new(0);

/// A thread's claim on a slot number, given back when the thread ends.
#[derive(Debug)]
struct Claim(usize);

impl Drop for Claim {
    fn drop(&mut self) {
        // Whatever this thread counts from now on (other locals' destructors may) goes to
        // the overflow slot.
        let _ = SLOT.try_with(|s| s.set(SLOTS));
        // Release: the next holder sees every store this thread made to its slots.
        CLAIMED.fetch_and(!(1 << self.0), Ordering::Release);
    }
}

/// Not claimed yet: the thread's first count claims a number.
const UNCLAIMED: usize = usize::MAX;

thread_local! {
    /// This thread's slot number ([`SLOTS`]: the overflow slot). A constant-initialised
    /// `Cell` with no destructor, so reading it is one load.
    static SLOT: Cell<usize> = const { Cell::new(UNCLAIMED) };
    /// Gives the number back when the thread ends; set only when a number was claimed.
    static CLAIM: Cell<Option<Claim>> = const { Cell::new(None) };
}

/// This thread's slot number, or [`SLOTS`] (the overflow slot).
#[inline]
fn slot() -> usize {
    let s = SLOT.get();
    if s != UNCLAIMED {
        return s;
    }
    claim()
}

/// Claims a free slot number for this thread (its first count), or the overflow slot when
/// every number is taken.
#[cold]
#[inline(never)]
fn claim() -> usize {
    let mut claimed = CLAIMED.load(Ordering::Acquire);
    let number = loop {
        let free = (!claimed).trailing_zeros() as usize;
        if free >= SLOTS {
            break SLOTS;
        }
        // Acquire: the thread that held this number before has finished its last store.
        match CLAIMED.compare_exchange_weak(
            claimed,
            claimed | 1 << free,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => break free,
            Err(now) => claimed = now,
        }
    };
    if number < SLOTS && CLAIM.try_with(|c| c.set(Some(Claim(number)))).is_err() {
        // The thread is ending and can no longer give the number back: keep it from counting
        // there, and let it go at once.
        CLAIMED.fetch_and(!(1 << number), Ordering::Release);
        SLOT.set(SLOTS);
        return SLOTS;
    }
    SLOT.set(number);
    number
}

/// One slot's counts, on cache lines of their own (two 64-byte lines: adjacent-line
/// prefetchers pull pairs).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Slot {
    requests: AtomicU64,
    successes: AtomicU64,
}

/// Which count to add to.
#[derive(Debug, Clone, Copy)]
pub(super) enum Count {
    Requests,
    Successes,
}

impl Slot {
    fn counter(&self, count: Count) -> &AtomicU64 {
        match count {
            Count::Requests => &self.requests,
            Count::Successes => &self.successes,
        }
    }
}

/// Requests and successes counted per thread; see the module's documentation.
///
/// # Invariants
///
/// Every slot but the last has at most one writer at a time (the thread holding its number),
/// so its load-and-store increment loses nothing; the last is written with `fetch_add`. The
/// counts only grow (wrapping), so a reader takes differences of sums.
#[derive(Debug)]
pub(super) struct Tally {
    slots: [Slot; SLOTS + 1],
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            slots: std::array::from_fn(|_| Slot::default()),
        }
    }
}

impl Tally {
    /// Adds one to `count` on this thread's slot if the thread holds a number of its own: one
    /// load of the number, a range check, and a plain increment. `false` (nothing added) on a
    /// thread without one; [`add`](Self::add) then counts.
    #[inline]
    pub(super) fn add_own(&self, count: Count) -> bool {
        let i = SLOT.get();
        match self.slots.get(i) {
            Some(s) if i < SLOTS => {
                let c = s.counter(count);
                c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
                true
            }
            _ => false,
        }
    }

    /// Adds one to `count` on this thread's slot, claiming a number first if the thread has
    /// none, or on the overflow slot.
    pub(super) fn add(&self, count: Count) {
        let i = slot();
        let c = self.slots[i.min(SLOTS)].counter(count);
        if i < SLOTS {
            c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        } else {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The sum of `count` over every slot (increments still being made may be missed, and
    /// are seen by the next sum).
    pub(super) fn sum(&self, count: Count) -> u64 {
        self.slots
            .iter()
            .map(|s| s.counter(count).load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_of_many_threads_add_up() {
        let tally = Tally::default();
        // More threads at once than slots: some share the overflow slot.
        let barrier = &std::sync::Barrier::new(SLOTS + 8);
        let tally_ref = &tally;
        std::thread::scope(|s| {
            for _ in 0..SLOTS + 8 {
                s.spawn(move || {
                    barrier.wait();
                    for _ in 0..1000 {
                        tally_ref.add(Count::Requests);
                    }
                    tally_ref.add(Count::Successes);
                    barrier.wait();
                });
            }
        });
        assert_eq!(tally.sum(Count::Requests), (SLOTS as u64 + 8) * 1000);
        assert_eq!(tally.sum(Count::Successes), SLOTS as u64 + 8);
        // The threads ended: their numbers are free again.
        std::thread::spawn(|| assert!(slot() < SLOTS))
            .join()
            .unwrap();
    }
}
