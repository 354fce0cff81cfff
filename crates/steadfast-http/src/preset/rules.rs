//! The rules between the layers of the client preset, checked when it is built.

use std::time::Duration;

use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
use steadfast::describe::{Describe, Value};
use steadfast::ConfigError;

/// Refuses an attempt timeout not shorter than the total timeout, and a breaker time window
/// shorter than twice the attempt timeout (the two rules of .NET's standard handler's
/// validator).
pub(crate) fn check_timeouts(
    total: Duration,
    attempt: Duration,
    breaker: &CircuitBreaker,
) -> Result<(), ConfigError> {
    if attempt >= total {
        return Err(ConfigError::new(
            "standard client",
            "attempt_timeout",
            format!(
                "must be shorter than the total timeout ({total:?}), or no retry can start (got {attempt:?})"
            ),
        ));
    }
    if let Some(window) = time_window(breaker) {
        if window < attempt.saturating_mul(2) {
            return Err(ConfigError::new(
                "standard client",
                "breaker.window",
                format!(
                    "a time window must be at least twice the attempt timeout ({attempt:?}), so a slow call ends in the window it started in (got {window:?})"
                ),
            ));
        }
    }
    Ok(())
}

/// The length of the breaker's window, when it is a time window.
fn time_window(breaker: &CircuitBreaker) -> Option<Duration> {
    let layer = CircuitBreakerLayer::new(breaker.clone());
    let described = layer.describe();
    match described.first()?.get("window")? {
        Value::Variant { kind, settings } if kind == "time" => settings
            .iter()
            .find(|s| s.key() == "length")
            .and_then(|s| match s.value() {
                Value::Duration(d) => Some(*d),
                _ => None,
            }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use steadfast::circuit_breaker::SlidingWindow;

    #[test]
    fn reads_the_time_window() {
        let b = CircuitBreaker::builder()
            .window(SlidingWindow::time(Duration::from_secs(7)))
            .minimum_calls(1)
            .build()
            .unwrap();
        assert_eq!(time_window(&b), Some(Duration::from_secs(7)));
        let b = CircuitBreaker::builder().build().unwrap();
        assert_eq!(time_window(&b), None);
    }
}
