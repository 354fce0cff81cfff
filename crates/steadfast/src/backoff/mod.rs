//! Backoff schedules: how long to wait before each retry, or how long a circuit stays open
//! after each consecutive trip.
//!
//! A [`Backoff`] maps a retry number (1 for the wait before the second attempt) to a delay in
//! three steps, always in this order:
//!
//! 1. the strategy computes a raw delay (constant, linear, exponential, fibonacci,
//!    decorrelated, a chain of these, or your own function);
//! 2. the cap ([`Backoff::max`]) is applied;
//! 3. jitter ([`Jitter`]) randomises the capped delay;
//! 4. a random amount ([`Backoff::plus_random`]) is added, if set, as tenacity's
//!    `wait_exponential(...) + wait_random(a, b)` does; it is not capped;
//! 5. the floor ([`Backoff::min`]) is applied last, so a jittered delay is never shorter than
//!    the floor.
//!
//! Custom schedules ([`Backoff::from_fn`], [`Backoff::from_fn_random`]) take part in the same
//! steps; the second draws from the policy's [`RandomSource`], so that a seeded policy gives
//! the same delays on every run.
//!
//! All arithmetic saturates: retry 10,000 of an exponential backoff is simply the cap (or
//! about 584 years without one), never an overflow or a panic.
//!
//! ```
//! use std::time::Duration;
//! use steadfast::backoff::{Backoff, Jitter};
//! use steadfast::random::SplitMix64;
//!
//! let ms = Duration::from_millis;
//! let rng = SplitMix64::seeded(1);
//!
//! let exp = Backoff::exponential(ms(100)).max(ms(1_000));
//! let delays: Vec<_> = (1..=6).map(|n| exp.delay(n, Duration::ZERO, &rng)).collect();
//! assert_eq!(delays, [ms(100), ms(200), ms(400), ms(800), ms(1_000), ms(1_000)]);
//!
//! // Three quick retries, then exponential from 1s with full jitter.
//! let chained = Backoff::constant(ms(50))
//!     .times(3)
//!     .then(Backoff::exponential(ms(1_000)).jitter(Jitter::Full));
//! assert_eq!(chained.delay(3, Duration::ZERO, &rng), ms(50));
//! assert!(chained.delay(4, Duration::ZERO, &rng) <= ms(1_000));
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::config::ConfigError;
use crate::random::RandomSource;

mod describe;
mod jitter;
mod nanos;

pub use jitter::Jitter;
pub use nanos::MAX_DELAY;
use nanos::{from_nanos_f64, nanos, unit_inclusive};

/// A custom schedule that draws from the policy's random source.
type RandomFn = Arc<dyn Fn(u32, &dyn RandomSource) -> Duration + Send + Sync>;

#[derive(Clone)]
enum Schedule {
    Constant(Duration),
    Linear {
        initial: Duration,
        step: Duration,
    },
    Exponential {
        base: Duration,
        factor: f64,
    },
    Fibonacci(Duration),
    Decorrelated(Duration),
    Chain {
        first: Arc<Backoff>,
        times: u32,
        rest: Arc<Backoff>,
    },
    Custom(Arc<dyn Fn(u32) -> Duration + Send + Sync>),
    CustomRandom(RandomFn),
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Constant(d) => f.debug_tuple("Constant").field(d).finish(),
            Schedule::Linear { initial, step } => f
                .debug_struct("Linear")
                .field("initial", initial)
                .field("step", step)
                .finish(),
            Schedule::Exponential { base, factor } => f
                .debug_struct("Exponential")
                .field("base", base)
                .field("factor", factor)
                .finish(),
            Schedule::Fibonacci(d) => f.debug_tuple("Fibonacci").field(d).finish(),
            Schedule::Decorrelated(d) => f.debug_tuple("Decorrelated").field(d).finish(),
            Schedule::Chain { first, times, rest } => f
                .debug_struct("Chain")
                .field("first", first)
                .field("times", times)
                .field("rest", rest)
                .finish(),
            Schedule::Custom(_) => f.write_str("Custom"),
            Schedule::CustomRandom(_) => f.write_str("CustomRandom"),
        }
    }
}

/// A backoff schedule: a strategy plus an optional cap, floor and jitter.
///
/// Cheap to clone. Built with the constructors below and refined with [`max`](Self::max),
/// [`min`](Self::min) and [`jitter`](Self::jitter); invalid values (a factor below 1, a floor
/// above the cap, jitter outside `0..=1`) are reported by [`validate`](Self::validate), which
/// the builders that take a backoff call.
#[derive(Debug, Clone)]
pub struct Backoff {
    strategy: Schedule,
    max: Option<Duration>,
    min: Duration,
    jitter: Jitter,
    /// The bounds of the random amount added after jitter, if any.
    plus: Option<(Duration, Duration)>,
}

impl Default for Backoff {
    /// Exponential from 100 ms, doubling, capped at 10 s, with full jitter.
    fn default() -> Self {
        Backoff::exponential(Duration::from_millis(100))
            .max(Duration::from_secs(10))
            .jitter(Jitter::Full)
    }
}

impl Backoff {
    fn of(strategy: Schedule) -> Self {
        Backoff {
            strategy,
            max: None,
            min: Duration::ZERO,
            jitter: Jitter::None,
            plus: None,
        }
    }

    /// The same delay before every retry.
    pub fn constant(delay: Duration) -> Self {
        Self::of(Schedule::Constant(delay))
    }

    /// No delay at all: retry at once.
    pub fn none() -> Self {
        Self::constant(Duration::ZERO)
    }

    /// `step · n` before retry `n`: `step`, `2·step`, `3·step`, ...
    pub fn linear(step: Duration) -> Self {
        Self::linear_from(step, step)
    }

    /// `initial + step · (n − 1)` before retry `n`.
    pub fn linear_from(initial: Duration, step: Duration) -> Self {
        Self::of(Schedule::Linear { initial, step })
    }

    /// `base · 2^(n − 1)` before retry `n`: `base`, `2·base`, `4·base`, ...
    pub fn exponential(base: Duration) -> Self {
        Self::exponential_with_factor(base, 2.0)
    }

    /// `base · factor^(n − 1)` before retry `n`. `factor` must be finite and at least 1.
    pub fn exponential_with_factor(base: Duration, factor: f64) -> Self {
        Self::of(Schedule::Exponential { base, factor })
    }

    /// `base · fib(n)` before retry `n`, with `fib(1) = fib(2) = 1`: `base`, `base`, `2·base`,
    /// `3·base`, `5·base`, ...
    pub fn fibonacci(base: Duration) -> Self {
        Self::of(Schedule::Fibonacci(base))
    }

    /// "Decorrelated jitter": each delay is uniform in `[base, 3 · previous]`, starting from
    /// `base`, and capped by [`max`](Self::max). Randomness is built in, so [`Jitter`] is not
    /// applied on top.
    pub fn decorrelated(base: Duration) -> Self {
        Self::of(Schedule::Decorrelated(base))
    }

    /// Your own schedule: `f(n)` is the raw delay before retry `n`. The cap, jitter and floor
    /// still apply.
    pub fn from_fn(f: impl Fn(u32) -> Duration + Send + Sync + 'static) -> Self {
        Self::of(Schedule::Custom(Arc::new(f)))
    }

    /// Your own schedule, given the retry number (from 1) and the policy's source of
    /// randomness: the policy's [`random`](crate::retry::RetryPolicyBuilder::random) or
    /// [`seed`](crate::retry::RetryPolicyBuilder::seed) then makes its delays reproducible.
    /// The cap, jitter, added random amount and floor apply to what it returns.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::backoff::Backoff;
    /// use steadfast::random::{RandomSource, SplitMix64};
    ///
    /// // One second per retry, give or take up to 100 ms either way.
    /// let wobbly = Backoff::from_fn_random(|n, rng: &dyn RandomSource| {
    ///     let wobble = (rng.next_f64() * 200.0) as u64;
    ///     Duration::from_millis(u64::from(n) * 1_000 + wobble - 100)
    /// });
    /// let d = wobbly.delay(2, Duration::ZERO, &SplitMix64::seeded(3));
    /// assert!((Duration::from_millis(1_900)..=Duration::from_millis(2_100)).contains(&d));
    /// ```
    pub fn from_fn_random(
        f: impl Fn(u32, &dyn RandomSource) -> Duration + Send + Sync + 'static,
    ) -> Self {
        Self::of(Schedule::CustomRandom(Arc::new(f)))
    }

    /// Adds a random amount, uniform in `[min, max]`, to every delay: after the cap and the
    /// jitter, before the floor. This is tenacity's `wait_exponential(...) + wait_random(min,
    /// max)`: the schedule keeps its shape and retries from many clients still spread out.
    /// The amount is not capped by [`max`](Self::max), so a delay may exceed the cap by up to
    /// `max`. `min` must not exceed `max` (checked by [`validate`](Self::validate)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::backoff::Backoff;
    /// use steadfast::random::SplitMix64;
    ///
    /// let s = Duration::from_secs;
    /// let backoff = Backoff::exponential(s(1)).max(s(10)).plus_random(Duration::ZERO, s(2));
    /// let rng = SplitMix64::seeded(9);
    /// for (n, base) in [(1, 1), (3, 4), (8, 10)] {
    ///     let d = backoff.delay(n, Duration::ZERO, &rng);
    ///     assert!(d >= s(base) && d <= s(base + 2), "retry {n}: {d:?}");
    /// }
    /// ```
    pub fn plus_random(mut self, min: Duration, max: Duration) -> Self {
        self.plus = Some((min, max));
        self
    }

    /// Uses this schedule for the first `times` retries; finish with [`BackoffPrefix::then`].
    pub fn times(self, times: u32) -> BackoffPrefix {
        BackoffPrefix { first: self, times }
    }

    /// Caps the raw delay at `max` (before jitter).
    pub fn max(mut self, max: Duration) -> Self {
        self.max = Some(max);
        self
    }

    /// Never waits less than `min` (applied after jitter).
    pub fn min(mut self, min: Duration) -> Self {
        self.min = min;
        self
    }

    /// Randomises each delay after the cap.
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Checks the schedule's rules; the builders that take a backoff call this.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.jitter.validate()?;
        if let Some((lo, hi)) = self.plus {
            if lo > hi {
                return Err(ConfigError::new(
                    "backoff",
                    "backoff.plus_random",
                    format!("the least amount must not exceed the most ({lo:?} > {hi:?})"),
                ));
            }
        }
        if let Some(max) = self.max {
            if self.min > max {
                return Err(ConfigError::new(
                    "backoff",
                    "backoff.min",
                    format!("must not exceed backoff.max ({:?} > {:?})", self.min, max),
                ));
            }
        }
        match &self.strategy {
            Schedule::Exponential { factor, .. } if !(factor.is_finite() && *factor >= 1.0) => {
                Err(ConfigError::new(
                    "backoff",
                    "backoff.factor",
                    format!("must be a finite number of at least 1 (got {factor})"),
                ))
            }
            Schedule::Chain { first, rest, .. } => {
                first.validate()?;
                rest.validate()
            }
            _ => Ok(()),
        }
    }

    /// The delay before retry `n` (1-based: `n = 1` is the wait before the second attempt).
    ///
    /// `previous` is the delay used before the previous retry (zero before the first); only
    /// the decorrelated strategy uses it.
    pub fn delay(&self, n: u32, previous: Duration, rng: &dyn RandomSource) -> Duration {
        self.delay_noted(n, previous, rng, &mut ())
    }

    /// [`delay`](Self::delay), telling `note` the schedule's delay before jitter and the
    /// jitter applied to it (for a decision trace). With `()` it is `delay` exactly: the
    /// calls to the note compile to nothing.
    pub(crate) fn delay_noted<N: NoteDelay>(
        &self,
        n: u32,
        previous: Duration,
        rng: &dyn RandomSource,
        note: &mut N,
    ) -> Duration {
        let n = n.max(1);
        let (raw, jittered) = match &self.strategy {
            Schedule::Constant(d) => (*d, false),
            Schedule::Linear { initial, step } => (
                from_nanos_f64(nanos(*initial) + nanos(*step) * f64::from(n - 1)),
                false,
            ),
            Schedule::Exponential { base, factor } => {
                // powi takes an i32; past 2^31 retries the result is saturated anyway.
                let exp = i32::try_from(n - 1).unwrap_or(i32::MAX);
                (from_nanos_f64(nanos(*base) * factor.powi(exp)), false)
            }
            Schedule::Fibonacci(base) => (from_nanos_f64(nanos(*base) * fibonacci(n)), false),
            Schedule::Decorrelated(base) => {
                let prev = if previous.is_zero() { *base } else { previous };
                let lo = nanos(*base);
                let hi = (nanos(prev) * 3.0).max(lo);
                (from_nanos_f64(lo + (hi - lo) * rng.next_f64()), true)
            }
            Schedule::Chain { first, times, rest } => {
                if n <= *times {
                    (first.delay_noted(n, previous, rng, note), false)
                } else {
                    (rest.delay_noted(n - *times, previous, rng, note), false)
                }
            }
            Schedule::Custom(f) => (f(n), false),
            Schedule::CustomRandom(f) => (f(n, rng), false),
        };
        let capped = match self.max {
            Some(max) if raw > max => max,
            _ => raw,
        };
        let out = if jittered {
            note.note(capped, "decorrelated", self.plus.is_some());
            capped
        } else {
            // A chain's part has told its own; the chain's jitter, if any, applies on top.
            if !matches!(self.strategy, Schedule::Chain { .. }) || self.jitter != Jitter::None {
                note.note(capped, self.jitter.name(), self.plus.is_some());
            }
            self.jitter.apply(capped, rng)
        };
        let out = match self.plus {
            Some((lo, hi)) => {
                let extra = nanos(lo) + (nanos(hi) - nanos(lo)) * unit_inclusive(rng);
                out.saturating_add(from_nanos_f64(extra)).min(MAX_DELAY)
            }
            None => out,
        };
        out.max(self.min)
    }
}

#[cfg(test)]
impl Backoff {
    fn is_decorrelated(&self) -> bool {
        matches!(self.strategy, Schedule::Decorrelated(_))
    }
}

/// What [`Backoff::delay_noted`] tells about the delay it chose: the schedule's delay
/// before jitter, the jitter's name, and whether a random amount is added after it.
pub(crate) trait NoteDelay {
    /// Called once per part of the schedule that decided (a chain's part, then the chain's
    /// own jitter if it has one: the last call is the one that applied).
    fn note(&mut self, scheduled: Duration, jitter: &'static str, plus_random: bool);
}

/// Tells nothing: [`Backoff::delay`].
impl NoteDelay for () {
    #[inline(always)]
    fn note(&mut self, _: Duration, _: &'static str, _: bool) {}
}

/// The delay before jitter and the jitter's name (`"full plus random"` when a random amount
/// is added after it).
#[cfg(feature = "retry")]
#[derive(Debug, Default)]
pub(crate) struct Noted(pub(crate) Option<(Duration, std::borrow::Cow<'static, str>)>);

#[cfg(feature = "retry")]
impl NoteDelay for Noted {
    fn note(&mut self, scheduled: Duration, jitter: &'static str, plus_random: bool) {
        let jitter = if plus_random {
            std::borrow::Cow::Owned(format!("{jitter} plus random"))
        } else {
            std::borrow::Cow::Borrowed(jitter)
        };
        self.0 = Some((scheduled, jitter));
    }
}

/// `fib(n)` as a float; saturates (to infinity) long before `n` gets large, which the caller
/// turns into [`MAX_DELAY`].
fn fibonacci(n: u32) -> f64 {
    // fib(1500) already overflows f64, so stop there.
    let n = n.min(1_500);
    let (mut a, mut b) = (0.0f64, 1.0f64);
    for _ in 1..n {
        let next = a + b;
        a = b;
        b = next;
    }
    b
}

/// The first part of a chained backoff; see [`Backoff::times`].
#[derive(Debug, Clone)]
pub struct BackoffPrefix {
    first: Backoff,
    times: u32,
}

impl BackoffPrefix {
    /// After the prefix's retries, continue with `rest`, counting its retries from 1.
    pub fn then(self, rest: Backoff) -> Backoff {
        Backoff::of(Schedule::Chain {
            first: Arc::new(self.first),
            times: self.times,
            rest: Arc::new(rest),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SplitMix64;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn seq(b: &Backoff, n: u32) -> Vec<Duration> {
        let rng = SplitMix64::seeded(0);
        let mut prev = Duration::ZERO;
        (1..=n)
            .map(|i| {
                prev = b.delay(i, prev, &rng);
                prev
            })
            .collect()
    }

    #[test]
    fn exact_sequences() {
        assert_eq!(seq(&Backoff::constant(ms(7)), 3), [ms(7); 3]);
        assert_eq!(
            seq(&Backoff::linear(ms(100)), 4),
            [ms(100), ms(200), ms(300), ms(400)]
        );
        assert_eq!(
            seq(&Backoff::linear_from(ms(50), ms(10)), 3),
            [ms(50), ms(60), ms(70)]
        );
        assert_eq!(
            seq(&Backoff::exponential(ms(100)), 5),
            [ms(100), ms(200), ms(400), ms(800), ms(1600)]
        );
        assert_eq!(
            seq(&Backoff::exponential_with_factor(ms(100), 1.5), 3),
            [ms(100), ms(150), ms(225)]
        );
        assert_eq!(
            seq(&Backoff::fibonacci(ms(10)), 7),
            [ms(10), ms(10), ms(20), ms(30), ms(50), ms(80), ms(130)]
        );
        assert_eq!(seq(&Backoff::none(), 2), [Duration::ZERO; 2]);
        assert_eq!(
            seq(&Backoff::from_fn(|n| ms(u64::from(n) * 3)), 3),
            [ms(3), ms(6), ms(9)]
        );
    }

    #[test]
    fn cap_and_floor() {
        assert_eq!(
            seq(&Backoff::exponential(ms(100)).max(ms(500)), 5),
            [ms(100), ms(200), ms(400), ms(500), ms(500)]
        );
        assert_eq!(
            seq(&Backoff::linear(ms(10)).min(ms(25)), 3),
            [ms(25), ms(25), ms(30)]
        );
    }

    #[test]
    fn chains_count_from_one_in_each_part() {
        let b = Backoff::constant(ms(100))
            .times(3)
            .then(Backoff::exponential(ms(1000)));
        assert_eq!(
            seq(&b, 6),
            [ms(100), ms(100), ms(100), ms(1000), ms(2000), ms(4000)]
        );
        let nested = Backoff::constant(ms(1)).times(1).then(
            Backoff::constant(ms(2))
                .times(1)
                .then(Backoff::linear(ms(10))),
        );
        assert_eq!(seq(&nested, 4), [ms(1), ms(2), ms(10), ms(20)]);
    }

    #[test]
    fn huge_attempt_numbers_saturate() {
        let rng = SplitMix64::seeded(0);
        for b in [
            Backoff::exponential(ms(100)),
            Backoff::fibonacci(ms(100)),
            Backoff::linear(Duration::from_secs(u64::MAX / 2)),
            Backoff::exponential_with_factor(MAX_DELAY, 10.0).jitter(Jitter::Proportional(1.0)),
        ] {
            for n in [10_000, 1_000_000, u32::MAX] {
                assert!(b.delay(n, Duration::ZERO, &rng) <= MAX_DELAY);
            }
        }
        assert_eq!(
            Backoff::exponential(ms(100)).delay(10_000, Duration::ZERO, &rng),
            MAX_DELAY
        );
        assert_eq!(
            Backoff::exponential(ms(100))
                .max(Duration::from_secs(30))
                .delay(10_000, Duration::ZERO, &rng),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn validation_names_the_field() {
        let e = Backoff::exponential_with_factor(ms(1), 0.5)
            .validate()
            .unwrap_err();
        assert_eq!(e.field(), "backoff.factor");
        let e = Backoff::exponential_with_factor(ms(1), f64::NAN)
            .validate()
            .unwrap_err();
        assert_eq!(e.field(), "backoff.factor");
        let e = Backoff::constant(ms(1))
            .max(ms(1))
            .min(ms(2))
            .validate()
            .unwrap_err();
        assert_eq!(e.field(), "backoff.min");
        let e = Backoff::constant(ms(1))
            .jitter(Jitter::Proportional(1.5))
            .validate()
            .unwrap_err();
        assert_eq!(e.field(), "jitter");
        let bad_tail = Backoff::constant(ms(1))
            .times(1)
            .then(Backoff::exponential_with_factor(ms(1), -1.0));
        assert!(bad_tail.validate().is_err());
        assert!(Backoff::default().validate().is_ok());
        let e = Backoff::constant(ms(1))
            .plus_random(ms(3), ms(2))
            .validate()
            .unwrap_err();
        assert_eq!(e.field(), "backoff.plus_random");
        assert!(Backoff::constant(ms(1))
            .plus_random(ms(2), ms(2))
            .validate()
            .is_ok());
    }

    #[test]
    fn plus_random_adds_after_the_cap_and_before_the_floor() {
        // A fixed amount (both bounds equal) shows where it is added: past the cap.
        let b = Backoff::exponential(ms(100))
            .max(ms(300))
            .plus_random(ms(50), ms(50));
        assert_eq!(seq(&b, 4), [ms(150), ms(250), ms(350), ms(350)]);
        // The floor still applies to the sum.
        let b = Backoff::none().plus_random(ms(5), ms(5)).min(ms(20));
        assert_eq!(seq(&b, 2), [ms(20), ms(20)]);
        // A range: every delay within it, not all the same, and the same for the same seed.
        let b = Backoff::constant(ms(1_000)).plus_random(Duration::ZERO, ms(2_000));
        let delays = seq(&b, 50);
        assert!(delays.iter().all(|d| (ms(1_000)..=ms(3_000)).contains(d)));
        assert!(delays.iter().any(|d| *d != delays[0]));
        assert_eq!(delays, seq(&b, 50));
        // Huge amounts saturate.
        let b = Backoff::constant(MAX_DELAY).plus_random(MAX_DELAY, MAX_DELAY);
        assert_eq!(seq(&b, 1), [MAX_DELAY]);
    }

    #[test]
    fn custom_schedules_draw_from_the_given_source() {
        let b = Backoff::from_fn_random(|n, rng: &dyn RandomSource| {
            ms(u64::from(n) * 1_000 + rng.next_u64() % 100)
        });
        let a1 = b.delay(1, Duration::ZERO, &SplitMix64::seeded(1));
        let a2 = b.delay(1, Duration::ZERO, &SplitMix64::seeded(1));
        let b1 = b.delay(1, Duration::ZERO, &SplitMix64::seeded(2));
        assert_eq!(a1, a2);
        assert_ne!(a1, b1);
        assert!((ms(1_000)..ms(1_100)).contains(&a1));
        assert!(format!("{b:?}").contains("CustomRandom"));
    }

    fn any_backoff() -> impl Strategy<Value = Backoff> {
        let d = (0u64..=10_000_000_000).prop_map(Duration::from_nanos);
        prop_oneof![
            d.clone().prop_map(Backoff::constant),
            d.clone().prop_map(Backoff::linear),
            (d.clone(), 1.0f64..10.0).prop_map(|(b, f)| Backoff::exponential_with_factor(b, f)),
            d.clone().prop_map(Backoff::fibonacci),
            d.prop_map(Backoff::decorrelated),
        ]
    }

    fn any_jitter() -> impl Strategy<Value = Jitter> {
        prop_oneof![
            Just(Jitter::None),
            Just(Jitter::Full),
            Just(Jitter::Equal),
            (0.0f64..=1.0).prop_map(Jitter::Proportional),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// The cap holds for every strategy and attempt number, jitter stays within its
        /// band around the capped delay, and the floor is never undercut.
        #[test]
        fn cap_jitter_and_floor_bounds(
            b in any_backoff(),
            jitter in any_jitter(),
            cap in 1u64..=60_000_000_000,
            floor_frac in 0.0f64..=1.0,
            n in prop_oneof![1u32..20, 20u32..100_000, Just(u32::MAX)],
            seed in any::<u64>(),
        ) {
            let cap = Duration::from_nanos(cap);
            let floor = cap.mul_f64(floor_frac);
            let rng = SplitMix64::seeded(seed);
            let plain = b.clone().max(cap);
            let unjittered = plain.delay(n, Duration::ZERO, &SplitMix64::seeded(seed));
            prop_assert!(unjittered <= cap);

            let full = b.clone().max(cap).min(floor).jitter(jitter);
            let d = full.delay(n, Duration::ZERO, &rng);
            prop_assert!(d >= floor);
            if b.is_decorrelated() {
                prop_assert!(d <= cap.max(floor));
            } else {
                let (lo, hi) = match jitter {
                    Jitter::None => (unjittered, unjittered),
                    Jitter::Full => (Duration::ZERO, unjittered),
                    Jitter::Equal => (unjittered / 2, unjittered),
                    Jitter::Proportional(x) => (unjittered.mul_f64(1.0 - x), unjittered.mul_f64(1.0 + x)),
                };
                // One nanosecond of slack for float rounding at the band's ends.
                let slack = Duration::from_nanos(1);
                prop_assert!(d + slack >= lo.max(floor) && d <= hi.max(floor) + slack,
                    "{d:?} outside [{lo:?}, {hi:?}] floor {floor:?}");
            }
        }

        /// Raw schedules never shrink from one retry to the next.
        #[test]
        fn schedules_are_monotonic(b in any_backoff(), n in 1u32..200) {
            prop_assume!(!b.is_decorrelated());
            let rng = SplitMix64::seeded(0);
            prop_assert!(b.delay(n, Duration::ZERO, &rng) <= b.delay(n + 1, Duration::ZERO, &rng));
        }

        /// Decorrelated delays stay within [base, 3 · previous] and under the cap.
        #[test]
        fn decorrelated_bounds(base in 1u64..1_000_000_000, prev in 0u64..10_000_000_000, seed in any::<u64>()) {
            let base = Duration::from_nanos(base);
            let prev = Duration::from_nanos(prev);
            let cap = base * 50;
            let b = Backoff::decorrelated(base).max(cap);
            let d = b.delay(2, prev, &SplitMix64::seeded(seed));
            let start = if prev.is_zero() { base } else { prev };
            prop_assert!(d >= base.min(cap));
            prop_assert!(d <= (start * 3).max(base).min(cap) + Duration::from_nanos(1));
        }
    }
}
