//! Formatting shared by the error messages.

use std::fmt;
use std::time::Duration;

/// A duration for people: three significant digits at most ("1.5s", "106ms", "675µs").
pub(crate) struct Short(pub(crate) Duration);

impl fmt::Display for Short {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0.as_nanos();
        let (value, unit) = if ns >= 1_000_000_000 {
            (ns as f64 / 1e9, "s")
        } else if ns >= 1_000_000 {
            (ns as f64 / 1e6, "ms")
        } else if ns >= 1_000 {
            (ns as f64 / 1e3, "µs")
        } else {
            return write!(f, "{ns}ns");
        };
        let digits = if value >= 100.0 {
            0
        } else if value >= 10.0 {
            1
        } else {
            2
        };
        let text = format!("{value:.digits$}");
        let text = if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.')
        } else {
            &text
        };
        write!(f, "{text}{unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        let cases = [
            (Duration::from_nanos(120), "120ns"),
            (Duration::from_nanos(674_667), "675µs"),
            (Duration::from_nanos(106_846_695), "107ms"),
            (Duration::from_micros(15_800), "15.8ms"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_secs(2), "2s"),
            (Duration::ZERO, "0ns"),
        ];
        for (d, want) in cases {
            assert_eq!(Short(d).to_string(), want);
        }
    }
}
