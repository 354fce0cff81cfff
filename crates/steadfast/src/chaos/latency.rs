//! The latency injection: a delay before the service's answer, fixed or drawn from a
//! distribution.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::trigger::{trigger_methods, Trigger};
use crate::config::ConfigError;
use crate::random::RandomSource;

/// How long an injected delay lasts.
#[derive(Clone)]
enum Delay {
    Fixed(Duration),
    Uniform { min: Duration, max: Duration },
    Drawn(Arc<dyn Fn(f64) -> Duration + Send + Sync>),
}

/// Delays the answer of a share of requests: Polly's chaos latency strategy.
///
/// The delay is [fixed](Self::fixed), drawn [uniformly](Self::uniform) from a range, or
/// drawn from a distribution of yours ([`from_fn`](Self::from_fn)); the draws come from the
/// layer's random source, so a seeded layer delays the same requests by the same amounts on
/// every run. The delay is a `tokio::time::sleep`, so a test on a paused clock
/// (`#[tokio::test(start_paused = true)]`) runs through it at once while the code under test
/// sees the time pass (its timeouts fire, its deadlines run out).
///
/// The service is still called, and its answer (or error) comes back after the delay: see
/// [`Chaos`](super::Chaos) for when the request reaches it.
///
/// ```
/// use std::time::Duration;
/// use steadfast::chaos::{ChaosLayer, LatencyInjection};
/// use tokio::time::Instant;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let layer = ChaosLayer::builder()
///     .seed(1)
///     .latency(LatencyInjection::uniform(Duration::from_millis(100), Duration::from_millis(300)).rate(1.0))
///     .build()
///     .unwrap();
/// let svc = layer.layer(service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n) }));
/// let start = Instant::now();
/// assert_eq!(svc.oneshot(1).await.unwrap(), 1);
/// let took = start.elapsed();
/// assert!(took >= Duration::from_millis(100) && took <= Duration::from_millis(300));
/// # }
/// ```
pub struct LatencyInjection<Req> {
    pub(crate) trigger: Trigger<Req>,
    delay: Delay,
}

impl<Req> LatencyInjection<Req> {
    /// Delays by `delay`.
    pub fn fixed(delay: Duration) -> Self {
        Self::with(Delay::Fixed(delay))
    }

    /// Delays by a duration drawn uniformly from `min..=max`.
    /// [`build`](super::ChaosLayerBuilder::build) rejects a `max` below `min`.
    pub fn uniform(min: Duration, max: Duration) -> Self {
        Self::with(Delay::Uniform { min, max })
    }

    /// Delays by `draw(u)`, where `u` is a number drawn uniformly from `[0, 1)`: map it
    /// through the inverse of any distribution you need (exponential, a long tail).
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::chaos::LatencyInjection;
    ///
    /// // Exponentially distributed, 50 ms on average.
    /// let latency = LatencyInjection::<()>::from_fn(|u| Duration::from_secs_f64(-0.05 * (1.0 - u).ln()));
    /// # let _ = latency;
    /// ```
    pub fn from_fn<F>(draw: F) -> Self
    where
        F: Fn(f64) -> Duration + Send + Sync + 'static,
    {
        Self::with(Delay::Drawn(Arc::new(draw)))
    }

    fn with(delay: Delay) -> Self {
        LatencyInjection {
            trigger: Trigger::new(),
            delay,
        }
    }

    trigger_methods!();

    /// Rejects a uniform range whose end is below its start.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        self.trigger.check("latency.rate")?;
        match self.delay {
            Delay::Uniform { min, max } if max < min => Err(ConfigError::new(
                "chaos",
                "latency.max",
                format!("must not be less than `latency.min` (got {max:?} < {min:?})"),
            )),
            _ => Ok(()),
        }
    }

    /// The delay for one request, drawing from `rng` if it is not fixed.
    /// The delay's kind and parameters (for the layer's description).
    pub(crate) fn delay_value(&self) -> crate::describe::Value {
        use crate::describe::Value;
        match &self.delay {
            Delay::Fixed(d) => Value::variant("fixed").with("delay", *d),
            Delay::Uniform { min, max } => Value::variant("uniform")
                .with("min", *min)
                .with("max", *max),
            Delay::Drawn(_) => Value::variant("custom"),
        }
    }

    pub(crate) fn delay(&self, rng: &dyn RandomSource) -> Duration {
        match &self.delay {
            Delay::Fixed(d) => *d,
            Delay::Uniform { min, max } => {
                let span = max.saturating_sub(*min);
                let u = rng.next_f64();
                // Rounding through `f64` may overshoot a huge span slightly: stay within it.
                let part = Duration::try_from_secs_f64(span.as_secs_f64() * u)
                    .unwrap_or(span)
                    .min(span);
                min.saturating_add(part)
            }
            Delay::Drawn(draw) => draw(rng.next_f64()),
        }
    }
}

impl<Req> Clone for LatencyInjection<Req> {
    fn clone(&self) -> Self {
        LatencyInjection {
            trigger: self.trigger.clone(),
            delay: self.delay.clone(),
        }
    }
}

impl<Req> fmt::Debug for LatencyInjection<Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("LatencyInjection");
        d.field("trigger", &self.trigger);
        match &self.delay {
            Delay::Fixed(delay) => d.field("fixed", delay),
            Delay::Uniform { min, max } => d.field("uniform", &(min..=max)),
            Delay::Drawn(_) => d.field("drawn", &"your distribution"),
        };
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SplitMix64;

    #[test]
    fn uniform_delays_stay_in_range_and_spread_over_it() {
        let rng = SplitMix64::seeded(3);
        let l =
            LatencyInjection::<()>::uniform(Duration::from_millis(100), Duration::from_millis(200));
        let draws: Vec<Duration> = (0..1000).map(|_| l.delay(&rng)).collect();
        assert!(draws
            .iter()
            .all(|d| (Duration::from_millis(100)..=Duration::from_millis(200)).contains(d)));
        let low = draws
            .iter()
            .filter(|d| **d < Duration::from_millis(150))
            .count();
        assert!((400..600).contains(&low), "{low} of 1000 in the lower half");
    }

    #[test]
    fn huge_ranges_do_not_panic() {
        let rng = SplitMix64::seeded(3);
        let l = LatencyInjection::<()>::uniform(Duration::ZERO, Duration::MAX);
        for _ in 0..1000 {
            let _ = l.delay(&rng);
        }
        let l = LatencyInjection::<()>::uniform(Duration::MAX, Duration::MAX);
        assert_eq!(l.delay(&rng), Duration::MAX);
    }

    #[test]
    fn a_reversed_range_is_rejected() {
        let l = LatencyInjection::<()>::uniform(Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(l.check().unwrap_err().field(), "latency.max");
        let l = LatencyInjection::<()>::fixed(Duration::from_secs(2)).rate(2.0);
        assert_eq!(l.check().unwrap_err().field(), "latency.rate");
    }
}
