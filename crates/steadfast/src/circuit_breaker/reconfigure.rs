//! [`CircuitBreaker::reconfigure`]: new settings for a breaker that is running, its state kept
//! (feature `reload`).

use super::breaker::CircuitBreaker;
use super::builder::{CircuitBreakerBuilder, SlidingWindow};
use crate::config::ConfigError;

impl CircuitBreaker {
    /// Replaces the breaker's rules with the settings of `settings`, checked as
    /// [`build`](CircuitBreakerBuilder::build) checks them, and keeps everything it has
    /// learnt: its state (an open breaker stays open until its open time ends), its window as
    /// it stands, its consecutive failures, the escalation of its open time and its counters.
    /// Every clone of the breaker, and every layer and call holding one, judges by the new
    /// settings from the next call that ends.
    ///
    /// A threshold change applies to the window as it stands: a breaker whose window already
    /// holds 30% failures trips on the next failure once its failure rate is lowered to 25%.
    /// The name and the window's shape are the breaker's identity and cannot change (a new
    /// window would start empty): a `settings` that changes either is refused with a
    /// [`ConfigError`] for `name` or `window`, and so is any setting its builder refuses; a
    /// refused call changes nothing. The breaker keeps its own listeners, observers and random
    /// source; those of `settings`, and its initial state, are not used.
    ///
    /// Lock-free for calls: the settings are swapped atomically, and a call's outcome is
    /// judged by one version of them. The closed path costs the same with this feature on.
    ///
    /// ```
    /// use steadfast::circuit_breaker::{CircuitBreaker, CircuitState, SlidingWindow};
    ///
    /// let settings = || {
    ///     CircuitBreaker::builder()
    ///         .name("payments")
    ///         .window(SlidingWindow::count(10))
    ///         .minimum_calls(4)
    /// };
    /// let breaker = settings().failure_rate(50.0).build().unwrap();
    /// # let _rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    /// # let _guard = _rt.enter();
    /// // One failure in four calls: 25%, under the 50% rule.
    /// for ok in [true, true, true, false] {
    ///     let _ = breaker.run_blocking(|| if ok { Ok(()) } else { Err(std::io::Error::other("down")) });
    /// }
    /// assert_eq!(breaker.state(), CircuitState::Closed);
    ///
    /// // At 20%, the window as it stands (now 2 in 5) trips the breaker on the next failure.
    /// breaker.reconfigure(settings().failure_rate(20.0)).unwrap();
    /// let _ = breaker.run_blocking(|| Err::<(), _>(std::io::Error::other("down")));
    /// assert_eq!(breaker.state(), CircuitState::Open);
    ///
    /// // The window's shape cannot change.
    /// let err = breaker.reconfigure(settings().window(SlidingWindow::count(20))).unwrap_err();
    /// assert_eq!(err.field(), "window");
    /// ```
    pub fn reconfigure(&self, settings: CircuitBreakerBuilder) -> Result<(), ConfigError> {
        let err =
            |field: &'static str, rule: String| ConfigError::new("circuit breaker", field, rule);
        let cfg = settings.check()?;
        if settings.name_ref() != self.name() {
            return Err(err(
                "name",
                format!(
                    "cannot change on a running breaker (it is {:?}, the new settings say {:?})",
                    self.name(),
                    settings.name_ref()
                ),
            ));
        }
        let window = match self.core.window().size() {
            Ok(size) => SlidingWindow::Count(size),
            Err((length, buckets)) => SlidingWindow::Time { length, buckets },
        };
        if settings.window_ref() != window {
            return Err(err(
                "window",
                format!(
                    "cannot change on a running breaker, whose window would start empty (it is {window:?}, the new settings say {:?}); build a new breaker for another window",
                    settings.window_ref()
                ),
            ));
        }
        self.core.replace_config(cfg);
        tracing::debug!(breaker = %self.name(), "settings replaced");
        Ok(())
    }
}
