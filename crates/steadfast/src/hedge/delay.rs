//! When the hedge layer sends its next attempt: the [`HedgeMode`] and the [`HedgeDelay`].

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::histogram::LatencyHistogram;

/// How a hedged request's attempts are spread out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum HedgeMode {
    /// A hedge is sent when no attempt has answered after the [`HedgeDelay`] (Polly's
    /// latency mode, gRPC's `hedgingDelay`, Finagle's backup requests), and at once after a
    /// non-fatal failure.
    #[default]
    Latency,
    /// Every attempt is sent at once; the first acceptable answer wins.
    Parallel,
    /// A hedge is sent only after an attempt fails with a non-fatal outcome, while the others
    /// keep running (Polly's fallback mode).
    Fallback,
}

impl fmt::Display for HedgeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HedgeMode::Latency => "latency",
            HedgeMode::Parallel => "parallel",
            HedgeMode::Fallback => "fallback",
        })
    }
}

/// How long [`HedgeMode::Latency`] waits for an answer before sending the next attempt.
///
/// ```
/// use std::time::Duration;
/// use steadfast::hedge::HedgeDelay;
///
/// let fixed = HedgeDelay::fixed(Duration::from_millis(50));
/// // Attempt 2 waits 20 ms, attempt 3 waits 40 ms...
/// let growing = HedgeDelay::from_fn(|attempt| Duration::from_millis(20 * u64::from(attempt - 1)));
/// // The 95th percentile of observed latencies, never under 5 ms; 50 ms until 100 are seen.
/// let live = HedgeDelay::percentile(0.95)
///     .floor(Duration::from_millis(5))
///     .min_samples(100)
///     .fallback(Duration::from_millis(50));
/// # let _ = (fixed, growing, live);
/// ```
#[derive(Clone)]
pub struct HedgeDelay(pub(super) DelayKind);

#[derive(Clone)]
pub(super) enum DelayKind {
    Fixed(Duration),
    Fn(Arc<dyn Fn(u32) -> Duration + Send + Sync>),
    Percentile(Arc<Percentile>),
}

impl fmt::Debug for HedgeDelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for HedgeDelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            DelayKind::Fixed(d) => write!(f, "fixed {d:?}"),
            DelayKind::Fn(_) => f.write_str("function of the attempt"),
            DelayKind::Percentile(p) => write!(
                f,
                "p{} of the last {:?} (floor {:?}, fixed {:?} until {} samples)",
                p.quantile * 100.0,
                p.histogram.window(),
                p.floor,
                p.fallback,
                p.min_samples
            ),
        }
    }
}

impl HedgeDelay {
    /// The same delay before every hedge.
    pub fn fixed(delay: Duration) -> Self {
        HedgeDelay(DelayKind::Fixed(delay))
    }

    /// The delay before attempt `n` (2 for the first hedge) is `f(n)`.
    pub fn from_fn(f: impl Fn(u32) -> Duration + Send + Sync + 'static) -> Self {
        HedgeDelay(DelayKind::Fn(Arc::new(f)))
    }

    /// A live percentile (`quantile` from 0.5 to 0.999, checked when the policy is built) of
    /// the latencies the layer observes, from a [`LatencyHistogram`]; see
    /// [`PercentileDelay`] for its floor, sample minimum and window.
    pub fn percentile(quantile: f64) -> PercentileDelay {
        PercentileDelay {
            quantile,
            floor: Duration::from_millis(1),
            min_samples: 20,
            fallback: Duration::from_millis(100),
            window: Duration::from_secs(30),
            histogram: None,
        }
    }

    /// The delay before attempt `attempt` (from 2).
    #[inline]
    pub(super) fn delay(&self, attempt: u32) -> Duration {
        match &self.0 {
            DelayKind::Fixed(d) => *d,
            DelayKind::Fn(f) => f(attempt),
            DelayKind::Percentile(p) => p.delay(),
        }
    }

    /// The histogram the layer records latencies in, for a percentile delay.
    #[inline]
    pub(super) fn histogram(&self) -> Option<&Percentile> {
        match &self.0 {
            DelayKind::Percentile(p) => Some(p),
            _ => None,
        }
    }
}

/// The settings of [`HedgeDelay::percentile`]: a percentile of the latencies observed over a
/// sliding window, never below a floor, and a fixed delay until enough samples are seen.
#[derive(Debug, Clone)]
pub struct PercentileDelay {
    pub(super) quantile: f64,
    pub(super) floor: Duration,
    pub(super) min_samples: u64,
    pub(super) fallback: Duration,
    pub(super) window: Duration,
    pub(super) histogram: Option<Arc<LatencyHistogram>>,
}

impl PercentileDelay {
    /// The shortest delay, whatever the percentile says (1 ms by default).
    pub fn floor(mut self, floor: Duration) -> Self {
        self.floor = floor;
        self
    }

    /// Observations needed in the window before the percentile is trusted (20 by default).
    pub fn min_samples(mut self, n: u64) -> Self {
        self.min_samples = n;
        self
    }

    /// The delay used until then (100 ms by default).
    pub fn fallback(mut self, delay: Duration) -> Self {
        self.fallback = delay;
        self
    }

    /// The window of observations (30 s by default, aged out in 10 slots; at least 10 ms).
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Records into (and reads from) `histogram` instead of a histogram of its own: share
    /// one between layers calling the same backend, or read it for a dashboard.
    pub fn histogram(mut self, histogram: Arc<LatencyHistogram>) -> Self {
        self.histogram = Some(histogram);
        self
    }
}

impl From<PercentileDelay> for HedgeDelay {
    fn from(p: PercentileDelay) -> Self {
        let histogram = p
            .histogram
            .unwrap_or_else(|| Arc::new(LatencyHistogram::new(p.window, 10)));
        // The percentile is read again at most this often.
        let refresh_us = (histogram.window().as_micros() / 100).clamp(1_000, 1_000_000) as u64;
        HedgeDelay(DelayKind::Percentile(Arc::new(Percentile {
            quantile: p.quantile,
            floor: p.floor,
            min_samples: p.min_samples,
            fallback: p.fallback,
            histogram,
            origin: Instant::now(),
            refresh_us,
            cached: AtomicU64::new(0),
            cached_at: AtomicU64::new(0),
        })))
    }
}

/// A built percentile delay: the histogram and the percentile last read from it.
pub(super) struct Percentile {
    pub(super) quantile: f64,
    pub(super) floor: Duration,
    pub(super) min_samples: u64,
    pub(super) fallback: Duration,
    pub(super) histogram: Arc<LatencyHistogram>,
    origin: Instant,
    refresh_us: u64,
    /// The delay last computed, in microseconds.
    cached: AtomicU64,
    /// When it was computed, in refresh periods since `origin`, plus one (zero: never).
    cached_at: AtomicU64,
}

impl Percentile {
    /// The delay now: the percentile read at most once per refresh period (a few atomic loads
    /// otherwise), or the fallback while the window holds too few samples.
    #[inline]
    fn delay(&self) -> Duration {
        let tick = (self.origin.elapsed().as_micros() / u128::from(self.refresh_us)) as u64 + 1;
        if self.cached_at.load(Ordering::Acquire) == tick {
            return Duration::from_micros(self.cached.load(Ordering::Relaxed));
        }
        let delay = self.compute();
        self.cached.store(
            delay.as_micros().min(u128::from(u64::MAX)) as u64,
            Ordering::Relaxed,
        );
        self.cached_at.store(tick, Ordering::Release);
        delay
    }

    #[cold]
    fn compute(&self) -> Duration {
        if self.histogram.len() < self.min_samples.max(1) {
            return self.fallback;
        }
        self.histogram
            .percentile(self.quantile)
            .map_or(self.fallback, |p| p.max(self.floor))
    }

    /// Records an answered attempt's latency.
    #[cfg(test)]
    fn record(&self, latency: Duration) {
        self.histogram.record(latency);
    }

    /// Records the latency of an attempt sent at `sent_at` and answered at `now`.
    #[inline]
    pub(super) fn record_since(&self, sent_at: Instant, now: Instant) {
        self.histogram
            .record_at(now.saturating_duration_since(sent_at), now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_percentile_is_trusted_only_after_enough_samples_and_never_under_the_floor() {
        let delay: HedgeDelay = HedgeDelay::percentile(0.9)
            .min_samples(10)
            .fallback(Duration::from_millis(70))
            .floor(Duration::from_millis(5))
            .into();
        let p = delay.histogram().unwrap();
        for _ in 0..9 {
            p.record(Duration::from_millis(20));
        }
        assert_eq!(
            delay.delay(2),
            Duration::from_millis(70),
            "nine samples: the fallback"
        );
        p.record(Duration::from_millis(20));
        // The percentile is read again once the cached value's period is over.
        tokio::time::advance(Duration::from_secs(1)).await;
        let d = delay.delay(2);
        assert!(d >= Duration::from_millis(20) && d <= Duration::from_millis(20) * 17 / 16);
        for _ in 0..100 {
            p.record(Duration::from_micros(100));
        }
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(delay.delay(2), Duration::from_millis(5), "the floor");
    }
}
