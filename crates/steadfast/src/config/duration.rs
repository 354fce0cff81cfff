//! Human durations: `"250ms"`, `"2s"`, `"1m30s"`, `"1.5s"`, `"100us"`, written back exactly in
//! the largest unit that holds them whole.

use std::time::Duration;

/// Writes `d` exactly, in the largest of `h`, `m`, `s`, `ms`, `µs` and `ns` that holds it
/// whole (`"1500ms"`, `"2s"`, `"0s"`); [`parse_duration`] reads it back to the same value.
pub fn format_duration(d: Duration) -> String {
    crate::describe::serialize::exact(d)
}

/// Reads a human duration: one or more amounts, each with its unit (`h`, `m`, `s`, `ms`,
/// `us` or `µs`, `ns`), such as `"250ms"`, `"1m30s"`, `"1.5s"` or `"0s"`. A fraction must
/// come to whole nanoseconds.
///
/// The error says what is wrong, in words; a bare number asks for a unit.
///
/// ```
/// use std::time::Duration;
/// use steadfast::config::parse_duration;
///
/// assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
/// assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
/// assert!(parse_duration("250").unwrap_err().contains("unit"));
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const NO_UNIT: &str = "not a duration (use a unit: \"2s\")";
    let text = text.trim();
    if text.is_empty() {
        return Err(NO_UNIT.into());
    }
    let mut rest = text;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(digits);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let size: u128 = match unit {
            "h" => 3_600_000_000_000,
            "m" => 60_000_000_000,
            "s" => 1_000_000_000,
            "ms" => 1_000_000,
            "us" | "µs" => 1_000,
            "ns" => 1,
            _ => return Err(NO_UNIT.into()),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
            return Err(NO_UNIT.into());
        }
        let too_long = || "too long (at most about 584 years)".to_owned();
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| too_long())?
        };
        let mut nanos = whole.checked_mul(size).ok_or_else(too_long)?;
        let mut scale = size;
        for digit in fraction.bytes() {
            let digit = u128::from(digit - b'0');
            if scale % 10 != 0 {
                if digit != 0 {
                    return Err("finer than a nanosecond".into());
                }
                continue;
            }
            scale /= 10;
            nanos += digit * scale;
        }
        total = total.checked_add(nanos).ok_or_else(too_long)?;
        rest = next;
    }
    let secs =
        u64::try_from(total / 1_000_000_000).map_err(|_| "too long (at most about 584 years)")?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn human_forms() {
        let ms = Duration::from_millis;
        let cases = [
            ("250ms", ms(250)),
            ("2s", ms(2000)),
            ("1m30s", ms(90_000)),
            ("1.5s", ms(1500)),
            ("100us", Duration::from_micros(100)),
            ("100µs", Duration::from_micros(100)),
            ("0s", Duration::ZERO),
            ("2h", Duration::from_secs(7200)),
            ("0.000000001s", Duration::from_nanos(1)),
            (".5s", ms(500)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn bad_forms() {
        for text in ["", "250", "2x", "s", "1.2.3s", "2 s", "-1s", "1..s"] {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains("use a unit"), "{text}: {err}");
        }
        assert_eq!(
            parse_duration("0.5ns").unwrap_err(),
            "finer than a nanosecond"
        );
        assert!(parse_duration("99999999999999999999h")
            .unwrap_err()
            .contains("too long"));
    }

    proptest! {
        #[test]
        fn parse_inverts_format(secs in any::<u64>(), nanos in 0u32..1_000_000_000) {
            let d = Duration::new(secs, nanos);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }

        #[test]
        fn parse_inverts_format_of_round_values(n in 0u64..100_000, unit in 0usize..6) {
            let d = [Duration::from_nanos, Duration::from_micros, Duration::from_millis, Duration::from_secs, |n| Duration::from_secs(n * 60), |n| Duration::from_secs(n * 3600)][unit](n);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }
}
