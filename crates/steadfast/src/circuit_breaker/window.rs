//! Sliding windows of call outcomes: O(1) per call, lock-free, and exact at any call rate.
//!
//! # Limits and cost
//!
//! * Count window of `n` calls (1 to [`MAX_WINDOW_CALLS`], 2,097,151): one byte per call (a
//!   ring of `n` outcomes) and one packed aggregate word `total | failures << 21 | slow << 42`.
//!   No field can exceed `n`, so the word never overflows and the breaker reads the window's
//!   counts with a single load. The ring position is a 64-bit call count mapped onto the ring
//!   exactly (a remainder by multiplication, no division), so the ring holds exactly the last
//!   `n` calls however many came before. Per call: in the steady state (the window is full of
//!   successes and the call succeeds) one load and one increment of this thread's stripe of a
//!   striped counter; otherwise one `fetch_add` (ring position), a load of the slot, a `swap`
//!   of it when its outcome changes and one `fetch_add` of the aggregate.
//! * Time window of `length` in `buckets` steps (1 to [`MAX_TIME_BUCKETS`], at least 1 ms
//!   each): per bucket, and for the whole window, three separate 64-bit counters (calls,
//!   failures, slow calls): 24 bytes a bucket. Counts are exact up to 2^64 − 1 calls in one
//!   window (over 500 years at a billion calls a second). Per call: one clock read, one load
//!   (the live bucket), one `fetch_add` of the lifetime call count and one `fetch_add` of the
//!   window's and of the bucket's call count each; a failure, and a slow call, add one
//!   `fetch_add` to each of the two as well. No division: the bucket a call goes to is found
//!   by comparing the time with the live bucket's end. Buckets are retired (their counts
//!   subtracted and zeroed) under a `std` mutex taken once per bucket period by the first call
//!   or read that finds the bucket over, never on the per-call path.
//!
//! # Invariants
//!
//! * Count window: each call takes a unique ring index (`fetch_add`), swaps its outcome into
//!   that slot (skipped when the slot already holds the same outcome), and adds the difference
//!   between the new and the evicted outcome to the aggregate. A success arriving while the
//!   window is full of successes changes nothing in it and takes no ring index; it is counted on
//!   a per-thread stripe instead, so the steady state writes no shared cache line. A success
//!   racing a failure that lands at the same moment may be left out of the ring, which is one
//!   of the orders the two calls could have completed in anyway. Every field of the aggregate
//!   is always the count over the slots' contents, so the aggregate never underflows, and
//!   after every record has finished it equals a recount of the ring.
//! * Time window: each of the window's counters is the sum of the same counter over the
//!   buckets. A call adds to the window's counters before its bucket's, and retiring a bucket
//!   subtracts from the window what it took out of the bucket, so no counter underflows; after
//!   every record has finished each equals the sum over the buckets. A call is counted in the
//!   bucket live when it is recorded (a call whose clock read raced the move to a new bucket
//!   lands in the new one). The three counters are read one after another, calls first: a
//!   read racing a retirement sees the failures and slow calls of no more calls than it
//!   counts, and a read racing records may count the failure or slow call of a record in
//!   progress before its call, by at most one per such record (clamped, so a rate never
//!   exceeds 100%).
//! * `reset` is only called on a state transition; records racing it may land on either side,
//!   which the breaker tolerates because results of calls admitted before the transition are
//!   discarded by generation.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::sync::{AtomicU64, AtomicU8, CachePadded, Ordering, StripedCounter};

const FIELD_BITS: u32 = 21;
const FIELD_MASK: u64 = (1 << FIELD_BITS) - 1;
/// The largest count window: its counts fit the packed aggregate's 21-bit fields.
pub(crate) const MAX_WINDOW_CALLS: u32 = (1 << FIELD_BITS) - 1;
/// The most buckets a time window slides in.
pub(crate) const MAX_TIME_BUCKETS: u32 = 1_000;
/// The shortest time bucket.
pub(crate) const MIN_BUCKET: Duration = Duration::from_millis(1);

/// Bits of a time window's head word that hold the live bucket's index.
const SLOT_BITS: u32 = 10;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;
const _: () = assert!(MAX_TIME_BUCKETS as u64 <= SLOT_MASK + 1);

/// A window's counts, read in one go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Counts {
    pub(crate) total: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

impl Counts {
    fn unpack(w: u64) -> Self {
        Counts {
            total: w & FIELD_MASK,
            failures: (w >> FIELD_BITS) & FIELD_MASK,
            slow: (w >> (2 * FIELD_BITS)) & FIELD_MASK,
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

/// `n % d` for any 64-bit `n` and a fixed `d` below 2^32, by two multiplications instead of a
/// division (Lemire, Kaser and Kurz, "Faster remainder by direct computation", 2019: with
/// `c = ⌈2^128 / d⌉`, `n % d` is the high 128 bits of `(c · n mod 2^128) · d`, exact for
/// every `n` below 2^64 because 128 ≥ 64 + log2(d)).
#[derive(Debug, Clone, Copy)]
struct FastMod {
    d: u64,
    c: u128,
}

impl FastMod {
    fn new(d: u32) -> Self {
        let d = u64::from(d.max(1));
        FastMod {
            d,
            // Wraps to 0 for a divisor of 1, which still gives 0 for every `n`.
            c: (u128::MAX / u128::from(d)).wrapping_add(1),
        }
    }

    #[inline]
    fn rem(self, n: u64) -> u64 {
        let low = self.c.wrapping_mul(u128::from(n));
        // The high half of the 192-bit `low · d`, from two 64 × 64-bit products.
        let lo = u128::from(low as u64) * u128::from(self.d);
        let hi = (low >> 64) * u128::from(self.d);
        ((hi + (lo >> 64)) >> 64) as u64
    }
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

    /// Records one call.
    #[inline]
    pub(crate) fn record(&self, failure: bool, slow: bool) {
        match self {
            Window::Count(w) => w.record(failure, slow),
            Window::Time(w) => w.record(failure, slow, Instant::now()),
        }
    }

    /// The window's counts as its last record left them (a time window is not slid forward
    /// to the present first): what the breaker judges right after recording a call.
    pub(crate) fn recorded(&self) -> Counts {
        match self {
            Window::Count(w) => Counts::unpack(w.agg.load(Ordering::Acquire)),
            Window::Time(w) => w.agg.load(),
        }
    }

    /// The window's counts now.
    pub(crate) fn counts(&self) -> Counts {
        match self {
            Window::Count(w) => Counts::unpack(w.agg.load(Ordering::Acquire)),
            Window::Time(w) => w.counts(Instant::now()),
        }
    }

    /// The window's size: `Ok(calls)` for a count window, `Err((length, buckets))` for a time
    /// window (for a breaker's description).
    pub(crate) fn size(&self) -> Result<u32, (Duration, u32)> {
        match self {
            Window::Count(w) => Ok(w.slots.len() as u32),
            Window::Time(w) => Err((
                Duration::from_nanos(w.bucket_nanos * w.buckets.len() as u64),
                w.buckets.len() as u32,
            )),
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
    /// The ring position's remainder by the window's size.
    ring: FastMod,
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
            ring: FastMod::new(size),
            next: CachePadded(AtomicU64::new(0)),
            slots: (0..size).map(|_| AtomicU8::new(0)).collect(),
            agg: CachePadded(AtomicU64::new(0)),
            all_good: u64::from(size),
            steady: StripedCounter::default(),
        }
    }

    #[inline]
    fn record(&self, failure: bool, slow: bool) {
        // Steady state: the window is full of successes and this call succeeded too. Putting it
        // in the ring would evict a success and change nothing, and every slot is as good as
        // any other for the next failure to evict, so the ring position need not move: count
        // the call on this thread's stripe and leave the shared position alone.
        if !failure && !slow && self.agg.load(Ordering::Acquire) == self.all_good {
            self.steady.increment();
            return;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let new = slot_bits(failure, slow);
        let slot = &self.slots[self.ring.rem(n) as usize];
        // Steady state: the slot already holds this outcome, so there is nothing to change.
        // Skipping the swap is sound: if another call races onto the same slot, it is the
        // newer one, and the aggregate still matches the ring's contents.
        if slot.load(Ordering::Acquire) == new {
            return;
        }
        let old = slot.swap(new, Ordering::AcqRel);
        if old == new {
            return;
        }
        let delta = packed(new).wrapping_sub(packed(old));
        self.agg.fetch_add(delta, Ordering::AcqRel);
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

/// Calls, failures and slow calls: one time bucket's, or a whole time window's.
#[derive(Debug, Default)]
struct Tally {
    calls: AtomicU64,
    failures: AtomicU64,
    slow: AtomicU64,
}

impl Tally {
    /// Counts one call; its failure and slowness first, so that a retirement that takes the
    /// call out also takes them out.
    #[inline]
    fn add(&self, failure: bool, slow: bool) {
        if failure {
            self.failures.fetch_add(1, Ordering::AcqRel);
        }
        if slow {
            self.slow.fetch_add(1, Ordering::AcqRel);
        }
        self.calls.fetch_add(1, Ordering::AcqRel);
    }

    /// Empties a bucket and returns what it held: calls first, so that every call taken out
    /// takes its failure and slowness with it.
    fn take(&self) -> Counts {
        let total = self.calls.swap(0, Ordering::AcqRel);
        Counts {
            total,
            failures: self.failures.swap(0, Ordering::AcqRel),
            slow: self.slow.swap(0, Ordering::AcqRel),
        }
    }

    /// Takes a retired bucket's counts out of the window: failures and slow calls first, so
    /// that a read (calls first) never counts them without their calls.
    fn remove(&self, c: Counts) {
        if c.failures != 0 {
            self.failures.fetch_sub(c.failures, Ordering::AcqRel);
        }
        if c.slow != 0 {
            self.slow.fetch_sub(c.slow, Ordering::AcqRel);
        }
        if c.total != 0 {
            self.calls.fetch_sub(c.total, Ordering::AcqRel);
        }
    }

    fn load(&self) -> Counts {
        let total = self.calls.load(Ordering::Acquire);
        Counts {
            total,
            failures: self.failures.load(Ordering::Acquire).min(total),
            slow: self.slow.load(Ordering::Acquire).min(total),
        }
    }
}

/// The calls of the last `length`, in `buckets` steps.
#[derive(Debug)]
pub(crate) struct TimeWindow {
    origin: Instant,
    bucket_nanos: u64,
    buckets: Box<[Tally]>,
    agg: Tally,
    /// The live bucket: its epoch (bucket periods since `origin`, from 1) above `SLOT_BITS`,
    /// its index in `buckets` below. Buckets of older epochs have been retired.
    head: AtomicU64,
    rotate: Mutex<()>,
    calls: AtomicU64,
}

impl TimeWindow {
    fn new(length: Duration, buckets: u32) -> Self {
        let buckets = buckets.clamp(1, MAX_TIME_BUCKETS);
        let bucket_nanos = (length.as_nanos() / u128::from(buckets))
            .clamp(MIN_BUCKET.as_nanos(), u128::from(u64::MAX)) as u64;
        TimeWindow {
            origin: Instant::now(),
            bucket_nanos,
            buckets: (0..buckets).map(|_| Tally::default()).collect(),
            agg: Tally::default(),
            // Epoch 1 (the first bucket period) in slot 1 % buckets.
            head: AtomicU64::new((1 << SLOT_BITS) | u64::from(1 % buckets)),
            rotate: Mutex::new(()),
            calls: AtomicU64::new(0),
        }
    }

    /// Nanoseconds from the window's origin to `now`.
    #[inline]
    fn nanos(&self, now: Instant) -> u64 {
        let d = now.saturating_duration_since(self.origin);
        d.as_secs()
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::from(d.subsec_nanos()))
    }

    /// The live bucket's head word, retiring buckets first if `nanos` is past its end.
    #[inline]
    fn live(&self, nanos: u64) -> u64 {
        let head = self.head.load(Ordering::Acquire);
        // Epoch `e` covers `[(e - 1) · bucket, e · bucket)`.
        if nanos < (head >> SLOT_BITS).saturating_mul(self.bucket_nanos) {
            head
        } else {
            self.advance(nanos)
        }
    }

    /// Makes the bucket of `nanos` live, retiring every bucket older than the window ending
    /// with it, and returns the head word.
    #[cold]
    fn advance(&self, nanos: u64) -> u64 {
        // At least 1 ms a bucket, so epochs stay below 2^45 and fit the head word.
        let epoch = 1 + nanos / self.bucket_nanos;
        let _guard = self.rotate.lock().unwrap_or_else(|p| p.into_inner());
        let head = self.head.load(Ordering::Acquire);
        if head >> SLOT_BITS >= epoch {
            return head;
        }
        let n = self.buckets.len() as u64;
        // Epochs (head, epoch] take over their slots; at most `n` slots need clearing.
        let first = (head >> SLOT_BITS).max(epoch.saturating_sub(n)) + 1;
        for e in first..=epoch {
            let old = self.buckets[(e % n) as usize].take();
            self.agg.remove(old);
        }
        let head = (epoch << SLOT_BITS) | (epoch % n);
        self.head.store(head, Ordering::Release);
        head
    }

    #[inline]
    fn record(&self, failure: bool, slow: bool, now: Instant) {
        let head = self.live(self.nanos(now));
        self.calls.fetch_add(1, Ordering::Relaxed);
        // The window before the bucket, so that a retirement never takes out more than the
        // window holds.
        self.agg.add(failure, slow);
        self.buckets[(head & SLOT_MASK) as usize].add(failure, slow);
    }

    fn counts(&self, now: Instant) -> Counts {
        self.live(self.nanos(now));
        self.agg.load()
    }

    fn reset(&self) {
        let _guard = self.rotate.lock().unwrap_or_else(|p| p.into_inner());
        for b in self.buckets.iter() {
            let old = b.take();
            self.agg.remove(old);
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
            total: calls.len() as _,
            failures: calls.iter().filter(|c| c.0).count() as _,
            slow: calls.iter().filter(|c| c.1).count() as _,
        }
    }

    fn paused_runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
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
                w.record(f, s);
                let lo = (i + 1).saturating_sub(size as usize);
                prop_assert_eq!(w.counts(), recount(&calls[lo..=i]));
            }
            w.reset();
            prop_assert_eq!(w.counts(), Counts::default());
        }

        /// The count window still holds exactly the last `size` calls when its ring position
        /// passes 2^32 (and any other point of its 64-bit range).
        #[test]
        fn count_window_is_exact_at_any_ring_position(
            size in 1u32..64,
            start in prop_oneof![
                Just((1u64 << 32) - 70),
                Just(u64::MAX - 300),
                (1u64 << 33)..(1 << 40),
            ],
            calls in proptest::collection::vec((any::<bool>(), any::<bool>()), 0..300),
        ) {
            let w = Window::count(size);
            let Window::Count(cw) = &w else { unreachable!() };
            cw.next.store(start, Ordering::Relaxed);
            for (i, &(f, s)) in calls.iter().enumerate() {
                w.record(f, s);
                let lo = (i + 1).saturating_sub(size as usize);
                prop_assert_eq!(w.counts(), recount(&calls[lo..=i]));
            }
        }

        /// The remainder by multiplication is the remainder, for every 64-bit position.
        #[test]
        fn fast_remainder_is_exact(
            d in 1u32..=MAX_WINDOW_CALLS,
            n in prop_oneof![any::<u64>(), (u64::MAX - 1_000)..=u64::MAX, 0u64..1_000],
        ) {
            prop_assert_eq!(FastMod::new(d).rem(n), n % u64::from(d));
        }

        /// The time window reports exactly the calls made in its live buckets.
        #[test]
        fn time_window_equals_recount(
            buckets in 1u32..12,
            steps in proptest::collection::vec((0u64..400, any::<bool>(), any::<bool>()), 0..200),
        ) {
            let rt = paused_runtime();
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
                    w.record(f, s);
                    prop_assert_eq!(w.counts(), recount(&live));
                }
                Ok(())
            })?;
        }
    }

    proptest! {
        // Each case records ten million calls.
        #![proptest_config(ProptestConfig::with_cases(3))]

        /// Ten million calls in one time window, spread over its buckets on a paused clock, are
        /// counted to the call (calls, failures, slow calls, so the failure rate too), and
        /// retiring the oldest bucket takes out exactly its calls.
        #[test]
        fn time_window_counts_ten_million_calls_exactly(
            buckets in 1u32..=20,
            fail_every in 1u64..=1_000,
            slow_every in 1u64..=1_000,
            steps in 1u64..=200,
        ) {
            const CALLS: u64 = 10_000_000;
            let rt = paused_runtime();
            rt.block_on(async {
                let length = Duration::from_secs(10);
                let w = Window::time(length, buckets);
                let Window::Time(tw) = &w else { unreachable!() };
                let bucket = length / buckets;
                let origin = Instant::now();
                // (calls, failures, slow) recorded in the first bucket period.
                let mut first = (0u64, 0u64, 0u64);
                let mut i = 0u64;
                for step in 0..steps {
                    // Steps spread over [0, length): every call stays in the window.
                    let at = origin + length.mul_f64(step as f64 / steps as f64);
                    tokio::time::advance(at.saturating_duration_since(Instant::now())).await;
                    let now = Instant::now();
                    let end = CALLS * (step + 1) / steps;
                    let in_first = now - origin < bucket;
                    while i < end {
                        let (f, s) = (i % fail_every == 0, i % slow_every == 0);
                        tw.record(f, s, now);
                        if in_first {
                            first.0 += 1;
                            first.1 += u64::from(f);
                            first.2 += u64::from(s);
                        }
                        i += 1;
                    }
                }
                let failures = CALLS.div_ceil(fail_every);
                let slow = CALLS.div_ceil(slow_every);
                let c = tw.counts(Instant::now());
                prop_assert_eq!(
                    (c.total, c.failures, c.slow),
                    (CALLS, failures, slow)
                );
                // At `length` the window slides one bucket on: the first bucket's calls leave.
                tokio::time::advance((origin + length).saturating_duration_since(Instant::now()))
                    .await;
                let c = tw.counts(Instant::now());
                prop_assert_eq!(
                    (c.total, c.failures, c.slow),
                    (CALLS - first.0, failures - first.1, slow - first.2)
                );
                Ok(())
            })?;
        }
    }

    /// A time-window breaker seeing 2.2 million calls in one window, 1% of them failing, reads
    /// a 1% failure rate and stays closed.
    #[tokio::test(start_paused = true)]
    async fn a_busy_time_window_breaker_reads_its_failure_rate_to_the_call() {
        use crate::circuit_breaker::state::CallResult;
        use crate::circuit_breaker::{CircuitBreaker, CircuitState, SlidingWindow};

        const CALLS: u64 = 2_200_000;
        let b = CircuitBreaker::builder()
            .failure_rate(50.0)
            .minimum_calls(100)
            .window(SlidingWindow::time(Duration::from_secs(10)))
            .build()
            .unwrap();
        for i in 0..CALLS {
            let permit = b.core.try_acquire().unwrap();
            let result = if i % 100 == 0 {
                CallResult::Failure
            } else {
                CallResult::Success
            };
            b.core.on_result(permit, result, None);
        }
        let m = b.metrics();
        assert_eq!(m.state, CircuitState::Closed);
        assert_eq!((m.window_calls, m.window_failures), (CALLS, CALLS / 100));
        assert_eq!(m.failure_rate, Some(1.0));
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
            expect.total += u64::from(v & 1);
            expect.failures += u64::from((v >> 1) & 1);
            expect.slow += u64::from((v >> 2) & 1);
        }
        assert_eq!(w.counts(), expect);
        assert_eq!(expect.total, 100);
    }

    /// Threads recording across bucket boundaries while buckets retire leave each of the
    /// window's counters equal to its sum over the buckets.
    #[test]
    fn concurrent_time_records_leave_an_exact_aggregate() {
        let w = Arc::new(Window::time(Duration::from_millis(40), 4));
        let origin = Instant::now();
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let w = w.clone();
                std::thread::spawn(move || {
                    let Window::Time(tw) = &*w else {
                        unreachable!()
                    };
                    for i in 0..50_000u64 {
                        // Each thread walks the clock forward on its own, 1 ms every 500 calls.
                        let now = origin + Duration::from_millis(i / 500 + t);
                        tw.record((i + t) % 3 == 0, i % 7 == 0, now);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let Window::Time(tw) = &*w else {
            unreachable!()
        };
        let mut sum = Counts::default();
        for b in tw.buckets.iter() {
            sum.total += b.calls.load(Ordering::Acquire);
            sum.failures += b.failures.load(Ordering::Acquire);
            sum.slow += b.slow.load(Ordering::Acquire);
        }
        let agg = Counts {
            total: tw.agg.calls.load(Ordering::Acquire),
            failures: tw.agg.failures.load(Ordering::Acquire),
            slow: tw.agg.slow.load(Ordering::Acquire),
        };
        assert_eq!(agg, sum);
        assert_eq!(w.calls(), 200_000);
        w.reset();
        assert_eq!(tw.agg.load(), Counts::default());
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
        w.record(false, false);
        assert_eq!(w.counts().total, 1);
    }
}
