//! Validators: what decides whether a request or a response is acceptable.
//!
//! A [`Validator`] looks at a value and the [`ValidationContext`] of the attempt (its number and the
//! time elapsed), and adds one [`Reason`] per problem it finds; no reason means the value
//! passes. Make one from a closure with [`validator_fn`], use the ready-made ones here, or
//! implement the trait. Response validators are cloned into each request's future: put a
//! validator that owns large state behind an `Arc` (`Arc<V>` is a validator too).
//!
//! ```
//! use std::time::Duration;
//! use steadfast::validate::{ensure, validator_fn, ValidationContext, Validator};
//!
//! let has_braces = ensure("not a JSON object", |s: &String| s.starts_with('{') && s.ends_with('}'));
//! let long_enough = validator_fn(|s: &String, cx: &ValidationContext| {
//!     // Ask for 20 characters at first, settle for 5 from the third attempt on.
//!     let min = if cx.attempt() >= 3 { 5 } else { 20 };
//!     if s.len() >= min { Ok(()) } else { Err(format!("shorter than {min} characters")) }
//! });
//!
//! let mut reasons = Vec::new();
//! let answer = String::from("{\"a\":1}");
//! has_braces.validate(&answer, &ValidationContext::first(), &mut reasons);
//! long_enough.validate(&answer, &ValidationContext::first(), &mut reasons);
//! assert_eq!(reasons.len(), 1);
//! assert_eq!(reasons[0].as_str(), "shorter than 20 characters");
//!
//! reasons.clear();
//! long_enough.validate(&answer, &ValidationContext::new(3, Duration::from_secs(2)), &mut reasons);
//! assert!(reasons.is_empty());
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::reason::Reason;

/// What a validator knows about the attempt it judges.
///
/// The attempt number comes from the retry layer above, through the request's
/// [`RetryAttempt`](crate::token::RetryAttempt) tag (see
/// [`HasCancelToken::retry_attempt`](crate::token::HasCancelToken::retry_attempt)): a request
/// with no tag is attempt 1.
///
/// The validate layer hands one to every validator; build one yourself to test a validator:
///
/// ```
/// use std::time::Duration;
/// use steadfast::validate::ValidationContext;
///
/// let first = ValidationContext::first();
/// assert_eq!((first.attempt(), first.is_retry()), (1, false));
/// assert_eq!(first, ValidationContext::default());
///
/// let third = ValidationContext::new(3, Duration::from_millis(1_500));
/// assert!(third.is_retry());
/// assert_eq!(third.elapsed(), Duration::from_millis(1_500));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ValidationContext {
    attempt: u32,
    elapsed: Duration,
}

impl ValidationContext {
    /// The context of attempt `attempt` (from 1), `elapsed` into the request.
    pub const fn new(attempt: u32, elapsed: Duration) -> Self {
        ValidationContext { attempt, elapsed }
    }

    /// A first attempt with nothing elapsed.
    pub const fn first() -> Self {
        ValidationContext::new(1, Duration::ZERO)
    }

    /// The attempt number, from 1.
    pub const fn attempt(&self) -> u32 {
        self.attempt
    }

    /// `true` from the second attempt on.
    pub const fn is_retry(&self) -> bool {
        self.attempt > 1
    }

    /// Time elapsed in the request. For a request validator: as the retry layer measured it
    /// when it sent this attempt (zero for a first attempt). For a response validator: that,
    /// plus the time this attempt took, from the moment the validate layer sent it to the
    /// moment the response arrived.
    ///
    /// The retry layer's clock starts when the first attempt starts if its policy has a
    /// [`max_elapsed`](crate::retry::RetryPolicyBuilder::max_elapsed) limit, and otherwise
    /// when the first attempt fails: without a limit, the first attempt's own duration is not
    /// counted in later attempts' elapsed time.
    pub const fn elapsed(&self) -> Duration {
        self.elapsed
    }
}

impl Default for ValidationContext {
    fn default() -> Self {
        ValidationContext::first()
    }
}

/// The former name of [`ValidationContext`], kept so that code written against it still
/// compiles.
#[deprecated(
    note = "renamed to `ValidationContext` (the old name clashed with `std::task::Context`)"
)]
pub type Context = ValidationContext;

/// Decides whether a value (a request or a response) is acceptable.
///
/// `validate` adds one [`Reason`] to `reasons` for each problem it finds, and nothing when
/// the value passes. It must not remove what earlier validators added.
///
/// ```
/// use steadfast::validate::{ValidationContext, Reason, Validator};
///
/// /// Every listed field must appear in the body.
/// #[derive(Clone)]
/// struct HasFields(&'static [&'static str]);
///
/// impl Validator<String> for HasFields {
///     fn validate(&self, body: &String, _: &ValidationContext, reasons: &mut Vec<Reason>) {
///         for field in self.0 {
///             if !body.contains(&format!("\"{field}\"")) {
///                 reasons.push(Reason::new(format!("missing field \"{field}\"")));
///             }
///         }
///     }
/// }
///
/// let mut reasons = Vec::new();
/// HasFields(&["answer", "sources"]).validate(&"{}".to_string(), &ValidationContext::first(), &mut reasons);
/// assert_eq!(reasons.len(), 2);
/// ```
pub trait Validator<T> {
    /// Checks `value`; adds a reason for each problem found.
    fn validate(&self, value: &T, cx: &ValidationContext, reasons: &mut Vec<Reason>);
}

impl<T, V: Validator<T> + ?Sized> Validator<T> for Arc<V> {
    fn validate(&self, value: &T, cx: &ValidationContext, reasons: &mut Vec<Reason>) {
        (**self).validate(value, cx, reasons)
    }
}

impl<T, V: Validator<T> + ?Sized> Validator<T> for &V {
    fn validate(&self, value: &T, cx: &ValidationContext, reasons: &mut Vec<Reason>) {
        (**self).validate(value, cx, reasons)
    }
}

/// Accepts everything: the validator of a layer that checks nothing on one side.
///
/// ```
/// use steadfast::validate::{AcceptAll, ValidationContext, Validator};
///
/// let mut reasons = Vec::new();
/// AcceptAll.validate(&"", &ValidationContext::first(), &mut reasons);
/// assert!(reasons.is_empty());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAll;

impl<T> Validator<T> for AcceptAll {
    #[inline]
    fn validate(&self, _: &T, _: &ValidationContext, _: &mut Vec<Reason>) {}
}

/// Two validators that must both pass; every reason of each is reported.
///
/// The builder of [`ValidateLayer`](super::ValidateLayer) chains validators with it.
///
/// ```
/// use steadfast::validate::{ensure, non_empty, And, ValidationContext, Validator};
///
/// let both = And::new(non_empty(), ensure("not JSON", |s: &String| s.starts_with('{')));
/// let mut reasons = Vec::new();
/// both.validate(&String::new(), &ValidationContext::first(), &mut reasons);
/// let reasons: Vec<&str> = reasons.iter().map(|r| r.as_str()).collect();
/// assert_eq!(reasons, ["empty", "not JSON"]);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct And<A, B> {
    first: A,
    second: B,
}

impl<A, B> And<A, B> {
    /// Runs `first`, then `second`.
    pub const fn new(first: A, second: B) -> Self {
        And { first, second }
    }
}

impl<T, A: Validator<T>, B: Validator<T>> Validator<T> for And<A, B> {
    #[inline]
    fn validate(&self, value: &T, cx: &ValidationContext, reasons: &mut Vec<Reason>) {
        self.first.validate(value, cx, reasons);
        self.second.validate(value, cx, reasons);
    }
}

/// A validator made from a closure; see [`validator_fn`].
pub struct ValidatorFn<F, E> {
    f: F,
    _reason: PhantomData<fn() -> E>,
}

impl<F: Clone, E> Clone for ValidatorFn<F, E> {
    fn clone(&self) -> Self {
        ValidatorFn {
            f: self.f.clone(),
            _reason: PhantomData,
        }
    }
}

impl<F: Copy, E> Copy for ValidatorFn<F, E> {}

impl<F, E> fmt::Debug for ValidatorFn<F, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidatorFn").finish_non_exhaustive()
    }
}

/// Makes a validator from a closure that sees the value and the attempt's [`ValidationContext`], and
/// returns `Ok(())` to accept or `Err(reason)` to reject; the reason is anything that turns
/// into a [`Reason`] (`&'static str`, `String`, ...).
///
/// ```
/// use steadfast::validate::{validator_fn, ValidationContext, Validator};
///
/// let not_blank = validator_fn(|s: &String, _: &ValidationContext| {
///     if s.trim().is_empty() { Err("blank") } else { Ok(()) }
/// });
/// let mut reasons = Vec::new();
/// not_blank.validate(&"  ".to_string(), &ValidationContext::first(), &mut reasons);
/// assert_eq!(reasons[0].as_str(), "blank");
/// ```
pub fn validator_fn<T, E, F>(f: F) -> ValidatorFn<F, E>
where
    F: Fn(&T, &ValidationContext) -> Result<(), E>,
    E: Into<Reason>,
{
    ValidatorFn {
        f,
        _reason: PhantomData,
    }
}

impl<T, E, F> Validator<T> for ValidatorFn<F, E>
where
    F: Fn(&T, &ValidationContext) -> Result<(), E>,
    E: Into<Reason>,
{
    #[inline]
    fn validate(&self, value: &T, cx: &ValidationContext, reasons: &mut Vec<Reason>) {
        if let Err(e) = (self.f)(value, cx) {
            reasons.push(e.into());
        }
    }
}

/// Passes when a predicate holds; see [`ensure`].
#[derive(Clone)]
pub struct Ensure<F> {
    reason: Reason,
    f: F,
}

impl<F> fmt::Debug for Ensure<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ensure")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

/// A validator that passes when `f` returns `true`, and fails with `reason` otherwise.
///
/// ```
/// use steadfast::validate::{ensure, ValidationContext, Validator};
///
/// let small = ensure("larger than 10", |n: &u32| *n <= 10);
/// let mut reasons = Vec::new();
/// small.validate(&42, &ValidationContext::first(), &mut reasons);
/// assert_eq!(reasons[0].as_str(), "larger than 10");
/// ```
pub fn ensure<T, F>(reason: impl Into<Reason>, f: F) -> Ensure<F>
where
    F: Fn(&T) -> bool,
{
    Ensure {
        reason: reason.into(),
        f,
    }
}

impl<T, F> Validator<T> for Ensure<F>
where
    F: Fn(&T) -> bool,
{
    #[inline]
    fn validate(&self, value: &T, _: &ValidationContext, reasons: &mut Vec<Reason>) {
        if !(self.f)(value) {
            reasons.push(self.reason.clone());
        }
    }
}

/// Rejects empty values (strings, byte buffers, vectors: anything that is `AsRef<[u8]>`) with
/// the reason `"empty"`.
///
/// ```
/// use steadfast::validate::{non_empty, ValidationContext, Validator};
///
/// let mut reasons = Vec::new();
/// non_empty().validate(&String::new(), &ValidationContext::first(), &mut reasons);
/// non_empty().validate(&"text", &ValidationContext::first(), &mut reasons);
/// assert_eq!(reasons.len(), 1);
/// ```
pub const fn non_empty() -> NonEmpty {
    NonEmpty
}

/// Rejects empty values; see [`non_empty`].
#[derive(Debug, Clone, Copy, Default)]
pub struct NonEmpty;

impl<T: AsRef<[u8]>> Validator<T> for NonEmpty {
    #[inline]
    fn validate(&self, value: &T, _: &ValidationContext, reasons: &mut Vec<Reason>) {
        if value.as_ref().is_empty() {
            reasons.push(Reason::from("empty"));
        }
    }
}

/// Applies a validator only to some attempts; see [`from_attempt`] and [`until_attempt`].
#[derive(Debug, Clone, Copy)]
pub struct Attempts<V> {
    from: u32,
    until: u32,
    inner: V,
}

/// Applies `validator` only from attempt `n` on: a stricter check that is worth its cost only
/// once cheaper ones have failed, or a last-resort rule.
///
/// ```
/// use steadfast::validate::{ensure, from_attempt, ValidationContext, Validator};
///
/// let cited = from_attempt(2, ensure("no sources cited", |s: &String| s.contains("[1]")));
/// let answer = "forty-two".to_string();
/// let mut reasons = Vec::new();
/// cited.validate(&answer, &ValidationContext::first(), &mut reasons);
/// assert!(reasons.is_empty(), "the first attempt is not held to it");
/// cited.validate(&answer, &ValidationContext::new(2, Default::default()), &mut reasons);
/// assert_eq!(reasons[0].as_str(), "no sources cited");
/// ```
pub const fn from_attempt<V>(n: u32, validator: V) -> Attempts<V> {
    Attempts {
        from: n,
        until: u32::MAX,
        inner: validator,
    }
}

/// Applies `validator` only to attempts before `n`: a quality bar to drop once `n - 1`
/// attempts have failed it, so that a later attempt can settle for less.
///
/// ```
/// use steadfast::validate::{ensure, until_attempt, ValidationContext, Validator};
///
/// let detailed = until_attempt(3, ensure("fewer than 100 words", |s: &String| s.split_whitespace().count() >= 100));
/// let mut reasons = Vec::new();
/// let short = "too short".to_string();
/// detailed.validate(&short, &ValidationContext::new(2, Default::default()), &mut reasons);
/// assert_eq!(reasons.len(), 1);
/// reasons.clear();
/// detailed.validate(&short, &ValidationContext::new(3, Default::default()), &mut reasons);
/// assert!(reasons.is_empty(), "from the third attempt on, short answers are fine");
/// ```
pub const fn until_attempt<V>(n: u32, validator: V) -> Attempts<V> {
    Attempts {
        from: 0,
        until: n,
        inner: validator,
    }
}

impl<T, V: Validator<T>> Validator<T> for Attempts<V> {
    #[inline]
    fn validate(&self, value: &T, cx: &ValidationContext, reasons: &mut Vec<Reason>) {
        if cx.attempt() >= self.from && cx.attempt() < self.until {
            self.inner.validate(value, cx, reasons);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(deprecated)]
    fn the_former_name_still_compiles() {
        let cx: Context = Context::new(2, Duration::ZERO);
        assert_eq!(cx, ValidationContext::new(2, Duration::ZERO));
    }

    fn run<T>(v: &impl Validator<T>, value: &T, attempt: u32) -> Vec<String> {
        let mut reasons = Vec::new();
        v.validate(
            value,
            &ValidationContext::new(attempt, Duration::ZERO),
            &mut reasons,
        );
        reasons.into_iter().map(|r| r.to_string()).collect()
    }

    #[test]
    fn and_reports_every_reason_in_order() {
        let v = And::new(
            ensure("odd", |n: &u32| n % 2 == 0),
            And::new(
                AcceptAll,
                validator_fn(|n: &u32, _: &ValidationContext| {
                    if *n < 10 {
                        Ok(())
                    } else {
                        Err(format!("{n} is 10 or more"))
                    }
                }),
            ),
        );
        assert_eq!(run(&v, &11, 1), ["odd", "11 is 10 or more"]);
        assert_eq!(run(&v, &4, 1), Vec::<String>::new());
    }

    #[test]
    fn attempt_windows() {
        let strict = ensure("no", |_: &u32| false);
        let from = from_attempt(3, strict.clone());
        let until = until_attempt(3, strict);
        let seen: Vec<(usize, usize)> = (1..=4)
            .map(|n| (run(&from, &0, n).len(), run(&until, &0, n).len()))
            .collect();
        assert_eq!(seen, [(0, 1), (0, 1), (1, 0), (1, 0)]);
    }

    #[test]
    fn shared_validators_work_through_arc() {
        let v: Arc<dyn Validator<Vec<u8>> + Send + Sync> = Arc::new(non_empty());
        assert_eq!(run(&v, &Vec::new(), 1), ["empty"]);
        assert!(run(&v, &vec![1], 1).is_empty());
    }
}
