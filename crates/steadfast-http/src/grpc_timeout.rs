//! The `grpc-timeout` request header: how long a gRPC client will wait for its answer.
//!
//! Its value is at most eight ASCII digits followed by one unit: `H` (hours), `M` (minutes),
//! `S` (seconds), `m` (milliseconds), `u` (microseconds) or `n` (nanoseconds). So `250m` is a
//! quarter of a second and `99999999H` (about 11,400 years) the longest timeout it can say.
//!
//! [`encode_grpc_timeout`] rounds *down*, never up: a callee told the timeout believes it has
//! at most the time it really has, so it gives up no later than its caller does. And it picks
//! the finest unit in which the timeout fits in eight digits, so what is lost is less than one
//! of that unit (and less than a hundred-thousandth of the timeout):
//! `parse_grpc_timeout(&encode_grpc_timeout(d)) <= d` for every `d`.
//!
//! ```
//! use std::time::Duration;
//! use steadfast_http::grpc_timeout::{encode_grpc_timeout, parse_grpc_timeout};
//!
//! let timeout = Duration::from_millis(1_500);
//! let header = encode_grpc_timeout(timeout);
//! assert_eq!(header, "1500m");
//! assert_eq!(parse_grpc_timeout(&header), Some(timeout));
//!
//! // Rounded down to what eight digits can say: 123.456789123 s in milliseconds.
//! let odd = Duration::new(123, 456_789_123);
//! let header = encode_grpc_timeout(odd);
//! assert_eq!(header, "123456m");
//! assert!(parse_grpc_timeout(&header).unwrap() <= odd);
//! ```

use std::time::Duration;

use http::HeaderValue;

/// The header's name, `grpc-timeout`.
///
/// ```
/// use std::time::Duration;
/// use steadfast_http::grpc_timeout::{encode_grpc_timeout, GRPC_TIMEOUT};
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert(GRPC_TIMEOUT, encode_grpc_timeout(Duration::from_secs(5)));
/// assert_eq!(headers["grpc-timeout"], "5S");
/// ```
pub const GRPC_TIMEOUT: http::HeaderName = http::HeaderName::from_static("grpc-timeout");

/// The longest timeout the header can carry: 99,999,999 hours.
pub const MAX_GRPC_TIMEOUT: Duration = Duration::from_secs(MAX_VALUE * 3_600);

/// The largest number the header's eight digits can hold.
const MAX_VALUE: u64 = 99_999_999;

/// Nanoseconds per unit, finest first, with the unit's letter.
const UNITS: [(u64, u8); 6] = [
    (1, b'n'),
    (1_000, b'u'),
    (1_000_000, b'm'),
    (1_000_000_000, b'S'),
    (60_000_000_000, b'M'),
    (3_600_000_000_000, b'H'),
];

/// Reads a `grpc-timeout` value: one to eight ASCII digits and a unit letter (`H`, `M`, `S`,
/// `m`, `u`, `n`). `0` is allowed: a timeout that has already run out.
///
/// Anything else is `None`: no digits, nine or more digits, a sign, a fraction, another unit,
/// spaces (around the value too), or bytes that are not ASCII.
///
/// ```
/// use std::time::Duration;
/// use http::HeaderValue;
/// use steadfast_http::grpc_timeout::parse_grpc_timeout;
///
/// let parse = |s: &'static str| parse_grpc_timeout(&HeaderValue::from_static(s));
/// assert_eq!(parse("2H"), Some(Duration::from_secs(7_200)));
/// assert_eq!(parse("30S"), Some(Duration::from_secs(30)));
/// assert_eq!(parse("250m"), Some(Duration::from_millis(250)));
/// assert_eq!(parse("100u"), Some(Duration::from_micros(100)));
/// assert_eq!(parse("0n"), Some(Duration::ZERO));
/// assert_eq!(parse("123456789n"), None); // nine digits
/// assert_eq!(parse("30s"), None); // `s` is not a unit
/// assert_eq!(parse("30"), None);
/// ```
pub fn parse_grpc_timeout(value: &HeaderValue) -> Option<Duration> {
    let (&unit, digits) = value.as_bytes().split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Eight digits at most: no overflow.
    let count = digits
        .iter()
        .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
    let nanos_per_unit = UNITS.iter().find(|&&(_, u)| u == unit)?.0;
    // At most 99,999,999 hours: well within a `Duration`.
    let nanos = u128::from(count) * u128::from(nanos_per_unit);
    let secs = (nanos / 1_000_000_000) as u64;
    let subsec = (nanos % 1_000_000_000) as u32;
    Some(Duration::new(secs, subsec))
}

/// Writes a timeout as a `grpc-timeout` value.
///
/// The rule, in order:
///
/// 1. Round down to the finest unit in which the timeout fits in eight digits (so a timeout
///    under a tenth of a second is exact in nanoseconds). The callee is never told it has more
///    time than it has.
/// 2. Spell that rounded value in the coarsest unit that holds it exactly, which is shorter and
///    says the same thing: 30 s is `30S`, not `30000000u`.
/// 3. Zero is `0n`. A timeout longer than [`MAX_GRPC_TIMEOUT`] is `99999999H`, the longest the
///    header can say.
///
/// So `parse_grpc_timeout(&encode_grpc_timeout(d)) <= d`, short of `d` by less than one unit
/// of step 1.
///
/// ```
/// use std::time::Duration;
/// use steadfast_http::grpc_timeout::encode_grpc_timeout;
///
/// assert_eq!(encode_grpc_timeout(Duration::from_secs(30)), "30S");
/// assert_eq!(encode_grpc_timeout(Duration::from_secs(3_600)), "1H");
/// assert_eq!(encode_grpc_timeout(Duration::from_micros(1_500)), "1500u");
/// assert_eq!(encode_grpc_timeout(Duration::from_nanos(99_999_999)), "99999999n");
/// assert_eq!(encode_grpc_timeout(Duration::from_nanos(100_000_001)), "100m"); // rounded down
/// assert_eq!(encode_grpc_timeout(Duration::from_nanos(100_001_999)), "100001u"); // rounded down
/// assert_eq!(encode_grpc_timeout(Duration::ZERO), "0n");
/// assert_eq!(encode_grpc_timeout(Duration::MAX), "99999999H");
/// ```
pub fn encode_grpc_timeout(timeout: Duration) -> HeaderValue {
    let nanos = timeout.as_nanos();
    let (count, unit) = if nanos == 0 {
        (0, b'n')
    } else {
        encode_units(nanos)
    };
    let mut buf = [0u8; 9];
    let mut start = buf.len() - 1;
    buf[start] = unit;
    let mut rest = count;
    loop {
        start -= 1;
        buf[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    HeaderValue::from_bytes(&buf[start..])
        .expect("digits and a unit letter are a valid header value")
}

/// The count and unit for a non-zero timeout of `nanos`, by the rule of
/// [`encode_grpc_timeout`].
fn encode_units(nanos: u128) -> (u64, u8) {
    // Step 1: the finest unit that fits, rounding down; the coarsest unit, capped, if none.
    let rounded = UNITS
        .iter()
        .find_map(|&(per, _)| {
            let count = nanos / u128::from(per);
            (count <= u128::from(MAX_VALUE)).then_some(count * u128::from(per))
        })
        .unwrap_or(u128::from(MAX_VALUE) * u128::from(UNITS[UNITS.len() - 1].0));
    // Step 2: the coarsest unit that holds the rounded value exactly (nanoseconds always do).
    UNITS
        .iter()
        .rev()
        .find_map(|&(per, unit)| {
            let per = u128::from(per);
            (rounded % per == 0 && rounded / per <= u128::from(MAX_VALUE))
                .then(|| ((rounded / per) as u64, unit))
        })
        .unwrap_or((0, b'n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Option<Duration> {
        parse_grpc_timeout(&HeaderValue::from_bytes(bytes).unwrap())
    }

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse(b"1H"), Some(Duration::from_secs(3_600)));
        assert_eq!(parse(b"1M"), Some(Duration::from_secs(60)));
        assert_eq!(parse(b"1S"), Some(Duration::from_secs(1)));
        assert_eq!(parse(b"1m"), Some(Duration::from_millis(1)));
        assert_eq!(parse(b"1u"), Some(Duration::from_micros(1)));
        assert_eq!(parse(b"1n"), Some(Duration::from_nanos(1)));
        assert_eq!(parse(b"00000005S"), Some(Duration::from_secs(5)));
        assert_eq!(parse(b"0H"), Some(Duration::ZERO));
        assert_eq!(parse(b"99999999H"), Some(MAX_GRPC_TIMEOUT));
        assert_eq!(parse(b"99999999n"), Some(Duration::from_nanos(99_999_999)));
        assert_eq!(parse(b"12345678m"), Some(Duration::from_millis(12_345_678)));
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            &b""[..],
            b"S",
            b"5",
            b"123456789S",
            b"000000001S",
            b"5s",
            b"5h",
            b"5x",
            b"5SS",
            b"-5S",
            b"+5S",
            b"1.5S",
            b" 5S",
            b"5S ",
            b"5 S",
            b"\xff5S",
            b"5\xb5",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn encodes_exactly_when_it_can() {
        let cases = [
            (Duration::ZERO, "0n"),
            (Duration::from_nanos(1), "1n"),
            (Duration::from_nanos(1_000), "1u"),
            (Duration::from_millis(250), "250m"),
            (Duration::from_secs(1), "1S"),
            (Duration::from_secs(90), "90S"),
            (Duration::from_secs(120), "2M"),
            (Duration::from_secs(7_200), "2H"),
            (Duration::new(1, 1_000), "1000001u"),
            (Duration::from_nanos(12_345_678), "12345678n"),
            (MAX_GRPC_TIMEOUT, "99999999H"),
        ];
        for (d, want) in cases {
            assert_eq!(encode_grpc_timeout(d), want, "{d:?}");
        }
    }

    #[test]
    fn rounds_down_to_the_finest_unit_that_fits() {
        // 100 ms and 1 ns: nine digits in nanoseconds, so microseconds, rounded down to
        // 100,000 µs, which is spelled in milliseconds.
        assert_eq!(
            encode_grpc_timeout(Duration::from_nanos(100_000_001)),
            "100m"
        );
        assert_eq!(
            encode_grpc_timeout(Duration::from_nanos(100_001_999)),
            "100001u"
        );
        // 99,999,999.999 µs: the .999 is lost.
        assert_eq!(
            encode_grpc_timeout(Duration::from_nanos(99_999_999_999)),
            "99999999u"
        );
        // One second and a nanosecond: one second.
        assert_eq!(encode_grpc_timeout(Duration::new(1, 1)), "1S");
        // 27.8 hours in milliseconds is nine digits: seconds.
        assert_eq!(
            encode_grpc_timeout(Duration::new(100_000, 999_000_000)),
            "100000S"
        );
        // Beyond the largest value: capped.
        assert_eq!(
            encode_grpc_timeout(MAX_GRPC_TIMEOUT + Duration::from_nanos(1)),
            "99999999H"
        );
        assert_eq!(encode_grpc_timeout(Duration::MAX), "99999999H");
    }

    #[test]
    fn header_name() {
        assert_eq!(GRPC_TIMEOUT, "grpc-timeout");
    }
}
