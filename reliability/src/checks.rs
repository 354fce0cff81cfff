//! Property checks for the parsers that read the network: the fuzz targets under `fuzz/` and
//! the replay of their committed corpora (`tests/fuzz_corpus.rs`) run the same checks.
//!
//! Each check takes raw bytes, as a fuzzer produces them, and panics if a parser breaks a
//! property it must keep. A parser that panics, or overflows in arithmetic (the fuzz targets
//! and the tests build with overflow checks on), fails the check the same way. The properties:
//!
//! * **no panic** on any header value;
//! * **the reference reading**: the result equals what the header's definition gives (RFC 9110
//!   for `Retry-After`, gRFC A6 for `grpc-retry-pushback-ms`, the gRPC over HTTP/2 protocol
//!   for `grpc-timeout`), computed here independently of the parser;
//! * **the clamp**: a delay or deadline read through a configured reader ([`ServerHints`],
//!   [`AcceptDeadlineLayer`]) is never above its configured maximum;
//! * **round trips**: a value written the way steadfast writes it (a number of seconds or
//!   milliseconds, [`encode_grpc_timeout`], an attempt number) reads back as itself;
//! * **framing**: spaces and tabs around a value change nothing where HTTP allows them, and
//!   the answer does not depend on how many other headers a request carries.
//!
//! An input whose bytes cannot be a header value at all (control characters) is skipped: no
//! HTTP implementation hands such a value to these parsers. Inputs that carry two header
//! values separate them with a newline, which no header value can contain.
//!
//! ```
//! // Every committed corpus file of a target goes through its check; so can any bytes.
//! steadfast_reliability::checks::retry_after(b"Wed, 21 Oct 2015 07:28:00 GMT");
//! steadfast_reliability::checks::grpc_timeout(b"99999999H");
//! for (name, check) in steadfast_reliability::checks::TARGETS {
//!     check(b"\xff 12abc\n-1");
//!     assert!(!name.is_empty());
//! }
//! ```

use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
// `Retry-After` dates and rate-limit timestamps name wall-clock instants.
#[allow(clippy::disallowed_types)]
use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue, Request};
use steadfast::classify::Outcome;
use steadfast::token::{CancelToken, HasCancelToken};
use steadfast_http::attempt::UpstreamRetriesLayer;
use steadfast_http::deadline::AcceptDeadlineLayer;
use steadfast_http::grpc_timeout::{encode_grpc_timeout, parse_grpc_timeout, MAX_GRPC_TIMEOUT};
use steadfast_http::hint::{
    parse_grpc_pushback, parse_rate_limit_reset, parse_retry_after, HintSource, ServerHint,
    ServerHints, RESET_EPOCH_THRESHOLD,
};
use tower::{Layer, Service};

/// A property check: raw input bytes in, a panic if a property does not hold.
pub type Check = fn(&[u8]);

/// Every fuzz target, by the name of its folder under `fuzz/corpus/`, with its check.
pub const TARGETS: [(&str, Check); 6] = [
    ("retry_after", retry_after),
    ("rate_limit_reset", rate_limit_reset),
    ("grpc_pushback", grpc_pushback),
    ("grpc_timeout", grpc_timeout),
    ("deadline", deadline),
    ("attempt", attempt),
];

/// The maxima the configured readers are checked with: the smallest there is, one not on a
/// whole second, the default of [`ServerHints`], and the largest there is.
const MAXIMA: [Duration; 4] = [
    Duration::from_nanos(1),
    Duration::from_millis(1_500),
    Duration::from_secs(60),
    Duration::MAX,
];

/// Seconds from the Unix epoch to the clock readings the checks use, in increasing order:
/// the epoch, 2015-10-21 07:26:40 UTC, 2023-11-14 22:13:20 UTC, and the first second of the
/// year 10000 (after every HTTP-date).
const NOW_SECS: [u64; 4] = [0, 1_445_412_400, 1_700_000_000, 253_402_300_800];

/// Checks [`parse_retry_after`] and a [`ServerHints`] reading `Retry-After`. The input is the
/// header value.
///
/// Delay-seconds read as their saturated value; a date is a whole second at or after `now`
/// (zero once passed) that reads back from its own IMF-fixdate; a later `now` never gives a
/// longer delay; the reader clamps to its maximum.
pub fn retry_after(input: &[u8]) {
    let Some(value) = header_value(input) else {
        return;
    };
    let mut previous: Option<Duration> = None;
    for now in nows() {
        let parsed = parse_retry_after(&value, now);
        let trimmed = trim_ows(input);
        match trimmed.first() {
            None => assert_eq!(parsed, None, "an empty value is no hint"),
            Some(b'0'..=b'9') => {
                let want = digits(trimmed).map(Duration::from_secs);
                assert_eq!(parsed, want, "delay-seconds {trimmed:?}");
            }
            Some(_) => {
                if let Some(delay) = parsed {
                    assert!(trimmed.is_ascii(), "a date is ASCII");
                    check_whole_second_date(delay, now);
                }
            }
        }
        if let (Some(earlier), Some(later)) = (previous, parsed) {
            assert!(later <= earlier, "a later clock gave a longer delay");
        }
        previous = parsed;
        if let Some(padded) = padded(input) {
            assert_eq!(parse_retry_after(&padded, now), parsed, "spaces around");
        }
        check_hint_reader(
            &[HintSource::RetryAfter],
            &[("retry-after", &value)],
            now,
            parsed.into(),
        );
    }
    let n = derived_u64(input);
    assert_eq!(
        parse_retry_after(&HeaderValue::from(n), nows()[0]),
        Some(Duration::from_secs(n)),
        "round trip of {n} s"
    );
}

/// Checks [`parse_rate_limit_reset`] and [`ServerHints`] reading `RateLimit-Reset` and
/// `X-RateLimit-Reset`. The input is the reset value, optionally followed by a newline and a
/// `…-Remaining` value.
///
/// A value is seconds below [`RESET_EPOCH_THRESHOLD`] and a Unix timestamp from there up,
/// exact to the nanosecond against `now`; a reset is skipped while requests remain; the reader
/// clamps to its maximum.
pub fn rate_limit_reset(input: &[u8]) {
    let (reset_bytes, remaining_bytes) = split(input);
    let Some(reset) = header_value(reset_bytes) else {
        return;
    };
    let remaining = remaining_bytes.and_then(header_value);
    let requests_remain = remaining
        .as_ref()
        .and_then(|v| digits(trim_ows(v.as_bytes())))
        .is_some_and(|left| left > 0);
    let mut previous: Option<Duration> = None;
    for now in nows() {
        let parsed = parse_rate_limit_reset(&reset, now);
        assert_eq!(parsed, reference_reset(reset_bytes, now), "{reset_bytes:?}");
        if let (Some(earlier), Some(later)) = (previous, parsed) {
            assert!(later <= earlier, "a later clock gave a longer delay");
        }
        previous = parsed;
        if let Some(padded) = padded(reset_bytes) {
            assert_eq!(
                parse_rate_limit_reset(&padded, now),
                parsed,
                "spaces around"
            );
        }
        let want = if requests_remain {
            ServerHint::None
        } else {
            parsed.into()
        };
        for (source, reset_name, remaining_name) in [
            (
                HintSource::RateLimitReset,
                "ratelimit-reset",
                "ratelimit-remaining",
            ),
            (
                HintSource::XRateLimitReset,
                "x-ratelimit-reset",
                "x-ratelimit-remaining",
            ),
        ] {
            let mut headers = vec![(reset_name, &reset)];
            if let Some(remaining) = &remaining {
                headers.push((remaining_name, remaining));
            }
            check_hint_reader(&[source], &headers, now, want);
        }
    }
    let n = derived_u64(input) % RESET_EPOCH_THRESHOLD;
    assert_eq!(
        parse_rate_limit_reset(&HeaderValue::from(n), nows()[0]),
        Some(Duration::from_secs(n)),
        "round trip of {n} s"
    );
}

/// Checks [`parse_grpc_pushback`] and a [`ServerHints`] reading `grpc-retry-pushback-ms`,
/// including the retry [`Outcome`] it gives. The input is the header value.
///
/// Digits are a delay in milliseconds (saturated), `-` and zeros is zero, anything else
/// refuses the retry (gRFC A6); the reader clamps delays and passes refusals on.
pub fn grpc_pushback(input: &[u8]) {
    let Some(value) = header_value(input) else {
        return;
    };
    let parsed = parse_grpc_pushback(&value);
    let trimmed = trim_ows(input);
    let want = match trimmed {
        [b'-', rest @ ..] if !rest.is_empty() && rest.iter().all(|&b| b == b'0') => {
            ServerHint::After(Duration::ZERO)
        }
        _ => digits(trimmed).map_or(ServerHint::DoNotRetry, |ms| {
            ServerHint::After(Duration::from_millis(ms))
        }),
    };
    assert_eq!(parsed, want, "{trimmed:?}");
    if let Some(padded) = padded(input) {
        assert_eq!(parse_grpc_pushback(&padded), parsed, "spaces around");
    }
    let now = nows()[0];
    let headers = [("grpc-retry-pushback-ms", &value)];
    for max in MAXIMA {
        let hints = hints(&[HintSource::GrpcRetryPushback], max);
        let map = header_map(&headers, 0);
        let outcome = hints.outcome(&map);
        match clamped(parsed, max) {
            ServerHint::After(delay) => assert_eq!(outcome, Outcome::pushed_back(delay)),
            ServerHint::DoNotRetry => assert_eq!(outcome, Outcome::DoNotRetry),
            ServerHint::None => unreachable!("a present pushback header is always a hint"),
        }
    }
    check_hint_reader(&[HintSource::GrpcRetryPushback], &headers, now, parsed);
    let n = derived_u64(input);
    assert_eq!(
        parse_grpc_pushback(&HeaderValue::from(n)),
        ServerHint::After(Duration::from_millis(n)),
        "round trip of {n} ms"
    );
    if n > 0 {
        let negative = HeaderValue::from_str(&format!("-{n}")).expect("a valid value");
        assert_eq!(parse_grpc_pushback(&negative), ServerHint::DoNotRetry);
    }
}

/// Checks [`parse_grpc_timeout`], [`encode_grpc_timeout`] and an [`AcceptDeadlineLayer`]
/// reading only `grpc-timeout`. The input is the header value; its first twelve bytes also
/// make a duration to encode.
///
/// A value is one to eight digits and a unit, never above [`MAX_GRPC_TIMEOUT`], and encodes
/// back to a value that reads the same; any duration encodes to a value that reads back no
/// longer, short by less than a hundred-thousandth; the layer caps at its maximum.
pub fn grpc_timeout(input: &[u8]) {
    if let Some(value) = header_value(input) {
        let parsed = parse_grpc_timeout(&value);
        assert_eq!(parsed, reference_grpc_timeout(input), "{input:?}");
        if let Some(timeout) = parsed {
            assert!(timeout <= MAX_GRPC_TIMEOUT);
            let encoded = encode_grpc_timeout(timeout);
            assert!(encoded.len() <= 9, "{encoded:?} is over nine bytes");
            assert_eq!(parse_grpc_timeout(&encoded), Some(timeout), "{encoded:?}");
        }
        for max in MAXIMA {
            let layer = AcceptDeadlineLayer::new().grpc_only().max(max);
            let map = header_map(&[("grpc-timeout", &value)], 0);
            assert_eq!(layer.requested(&map), parsed.map(|t| t.min(max)));
        }
    }
    let timeout = derived_duration(input);
    let encoded = encode_grpc_timeout(timeout);
    let read = parse_grpc_timeout(&encoded).expect("an encoded timeout reads back");
    assert!(
        read <= timeout,
        "{timeout:?} encoded as {encoded:?}, more time"
    );
    if timeout >= MAX_GRPC_TIMEOUT {
        assert_eq!(read, MAX_GRPC_TIMEOUT, "{timeout:?} encoded as {encoded:?}");
    } else {
        let lost = (timeout - read).as_nanos();
        assert!(
            lost == 0 || lost * 100_000 < timeout.as_nanos(),
            "{timeout:?} encoded as {encoded:?} loses {lost} ns"
        );
    }
}

/// Checks [`AcceptDeadlineLayer`] (its [`requested`](AcceptDeadlineLayer::requested) time and
/// the token its service gives the request). The input is a `grpc-timeout` value, optionally
/// followed by a newline and an `x-request-timeout-ms` value.
///
/// The shorter of the two readable values counts, capped at the maximum; the token's time left
/// is never more; a custom header name, or many other headers on the request, change nothing;
/// a number of milliseconds as steadfast writes it reads back as itself.
pub fn deadline(input: &[u8]) {
    let (grpc_bytes, millis_bytes) = split(input);
    let Some(grpc) = header_value(grpc_bytes) else {
        return;
    };
    let millis = millis_bytes.and_then(header_value);
    let mut headers = vec![("grpc-timeout", &grpc)];
    let mut custom = headers.clone();
    if let Some(millis) = &millis {
        headers.push(("x-request-timeout-ms", millis));
        custom.push(("x-budget-ms", millis));
    }
    let want = match (
        reference_grpc_timeout(grpc_bytes),
        millis_bytes.and_then(reference_millis),
    ) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let budget = HeaderName::from_static("x-budget-ms");
    for max in [None].into_iter().chain(MAXIMA.map(Some)) {
        let capped = want.map(|t| max.map_or(t, |max| t.min(max)));
        let with_max = |layer: AcceptDeadlineLayer| match max {
            Some(max) => layer.max(max),
            None => layer,
        };
        let layer = with_max(AcceptDeadlineLayer::new());
        for fillers in [0, 12] {
            let map = header_map(&headers, fillers);
            assert_eq!(layer.requested(&map), capped, "{fillers} other headers");
            let custom_map = header_map(&custom, fillers);
            let custom_layer = with_max(AcceptDeadlineLayer::new().header(budget.clone()));
            assert_eq!(custom_layer.requested(&custom_map), capped, "custom name");
        }
        let left = call_now(
            layer.layer(ServiceFn(|req: Request<()>| {
                req.cancel_token().and_then(CancelToken::remaining)
            })),
            request(header_map(&headers, 0)),
        );
        match (left, capped) {
            (Some(left), Some(capped)) => assert!(left <= capped, "{left:?} over {capped:?}"),
            (Some(left), None) => panic!("a deadline of {left:?} from no readable header"),
            // An uncapped time too long for the clock leaves the request without a deadline.
            (None, Some(_)) => assert_eq!(max, None, "a capped deadline was dropped"),
            (None, None) => {}
        }
    }
    let n = derived_u64(input) % 10_000_000_000_000_000_000;
    let map = header_map(&[("x-request-timeout-ms", &HeaderValue::from(n))], 0);
    assert_eq!(
        AcceptDeadlineLayer::new().requested(&map),
        Some(Duration::from_millis(n)),
        "round trip of {n} ms"
    );
}

/// Checks [`UpstreamRetriesLayer`] (whether a request is a retry, and the token its service
/// gives it). The input is an `x-retry-attempt` value, optionally followed by a newline and a
/// `grpc-previous-rpc-attempts` value.
///
/// A request is a retry when its attempt number is 2 or more or a previous attempt is counted,
/// each read as one to nine digits; a retry's token allows no retries and other requests keep
/// theirs; a custom header name, or many other headers, change nothing; an attempt number as
/// steadfast writes it reads back.
pub fn attempt(input: &[u8]) {
    let (attempt_bytes, previous_bytes) = split(input);
    let Some(attempt) = header_value(attempt_bytes) else {
        return;
    };
    let previous = previous_bytes.and_then(header_value);
    let count = |bytes: &[u8]| {
        let trimmed = trim_ows(bytes);
        (trimmed.len() <= 9).then(|| digits(trimmed)).flatten()
    };
    let want = count(attempt_bytes).is_some_and(|n| n >= 2)
        || previous_bytes.and_then(count).is_some_and(|n| n >= 1);
    let mut headers = vec![("x-retry-attempt", &attempt)];
    let mut custom = vec![("x-try", &attempt)];
    if let Some(previous) = &previous {
        headers.push(("grpc-previous-rpc-attempts", previous));
        custom.push(("grpc-previous-rpc-attempts", previous));
    }
    let layer = UpstreamRetriesLayer::new();
    let custom_layer = UpstreamRetriesLayer::new().header(HeaderName::from_static("x-try"));
    for fillers in [0, 12] {
        assert_eq!(layer.is_retry(&header_map(&headers, fillers)), want);
        assert_eq!(custom_layer.is_retry(&header_map(&custom, fillers)), want);
    }
    for with_token in [false, true] {
        let mut req = request(header_map(&headers, 0));
        if with_token {
            req.set_cancel_token(CancelToken::new())
                .expect("a request takes a token");
        }
        let allowed = call_now(
            layer.layer(ServiceFn(|req: Request<()>| {
                req.cancel_token().map(CancelToken::retries_allowed)
            })),
            req,
        );
        let expected = match (want, with_token) {
            (true, _) => Some(false),
            (false, true) => Some(true),
            (false, false) => None,
        };
        assert_eq!(allowed, expected, "the token after the layer");
    }
    let n = u32::try_from(derived_u64(input) % 1_000_000_000).expect("nine digits");
    let map = header_map(&[("x-retry-attempt", &HeaderValue::from(n))], 0);
    assert_eq!(layer.is_retry(&map), n >= 2, "round trip of attempt {n}");
    let map = header_map(&[("grpc-previous-rpc-attempts", &HeaderValue::from(n))], 0);
    assert_eq!(layer.is_retry(&map), n >= 1, "round trip of {n} previous");
}

/// The reference reading of a `RateLimit-Reset` value at `now`, exact in nanoseconds.
#[allow(clippy::disallowed_types)]
fn reference_reset(bytes: &[u8], now: SystemTime) -> Option<Duration> {
    let n = digits(trim_ows(bytes))?;
    if n < RESET_EPOCH_THRESHOLD {
        return Some(Duration::from_secs(n));
    }
    // An instant the platform's clock cannot name is as far away as a delay can be.
    if UNIX_EPOCH.checked_add(Duration::from_secs(n)).is_none() {
        return Some(Duration::MAX);
    }
    let reset = u128::from(n) * 1_000_000_000;
    let now = now
        .duration_since(UNIX_EPOCH)
        .expect("after the epoch")
        .as_nanos();
    Some(nanos(reset.saturating_sub(now)))
}

/// The reference reading of a `grpc-timeout` value: one to eight digits and a unit letter.
fn reference_grpc_timeout(bytes: &[u8]) -> Option<Duration> {
    let (&unit, count) = bytes.split_last()?;
    if count.is_empty() || count.len() > 8 {
        return None;
    }
    let count = digits(count)?;
    let per_unit: u64 = match unit {
        b'H' => 3_600_000_000_000,
        b'M' => 60_000_000_000,
        b'S' => 1_000_000_000,
        b'm' => 1_000_000,
        b'u' => 1_000,
        b'n' => 1,
        _ => return None,
    };
    Some(nanos(u128::from(count) * u128::from(per_unit)))
}

/// The reference reading of a milliseconds header: one to nineteen digits, spaces around.
fn reference_millis(bytes: &[u8]) -> Option<Duration> {
    let trimmed = trim_ows(bytes);
    (trimmed.len() <= 19)
        .then(|| digits(trimmed))
        .flatten()
        .map(Duration::from_millis)
}

/// A delay read from an HTTP-date: it ends on a whole second (unless the date has passed), and
/// that instant, written as an IMF-fixdate, reads back as the same delay.
#[allow(clippy::disallowed_types)]
fn check_whole_second_date(delay: Duration, now: SystemTime) {
    if delay.is_zero() {
        return;
    }
    let at = now.checked_add(delay).expect("a date the clock can name");
    let since_epoch = at.duration_since(UNIX_EPOCH).expect("a date after 1970");
    assert_eq!(since_epoch.subsec_nanos(), 0, "a date on a whole second");
    assert!(
        since_epoch.as_secs() < NOW_SECS[3],
        "a date before the year 10000"
    );
    let written = HeaderValue::from_str(&httpdate::fmt_http_date(at)).expect("a valid value");
    assert_eq!(parse_retry_after(&written, now), Some(delay), "{written:?}");
}

/// Reads `headers` with a [`ServerHints`] of `sources` and each of [`MAXIMA`], and checks
/// the hint is `want` clamped, with or without other headers around.
#[allow(clippy::disallowed_types)]
fn check_hint_reader(
    sources: &[HintSource],
    headers: &[(&'static str, &HeaderValue)],
    now: SystemTime,
    want: ServerHint,
) {
    for max in MAXIMA {
        let hints = hints(sources, max);
        for fillers in [0, 12] {
            let got = hints.read_at(&header_map(headers, fillers), now);
            assert_eq!(
                got,
                clamped(want, max),
                "max {max:?}, {fillers} other headers"
            );
            if let Some(delay) = got.delay() {
                assert!(delay <= max, "{delay:?} is over the maximum {max:?}");
            }
        }
    }
}

fn hints(sources: &[HintSource], max: Duration) -> ServerHints {
    ServerHints::builder()
        .sources(sources.iter().copied())
        .max(max)
        .build()
        .expect("a valid reader")
}

fn clamped(hint: ServerHint, max: Duration) -> ServerHint {
    match hint {
        ServerHint::After(delay) => ServerHint::After(delay.min(max)),
        other => other,
    }
}

/// A header map of `headers`, after `fillers` headers of other names.
fn header_map(headers: &[(&'static str, &HeaderValue)], fillers: usize) -> HeaderMap {
    let mut map = HeaderMap::new();
    for i in 0..fillers {
        let name = HeaderName::from_bytes(format!("x-other-{i}").as_bytes()).expect("a name");
        map.insert(name, HeaderValue::from(i));
    }
    for &(name, value) in headers {
        map.append(HeaderName::from_static(name), value.clone());
    }
    map
}

fn request(headers: HeaderMap) -> Request<()> {
    let mut req = Request::new(());
    *req.headers_mut() = headers;
    req
}

/// A service that answers at once with `f(request)`.
#[derive(Clone, Copy)]
struct ServiceFn<F>(F);

impl<F, T> Service<Request<()>> for ServiceFn<F>
where
    F: FnMut(Request<()>) -> T,
{
    type Response = T;
    type Error = Infallible;
    type Future = Ready<Result<T, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<()>) -> Self::Future {
        ready(Ok((self.0)(req)))
    }
}

/// Calls `service` with `req` and takes its answer, which the layers checked here give without
/// waiting on anything.
fn call_now<S>(mut service: S, req: Request<()>) -> S::Response
where
    S: Service<Request<()>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    let Poll::Ready(Ok(())) = service.poll_ready(&mut cx) else {
        panic!("the service is not ready at once");
    };
    match pin!(service.call(req)).poll(&mut cx) {
        Poll::Ready(Ok(response)) => response,
        Poll::Ready(Err(never)) => match never {},
        Poll::Pending => panic!("the service did not answer at once"),
    }
}

/// The bytes as a header value, or `None` if no header can carry them.
fn header_value(bytes: &[u8]) -> Option<HeaderValue> {
    HeaderValue::from_bytes(bytes).ok()
}

/// The value with spaces and tabs around it, if it is a valid value.
fn padded(bytes: &[u8]) -> Option<HeaderValue> {
    let mut padded = b" \t".to_vec();
    padded.extend_from_slice(bytes);
    padded.push(b' ');
    header_value(&padded)
}

/// The part before the first newline, and the part after it if there is one.
fn split(input: &[u8]) -> (&[u8], Option<&[u8]>) {
    match input.iter().position(|&b| b == b'\n') {
        Some(at) => (&input[..at], Some(&input[at + 1..])),
        None => (input, None),
    }
}

/// The value without the spaces and tabs HTTP allows around it.
fn trim_ows(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != b' ' && b != b'\t');
    let Some(start) = start else {
        return &[];
    };
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |e| e + 1);
    &bytes[start..end]
}

/// One or more ASCII digits as a number, `u64::MAX` if it is larger; `None` for anything else.
fn digits(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let significant = bytes.iter().skip_while(|&&b| b == b'0').count();
    if significant > 20 {
        return Some(u64::MAX);
    }
    let text = std::str::from_utf8(bytes).expect("ASCII digits");
    let wide: u128 = text.trim_start_matches('0').parse().unwrap_or(0);
    Some(u64::try_from(wide).unwrap_or(u64::MAX))
}

fn nanos(nanos: u128) -> Duration {
    let secs = u64::try_from(nanos / 1_000_000_000).expect("seconds within 64 bits");
    let subsec = u32::try_from(nanos % 1_000_000_000).expect("under a second");
    Duration::new(secs, subsec)
}

/// The clock readings of [`NOW_SECS`], the third half a second past its second.
#[allow(clippy::disallowed_types)]
fn nows() -> [SystemTime; 4] {
    NOW_SECS.map(|secs| {
        let subsec = if secs == NOW_SECS[2] { 500_000_000 } else { 0 };
        UNIX_EPOCH + Duration::new(secs, subsec)
    })
}

/// A number made of the input's first eight bytes, for the round trips.
fn derived_u64(input: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    for (to, from) in bytes.iter_mut().zip(input) {
        *to = *from;
    }
    u64::from_le_bytes(bytes)
}

/// A duration made of the input's first twelve bytes.
fn derived_duration(input: &[u8]) -> Duration {
    let mut subsec = [0u8; 4];
    for (to, from) in subsec.iter_mut().zip(input.iter().skip(8)) {
        *to = *from;
    }
    Duration::new(
        derived_u64(input),
        u32::from_le_bytes(subsec) % 1_000_000_000,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_digits_saturate() {
        assert_eq!(digits(b"007"), Some(7));
        assert_eq!(digits(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(digits(b"18446744073709551616"), Some(u64::MAX));
        assert_eq!(digits(&[b'9'; 40]), Some(u64::MAX));
        assert_eq!(digits(b"00000000000000000000000001"), Some(1));
        assert_eq!(digits(b""), None);
        assert_eq!(digits(b"1 2"), None);
    }

    #[test]
    fn inputs_split_at_the_first_newline() {
        assert_eq!(split(b"a\nb\nc"), (&b"a"[..], Some(&b"b\nc"[..])));
        assert_eq!(split(b"a"), (&b"a"[..], None));
        assert_eq!(trim_ows(b" \t1 2\t "), b"1 2");
        assert_eq!(trim_ows(b" \t "), b"");
    }

    #[test]
    fn every_check_takes_hostile_bytes() {
        for (_, check) in TARGETS {
            for input in [
                &b""[..],
                b"\n",
                b"\x00",
                b"\xff\xfe",
                b" 1 \n 2 ",
                b"99999999H\n-0",
            ] {
                check(input);
            }
        }
    }
}
