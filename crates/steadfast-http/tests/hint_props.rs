//! Properties of the server-hint parsers and the `grpc-timeout` codec, over generated input.

#![allow(clippy::disallowed_types)] // HTTP-dates are wall-clock instants: `SystemTime` is their type.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use steadfast_http::grpc_timeout::{encode_grpc_timeout, parse_grpc_timeout, MAX_GRPC_TIMEOUT};
use steadfast_http::hint::{
    parse_grpc_pushback, parse_rate_limit_reset, parse_retry_after, HintSource, ServerHint,
    ServerHints, RESET_EPOCH_THRESHOLD,
};

/// The last second an HTTP-date can name: 9999-12-31 23:59:59 GMT.
const LAST_HTTP_DATE: u64 = 253_402_300_799;

/// A fixed "now" for the date properties: 2023-11-14 22:13:20 GMT.
const NOW: u64 = 1_700_000_000;

fn epoch(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Bytes that make a valid header value: anything at all, text close to what the parsers read,
/// and real dates with a byte changed.
fn header_value() -> impl Strategy<Value = HeaderValue> {
    let any_bytes = proptest::collection::vec(any::<u8>(), 0..48);
    let near_misses = "[ \t0-9+\\-.,:eEx]{0,24}".prop_map(String::into_bytes);
    let numbers = (any::<u64>(), any::<bool>(), "[ \t]{0,2}").prop_map(|(n, negative, pad)| {
        format!("{pad}{}{n}{pad}", if negative { "-" } else { "" }).into_bytes()
    });
    let dates = (0..=LAST_HTTP_DATE, any::<usize>(), any::<u8>()).prop_map(|(secs, at, byte)| {
        let mut date = httpdate::fmt_http_date(epoch(secs)).into_bytes();
        let at = at % date.len();
        date[at] = byte;
        date
    });
    prop_oneof![any_bytes, near_misses, numbers, dates]
        .prop_filter_map("not a valid header value", |bytes| {
            HeaderValue::from_bytes(&bytes).ok()
        })
}

fn any_now() -> impl Strategy<Value = SystemTime> {
    (0..=LAST_HTTP_DATE + 1_000, 0..1_000_000_000u32)
        .prop_map(|(secs, nanos)| epoch(secs) + Duration::from_nanos(u64::from(nanos)))
}

fn any_max() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (1..=86_400_000_000_000u64).prop_map(Duration::from_nanos),
        Just(Duration::MAX),
    ]
}

/// Every source, in a generated order and number.
fn any_sources() -> impl Strategy<Value = Vec<HintSource>> {
    Just(HintSource::DEFAULT_ORDER.to_vec())
        .prop_shuffle()
        .prop_flat_map(|all| (1..=all.len()).prop_map(move |n| all[..n].to_vec()))
}

/// The date `secs` after the epoch in RFC 850 form, for years 1970 to 2069 (two-digit years).
fn rfc850(secs: u64) -> String {
    // IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`; RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`.
    let imf = httpdate::fmt_http_date(epoch(secs));
    let weekday = match &imf[..3] {
        "Mon" => "Monday",
        "Tue" => "Tuesday",
        "Wed" => "Wednesday",
        "Thu" => "Thursday",
        "Fri" => "Friday",
        "Sat" => "Saturday",
        _ => "Sunday",
    };
    format!(
        "{weekday}, {}-{}-{} {} GMT",
        &imf[5..7],
        &imf[8..11],
        &imf[14..16],
        &imf[17..25]
    )
}

/// The date `secs` after the epoch in asctime form: `Sun Nov  6 08:49:37 1994`.
fn asctime(secs: u64) -> String {
    let imf = httpdate::fmt_http_date(epoch(secs));
    let day = imf[5..7].trim_start_matches('0');
    format!(
        "{} {} {day:>2} {} {}",
        &imf[..3],
        &imf[8..11],
        &imf[17..25],
        &imf[12..16]
    )
}

/// `digits` (ASCII digits only) as a number, saturating at `u64::MAX`.
fn saturating(digits: &str) -> u64 {
    let significant = digits.trim_start_matches('0');
    if significant.len() > 20 {
        return u64::MAX;
    }
    significant
        .parse::<u128>()
        .map_or(0, |n| u64::try_from(n).unwrap_or(u64::MAX))
}

/// The gRFC A6 reading of a pushback value, written out plainly: a run of digits is a delay
/// (saturating), a minus sign and digits is a refusal unless they are all zeros, and anything
/// else is unparseable, which is a refusal too.
fn pushback_model(value: &HeaderValue) -> ServerHint {
    let Ok(text) = std::str::from_utf8(value.as_bytes()) else {
        return ServerHint::DoNotRetry;
    };
    let text = text.trim_matches([' ', '\t']);
    let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if all_digits(text) {
        return ServerHint::After(Duration::from_millis(saturating(text)));
    }
    match text.strip_prefix('-') {
        Some(rest) if all_digits(rest) && saturating(rest) == 0 => {
            ServerHint::After(Duration::ZERO)
        }
        _ => ServerHint::DoNotRetry,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A pushback value means what gRFC A6 says, whatever its bytes: a delay, or "do not
    /// retry" for a negative or unreadable value. A present header is never "no hint".
    #[test]
    fn pushback_follows_grfc_a6(value in header_value()) {
        prop_assert_eq!(parse_grpc_pushback(&value), pushback_model(&value));
        let mut headers = HeaderMap::new();
        headers.insert("grpc-retry-pushback-ms", value.clone());
        headers.insert("retry-after", HeaderValue::from_static("1"));
        prop_assert_ne!(ServerHints::default().read_at(&headers, epoch(NOW)), ServerHint::None);
    }

    /// Digits of any length are a delay: numbers too large for 64 bits saturate (RFC 9110
    /// delay-seconds has no limit) and are then clamped like any long delay, for every source.
    #[test]
    fn long_numbers_saturate_and_clamp(
        digits in "[0-9]{1,60}",
        pad in "[ \t]{0,2}",
        now in any_now(),
        max in any_max(),
    ) {
        let n = saturating(&digits);
        let value = HeaderValue::from_str(&format!("{pad}{digits}{pad}")).unwrap();
        prop_assert_eq!(parse_retry_after(&value, now), Some(Duration::from_secs(n)));
        prop_assert_eq!(parse_grpc_pushback(&value), ServerHint::After(Duration::from_millis(n)));
        let reset = parse_rate_limit_reset(&value, now);
        prop_assert!(reset.is_some());
        if n == u64::MAX {
            prop_assert_eq!(reset, Some(Duration::MAX));
        }
        let hints = ServerHints::builder().max(max).build().unwrap();
        for source in HintSource::DEFAULT_ORDER {
            let mut headers = HeaderMap::new();
            headers.insert(source.header_name(), value.clone());
            let want = match source {
                HintSource::GrpcRetryPushback => Duration::from_millis(n).min(max),
                HintSource::RetryAfter => Duration::from_secs(n).min(max),
                _ => reset.unwrap().min(max),
            };
            prop_assert_eq!(hints.read_at(&headers, now), ServerHint::After(want), "{:?}", source);
        }
    }

    /// Any value, under any header, for any reader: no panic, and a delay within `[0, max]`.
    #[test]
    fn any_value_gives_a_hint_within_max(
        value in header_value(),
        now in any_now(),
        max in any_max(),
        sources in any_sources(),
    ) {
        let hints = ServerHints::builder().sources(sources.clone()).max(max).build().unwrap();
        for source in &sources {
            let mut headers = HeaderMap::new();
            headers.insert(source.header_name(), value.clone());
            match hints.read_at(&headers, now) {
                ServerHint::After(delay) => prop_assert!(delay <= max),
                ServerHint::DoNotRetry => {
                    prop_assert_eq!(*source, HintSource::GrpcRetryPushback)
                }
                ServerHint::None => {}
            }
        }
        // The pure parsers, unclamped: no panic.
        let _ = parse_retry_after(&value, now);
        let _ = parse_rate_limit_reset(&value, now);
        let _ = parse_grpc_pushback(&value);
        let _ = parse_grpc_timeout(&value);
    }

    /// The reader agrees with the parser of the first source present, clamped.
    #[test]
    fn reader_is_the_clamped_parse_of_the_first_readable_source(
        value in header_value(),
        now in any_now(),
        max in any_max(),
    ) {
        let hints = ServerHints::builder().max(max).build().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", value.clone());
        let want = match parse_retry_after(&value, now) {
            Some(delay) => ServerHint::After(delay.min(max)),
            None => ServerHint::None,
        };
        prop_assert_eq!(hints.read_at(&headers, now), want);

        let mut headers = HeaderMap::new();
        headers.insert("grpc-retry-pushback-ms", value.clone());
        let want = match parse_grpc_pushback(&value) {
            ServerHint::After(delay) => ServerHint::After(delay.min(max)),
            other => other,
        };
        prop_assert_eq!(hints.read_at(&headers, now), want);
    }

    /// Delay-seconds read back as themselves, however padded, and clamp to `max`.
    #[test]
    fn seconds_round_trip(
        n in any::<u64>(),
        zeros in 0..4usize,
        pad in "[ \t]{0,3}",
        now in any_now(),
        max in any_max(),
    ) {
        let text = format!("{pad}{}{n}{pad}", "0".repeat(zeros));
        let value = HeaderValue::from_str(&text).unwrap();
        prop_assert_eq!(parse_retry_after(&value, now), Some(Duration::from_secs(n)));

        let hints = ServerHints::builder().max(max).build().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", value.clone());
        prop_assert_eq!(
            hints.read_at(&headers, now),
            ServerHint::After(Duration::from_secs(n).min(max))
        );

        let reset = parse_rate_limit_reset(&value, now);
        if n < RESET_EPOCH_THRESHOLD {
            prop_assert_eq!(reset, Some(Duration::from_secs(n)));
        } else {
            let want = epoch(0)
                .checked_add(Duration::from_secs(n))
                .map_or(Duration::MAX, |at| at.duration_since(now).unwrap_or_default());
            prop_assert_eq!(reset, Some(want));
        }

        prop_assert_eq!(parse_grpc_pushback(&value), ServerHint::After(Duration::from_millis(n)));
        let negative = HeaderValue::from_str(&format!("-{n}")).unwrap();
        let want = if n == 0 { ServerHint::After(Duration::ZERO) } else { ServerHint::DoNotRetry };
        prop_assert_eq!(parse_grpc_pushback(&negative), want);
    }

    /// A timestamp reset is the time from `now` to it, zero once past.
    #[test]
    fn epoch_reset_is_relative_to_now(at in RESET_EPOCH_THRESHOLD..=LAST_HTTP_DATE) {
        let value = HeaderValue::from_str(&at.to_string()).unwrap();
        prop_assert_eq!(
            parse_rate_limit_reset(&value, epoch(NOW)),
            Some(Duration::from_secs(at.saturating_sub(NOW)))
        );
    }

    /// An HTTP-date in each of its three forms reads back as the delay from a fixed `now`.
    #[test]
    fn http_dates_round_trip(secs in 0..=LAST_HTTP_DATE, sub_ns in 0..1_000_000_000u32) {
        let now = epoch(NOW) + Duration::from_nanos(u64::from(sub_ns));
        let want = epoch(secs).duration_since(now).unwrap_or_default();

        let imf = httpdate::fmt_http_date(epoch(secs));
        let mut forms = vec![imf, asctime(secs)];
        // Two-digit years reach 1970 to 2069 only.
        if secs < 3_155_760_000 {
            forms.push(rfc850(secs));
        }
        let hints = ServerHints::builder().max(Duration::MAX).build().unwrap();
        for form in forms {
            let value = HeaderValue::from_str(&form).unwrap();
            prop_assert_eq!(parse_retry_after(&value, now), Some(want), "{}", form);
            let mut headers = HeaderMap::new();
            headers.insert("retry-after", value);
            prop_assert_eq!(hints.read_at(&headers, now), ServerHint::After(want), "{}", form);
        }
    }

    /// `parse(encode(d)) <= d`, short by less than the unit encode rounded to: none at all
    /// under a tenth of a second, and never more than a hundred-thousandth of `d`.
    #[test]
    fn grpc_timeout_round_trip(
        d in prop_oneof![
            (0..200_000_000u64).prop_map(Duration::from_nanos),
            any::<u64>().prop_map(Duration::from_nanos),
            (any::<u64>(), 0..1_000_000_000u32).prop_map(|(s, n)| Duration::new(s, n)),
        ],
    ) {
        let encoded = encode_grpc_timeout(d);
        let bytes = encoded.as_bytes();
        prop_assert!((2..=9).contains(&bytes.len()), "{:?}", encoded);
        let back = parse_grpc_timeout(&encoded);
        prop_assert!(back.is_some(), "{:?} does not parse", encoded);
        let back = back.unwrap();
        prop_assert!(back <= d, "{:?} encoded as {:?} reads back as {:?}", d, encoded, back);
        if d < Duration::from_nanos(100_000_000) {
            prop_assert_eq!(back, d);
        } else if d <= MAX_GRPC_TIMEOUT {
            let lost = d - back;
            prop_assert!(lost <= d / 100_000, "{:?} lost {:?} as {:?}", d, lost, encoded);
        } else {
            prop_assert_eq!(back, MAX_GRPC_TIMEOUT);
        }
    }

    /// Every valid `grpc-timeout` value survives decode then encode as the same duration.
    #[test]
    fn grpc_timeout_values_re_encode_exactly(count in 0..=99_999_999u64, unit in "[HMSmun]") {
        let value = HeaderValue::from_str(&format!("{count}{unit}")).unwrap();
        let d = parse_grpc_timeout(&value).unwrap();
        prop_assert_eq!(parse_grpc_timeout(&encode_grpc_timeout(d)), Some(d));
    }
}
