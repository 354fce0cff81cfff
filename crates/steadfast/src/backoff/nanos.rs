//! Delay arithmetic in nanoseconds, saturating rather than overflowing.

use std::time::Duration;

use crate::random::RandomSource;

/// The longest delay this crate computes: `u64::MAX` nanoseconds, about 584 years.
pub const MAX_DELAY: Duration = Duration::from_nanos(u64::MAX);

/// A uniform number in `[0, 1]`: both ends reachable, so `Full` can give exactly `d`.
pub(crate) fn unit_inclusive(rng: &dyn RandomSource) -> f64 {
    (rng.next_u64() >> 11) as f64 / ((1u64 << 53) - 1) as f64
}

/// Converts a non-negative nanosecond count to a duration, saturating at [`MAX_DELAY`].
pub(crate) fn from_nanos_f64(ns: f64) -> Duration {
    if ns.is_nan() || ns <= 0.0 {
        Duration::ZERO
    } else if ns >= u64::MAX as f64 {
        MAX_DELAY
    } else {
        Duration::from_nanos(ns.round() as u64)
    }
}

/// A duration in nanoseconds, as a float.
pub(crate) fn nanos(d: Duration) -> f64 {
    d.as_nanos() as f64
}
