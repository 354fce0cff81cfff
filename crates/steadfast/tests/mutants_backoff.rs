//! Tests that catch mutants of the backoff logic (see "Mutation testing" in
//! docs/reliability.md): the spread of each jitter and of decorrelated delays over their whole
//! band, the ends of that band, and the edges of the settings' rules.

use std::time::Duration;

use steadfast::backoff::{Backoff, Jitter};
use steadfast::random::{RandomSource, SplitMix64};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The delays of retry `n` of `b` for 200 seeds.
fn spread(b: &Backoff, n: u32, previous: Duration) -> Vec<Duration> {
    (0..200)
        .map(|seed| b.delay(n, previous, &SplitMix64::seeded(seed)))
        .collect()
}

fn min_max(delays: &[Duration]) -> (Duration, Duration) {
    (*delays.iter().min().unwrap(), *delays.iter().max().unwrap())
}

/// A source that always gives its largest number.
#[derive(Debug)]
struct Highest;

impl RandomSource for Highest {
    fn next_u64(&self) -> u64 {
        u64::MAX
    }
}

#[test]
fn full_jitter_spreads_over_zero_to_the_delay() {
    let (lo, hi) = min_max(&spread(
        &Backoff::constant(ms(1_000)).jitter(Jitter::Full),
        1,
        Duration::ZERO,
    ));
    assert!(lo < ms(100), "{lo:?}");
    assert!(hi > ms(900) && hi <= ms(1_000), "{hi:?}");
}

#[test]
fn equal_jitter_spreads_over_half_the_delay_to_the_delay() {
    let (lo, hi) = min_max(&spread(
        &Backoff::constant(ms(1_000)).jitter(Jitter::Equal),
        1,
        Duration::ZERO,
    ));
    assert!(lo >= ms(500) && lo < ms(550), "{lo:?}");
    assert!(hi > ms(950) && hi <= ms(1_000), "{hi:?}");
}

#[test]
fn proportional_jitter_spreads_both_ways() {
    let b = Backoff::constant(ms(1_000)).jitter(Jitter::Proportional(0.5));
    let (lo, hi) = min_max(&spread(&b, 1, Duration::ZERO));
    assert!(lo >= ms(500) && lo < ms(550), "{lo:?}");
    assert!(hi > ms(1_450) && hi <= ms(1_500), "{hi:?}");
}

#[test]
fn the_top_of_the_random_range_gives_the_whole_delay() {
    // 10^17 ns is exact as a float, and a unit draw short of 1 by one part in 2^53 would
    // round it down by 16 ns.
    let d = Duration::from_secs(100_000_000);
    for jitter in [Jitter::Full, Jitter::Equal] {
        assert_eq!(
            Backoff::constant(d)
                .jitter(jitter)
                .delay(1, Duration::ZERO, &Highest),
            d
        );
    }
    let up = Backoff::constant(d).jitter(Jitter::Proportional(1.0));
    assert_eq!(up.delay(1, Duration::ZERO, &Highest), d * 2);
}

#[test]
fn decorrelated_delays_spread_over_base_to_three_times_the_previous() {
    let b = Backoff::decorrelated(ms(100));
    // Before the first retry the previous delay is the base: [100 ms, 300 ms].
    let (lo, hi) = min_max(&spread(&b, 1, Duration::ZERO));
    assert!(lo >= ms(100) && lo < ms(120), "{lo:?}");
    assert!(hi > ms(280) && hi <= ms(300), "{hi:?}");
    // After 1 s: [100 ms, 3 s].
    let (lo, hi) = min_max(&spread(&b, 2, ms(1_000)));
    assert!(lo >= ms(100) && lo < ms(300), "{lo:?}");
    assert!(hi > ms(2_800) && hi <= ms(3_000), "{hi:?}");
}

#[test]
fn a_floor_equal_to_the_cap_is_valid() {
    assert!(Backoff::constant(ms(5))
        .max(ms(5))
        .min(ms(5))
        .validate()
        .is_ok());
    let fixed = Backoff::exponential(ms(1)).max(ms(5)).min(ms(5));
    assert_eq!(
        fixed.delay(1, Duration::ZERO, &SplitMix64::seeded(0)),
        ms(5)
    );
}

#[test]
fn proportional_jitter_within_zero_to_one_is_valid() {
    for x in [0.0, 0.5, 1.0] {
        assert!(Backoff::constant(ms(1))
            .jitter(Jitter::Proportional(x))
            .validate()
            .is_ok());
    }
    for x in [-0.1, 1.1, f64::NAN] {
        assert!(Backoff::constant(ms(1))
            .jitter(Jitter::Proportional(x))
            .validate()
            .is_err());
    }
}
