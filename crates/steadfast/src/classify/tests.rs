//! Tests of the classifiers and of `refine`.

use super::*;
use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::time::Duration;

#[derive(Debug)]
struct Wrapper(io::Error);
impl fmt::Display for Wrapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("client failed")
    }
}
impl StdError for Wrapper {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.0)
    }
}

#[derive(Debug)]
struct Other;
impl fmt::Display for Other {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("other")
    }
}
impl StdError for Other {}

fn ctx() -> Attempt<'static, ()> {
    Attempt::first(&())
}

#[cfg(all(feature = "validate", feature = "circuit-breaker"))]
#[test]
fn refine_finds_steadfasts_errors_anywhere_in_the_chain() {
    use crate::circuit_breaker::CircuitBreaker;
    use crate::validate::{Invalid, InvalidRequest, ValidationContext};
    use crate::BoxError;

    /// An error that says it was caused by another: for chains of steadfast's errors.
    #[derive(Debug)]
    struct Caused(&'static str, BoxError);
    impl fmt::Display for Caused {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }
    impl StdError for Caused {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&*self.1)
        }
    }

    let breaker = CircuitBreaker::builder().name("db").build().unwrap();
    breaker.force_open();
    let rejected = || -> BoxError { Box::new(breaker.check().unwrap_err()) };
    let invalid = || -> BoxError {
        Box::new(Invalid::new(
            (),
            vec!["empty".into()],
            ValidationContext::new(1, Duration::ZERO),
        ))
    };
    let refused_request =
        || -> BoxError { Box::new(InvalidRequest::new(vec!["no body".into()], 1)) };
    let retry = Outcome::retryable();

    // A rejected request anywhere in the chain decides, whatever the verdict.
    let deep = Caused(
        "client",
        Box::new(Caused(
            "middleware",
            Box::new(Caused("layer", refused_request())),
        )),
    );
    assert_eq!(refine(retry, &deep), Outcome::Ignored);
    assert_eq!(refine(Outcome::NonRetryable, &deep), Outcome::Ignored);
    assert_eq!(refine(Outcome::Success, &deep), Outcome::Success);

    // An invalid response below wrappers is still one.
    let wrapped = Caused("outer", Box::new(Caused("client", invalid())));
    assert_eq!(refine(retry, &wrapped), Outcome::Invalid);
    assert_eq!(
        refine(Outcome::NonRetryable, &wrapped),
        Outcome::NonRetryable
    );

    // A refusal below a wrapper stops retries; other verdicts stay as they are.
    let refusal = Caused("client", rejected());
    assert_eq!(refine(retry, &refusal), Outcome::NonRetryable);
    assert_eq!(
        refine(Outcome::NonRetryable, &refusal),
        Outcome::NonRetryable
    );
    let plain = Caused("client", Box::new(io::Error::other("reset")));
    assert_eq!(refine(retry, &plain), retry);
}

#[test]
fn error_is_searches_the_source_chain() {
    let c = ErrorIs::<io::Error>::new();
    let wrapped: crate::BoxError = Box::new(Wrapper(io::Error::other("reset")));
    let other: crate::BoxError = Box::new(Other);
    assert_eq!(
        Classify::<(), (), _>::classify(&c, &ctx(), Err(&wrapped)),
        Outcome::retryable()
    );
    assert_eq!(
        Classify::<(), (), _>::classify(&c, &ctx(), Err(&other)),
        Outcome::NonRetryable
    );
    assert_eq!(
        Classify::<(), (), crate::BoxError>::classify(&c, &ctx(), Ok(&())),
        Outcome::Success
    );
}

impl AsDynError for Wrapper {
    fn as_dyn_error(&self) -> &(dyn StdError + 'static) {
        self
    }
}

#[test]
fn error_is_works_on_concrete_error_types() {
    let c = ErrorIs::<io::Error>::new();
    let e = Wrapper(io::Error::other("x"));
    assert!(Classify::<(), (), _>::classify(&c, &ctx(), Err(&e)).is_retryable());
    let direct = io::Error::other("y");
    assert!(Classify::<(), (), _>::classify(&c, &ctx(), Err(&direct)).is_retryable());
}

#[test]
fn or_combines_types() {
    let c = ErrorIs::<io::Error>::new().or::<Other>();
    let other: crate::BoxError = Box::new(Other);
    let fmt_err: crate::BoxError = Box::new(fmt::Error);
    assert!(Classify::<(), (), _>::classify(&c, &ctx(), Err(&other)).is_retryable());
    assert_eq!(
        Classify::<(), (), _>::classify(&c, &ctx(), Err(&fmt_err)),
        Outcome::NonRetryable
    );
}

#[test]
fn outcome_predicates() {
    assert!(Outcome::Invalid.is_retryable() && Outcome::Invalid.is_failure());
    assert!(!Outcome::Ignored.is_failure() && !Outcome::Ignored.is_retryable());
    assert!(Outcome::NonRetryable.is_failure() && !Outcome::NonRetryable.is_retryable());
    assert_eq!(
        Outcome::retry_after(Duration::from_secs(2)).hint(),
        Some(Duration::from_secs(2))
    );
    assert_eq!(Outcome::Success.hint(), None);
    assert_eq!(
        Outcome::pushed_back(Duration::from_micros(2_500)).hint(),
        Some(Duration::from_millis(2))
    );
    assert_eq!(
        Outcome::pushed_back(Duration::MAX),
        Outcome::PushedBack { after_ms: u64::MAX }
    );
    assert!(Outcome::DoNotRetry.is_failure() && !Outcome::DoNotRetry.is_retryable());
    // Two words, like `Option<Duration>`: classifying stays cheap to move.
    assert_eq!(std::mem::size_of::<Outcome>(), 16);
    assert_eq!(Outcome::Success.to_string(), "success");
}

#[test]
fn never_and_any_error() {
    let e = io::Error::other("z");
    assert_eq!(
        Classify::<(), (), _>::classify(&Never, &ctx(), Err(&e)),
        Outcome::NonRetryable
    );
    assert_eq!(
        Classify::<(), (), _>::classify(&AnyError, &ctx(), Err(&e)),
        Outcome::retryable()
    );
}

#[test]
fn which_classifiers_read_the_elapsed_time() {
    fn reads<C: Classify<(), (), io::Error>>(c: C) -> bool {
        c.reads_elapsed()
    }
    let closure =
        || classify_fn(|_: &Attempt<'_, ()>, _: Result<&(), &io::Error>| Outcome::Success);
    assert!(!reads(AnyError));
    assert!(!reads(Never));
    assert!(!reads(ErrorIs::<io::Error>::new()));
    assert!(!reads(RetryIfResponse::new(|_: &()| false)));
    assert!(!reads(AnyOf::new(AnyError, Never)));
    // A closure may look at anything it is given.
    assert!(reads(closure()));
    assert!(reads(AnyOf::new(AnyError, closure())));
    assert!(reads(AnyOf::new(closure(), Never)));
    assert!(reads(std::sync::Arc::new(closure())));
    assert!(!reads(std::sync::Arc::new(AnyError)));
}

/// `explain`'s verdict is `classify`'s, for every ready-made classifier, over errors that
/// match, wrap or miss and responses that match or not; and each names the rule it used.
#[test]
fn explain_agrees_with_classify_and_names_the_rule() {
    use crate::BoxError;
    fn check<C: Classify<(), u16, BoxError>>(c: &C, name: &str) -> Vec<String> {
        let errors: Vec<Option<BoxError>> = vec![
            None,
            Some(Box::new(io::Error::other("reset"))),
            Some(Box::new(Wrapper(io::Error::other("wrapped")))),
            Some(Box::new(Other)),
            Some("text".into()),
        ];
        let mut rules = Vec::new();
        for status in [200u16, 404, 503] {
            for error in &errors {
                let result = match error {
                    None => Ok(&status),
                    Some(e) => Err(e),
                };
                let (outcome, rule) = c.explain(&ctx(), result);
                assert_eq!(outcome, c.classify(&ctx(), result), "{name}: {result:?}");
                rules.push(
                    rule.expect("a ready-made classifier names its rule")
                        .into_owned(),
                );
            }
        }
        rules
    }
    let rules = check(&AnyError, "AnyError");
    assert_eq!((rules[0].as_str(), rules[1].as_str()), ("ok", "any error"));
    let rules = check(&Never, "Never");
    assert_eq!(rules[1], "never retried");
    let rules = check(&ErrorIs::<io::Error>::new(), "ErrorIs");
    assert_eq!(rules[2], "error is std::io::error::Error");
    assert_eq!(
        rules[3],
        format!("error is not {}", std::any::type_name::<io::Error>())
    );
    let rules = check(&ErrorIs::<io::Error>::new().or::<Other>(), "AnyOf");
    assert_eq!(rules[1], "first: error is std::io::error::Error");
    assert_eq!(
        rules[3],
        format!("second: error is {}", std::any::type_name::<Other>())
    );
    assert_eq!(
        rules[4],
        format!("second: error is not {}", std::any::type_name::<Other>())
    );
    let rules = check(
        &RetryIfResponse::new(|s: &u16| *s == 503),
        "RetryIfResponse",
    );
    assert_eq!(rules[0], "response did not match");
    assert_eq!(rules[10], "response matched");
    assert_eq!(rules[11], "any error");
}
