//! [`LatencyHistogram`]: a lock-free, windowed record of observed latencies, read as
//! percentiles.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Linear sub-buckets per power of two: a bucket is at most 1/16 (6.25%) of its lower bound
/// wide.
const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
/// The largest power of two recorded apart: values (in microseconds) from `2^MAX_EXP` up
/// (about 19 hours) share the last bucket.
const MAX_EXP: u32 = 36;
/// Buckets per slot: `SUB` exact ones for 0..16 µs, then `SUB` per power of two.
const BUCKETS: usize = (SUB + (MAX_EXP as u64 - SUB_BITS as u64) * SUB) as usize;

/// The bucket of a value in microseconds.
#[inline]
fn bucket(us: u64) -> usize {
    let us = us.min((1 << MAX_EXP) - 1);
    if us < SUB {
        return us as usize;
    }
    let exp = 63 - us.leading_zeros();
    let shift = exp - SUB_BITS;
    let sub = (us >> shift) & (SUB - 1);
    (SUB + u64::from(shift) * SUB + sub) as usize
}

/// The largest value (in microseconds) bucket `index` holds.
fn bucket_high(index: usize) -> u64 {
    let index = index as u64;
    if index < SUB {
        return index;
    }
    let shift = (index - SUB) / SUB;
    let sub = (index - SUB) % SUB;
    ((SUB + sub) << shift) + (1 << shift) - 1
}

/// One time slot of the window: its epoch (the slot's number since the histogram was made,
/// plus one; zero for a slot never used) and its counts.
struct Slot {
    epoch: AtomicU64,
    counts: Box<[AtomicU64]>,
}

/// Observed latencies over a sliding window, as percentiles, without a lock.
///
/// Values are counted in log-linear buckets (16 per power of two, so a percentile is read
/// to within 1/16 of its value, never below it); the window is split into slots that are
/// reused in turn, so old observations age out a slot at a time. Recording is two relaxed
/// atomic additions (and, once per slot, the reset of a reused slot: observations that race
/// with that reset may be lost, which only thins the sample). The hedge layer's
/// [`HedgeDelay::percentile`](super::HedgeDelay::percentile) reads one to choose its delay.
///
/// ```
/// use std::time::Duration;
/// use steadfast::hedge::LatencyHistogram;
///
/// let h = LatencyHistogram::new(Duration::from_secs(10), 5);
/// for ms in 1..=100 {
///     h.record(Duration::from_millis(ms));
/// }
/// assert_eq!(h.len(), 100);
/// let p95 = h.percentile(0.95).unwrap();
/// assert!(p95 >= Duration::from_millis(95) && p95 <= Duration::from_millis(95) * 17 / 16);
/// ```
pub struct LatencyHistogram {
    slots: Box<[Slot]>,
    slot_len_us: u64,
    origin: Instant,
}

impl fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LatencyHistogram")
            .field("window", &self.window())
            .field("slots", &self.slots.len())
            .field("len", &self.len())
            .finish()
    }
}

impl LatencyHistogram {
    /// A histogram over the last `window`, aged out in `slots` steps (at least one; a window
    /// under one microsecond per slot is taken as one microsecond per slot).
    pub fn new(window: Duration, slots: usize) -> Self {
        let slots = slots.max(1);
        let slot_len_us = (window.as_micros() / slots as u128).clamp(1, u64::MAX as u128) as u64;
        LatencyHistogram {
            slots: (0..slots)
                .map(|_| Slot {
                    epoch: AtomicU64::new(0),
                    counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
                })
                .collect(),
            slot_len_us,
            origin: Instant::now(),
        }
    }

    /// The window the histogram covers.
    pub fn window(&self) -> Duration {
        Duration::from_micros(self.slot_len_us.saturating_mul(self.slots.len() as u64))
    }

    /// The current slot's epoch (its number since the histogram was made, plus one).
    #[inline]
    fn epoch(&self) -> u64 {
        self.epoch_at(Instant::now())
    }

    /// The epoch of the slot `now` falls in.
    #[inline]
    fn epoch_at(&self, now: Instant) -> u64 {
        let us = now
            .saturating_duration_since(self.origin)
            .as_micros()
            .min(u64::MAX as u128) as u64;
        us / self.slot_len_us + 1
    }

    /// Records one observed latency.
    #[inline]
    pub fn record(&self, latency: Duration) {
        self.record_at(latency, Instant::now());
    }

    /// Records one latency observed at `now` (a clock reading the caller already has).
    #[inline]
    pub(super) fn record_at(&self, latency: Duration, now: Instant) {
        let us = latency.as_micros().min(u64::MAX as u128) as u64;
        let epoch = self.epoch_at(now);
        let slot = &self.slots[(epoch % self.slots.len() as u64) as usize];
        let seen = slot.epoch.load(Ordering::Acquire);
        if seen != epoch {
            self.turn(slot, seen, epoch);
        }
        slot.counts[bucket(us)].fetch_add(1, Ordering::Relaxed);
    }

    /// Reuses `slot` for `epoch`: whoever moves its epoch forward clears it.
    #[cold]
    fn turn(&self, slot: &Slot, seen: u64, epoch: u64) {
        if seen < epoch
            && slot
                .epoch
                .compare_exchange(seen, epoch, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            for c in slot.counts.iter() {
                c.store(0, Ordering::Relaxed);
            }
        }
    }

    /// The counts of the slots inside the window now, bucket by bucket, and their total.
    fn live_counts(&self) -> (Vec<u64>, u64) {
        let epoch = self.epoch();
        let oldest = epoch.saturating_sub(self.slots.len() as u64 - 1).max(1);
        let mut counts = vec![0u64; BUCKETS];
        let mut total = 0u64;
        for slot in self.slots.iter() {
            let e = slot.epoch.load(Ordering::Acquire);
            if e < oldest || e > epoch {
                continue;
            }
            for (sum, c) in counts.iter_mut().zip(slot.counts.iter()) {
                let n = c.load(Ordering::Relaxed);
                *sum += n;
                total += n;
            }
        }
        (counts, total)
    }

    /// Observations inside the window now.
    pub fn len(&self) -> u64 {
        self.live_counts().1
    }

    /// `true` when no observation is inside the window.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The latency below which `quantile` (0.0 to 1.0, clamped) of the window's observations
    /// fall, by nearest rank, rounded up to the top of its bucket; `None` when the window is
    /// empty. It is never below the exact percentile of the observations and exceeds it by at
    /// most 1/16 of it (exact under 16 µs), at microsecond resolution.
    pub fn percentile(&self, quantile: f64) -> Option<Duration> {
        let (counts, total) = self.live_counts();
        percentile_of(&counts, total, quantile).map(Duration::from_micros)
    }
}

/// The nearest-rank percentile of bucketed `counts` (summing to `total`), in microseconds.
fn percentile_of(counts: &[u64], total: u64, quantile: f64) -> Option<u64> {
    if total == 0 {
        return None;
    }
    let q = if quantile.is_nan() {
        1.0
    } else {
        quantile.clamp(0.0, 1.0)
    };
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0u64;
    for (i, n) in counts.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return Some(bucket_high(i));
        }
    }
    Some(bucket_high(BUCKETS - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_narrow() {
        let mut prev_high = None;
        for i in 0..BUCKETS {
            let high = bucket_high(i);
            let low = prev_high.map_or(0, |h| h + 1);
            assert_eq!(bucket(low), i, "low bound of bucket {i}");
            assert_eq!(bucket(high), i, "high bound of bucket {i}");
            assert!(
                high - low <= low / SUB,
                "bucket {i} too wide: {low}..={high}"
            );
            prev_high = Some(high);
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[tokio::test(start_paused = true)]
    async fn old_slots_age_out_of_the_window() {
        let h = LatencyHistogram::new(Duration::from_secs(4), 4);
        h.record(Duration::from_millis(900));
        assert_eq!(h.len(), 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        h.record(Duration::from_millis(10));
        assert_eq!(h.len(), 2);
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(h.len(), 1, "the first observation's slot left the window");
        assert!(h.percentile(0.99).unwrap() < Duration::from_millis(11));
        tokio::time::advance(Duration::from_secs(4)).await;
        assert!(h.is_empty());
    }
}
