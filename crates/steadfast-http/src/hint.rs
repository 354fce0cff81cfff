//! Server hints: how long a server asks its clients to wait before they try again, read from a
//! response's headers or trailers.
//!
//! Four headers carry such a hint:
//!
//! | header | value | read by |
//! | --- | --- | --- |
//! | `grpc-retry-pushback-ms` | milliseconds; negative means *do not retry* | [`parse_grpc_pushback`] |
//! | `Retry-After` | delay-seconds (`120`) or an HTTP-date | [`parse_retry_after`] |
//! | `RateLimit-Reset` | seconds until the rate-limit window resets, or a Unix timestamp | [`parse_rate_limit_reset`] |
//! | `X-RateLimit-Reset` | the same, as most rate-limited APIs send it | [`parse_rate_limit_reset`] |
//!
//! The parse functions read one value each and never panic. A number is a run of ASCII digits;
//! one too large for 64 bits is a valid, very long delay (it saturates, and the reader's
//! maximum clamps it), as RFC 9110 reads delay-seconds. A `Retry-After` or rate-limit value
//! they cannot read (empty, not ASCII, a fraction, a sign where none belongs, stray
//! characters) is no hint at all; a `grpc-retry-pushback-ms` value they cannot read is a
//! refusal, as gRFC A6 says. Every duration they compute saturates. They apply no limit;
//! [`ServerHints`] does. It reads a whole [`HeaderMap`] (the headers of a response, or
//! its trailers, as gRPC sends them), tries the headers in a configured order, and clamps every
//! delay to a maximum, 60 s by default.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use http::HeaderMap;
//! use steadfast_http::hint::{ServerHint, ServerHints};
//!
//! let hints = ServerHints::default();
//! let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_470);
//!
//! let mut headers = HeaderMap::new();
//! assert_eq!(hints.read_at(&headers, now), ServerHint::None);
//!
//! headers.insert("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
//! assert_eq!(hints.read_at(&headers, now), ServerHint::After(Duration::from_secs(10)));
//!
//! // A gRPC server's pushback comes first, and may refuse a retry outright.
//! headers.insert("grpc-retry-pushback-ms", "-1".parse().unwrap());
//! assert_eq!(hints.read_at(&headers, now), ServerHint::DoNotRetry);
//!
//! // Every delay is clamped to the reader's maximum.
//! let mut headers = HeaderMap::new();
//! headers.insert("retry-after", "86400".parse().unwrap());
//! assert_eq!(hints.read_at(&headers, now), ServerHint::After(Duration::from_secs(60)));
//! ```
//!
//! # Wall-clock time
//!
//! An HTTP-date and a Unix timestamp name an instant, which can only be compared with the wall
//! clock. The parse functions and [`ServerHints::read_at`] take that clock reading as a
//! `now: SystemTime` argument, so tests are deterministic; [`ServerHints::read`] reads the
//! wall clock itself, and only when a header that names an instant is present. Steadfast's
//! layers otherwise measure time on tokio's clock, which a test can pause: a paused clock does
//! not move the instants these headers name.
//!
//! # Sharing and allocation
//!
//! [`ServerHints`] is `Clone + Send + Sync`: one reader can serve every request. Reading a
//! response without any of the headers it looks for allocates nothing and reads no clock.

use std::fmt;
use std::time::Duration;
// An HTTP-date or a Unix timestamp is a wall-clock instant: `SystemTime` is the type for it.
#[allow(clippy::disallowed_types)]
use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};
use steadfast::classify::Outcome;
use steadfast::ConfigError;

/// What a server said about retrying: nothing, wait this long, or do not retry at all.
///
/// ```
/// use std::time::Duration;
/// use steadfast_http::hint::ServerHint;
///
/// let hint = ServerHint::After(Duration::from_secs(2));
/// assert_eq!(hint.delay(), Some(Duration::from_secs(2)));
/// assert!(ServerHint::DoNotRetry.is_do_not_retry());
/// assert_eq!(ServerHint::from(None::<Duration>), ServerHint::None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ServerHint {
    /// No hint: no header was present, or none could be read. The client's own backoff
    /// decides.
    #[default]
    None,
    /// Wait this long before the next attempt (zero: retry at once).
    After(Duration),
    /// The server asked the client not to retry this call.
    DoNotRetry,
}

impl ServerHint {
    /// The delay asked for, if the hint is [`ServerHint::After`].
    pub const fn delay(&self) -> Option<Duration> {
        match self {
            ServerHint::After(delay) => Some(*delay),
            _ => None,
        }
    }

    /// `true` for [`ServerHint::None`].
    pub const fn is_none(&self) -> bool {
        matches!(self, ServerHint::None)
    }

    /// `true` for [`ServerHint::DoNotRetry`].
    pub const fn is_do_not_retry(&self) -> bool {
        matches!(self, ServerHint::DoNotRetry)
    }

    /// This hint with its delay clamped to `max`.
    fn clamp(self, max: Duration) -> Self {
        match self {
            ServerHint::After(delay) => ServerHint::After(delay.min(max)),
            other => other,
        }
    }
}

impl From<Option<Duration>> for ServerHint {
    /// `Some(delay)` is [`ServerHint::After`], `None` is [`ServerHint::None`].
    fn from(delay: Option<Duration>) -> Self {
        match delay {
            Some(delay) => ServerHint::After(delay),
            None => ServerHint::None,
        }
    }
}

/// The smallest `RateLimit-Reset` / `X-RateLimit-Reset` value read as a Unix timestamp
/// (1,000,000,000 s: September 2001) rather than as seconds from now.
///
/// A delay that long would be over 31 years, and every timestamp a server sends today is
/// above it, so the two readings cannot be confused. A timestamp in milliseconds (which some
/// APIs send) reads as an instant tens of thousands of years away, which a reader's maximum
/// clamps.
pub const RESET_EPOCH_THRESHOLD: u64 = 1_000_000_000;

/// Reads a `Retry-After` value: delay-seconds, or an HTTP-date.
///
/// * delay-seconds is one or more ASCII digits (`120`, `0`, `007`): that many seconds.
/// * an HTTP-date is read in each of the three forms HTTP requires a recipient to accept:
///   the preferred IMF-fixdate (`Wed, 21 Oct 2015 07:28:00 GMT`), and the obsolete RFC 850
///   (`Wednesday, 21-Oct-15 07:28:00 GMT`, two-digit years meaning 1970 to 2069) and asctime
///   (`Wed Oct 21 07:28:00 2015`) forms. The delay is the time from `now` to that date, and
///   zero for a date that has passed. The weekday must match the date.
///
/// Spaces and tabs around the value are ignored, as HTTP defines them as no part of it.
/// Delay-seconds too many for 64 bits are still a valid delay (RFC 9110 sets no limit): the
/// longest, `u64::MAX` seconds, which a reader clamps like any long delay. Anything else is
/// `None`: an empty value, a sign (`-5`, `+5`), a fraction (`1.5`), a date in another format
/// or with a wrong weekday, or bytes that are not ASCII. The result is not clamped.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use http::HeaderValue;
/// use steadfast_http::hint::parse_retry_after;
///
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_400); // 07:26:40 GMT
/// let at = |s: &'static str| parse_retry_after(&HeaderValue::from_static(s), now);
///
/// assert_eq!(at("120"), Some(Duration::from_secs(120)));
/// assert_eq!(at("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::from_secs(80)));
/// assert_eq!(at("Wednesday, 21-Oct-15 07:28:00 GMT"), Some(Duration::from_secs(80)));
/// assert_eq!(at("Wed Oct 21 07:28:00 2015"), Some(Duration::from_secs(80)));
/// assert_eq!(at("Tue, 20 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO)); // in the past
/// assert_eq!(at("-120"), None);
/// assert_eq!(at("1.5"), None);
/// assert_eq!(at("99999999999999999999"), Some(Duration::from_secs(u64::MAX)));
/// ```
#[allow(clippy::disallowed_types)]
pub fn parse_retry_after(value: &HeaderValue, now: SystemTime) -> Option<Duration> {
    retry_after(value, || now)
}

/// Reads a `RateLimit-Reset` or `X-RateLimit-Reset` value: when the rate-limit window resets.
///
/// The value is one or more ASCII digits, in one of two meanings that servers use:
///
/// * below [`RESET_EPOCH_THRESHOLD`] (10⁹), seconds from now, as the IETF `RateLimit`
///   header fields draft defines it;
/// * from 10⁹ up, a Unix timestamp in seconds, as many APIs send it: the delay is the time
///   from `now` to that instant, and zero for an instant that has passed.
///
/// Spaces and tabs around the value are ignored. Digits too many for 64 bits are a timestamp
/// beyond any clock: the longest delay, [`Duration::MAX`]. Anything else (empty, a sign, a
/// fraction, bytes that are not ASCII digits) is `None`. The result is not clamped and
/// saturates at [`Duration::MAX`].
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use http::HeaderValue;
/// use steadfast_http::hint::parse_rate_limit_reset;
///
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let at = |s: &'static str| parse_rate_limit_reset(&HeaderValue::from_static(s), now);
///
/// assert_eq!(at("30"), Some(Duration::from_secs(30)));
/// assert_eq!(at("1700000045"), Some(Duration::from_secs(45)));
/// assert_eq!(at("1699999999"), Some(Duration::ZERO)); // already reset
/// assert_eq!(at("1.5"), None);
/// ```
#[allow(clippy::disallowed_types)]
pub fn parse_rate_limit_reset(value: &HeaderValue, now: SystemTime) -> Option<Duration> {
    rate_limit_reset(value, || now)
}

/// Reads a `grpc-retry-pushback-ms` value, as gRFC A6 (gRPC's retry design) defines it.
///
/// * a decimal integer of zero or more (`250`): retry after that many milliseconds. Digits too
///   many for 64 bits are the longest delay, `u64::MAX` ms, which a reader clamps.
/// * a negative integer (`-1`, however many digits): the server asks the client not to retry.
///   `-0` is zero.
/// * anything else (empty, `soon`, `+5`, `1.5`, `0x10`, `12abc`, bytes that are not ASCII):
///   unparseable, which gRFC A6 also reads as the server asking the client not to retry.
///
/// Spaces and tabs around the value are ignored. A missing header is no hint; this function
/// only sees values that are present. The result is not clamped.
///
/// ```
/// use std::time::Duration;
/// use http::HeaderValue;
/// use steadfast_http::hint::{parse_grpc_pushback, ServerHint};
///
/// let at = |s: &'static str| parse_grpc_pushback(&HeaderValue::from_static(s));
/// assert_eq!(at("250"), ServerHint::After(Duration::from_millis(250)));
/// assert_eq!(at("-1"), ServerHint::DoNotRetry);
/// assert_eq!(at("soon"), ServerHint::DoNotRetry);
/// ```
pub fn parse_grpc_pushback(value: &HeaderValue) -> ServerHint {
    match trim_ows(value.as_bytes()) {
        [b'-', digits @ ..] if digits.iter().all(|&d| d == b'0') && !digits.is_empty() => {
            ServerHint::After(Duration::ZERO)
        }
        digits => match parse_digits(digits) {
            Some(ms) => ServerHint::After(Duration::from_millis(ms)),
            // A negative number, or no number at all.
            None => ServerHint::DoNotRetry,
        },
    }
}

#[allow(clippy::disallowed_types)]
fn retry_after(value: &HeaderValue, now: impl FnOnce() -> SystemTime) -> Option<Duration> {
    let bytes = trim_ows(value.as_bytes());
    match bytes.first()? {
        b'0'..=b'9' => parse_digits(bytes).map(Duration::from_secs),
        _ => {
            // Not ASCII (obs-text) is not a date; httpdate rejects it, but say so here.
            let text = std::str::from_utf8(bytes).ok().filter(|t| t.is_ascii())?;
            let date = httpdate::parse_http_date(text).ok()?;
            Some(until(date, now()))
        }
    }
}

#[allow(clippy::disallowed_types)]
fn rate_limit_reset(value: &HeaderValue, now: impl FnOnce() -> SystemTime) -> Option<Duration> {
    let seconds = parse_digits(trim_ows(value.as_bytes()))?;
    if seconds < RESET_EPOCH_THRESHOLD {
        return Some(Duration::from_secs(seconds));
    }
    match UNIX_EPOCH.checked_add(Duration::from_secs(seconds)) {
        Some(reset) => Some(until(reset, now())),
        // Beyond what the platform's clock can name: as far away as a delay can be.
        None => Some(Duration::MAX),
    }
}

/// The time from `now` to `instant`; zero once it has passed.
#[allow(clippy::disallowed_types)]
fn until(instant: SystemTime, now: SystemTime) -> Duration {
    instant.duration_since(now).unwrap_or(Duration::ZERO)
}

/// The value without the spaces and tabs HTTP allows around a field value.
fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// One or more ASCII digits as a `u64`, saturating at `u64::MAX` (a number too large for 64
/// bits is still a number, and every use of it here is a delay or a count that a limit
/// clamps); `None` for anything else.
fn parse_digits(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() {
        return None;
    }
    bytes.iter().try_fold(0u64, |n, &b| {
        b.is_ascii_digit()
            .then(|| n.saturating_mul(10).saturating_add(u64::from(b - b'0')))
    })
}

/// Reads the wall clock. An HTTP-date or a Unix timestamp can only be compared with the wall
/// clock, so this is the one place the hint reader reads it; tokio's clock, which tests pause,
/// has no relation to the instants those headers name.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
fn wall_clock_now() -> SystemTime {
    SystemTime::now()
}

static GRPC_RETRY_PUSHBACK_MS: HeaderName = HeaderName::from_static("grpc-retry-pushback-ms");
static RETRY_AFTER: HeaderName = http::header::RETRY_AFTER;
static RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
static RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
static X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
static X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");

/// A header a [`ServerHints`] reader can take a hint from.
///
/// ```
/// use steadfast_http::hint::HintSource;
/// assert_eq!(HintSource::RetryAfter.header_name(), "retry-after");
/// assert_eq!(HintSource::DEFAULT_ORDER[0], HintSource::GrpcRetryPushback);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HintSource {
    /// `grpc-retry-pushback-ms`, read by [`parse_grpc_pushback`]. gRPC servers send it in
    /// the trailers (or the headers of a trailers-only response).
    GrpcRetryPushback,
    /// `Retry-After`, read by [`parse_retry_after`].
    RetryAfter,
    /// `RateLimit-Reset`, read by [`parse_rate_limit_reset`]; ignored while
    /// `RateLimit-Remaining` says requests remain.
    RateLimitReset,
    /// `X-RateLimit-Reset`, read by [`parse_rate_limit_reset`]; ignored while
    /// `X-RateLimit-Remaining` says requests remain.
    XRateLimitReset,
}

/// How many kinds of [`HintSource`] there are.
const SOURCE_KINDS: usize = 4;

impl HintSource {
    /// The order a default [`ServerHints`] reads them in: gRPC pushback (the only one that can
    /// refuse a retry), `Retry-After` (the standard answer to 429 and 503), then the
    /// rate-limit resets, the standards-track name first.
    pub const DEFAULT_ORDER: [HintSource; SOURCE_KINDS] = [
        HintSource::GrpcRetryPushback,
        HintSource::RetryAfter,
        HintSource::RateLimitReset,
        HintSource::XRateLimitReset,
    ];

    /// The header's name, in lowercase (as HTTP/2 sends it).
    pub const fn header_name(self) -> &'static str {
        match self {
            HintSource::GrpcRetryPushback => "grpc-retry-pushback-ms",
            HintSource::RetryAfter => "retry-after",
            HintSource::RateLimitReset => "ratelimit-reset",
            HintSource::XRateLimitReset => "x-ratelimit-reset",
        }
    }

    fn header(self) -> &'static HeaderName {
        match self {
            HintSource::GrpcRetryPushback => &GRPC_RETRY_PUSHBACK_MS,
            HintSource::RetryAfter => &RETRY_AFTER,
            HintSource::RateLimitReset => &RATELIMIT_RESET,
            HintSource::XRateLimitReset => &X_RATELIMIT_RESET,
        }
    }

    /// Reads this header's hint from `headers`, if it has one.
    #[allow(clippy::disallowed_types)]
    fn read(self, headers: &HeaderMap, now: impl FnOnce() -> SystemTime) -> ServerHint {
        let Some(value) = headers.get(self.header()) else {
            return ServerHint::None;
        };
        match self {
            HintSource::GrpcRetryPushback => parse_grpc_pushback(value),
            HintSource::RetryAfter => retry_after(value, now).into(),
            HintSource::RateLimitReset if requests_remain(headers, &RATELIMIT_REMAINING) => {
                ServerHint::None
            }
            HintSource::XRateLimitReset if requests_remain(headers, &X_RATELIMIT_REMAINING) => {
                ServerHint::None
            }
            HintSource::RateLimitReset | HintSource::XRateLimitReset => {
                rate_limit_reset(value, now).into()
            }
        }
    }
}

/// `true` when the remaining-requests header says some remain: a reset time is then only when
/// the window refills, not a request to wait.
fn requests_remain(headers: &HeaderMap, remaining: &HeaderName) -> bool {
    headers
        .get(remaining)
        .and_then(|v| parse_digits(trim_ows(v.as_bytes())))
        .is_some_and(|left| left > 0)
}

/// The default for [`ServerHintsBuilder::max`]: 60 s, the same as the retry policy's
/// `max_hint`.
pub const DEFAULT_MAX_HINT: Duration = Duration::from_secs(60);

/// Reads a server's hint from a response's headers or trailers: which headers, in which order,
/// and the longest delay it passes on.
///
/// The headers are tried in order; the first that holds a hint it can read decides, and one
/// that is missing or cannot be read is skipped. Of a header sent more than once, the first
/// value counts. Every delay is clamped to [`max`](ServerHintsBuilder::max);
/// [`ServerHint::DoNotRetry`] is passed on as it is.
///
/// A rate-limit reset ([`HintSource::RateLimitReset`], [`HintSource::XRateLimitReset`]) is
/// skipped while the matching `…-Remaining` header is a number above zero: the reset is then
/// only when the window refills, and the refusal came from somewhere else.
///
/// Reading a response that has none of its headers allocates nothing and reads no clock.
///
/// ```
/// use std::time::Duration;
/// use http::HeaderMap;
/// use steadfast_http::hint::{HintSource, ServerHint, ServerHints};
///
/// // Only rate-limit headers, capped at 10 s.
/// let hints = ServerHints::builder()
///     .sources([HintSource::RateLimitReset, HintSource::XRateLimitReset])
///     .max(Duration::from_secs(10))
///     .build()
///     .unwrap();
///
/// let mut headers = HeaderMap::new();
/// headers.insert("retry-after", "5".parse().unwrap()); // not read by this reader
/// headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
/// headers.insert("x-ratelimit-reset", "3".parse().unwrap());
/// assert_eq!(hints.read(&headers), ServerHint::After(Duration::from_secs(3)));
///
/// headers.insert("x-ratelimit-reset", "30".parse().unwrap());
/// assert_eq!(hints.read(&headers), ServerHint::After(Duration::from_secs(10)));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ServerHints {
    /// The first `len` entries are the sources, in order; the rest repeat the first.
    sources: [HintSource; SOURCE_KINDS],
    len: u8,
    max: Duration,
}

impl ServerHints {
    /// A builder, starting from the defaults: every [`HintSource`] in
    /// [`HintSource::DEFAULT_ORDER`], and delays clamped to [`DEFAULT_MAX_HINT`] (60 s).
    pub fn builder() -> ServerHintsBuilder {
        ServerHintsBuilder {
            sources: HintSource::DEFAULT_ORDER.to_vec(),
            max: DEFAULT_MAX_HINT,
        }
    }

    /// The headers read, in the order they are tried.
    pub fn sources(&self) -> &[HintSource] {
        &self.sources[..usize::from(self.len)]
    }

    /// The longest delay passed on.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The hint in `headers`, measured against the wall clock (read only when a header names
    /// an instant: an HTTP-date or a Unix timestamp).
    ///
    /// ```
    /// use std::time::Duration;
    /// use http::HeaderMap;
    /// use steadfast_http::hint::{ServerHint, ServerHints};
    ///
    /// let mut trailers = HeaderMap::new();
    /// trailers.insert("grpc-retry-pushback-ms", "1500".parse().unwrap());
    /// let hint = ServerHints::default().read(&trailers);
    /// assert_eq!(hint, ServerHint::After(Duration::from_millis(1500)));
    /// ```
    pub fn read(&self, headers: &HeaderMap) -> ServerHint {
        self.read_with(headers, wall_clock_now)
    }

    /// The hint in `headers`, measured against `now` rather than the wall clock.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use http::HeaderMap;
    /// use steadfast_http::hint::{ServerHint, ServerHints};
    ///
    /// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    /// let mut headers = HeaderMap::new();
    /// headers.insert("x-ratelimit-reset", "1700000012".parse().unwrap());
    /// let hint = ServerHints::default().read_at(&headers, now);
    /// assert_eq!(hint, ServerHint::After(Duration::from_secs(12)));
    /// ```
    #[allow(clippy::disallowed_types)]
    pub fn read_at(&self, headers: &HeaderMap, now: SystemTime) -> ServerHint {
        self.read_with(headers, || now)
    }

    /// The retry [`Outcome`] of an answer judged retryable, given the hint in its `headers`
    /// (measured against the wall clock, as [`read`](Self::read) does):
    ///
    /// * no hint: [`Outcome::retryable`], and the client's backoff decides;
    /// * a `grpc-retry-pushback-ms` delay: [`Outcome::pushed_back`], so the retry waits
    ///   exactly that long and the backoff then starts again from its first delay (gRFC A6);
    /// * any other delay (`Retry-After`, a rate-limit reset): [`Outcome::retry_after`]. The
    ///   backoff schedule carries on where it was: RFC 9110 says nothing of the waits after a
    ///   `Retry-After`, and a server that is shedding load is better not met with a reset
    ///   schedule;
    /// * [`ServerHint::DoNotRetry`]: [`Outcome::DoNotRetry`], which stops the retry layer.
    ///
    /// ```
    /// use std::time::Duration;
    /// use http::HeaderMap;
    /// use steadfast::classify::Outcome;
    /// use steadfast_http::hint::ServerHints;
    ///
    /// let hints = ServerHints::default();
    /// let mut headers = HeaderMap::new();
    /// headers.insert("retry-after", "2".parse().unwrap());
    /// assert_eq!(hints.outcome(&headers), Outcome::retry_after(Duration::from_secs(2)));
    /// headers.insert("grpc-retry-pushback-ms", "500".parse().unwrap());
    /// assert_eq!(hints.outcome(&headers), Outcome::pushed_back(Duration::from_millis(500)));
    /// headers.insert("grpc-retry-pushback-ms", "soon".parse().unwrap());
    /// assert_eq!(hints.outcome(&headers), Outcome::DoNotRetry);
    /// ```
    pub fn outcome(&self, headers: &HeaderMap) -> Outcome {
        self.outcome_sourced(headers).0
    }

    /// [`outcome`](Self::outcome), with the header the hint came from (for a decision
    /// trace's rule).
    #[inline]
    pub(crate) fn outcome_sourced(&self, headers: &HeaderMap) -> (Outcome, Option<HintSource>) {
        let (hint, source) = self.read_sourced(headers, wall_clock_now);
        let outcome = match (hint, source) {
            (ServerHint::None, _) => Outcome::retryable(),
            (ServerHint::After(d), Some(HintSource::GrpcRetryPushback)) => Outcome::pushed_back(d),
            (ServerHint::After(d), _) => Outcome::retry_after(d),
            (ServerHint::DoNotRetry, _) => Outcome::DoNotRetry,
        };
        (outcome, source)
    }

    #[allow(clippy::disallowed_types)]
    fn read_with(&self, headers: &HeaderMap, now: impl Fn() -> SystemTime) -> ServerHint {
        self.read_sourced(headers, now).0
    }

    /// The hint, clamped, and the header it came from.
    #[allow(clippy::disallowed_types)]
    fn read_sourced(
        &self,
        headers: &HeaderMap,
        now: impl Fn() -> SystemTime,
    ) -> (ServerHint, Option<HintSource>) {
        if headers.is_empty() {
            return (ServerHint::None, None);
        }
        for &source in self.sources() {
            match source.read(headers, &now) {
                ServerHint::None => continue,
                hint => return (hint.clamp(self.max), Some(source)),
            }
        }
        (ServerHint::None, None)
    }
}

impl Default for ServerHints {
    /// Every [`HintSource`] in [`HintSource::DEFAULT_ORDER`], delays clamped to 60 s.
    fn default() -> Self {
        ServerHints {
            sources: HintSource::DEFAULT_ORDER,
            len: SOURCE_KINDS as u8,
            max: DEFAULT_MAX_HINT,
        }
    }
}

impl fmt::Debug for ServerHints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHints")
            .field("sources", &self.sources())
            .field("max", &self.max)
            .finish()
    }
}

/// Builds a [`ServerHints`]; from [`ServerHints::builder`].
///
/// ```
/// use std::time::Duration;
/// use steadfast_http::hint::{HintSource, ServerHints};
///
/// let err = ServerHints::builder().max(Duration::ZERO).build().unwrap_err();
/// assert_eq!(err.to_string(), "invalid server hints configuration: `max` must be greater than zero");
///
/// let err = ServerHints::builder().sources([]).build().unwrap_err();
/// assert_eq!(err.field(), "sources");
/// ```
#[derive(Debug, Clone)]
pub struct ServerHintsBuilder {
    sources: Vec<HintSource>,
    max: Duration,
}

impl ServerHintsBuilder {
    /// The headers to read, in the order they are tried (default:
    /// [`HintSource::DEFAULT_ORDER`]). At least one, each at most once.
    pub fn sources(mut self, sources: impl IntoIterator<Item = HintSource>) -> Self {
        self.sources = sources.into_iter().collect();
        self
    }

    /// The longest delay passed on (default [`DEFAULT_MAX_HINT`], 60 s); longer hints are
    /// clamped to it. Must be greater than zero.
    pub fn max(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }

    /// Checks the settings and builds the reader.
    pub fn build(self) -> Result<ServerHints, ConfigError> {
        const LAYER: &str = "server hints";
        if self.max.is_zero() {
            return Err(ConfigError::new(LAYER, "max", "must be greater than zero"));
        }
        let Some(&first) = self.sources.first() else {
            return Err(ConfigError::new(
                LAYER,
                "sources",
                "must name at least one header",
            ));
        };
        let mut sources = [first; SOURCE_KINDS];
        let mut len = 0;
        for &source in &self.sources {
            if sources[..len].contains(&source) {
                return Err(ConfigError::new(
                    LAYER,
                    "sources",
                    format!(
                        "must name each header once (`{}` twice)",
                        source.header_name()
                    ),
                ));
            }
            // Every kind is named at most once, so there is always room.
            sources[len] = source;
            len += 1;
        }
        Ok(ServerHints {
            sources,
            len: len as u8,
            max: self.max,
        })
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_types)]
mod tests {
    use super::*;

    fn epoch(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// 2015-10-21 07:28:00 GMT.
    const OCT_21_2015: u64 = 1_445_412_480;

    fn value(bytes: &[u8]) -> HeaderValue {
        HeaderValue::from_bytes(bytes).unwrap()
    }

    fn retry_after_at(bytes: &[u8], now: SystemTime) -> Option<Duration> {
        parse_retry_after(&value(bytes), now)
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn map(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, v) in pairs {
            headers.append(*name, value(v));
        }
        headers
    }

    #[test]
    fn retry_after_seconds() {
        let now = epoch(OCT_21_2015);
        assert_eq!(retry_after_at(b"0", now), Some(Duration::ZERO));
        assert_eq!(retry_after_at(b"120", now), Some(secs(120)));
        assert_eq!(retry_after_at(b"007", now), Some(secs(7)));
        assert_eq!(retry_after_at(b" 120\t", now), Some(secs(120)));
        assert_eq!(
            retry_after_at(b"18446744073709551615", now),
            Some(secs(u64::MAX))
        );
        // Too large for 64 bits is still a delay (RFC 9110 sets no limit): the longest one.
        for huge in [
            &b"18446744073709551616"[..],
            b"99999999999999999999",
            b" 000000000000000000000000000000000000000001000000000000000000000 ",
        ] {
            assert_eq!(retry_after_at(huge, now), Some(secs(u64::MAX)), "{huge:?}");
        }
    }

    #[test]
    fn retry_after_malformed_seconds() {
        let now = epoch(OCT_21_2015);
        for bad in [
            &b""[..],
            b" ",
            b"\t \t",
            b"-1",
            b"+1",
            b"1.5",
            b"1e3",
            b"0x10",
            b"1 20",
            b"12,0",
            b"120s",
            b"\xff",
            b"1\xb2",
            b"\xc2\xb2",
        ] {
            assert_eq!(retry_after_at(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_dates_in_every_form() {
        let now = epoch(OCT_21_2015 - 100);
        for date in [
            &b"Wed, 21 Oct 2015 07:28:00 GMT"[..],
            b"Wednesday, 21-Oct-15 07:28:00 GMT",
            b"Wed Oct 21 07:28:00 2015",
            b"  Wed, 21 Oct 2015 07:28:00 GMT ",
        ] {
            assert_eq!(retry_after_at(date, now), Some(secs(100)), "{date:?}");
        }
        // asctime pads a one-digit day with a space.
        let nov_6_1994 = 784_111_777;
        assert_eq!(
            retry_after_at(b"Sun Nov  6 08:49:37 1994", epoch(nov_6_1994 - 3)),
            Some(secs(3))
        );
        // Sub-second `now`: the delay is exact, not rounded.
        let now = epoch(OCT_21_2015 - 1) + Duration::from_millis(250);
        assert_eq!(
            retry_after_at(b"Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_millis(750))
        );
    }

    #[test]
    fn retry_after_past_date_is_zero() {
        let now = epoch(OCT_21_2015);
        assert_eq!(
            retry_after_at(b"Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            retry_after_at(b"Thu, 01 Jan 1970 00:00:00 GMT", now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_malformed_dates() {
        let now = epoch(OCT_21_2015 - 100);
        for bad in [
            &b"Thu, 21 Oct 2015 07:28:00 GMT"[..], // wrong weekday
            b"Wed, 21 Oct 2015 07:28:00 UTC",
            b"Wed, 21 Oct 2015 07:28:00",
            b"Wed,  21 Oct 2015 07:28:00 GMT",
            b"Wed, 32 Oct 2015 07:28:00 GMT",
            b"Wed, 21 Oct 2015 25:28:00 GMT",
            b"2015-10-21T07:28:00Z",
            b"Wed, 21 Oct 1969 07:28:00 GMT",
            b"tomorrow",
            b"Wed, 21 Oct 2015 07:28:00 GMT\xff",
        ] {
            assert_eq!(retry_after_at(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn rate_limit_reset_delta_and_epoch() {
        let now = epoch(1_700_000_000);
        let at = |b: &[u8]| parse_rate_limit_reset(&value(b), now);
        assert_eq!(at(b"0"), Some(Duration::ZERO));
        assert_eq!(at(b"30"), Some(secs(30)));
        assert_eq!(at(b"999999999"), Some(secs(999_999_999)));
        // From the threshold up, a timestamp.
        assert_eq!(at(b"1000000000"), Some(Duration::ZERO));
        assert_eq!(at(b"1700000045"), Some(secs(45)));
        assert_eq!(at(b" 1700000045 "), Some(secs(45)));
        assert_eq!(at(b"1699999999"), Some(Duration::ZERO));
        // A millisecond timestamp is far away, not an overflow.
        assert_eq!(
            at(b"1700000000000"),
            Some(secs(1_700_000_000_000 - 1_700_000_000))
        );
        // Beyond the platform's clock, or beyond 64 bits: saturates.
        assert_eq!(at(b"18446744073709551615"), Some(Duration::MAX));
        assert_eq!(at(b"99999999999999999999"), Some(Duration::MAX));
        // Sub-second now.
        let now = epoch(1_700_000_000) + Duration::from_millis(400);
        assert_eq!(
            parse_rate_limit_reset(&value(b"1700000001"), now),
            Some(Duration::from_millis(600))
        );
    }

    #[test]
    fn rate_limit_reset_malformed() {
        let now = epoch(1_700_000_000);
        for bad in [
            &b""[..],
            b"-5",
            b"+5",
            b"1.5",
            b"5 5",
            b"Wed, 21 Oct 2015 07:28:00 GMT",
            b"\xe2\x80\x8b5",
        ] {
            assert_eq!(parse_rate_limit_reset(&value(bad), now), None, "{bad:?}");
        }
    }

    #[test]
    fn grpc_pushback() {
        let at = |b: &[u8]| parse_grpc_pushback(&value(b));
        assert_eq!(at(b"0"), ServerHint::After(Duration::ZERO));
        assert_eq!(at(b"250"), ServerHint::After(Duration::from_millis(250)));
        assert_eq!(at(b" 250 "), ServerHint::After(Duration::from_millis(250)));
        assert_eq!(
            at(b"18446744073709551615"),
            ServerHint::After(Duration::from_millis(u64::MAX))
        );
        // Too large for 64 bits: still a (very long) pushback.
        assert_eq!(
            at(b"99999999999999999999"),
            ServerHint::After(Duration::from_millis(u64::MAX))
        );
        assert_eq!(at(b"-1"), ServerHint::DoNotRetry);
        assert_eq!(at(b"-250"), ServerHint::DoNotRetry);
        assert_eq!(at(b"-99999999999999999999999"), ServerHint::DoNotRetry);
        assert_eq!(at(b"-0"), ServerHint::After(Duration::ZERO));
        assert_eq!(at(b"-000"), ServerHint::After(Duration::ZERO));
        // Unparseable: gRFC A6 reads it as "do not retry".
        for bad in [
            &b""[..],
            b" ",
            b"soon",
            b"1.5",
            b"0x10",
            b"12abc",
            b"-",
            b"--1",
            b"+1",
            b"-1.5",
            b"- 1",
            b"1 0",
            b"1ms",
            b"\xff",
        ] {
            assert_eq!(at(bad), ServerHint::DoNotRetry, "{bad:?}");
        }
    }

    #[test]
    fn default_reader_reads_every_source_in_order() {
        let hints = ServerHints::default();
        assert_eq!(hints.sources(), HintSource::DEFAULT_ORDER);
        assert_eq!(hints.max(), secs(60));
        let now = epoch(1_700_000_000);

        let all = map(&[
            ("x-ratelimit-reset", b"4"),
            ("ratelimit-reset", b"3"),
            ("retry-after", b"2"),
            ("grpc-retry-pushback-ms", b"1000"),
        ]);
        assert_eq!(hints.read_at(&all, now), ServerHint::After(secs(1)));

        let mut rest = all.clone();
        rest.remove("grpc-retry-pushback-ms");
        assert_eq!(hints.read_at(&rest, now), ServerHint::After(secs(2)));
        rest.remove("retry-after");
        assert_eq!(hints.read_at(&rest, now), ServerHint::After(secs(3)));
        rest.remove("ratelimit-reset");
        assert_eq!(hints.read_at(&rest, now), ServerHint::After(secs(4)));
        rest.remove("x-ratelimit-reset");
        assert_eq!(hints.read_at(&rest, now), ServerHint::None);
    }

    #[test]
    fn unreadable_headers_fall_through_to_the_next() {
        let hints = ServerHints::default();
        let headers = map(&[
            ("retry-after", b"-3"),
            ("ratelimit-reset", b"1.5"),
            ("x-ratelimit-reset", b"7"),
        ]);
        assert_eq!(
            hints.read_at(&headers, epoch(0)),
            ServerHint::After(secs(7))
        );
        let none = map(&[("retry-after", b"later"), ("content-type", b"text/plain")]);
        assert_eq!(hints.read_at(&none, epoch(0)), ServerHint::None);
        // An unreadable pushback is not skipped: it refuses the retry (gRFC A6).
        let refused = map(&[("grpc-retry-pushback-ms", b"soon"), ("retry-after", b"7")]);
        assert_eq!(hints.read_at(&refused, epoch(0)), ServerHint::DoNotRetry);
    }

    #[test]
    fn outcomes_say_which_hints_restart_the_backoff() {
        let hints = ServerHints::builder().max(secs(2)).build().unwrap();
        let outcome = |pairs: &[(&'static str, &[u8])]| hints.outcome(&map(pairs));
        assert_eq!(outcome(&[]), Outcome::retryable());
        assert_eq!(
            outcome(&[("grpc-retry-pushback-ms", b"500")]),
            Outcome::pushed_back(Duration::from_millis(500))
        );
        // Clamped like every hint.
        assert_eq!(
            outcome(&[("grpc-retry-pushback-ms", b"99999999999999999999")]),
            Outcome::pushed_back(secs(2))
        );
        assert_eq!(
            outcome(&[("retry-after", b"1")]),
            Outcome::retry_after(secs(1))
        );
        assert_eq!(
            outcome(&[("x-ratelimit-reset", b"1")]),
            Outcome::retry_after(secs(1))
        );
        for refusal in [&b"-1"[..], b"soon", b"1.5", b"", b"0x10", b"12abc"] {
            assert_eq!(
                outcome(&[("grpc-retry-pushback-ms", refusal), ("retry-after", b"1")]),
                Outcome::DoNotRetry,
                "{refusal:?}"
            );
        }
    }

    #[test]
    fn do_not_retry_wins_over_later_sources_and_is_not_clamped() {
        let hints = ServerHints::builder().max(secs(1)).build().unwrap();
        let headers = map(&[("retry-after", b"5"), ("grpc-retry-pushback-ms", b"-1")]);
        assert_eq!(hints.read_at(&headers, epoch(0)), ServerHint::DoNotRetry);
    }

    #[test]
    fn delays_are_clamped_to_max() {
        let hints = ServerHints::builder()
            .max(Duration::from_millis(1500))
            .build()
            .unwrap();
        let now = epoch(OCT_21_2015 - 3600);
        for (name, v) in [
            ("retry-after", &b"2"[..]),
            ("retry-after", b"Wed, 21 Oct 2015 07:28:00 GMT"),
            ("retry-after", b"18446744073709551615"),
            ("grpc-retry-pushback-ms", b"18446744073709551615"),
            ("ratelimit-reset", b"18446744073709551615"),
            ("x-ratelimit-reset", b"999999999"),
        ] {
            assert_eq!(
                hints.read_at(&map(&[(name, v)]), now),
                ServerHint::After(Duration::from_millis(1500)),
                "{name}: {v:?}"
            );
        }
        assert_eq!(
            hints.read_at(&map(&[("retry-after", b"1")]), now),
            ServerHint::After(secs(1))
        );
    }

    #[test]
    fn first_value_of_a_repeated_header_counts() {
        let hints = ServerHints::default();
        let headers = map(&[("retry-after", b"3"), ("retry-after", b"9")]);
        assert_eq!(
            hints.read_at(&headers, epoch(0)),
            ServerHint::After(secs(3))
        );
        let headers = map(&[("retry-after", b"bad"), ("retry-after", b"9")]);
        assert_eq!(hints.read_at(&headers, epoch(0)), ServerHint::None);
    }

    #[test]
    fn reset_is_skipped_while_requests_remain() {
        let hints = ServerHints::default();
        let now = epoch(1_700_000_000);
        let remaining = |name, left: &'static [u8]| {
            map(&[
                ("x-ratelimit-reset", b"1700000030"),
                ("ratelimit-reset", b"20"),
                (name, left),
            ])
        };
        // Requests remain under the standard name: its reset is skipped, the X- one is read.
        assert_eq!(
            hints.read_at(&remaining("ratelimit-remaining", b"5"), now),
            ServerHint::After(secs(30))
        );
        // And the other way round.
        assert_eq!(
            hints.read_at(&remaining("x-ratelimit-remaining", b"5"), now),
            ServerHint::After(secs(20))
        );
        // None left, or a remaining count that cannot be read: the reset counts.
        for left in [&b"0"[..], b"none", b"-1"] {
            assert_eq!(
                hints.read_at(&remaining("ratelimit-remaining", left), now),
                ServerHint::After(secs(20)),
                "{left:?}"
            );
        }
        // Retry-After is not affected by the remaining count.
        let headers = map(&[("retry-after", b"4"), ("ratelimit-remaining", b"10")]);
        assert_eq!(hints.read_at(&headers, now), ServerHint::After(secs(4)));
    }

    #[test]
    fn custom_sources_and_order() {
        let hints = ServerHints::builder()
            .sources([HintSource::XRateLimitReset, HintSource::RetryAfter])
            .build()
            .unwrap();
        assert_eq!(
            hints.sources(),
            [HintSource::XRateLimitReset, HintSource::RetryAfter]
        );
        let headers = map(&[
            ("grpc-retry-pushback-ms", b"-1"),
            ("retry-after", b"2"),
            ("x-ratelimit-reset", b"8"),
        ]);
        assert_eq!(
            hints.read_at(&headers, epoch(0)),
            ServerHint::After(secs(8))
        );
        let headers = map(&[("grpc-retry-pushback-ms", b"-1")]);
        assert_eq!(hints.read_at(&headers, epoch(0)), ServerHint::None);
    }

    #[test]
    fn builder_rejects_bad_settings() {
        let err = ServerHints::builder()
            .max(Duration::ZERO)
            .build()
            .unwrap_err();
        assert_eq!(
            (err.layer(), err.field(), err.rule()),
            ("server hints", "max", "must be greater than zero")
        );

        let err = ServerHints::builder().sources([]).build().unwrap_err();
        assert_eq!(err.field(), "sources");
        assert_eq!(err.rule(), "must name at least one header");

        let err = ServerHints::builder()
            .sources([
                HintSource::RetryAfter,
                HintSource::GrpcRetryPushback,
                HintSource::RetryAfter,
            ])
            .build()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid server hints configuration: `sources` must name each header once \
             (`retry-after` twice)"
        );

        let ok = ServerHints::builder()
            .max(Duration::from_nanos(1))
            .build()
            .unwrap();
        assert_eq!(ok.max(), Duration::from_nanos(1));
        assert_eq!(ok.sources(), HintSource::DEFAULT_ORDER);
    }

    #[test]
    fn read_uses_the_wall_clock_for_dates() {
        let hints = ServerHints::default();
        // Seconds need no clock.
        let headers = map(&[("retry-after", b"2")]);
        assert_eq!(hints.read(&headers), ServerHint::After(secs(2)));
        // A date long past is zero; one far ahead is clamped.
        let past = map(&[("retry-after", b"Thu, 01 Jan 1970 00:00:01 GMT")]);
        assert_eq!(hints.read(&past), ServerHint::After(Duration::ZERO));
        let future = map(&[("retry-after", b"Fri, 31 Dec 9999 23:59:59 GMT")]);
        assert_eq!(hints.read(&future), ServerHint::After(secs(60)));
        let future = map(&[("x-ratelimit-reset", b"99999999999")]);
        assert_eq!(hints.read(&future), ServerHint::After(secs(60)));
    }

    #[test]
    fn debug_shows_only_the_configured_sources() {
        let hints = ServerHints::builder()
            .sources([HintSource::RetryAfter])
            .max(secs(5))
            .build()
            .unwrap();
        assert_eq!(
            format!("{hints:?}"),
            "ServerHints { sources: [RetryAfter], max: 5s }"
        );
    }

    #[test]
    fn header_names_match_the_static_names() {
        for source in HintSource::DEFAULT_ORDER {
            assert_eq!(source.header().as_str(), source.header_name());
        }
    }

    #[test]
    fn reader_is_shareable() {
        fn assert_traits<T: Clone + fmt::Debug + Send + Sync + 'static>() {}
        assert_traits::<ServerHints>();
        assert_traits::<ServerHint>();
    }
}
