//! When an injection fires: its rate, its switch and its predicate, shared by the four
//! injections.

use std::fmt;
use std::sync::Arc;

use super::switch::ChaosSwitch;
use crate::config::ConfigError;
use crate::random::RandomSource;

/// A predicate on requests: which requests an injection (or a whole layer) may touch.
pub(crate) type Predicate<Req> = Arc<dyn Fn(&Req) -> bool + Send + Sync>;

/// Both predicates, or whichever is set.
pub(crate) fn and<Req: 'static>(
    first: Option<Predicate<Req>>,
    then: Predicate<Req>,
) -> Predicate<Req> {
    match first {
        None => then,
        Some(first) => Arc::new(move |req: &Req| first(req) && then(req)),
    }
}

/// The settings that decide whether an injection fires for a request.
pub(crate) struct Trigger<Req> {
    pub(crate) rate: f64,
    pub(crate) switch: Option<ChaosSwitch>,
    pub(crate) when: Option<Predicate<Req>>,
}

impl<Req> Trigger<Req> {
    /// Every matching request (rate 1.0), no switch of its own, no predicate.
    pub(crate) fn new() -> Self {
        Trigger {
            rate: 1.0,
            switch: None,
            when: None,
        }
    }

    /// Whether the injection fires for `req`: its switch is on, its predicate holds, and a
    /// number drawn from `rng` falls below the rate. A number is drawn only for requests that
    /// pass the switch and the predicate, so those decide which requests use up the sequence
    /// a seed fixes.
    #[inline]
    pub(crate) fn fires(&self, req: &Req, rng: &dyn RandomSource) -> bool {
        if self.switch.as_ref().is_some_and(|s| !s.is_on()) {
            return false;
        }
        if self.when.as_ref().is_some_and(|when| !when(req)) {
            return false;
        }
        // `next_f64` is in [0, 1): a rate of 0 never fires, a rate of 1 always does.
        rng.next_f64() < self.rate
    }

    /// Rejects a rate outside `[0, 1]` (or NaN), naming `field`.
    pub(crate) fn check(&self, field: &'static str) -> Result<(), ConfigError> {
        if (0.0..=1.0).contains(&self.rate) {
            Ok(())
        } else {
            Err(ConfigError::new(
                "chaos",
                field,
                format!("must be between 0.0 and 1.0 (got {})", self.rate),
            ))
        }
    }
}

impl<Req> Clone for Trigger<Req> {
    fn clone(&self) -> Self {
        Trigger {
            rate: self.rate,
            switch: self.switch.clone(),
            when: self.when.clone(),
        }
    }
}

impl<Req> fmt::Debug for Trigger<Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trigger")
            .field("rate", &self.rate)
            .field("switch", &self.switch.as_ref().map(ChaosSwitch::is_on))
            .field("when", &self.when.is_some())
            .finish()
    }
}

/// The `rate`, `switch` and `when` methods every injection type has: they set its
/// `trigger: Trigger<Req>` field.
macro_rules! trigger_methods {
    () => {
        /// The share of matching requests this injection fires for, from `0.0` (never) to
        /// `1.0` (every one, the default), as Polly's `InjectionRate`. Each request draws a
        /// number from the layer's random source
        /// ([`ChaosLayerBuilder::seed`](super::ChaosLayerBuilder::seed) fixes the sequence).
        /// A rate outside `[0, 1]`, or NaN, is rejected by
        /// [`build`](super::ChaosLayerBuilder::build).
        pub fn rate(mut self, rate: f64) -> Self {
            self.trigger.rate = rate;
            self
        }

        /// A switch for this injection alone: it fires only while `switch` (and the layer's
        /// switch) is on. Flip it from any thread while the service runs.
        pub fn switch(mut self, switch: $crate::chaos::ChaosSwitch) -> Self {
            self.trigger.switch = Some(switch);
            self
        }

        /// Fires only for requests `predicate` accepts (a path, a header, a key). Calling it
        /// again adds a predicate: every one must accept the request.
        pub fn when<F>(mut self, predicate: F) -> Self
        where
            F: Fn(&Req) -> bool + Send + Sync + 'static,
            Req: 'static,
        {
            self.trigger.when = Some(super::trigger::and(
                self.trigger.when.take(),
                ::std::sync::Arc::new(predicate),
            ));
            self
        }
    };
}
pub(crate) use trigger_methods;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SplitMix64;

    #[test]
    fn rates_outside_the_unit_interval_are_rejected() {
        let mut t = Trigger::<()>::new();
        for bad in [-0.1, 1.000_001, f64::NAN, f64::INFINITY] {
            t.rate = bad;
            let err = t.check("fault.rate").unwrap_err();
            assert_eq!((err.layer(), err.field()), ("chaos", "fault.rate"));
        }
        for good in [0.0, 0.5, 1.0] {
            t.rate = good;
            assert!(t.check("fault.rate").is_ok());
        }
    }

    #[test]
    fn a_switch_or_a_predicate_that_says_no_draws_nothing() {
        let rng = SplitMix64::seeded(1);
        let reference = SplitMix64::seeded(1);
        let switch = ChaosSwitch::new(false);
        let mut t = Trigger::<u32>::new();
        t.switch = Some(switch.clone());
        assert!(!t.fires(&1, &rng));
        switch.turn_on();
        t.when = Some(Arc::new(|n: &u32| *n > 5));
        assert!(!t.fires(&1, &rng));
        // Nothing was drawn so far: the next draw is the sequence's first.
        assert!(t.fires(&9, &rng));
        assert_eq!(rng.next_u64(), {
            reference.next_u64();
            reference.next_u64()
        });
    }
}
