//! Sliding windows of call outcomes, O(1) per call.
//!
//! Both windows keep one packed aggregate word `total | failures << 21 | slow << 42`, so the
//! breaker reads the window's rates with a single load.
//!
//! # Invariants
//!
//! * Count window: each call takes a unique ring index (`fetch_add`), swaps its outcome into
//!   that slot (skipped when the slot already holds the same outcome), and adds the difference
//!   between the new and the evicted outcome to the aggregate. A success arriving while the
//!   window is full of successes changes nothing in it and takes no ring index; it is counted on
//!   a per-thread stripe instead, so the steady state writes no shared cache line. A success
//!   racing a failure that lands at the same moment may be left out of the ring, which is one
//!   of the orders the two calls could have completed in anyway. Every field of the aggregate is always the count over the slots' contents, so
//!   the aggregate never underflows, and after every record has finished it equals a recount of
//!   the ring.
//! * Time window: the aggregate holds the sum of the live buckets. Buckets are retired (their
//!   counts subtracted and zeroed) under a `std` mutex taken once per bucket period, never on
//!   the per-call path; a call adds to its bucket and to the aggregate with two `fetch_add`s.
//! * `reset` is only called on a state transition; records racing it may land on either side,
//!   which the breaker tolerates because results of calls admitted before the transition are
//!   discarded by generation.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::sync::{AtomicU64, AtomicU8, CachePadded, Ordering, StripedCounter};

const FIELD_BITS: u32 = 21;
const FIELD_MASK: u64 = (1 << FIELD_BITS) - 1;
/// The largest count window (and the most calls a time bucket counts exactly).
pub(crate) const MAX_WINDOW_CALLS: u32 = (1 << FIELD_BITS) - 1;

/// Rates over a window, read in one go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Counts {
    pub(crate) total: u32,
    pub(crate) failures: u32,
    pub(crate) slow: u32,
}

impl Counts {
    fn unpack(w: u64) -> Self {
        Counts {
            total: (w & FIELD_MASK) as u32,
            failures: ((w >> FIELD_BITS) & FIELD_MASK) as u32,
            slow: ((w >> (2 * FIELD_BITS)) & FIELD_MASK) as u32,
        }
    }
}

/// One recorded call: bit 0 "recorded", bit 1 failure, bit 2 slow.
fn slot_bits(failure: bool, slow: bool) -> u8 {
    1 | (u8::from(failure) << 1) | (u8::from(slow) << 2)
}

fn packed(slot: u8) -> u64 {
    u64::from(slot & 1)
        | (u64::from((slot >> 1) & 1) << FIELD_BITS)
        | (u64::from((slot >> 2) & 1) << (2 * FIELD_BITS))
}

// One window per breaker, inside its core: the padding that keeps the count window's hot
// counters on their own cache lines is the point, not a size to trim.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Window {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    pub(crate) fn count(size: u32) -> Self {
        Window::Count(CountWindow::new(size))
    }

    pub(crate) fn time(length: Duration, buckets: u32) -> Self {
        Window::Time(TimeWindow::new(length, buckets))
    }

    /// Records one call and returns the window's counts right after it.
    #[inline]
    pub(crate) fn record(&self, failure: bool, slow: bool) -> Counts {
        match self {
            Window::Count(w) => w.record(failure, slow),
            Window::Time(w) => w.record(failure, slow, Instant::now()),
        }
    }

    pub(crate) fn counts(&self) -> Counts {
        match self {
            Window::Count(w) => Counts::unpack(w.agg.load(Ordering::Acquire)),
            Window::Time(w) => w.counts(Instant::now()),
        }
    }

    /// Calls recorded since the window was made (resets do not clear it).
    pub(crate) fn calls(&self) -> u64 {
        match self {
            Window::Count(w) => w.next.load(Ordering::Relaxed) + w.steady.sum(),
            Window::Time(w) => w.calls.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn reset(&self) {
        match self {
            Window::Count(w) => w.reset(),
            Window::Time(w) => w.reset(),
        }
    }
}

/// The last `size` calls.
#[derive(Debug)]
pub(crate) struct CountWindow {
    size: u32,
    /// Lemire's fast-modulo constant for `size`.
    fastmod: u64,
    /// Calls recorded since the window was made (also the ring position). Written by every
    /// call, so it has cache lines of its own.
    next: CachePadded<AtomicU64>,
    slots: Box<[AtomicU8]>,
    agg: CachePadded<AtomicU64>,
    /// The aggregate of a full window of successes.
    all_good: u64,
    /// Successes recorded while the window was full of successes (see `record`).
    steady: StripedCounter,
}

impl CountWindow {
    fn new(size: u32) -> Self {
        let size = size.clamp(1, MAX_WINDOW_CALLS);
        CountWindow {
            size,
            // Wraps to 0 for a size of 1, which still maps every call to slot 0.
            fastmod: (u64::MAX / u64::from(size)).wrapping_add(1),
            next: CachePadded(AtomicU64::new(0)),
            slots: (0..size).map(|_| AtomicU8::new(0)).collect(),
            agg: CachePadded(AtomicU64::new(0)),
            all_good: u64::from(size),
            steady: StripedCounter::default(),
        }
    }

    #[inline]
    fn index(&self, n: u32) -> usize {
        let low = self.fastmod.wrapping_mul(u64::from(n));
        ((u128::from(low) * u128::from(self.size)) >> 64) as usize
    }

    #[inline]
    fn record(&self, failure: bool, slow: bool) -> Counts {
        // Steady state: the window is full of successes and this call succeeded too. Putting it
        // in the ring would evict a success and change nothing, and every slot is as good as
        // any other for the next failure to evict, so the ring position need not move: count
        // the call on this thread's stripe and leave the shared position alone.
        let agg = self.agg.load(Ordering::Acquire);
        if agg == self.all_good && !failure && !slow {
            self.steady.increment();
            return Counts::unpack(agg);
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        // The ring position uses the low 32 bits: when they wrap (every 2^32 calls) one slot
        // is overwritten out of turn, which is harmless.
        let new = slot_bits(failure, slow);
        let slot = &self.slots[self.index(n as u32)];
        // Steady state: the slot already holds this outcome, so there is nothing to change.
        // Skipping the swap is sound: if another call races onto the same slot, it is the
        // newer one, and the aggregate still matches the ring's contents.
        if slot.load(Ordering::Acquire) == new {
            return Counts::unpack(self.agg.load(Ordering::Acquire));
        }
        let old = slot.swap(new, Ordering::AcqRel);
        if old == new {
            return Counts::unpack(self.agg.load(Ordering::Acquire));
        }
        let delta = packed(new).wrapping_sub(packed(old));
        Counts::unpack(
            self.agg
                .fetch_add(delta, Ordering::AcqRel)
                .wrapping_add(delta),
        )
    }

    fn reset(&self) {
        for s in self.slots.iter() {
            let old = s.swap(0, Ordering::AcqRel);
            if old != 0 {
                self.agg.fetch_sub(packed(old), Ordering::AcqRel);
            }
        }
    }
}

#[derive(Debug, Default)]
struct Bucket {
    counts: AtomicU64,
}

/// The calls of the last `length`, in `buckets` steps.
#[derive(Debug)]
pub(crate) struct TimeWindow {
    origin: Instant,
    bucket_nanos: u64,
    buckets: Box<[Bucket]>,
    agg: AtomicU64,
    /// The newest epoch whose bucket is live; older buckets have been retired.
    head: AtomicU64,
    rotate: Mutex<()>,
    calls: AtomicU64,
}

impl TimeWindow {
    fn new(length: Duration, buckets: u32) -> Self {
        let buckets = buckets.max(1);
        let bucket_nanos = (length.as_nanos() / u128::from(buckets)).max(1) as u64;
        TimeWindow {
            origin: Instant::now(),
            bucket_nanos,
            buckets: (0..buckets).map(|_| Bucket::default()).collect(),
            agg: AtomicU64::new(0),
            head: AtomicU64::new(1),
            rotate: Mutex::new(()),
            calls: AtomicU64::new(0),
        }
    }

    fn epoch(&self, now: Instant) -> u64 {
        1 + (now.saturating_duration_since(self.origin).as_nanos() / u128::from(self.bucket_nanos))
            as u64
    }

    fn slot(&self, epoch: u64) -> &Bucket {
        &self.buckets[(epoch % self.buckets.len() as u64) as usize]
    }

    /// Retires every bucket older than the window ending at `epoch`.
    fn advance(&self, epoch: u64) {
        if self.head.load(Ordering::Acquire) >= epoch {
            return;
        }
        let _guard = self.rotate.lock().unwrap_or_else(|p| p.into_inner());
        let head = self.head.load(Ordering::Acquire);
        if head >= epoch {
            return;
        }
        let n = self.buckets.len() as u64;
        // Epochs (head, epoch] take over their slots; at most `n` slots need clearing.
        let first = head.max(epoch.saturating_sub(n)) + 1;
        for e in first..=epoch {
            let b = self.slot(e);
            let old = b.counts.swap(0, Ordering::AcqRel);
            if old != 0 {
                self.agg.fetch_sub(old, Ordering::AcqRel);
            }
        }
        self.head.store(epoch, Ordering::Release);
    }

    fn record(&self, failure: bool, slow: bool, now: Instant) -> Counts {
        let epoch = self.epoch(now);
        self.advance(epoch);
        let delta = packed(slot_bits(failure, slow));
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.slot(epoch).counts.fetch_add(delta, Ordering::AcqRel);
        Counts::unpack(
            self.agg
                .fetch_add(delta, Ordering::AcqRel)
                .wrapping_add(delta),
        )
    }

    fn counts(&self, now: Instant) -> Counts {
        self.advance(self.epoch(now));
        Counts::unpack(self.agg.load(Ordering::Acquire))
    }

    fn reset(&self) {
        let _guard = self.rotate.lock().unwrap_or_else(|p| p.into_inner());
        for b in self.buckets.iter() {
            let old = b.counts.swap(0, Ordering::AcqRel);
            if old != 0 {
                self.agg.fetch_sub(old, Ordering::AcqRel);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::Arc;

    fn recount(calls: &[(bool, bool)]) -> Counts {
        Counts {
            total: calls.len() as u32,
            failures: calls.iter().filter(|c| c.0).count() as u32,
            slow: calls.iter().filter(|c| c.1).count() as u32,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_000))]

        /// The count window reports exactly the counts of the last `size` calls.
        #[test]
        fn count_window_equals_recount(
            size in 1u32..64,
            calls in proptest::collection::vec((any::<bool>(), any::<bool>()), 0..300),
        ) {
            let w = Window::count(size);
            for (i, &(f, s)) in calls.iter().enumerate() {
                let got = w.record(f, s);
                let lo = (i + 1).saturating_sub(size as usize);
                prop_assert_eq!(got, recount(&calls[lo..=i]));
            }
            w.reset();
            prop_assert_eq!(w.counts(), Counts::default());
        }

        /// The time window reports exactly the calls made in its live buckets.
        #[test]
        fn time_window_equals_recount(
            buckets in 1u32..12,
            steps in proptest::collection::vec((0u64..400, any::<bool>(), any::<bool>()), 0..200),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap();
            rt.block_on(async {
                let length = Duration::from_secs(1);
                let w = Window::time(length, buckets);
                let bucket = length / buckets;
                let origin = Instant::now();
                let mut log: Vec<(u64, bool, bool)> = Vec::new();
                for (advance_ms, f, s) in steps {
                    tokio::time::advance(Duration::from_millis(advance_ms)).await;
                    let epoch = (origin.elapsed().as_nanos() / bucket.as_nanos()) as u64;
                    log.push((epoch, f, s));
                    let live: Vec<(bool, bool)> = log
                        .iter()
                        .filter(|(e, _, _)| e + u64::from(buckets) > epoch)
                        .map(|&(_, f, s)| (f, s))
                        .collect();
                    prop_assert_eq!(w.record(f, s), recount(&live));
                }
                Ok(())
            })?;
        }
    }

    #[test]
    fn concurrent_records_leave_an_exact_aggregate() {
        let w = Arc::new(Window::count(100));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let w = w.clone();
                std::thread::spawn(move || {
                    for i in 0..50_000u32 {
                        w.record((i + t) % 3 == 0, i % 7 == 0);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let Window::Count(cw) = &*w else {
            unreachable!()
        };
        let mut expect = Counts::default();
        for s in cw.slots.iter() {
            let v = s.load(Ordering::Acquire);
            expect.total += u32::from(v & 1);
            expect.failures += u32::from((v >> 1) & 1);
            expect.slow += u32::from((v >> 2) & 1);
        }
        assert_eq!(w.counts(), expect);
        assert_eq!(expect.total, 100);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_time_windows_empty_out() {
        let w = Window::time(Duration::from_secs(10), 10);
        for _ in 0..5 {
            w.record(true, false);
        }
        assert_eq!(w.counts().failures, 5);
        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(w.counts().failures, 5);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(w.counts(), Counts::default());
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(w.record(false, false).total, 1);
    }
}
