//! [`Jitter`]: how a capped delay is randomised.

use std::time::Duration;

use super::nanos::{from_nanos_f64, unit_inclusive};
use crate::config::ConfigError;
use crate::random::RandomSource;

/// How a delay is randomised after the cap is applied.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// No randomness: the delay is exactly what the strategy says.
    #[default]
    None,
    /// Uniform in `[0, d]` ("full jitter"). Spreads retries the most.
    Full,
    /// Uniform in `[d/2, d]` ("equal jitter"). Keeps at least half of the delay.
    Equal,
    /// Uniform in `[d·(1−x), d·(1+x)]` for `0 ≤ x ≤ 1`. The upper end may exceed the cap by
    /// the factor `1 + x`, since the cap applies before jitter.
    Proportional(f64),
}

impl Jitter {
    /// Randomises `delay` with `rng`.
    pub fn apply(&self, delay: Duration, rng: &dyn RandomSource) -> Duration {
        // Converted only for the variants that use it: a `u128` to `f64` conversion is a
        // call on x86-64, and the default policy of a retry without jitter would pay it on
        // every retry.
        let ns = || delay.as_nanos() as f64;
        match *self {
            Jitter::None => delay,
            Jitter::Full => from_nanos_f64(ns() * unit_inclusive(rng)),
            Jitter::Equal => {
                let half = ns() / 2.0;
                from_nanos_f64(half + half * unit_inclusive(rng))
            }
            Jitter::Proportional(x) => {
                let factor = 1.0 - x + 2.0 * x * unit_inclusive(rng);
                from_nanos_f64(ns() * factor)
            }
        }
    }

    /// Its name in a decision trace: `"none"`, `"full"`, `"equal"`, `"proportional"`.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Jitter::None => "none",
            Jitter::Full => "full",
            Jitter::Equal => "equal",
            Jitter::Proportional(_) => "proportional",
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        match *self {
            Jitter::Proportional(x) if !(0.0..=1.0).contains(&x) => Err(ConfigError::new(
                "backoff",
                "jitter",
                format!("proportional jitter must be between 0 and 1 (got {x})"),
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Jitter;

    /// The names a decision trace shows are the words a configuration file uses for the same
    /// jitter, and tell the variants apart.
    #[test]
    fn each_jitter_has_its_own_name() {
        let named = [
            (Jitter::None, "none"),
            (Jitter::Full, "full"),
            (Jitter::Equal, "equal"),
            (Jitter::Proportional(0.2), "proportional"),
        ];
        for (jitter, name) in named {
            assert_eq!(jitter.name(), name, "{jitter:?}");
        }
    }
}
