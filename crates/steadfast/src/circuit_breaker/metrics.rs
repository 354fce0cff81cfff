//! A breaker's counters at one moment ([`BreakerMetrics`]), and the rates derived from them
//! ([`CallRates`]).

use super::events::CircuitState;

/// A breaker's state and counters at one moment, from
/// [`CircuitBreaker::metrics`](super::CircuitBreaker::metrics).
///
/// The window's fields describe the calls the rules judge now; the others count since the
/// breaker was made. [`rates`](Self::rates) derives percentages from the lifetime counts.
///
/// | resilience4j `CircuitBreaker.Metrics` | here |
/// | --- | --- |
/// | `getFailureRate()` (−1 below the minimum number of calls) | [`failure_rate`](Self::failure_rate) (`None` below it) |
/// | `getSlowCallRate()` | [`slow_call_rate`](Self::slow_call_rate) |
/// | `getNumberOfBufferedCalls()` | [`window_calls`](Self::window_calls) |
/// | `getNumberOfFailedCalls()` | [`window_failures`](Self::window_failures) |
/// | `getNumberOfSuccessfulCalls()` | [`window_successes()`](Self::window_successes) |
/// | `getNumberOfSlowCalls()` | [`window_slow`](Self::window_slow) |
/// | `getNumberOfNotPermittedCalls()` | [`rejections`](Self::rejections) |
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BreakerMetrics {
    /// The state.
    pub state: CircuitState,
    /// Failure rate over the window in percent, or `None` below the minimum number of calls.
    pub failure_rate: Option<f32>,
    /// Slow-call rate over the window in percent, or `None` below the minimum number of calls.
    pub slow_call_rate: Option<f32>,
    /// Calls in the window now.
    pub window_calls: u64,
    /// Failures in the window now.
    pub window_failures: u64,
    /// Slow calls in the window now.
    pub window_slow: u64,
    /// Successful calls since the breaker was made.
    pub successes: u64,
    /// Failed calls since the breaker was made (invalid responses are counted apart, in
    /// [`invalid`](Self::invalid)).
    pub failures: u64,
    /// Calls whose response was judged invalid (semantic failures) since the breaker was
    /// made. They count toward the failure rate when
    /// [`count_invalid`](super::CircuitBreakerBuilder::count_invalid) is on (the default), and
    /// as successes otherwise; either way they are counted here and not in `failures` or
    /// `successes`.
    pub invalid: u64,
    /// Slow calls since the breaker was made.
    pub slow: u64,
    /// Calls rejected since the breaker was made.
    pub rejections: u64,
    /// Calls whose result was ignored since the breaker was made.
    pub ignored: u64,
    /// Times the breaker has opened (tripped) since it was made.
    pub trips: u64,
    /// Of those, the times it reopened because a probe was still out after
    /// [`max_half_open`](super::CircuitBreakerBuilder::max_half_open).
    pub half_open_timeouts: u64,
}

/// Percentages of a breaker's calls since it was made, from [`BreakerMetrics::rates`]. Each
/// is `None` while its denominator is zero.
///
/// * [`success`](Self::success), [`failure`](Self::failure), [`invalid`](Self::invalid) and
///   [`slow`](Self::slow) are over the recorded calls
///   ([`BreakerMetrics::recorded_calls`]); the first three add up to 100.
/// * [`ignored`](Self::ignored) is over the calls let through that finished
///   ([`BreakerMetrics::finished_calls`]).
/// * [`rejection`](Self::rejection) is over the calls asked for
///   ([`BreakerMetrics::requested_calls`]): the calls not permitted, out of all.
///
/// Unlike the window's [`failure_rate`](BreakerMetrics::failure_rate), these rates are not
/// what the breaker trips on: they describe its whole life, for dashboards and reports.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub struct CallRates {
    /// Successful calls, in percent of the recorded calls.
    pub success: Option<f32>,
    /// Failed calls (invalid responses apart), in percent of the recorded calls.
    pub failure: Option<f32>,
    /// Calls with an invalid response, in percent of the recorded calls.
    pub invalid: Option<f32>,
    /// Slow calls, in percent of the recorded calls.
    pub slow: Option<f32>,
    /// Calls whose result was ignored, in percent of the finished calls.
    pub ignored: Option<f32>,
    /// Rejected calls, in percent of the calls asked for.
    pub rejection: Option<f32>,
}

impl BreakerMetrics {
    /// Calls whose result was recorded since the breaker was made: successes, failures and
    /// invalid responses.
    pub fn recorded_calls(&self) -> u64 {
        self.successes
            .saturating_add(self.failures)
            .saturating_add(self.invalid)
    }

    /// Calls let through that have finished since the breaker was made: the recorded ones and
    /// the ignored ones. Calls still running, calls whose future was dropped, and calls let
    /// through while the breaker was disabled are not counted.
    pub fn finished_calls(&self) -> u64 {
        self.recorded_calls().saturating_add(self.ignored)
    }

    /// Calls asked for since the breaker was made: the finished ones and the rejected ones.
    pub fn requested_calls(&self) -> u64 {
        self.finished_calls().saturating_add(self.rejections)
    }

    /// Successful calls in the window now (failures being every call the failure rate counts
    /// against: with [`count_invalid`](super::CircuitBreakerBuilder::count_invalid), invalid
    /// responses too).
    pub fn window_successes(&self) -> u64 {
        self.window_calls.saturating_sub(self.window_failures)
    }

    /// Percentages of the calls since the breaker was made: success, failure, invalid, slow,
    /// ignored and rejection rates.
    ///
    /// ```
    /// use steadfast::circuit_breaker::{CircuitBreaker, CircuitState};
    ///
    /// let breaker = CircuitBreaker::builder().consecutive_failures(2).build().unwrap();
    /// let _ = breaker.run_blocking(|| Ok::<_, std::io::Error>(()));
    /// for _ in 0..2 {
    ///     let _ = breaker.run_blocking(|| Err::<(), _>(std::io::Error::other("down")));
    /// }
    /// assert_eq!(breaker.state(), CircuitState::Open);
    /// let _ = breaker.run_blocking(|| Ok::<_, std::io::Error>(())); // rejected
    ///
    /// let m = breaker.metrics();
    /// assert_eq!((m.recorded_calls(), m.requested_calls()), (3, 4));
    /// let rates = m.rates();
    /// assert!((rates.failure.unwrap() - 66.67).abs() < 0.01, "two failures in three");
    /// assert_eq!(rates.rejection, Some(25.0));
    /// assert_eq!(rates.slow, Some(0.0));
    /// ```
    pub fn rates(&self) -> CallRates {
        let recorded = self.recorded_calls();
        CallRates {
            success: percent(self.successes, recorded),
            failure: percent(self.failures, recorded),
            invalid: percent(self.invalid, recorded),
            slow: percent(self.slow, recorded),
            ignored: percent(self.ignored, self.finished_calls()),
            rejection: percent(self.rejections, self.requested_calls()),
        }
    }
}

/// `part` in percent of `total`, or `None` when `total` is zero; never above 100.
fn percent(part: u64, total: u64) -> Option<f32> {
    (total != 0).then(|| rate(part.min(total), total))
}

/// `part` in percent of `total` (0 when `total` is zero).
pub(super) fn rate(part: u64, total: u64) -> f32 {
    if total == 0 {
        0.0
    } else {
        (part as f64 * 100.0 / total as f64) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> BreakerMetrics {
        BreakerMetrics {
            state: CircuitState::Closed,
            failure_rate: None,
            slow_call_rate: None,
            window_calls: 0,
            window_failures: 0,
            window_slow: 0,
            successes: 0,
            failures: 0,
            invalid: 0,
            slow: 0,
            rejections: 0,
            ignored: 0,
            trips: 0,
            half_open_timeouts: 0,
        }
    }

    #[test]
    fn no_calls_no_rates() {
        let m = metrics();
        assert_eq!(m.rates(), CallRates::default());
        assert_eq!(m.requested_calls(), 0);
    }

    #[test]
    fn rejections_alone_are_all_rejected() {
        let m = BreakerMetrics {
            rejections: 4,
            ..metrics()
        };
        let r = m.rates();
        assert_eq!(r.rejection, Some(100.0));
        assert_eq!((r.success, r.failure, r.ignored), (None, None, None));
    }

    #[test]
    fn each_rate_has_its_own_denominator() {
        let m = BreakerMetrics {
            successes: 5,
            failures: 2,
            invalid: 1,
            slow: 4,
            ignored: 2,
            rejections: 10,
            ..metrics()
        };
        assert_eq!(m.recorded_calls(), 8);
        assert_eq!(m.finished_calls(), 10);
        assert_eq!(m.requested_calls(), 20);
        let r = m.rates();
        assert_eq!(r.success, Some(62.5));
        assert_eq!(r.failure, Some(25.0));
        assert_eq!(r.invalid, Some(12.5));
        assert_eq!(r.slow, Some(50.0));
        assert_eq!(r.ignored, Some(20.0));
        assert_eq!(r.rejection, Some(50.0));
    }

    #[test]
    fn counts_at_the_limit_saturate_instead_of_overflowing() {
        let m = BreakerMetrics {
            successes: u64::MAX,
            failures: u64::MAX,
            rejections: u64::MAX,
            window_calls: 3,
            window_failures: 5,
            ..metrics()
        };
        assert_eq!(m.requested_calls(), u64::MAX);
        assert_eq!(m.window_successes(), 0);
        let r = m.rates();
        assert!(r.rejection.unwrap() <= 100.0);
        assert_eq!(r.success, Some(100.0));
    }
}
