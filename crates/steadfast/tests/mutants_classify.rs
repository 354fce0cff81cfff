//! Tests that catch mutants of the classification logic (see "Mutation testing" in
//! docs/reliability.md): the outcome predicates, late outcomes, and the classifiers that
//! combine or wrap others.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::classify::{
    AnyError, AnyOf, Attempt, Classify, LateOutcome, Never, Outcome, RetryIfResponse,
};

/// Hands out a clone of its late outcome for every answer.
#[derive(Clone)]
struct Late(LateOutcome);

impl Classify<(), u16, ()> for Late {
    fn classify(&self, _: &Attempt<'_, ()>, _: Result<&u16, &()>) -> Outcome {
        Outcome::Success
    }

    fn late_outcome(&self, _: &u16) -> Option<LateOutcome> {
        Some(self.0.clone())
    }
}

/// `true` if `handed` is `ours` (settling one settles the other), not some other outcome.
fn is_the_same(handed: Option<LateOutcome>, ours: &LateOutcome) -> bool {
    let handed = handed.expect("a late outcome");
    assert!(!ours.is_settled());
    handed.settle(Outcome::Success);
    ours.is_settled()
}

#[test]
fn only_success_is_a_success() {
    assert!(Outcome::Success.is_success());
    for o in [
        Outcome::retryable(),
        Outcome::NonRetryable,
        Outcome::Invalid,
        Outcome::Ignored,
        Outcome::DoNotRetry,
        Outcome::pushed_back(Duration::from_millis(5)),
    ] {
        assert!(!o.is_success(), "{o:?}");
    }
}

#[test]
fn a_pushback_too_long_for_milliseconds_saturates() {
    assert_eq!(
        Outcome::pushed_back(Duration::MAX).hint(),
        Some(Duration::from_millis(u64::MAX))
    );
    // Just past `u64::MAX` ms: cut to 64 bits it would read as 384 ms.
    let just_past = Duration::from_secs(u64::MAX / 1_000 + 1);
    assert_eq!(
        Outcome::pushed_back(just_past).hint(),
        Some(Duration::from_millis(u64::MAX))
    );
    assert_eq!(
        Outcome::pushed_back(Duration::from_millis(1_500)).hint(),
        Some(Duration::from_millis(1_500))
    );
}

#[test]
fn the_first_settle_counts_and_reaches_the_callback() {
    let late = LateOutcome::new();
    assert!(!late.is_settled());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    late.on_settled(move |o| s.lock().unwrap().push(o));
    assert!(!late.is_settled());
    assert!(late.settle(Outcome::NonRetryable));
    assert!(late.is_settled());
    assert!(!late.settle(Outcome::Success));
    assert_eq!(*seen.lock().unwrap(), [Outcome::NonRetryable]);
}

#[test]
fn a_callback_registered_after_the_outcome_runs_at_once() {
    let late = LateOutcome::new();
    assert!(late.clone().settle(Outcome::Success));
    assert!(late.is_settled());
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    late.on_settled(move |o| *s.lock().unwrap() = Some(o));
    assert_eq!(*seen.lock().unwrap(), Some(Outcome::Success));
}

#[test]
fn an_arc_passes_the_late_outcome_on() {
    let ours = LateOutcome::new();
    let shared = Arc::new(Late(ours.clone()));
    assert!(is_the_same(shared.late_outcome(&200), &ours));
    let plain: Arc<AnyError> = Arc::new(AnyError);
    assert!(Classify::<(), u16, ()>::late_outcome(&plain, &200).is_none());
}

#[test]
fn any_of_asks_each_classifier_for_a_late_outcome() {
    let ours = LateOutcome::new();
    let second = AnyOf::new(Never, Late(ours.clone()));
    assert!(is_the_same(second.late_outcome(&200), &ours));
    let ours = LateOutcome::new();
    let first = AnyOf::new(Late(ours.clone()), Never);
    assert!(is_the_same(first.late_outcome(&200), &ours));
    let neither = AnyOf::new(AnyError, Never);
    assert!(Classify::<(), u16, ()>::late_outcome(&neither, &200).is_none());
}

#[test]
fn retry_if_response_follows_its_predicate() {
    let c = RetryIfResponse::new(|status: &u16| *status == 503);
    let ctx = Attempt::first(&());
    let judge = |r: Result<&u16, &()>| Classify::<(), u16, ()>::classify(&c, &ctx, r);
    assert_eq!(judge(Ok(&503)), Outcome::retryable());
    assert_eq!(judge(Ok(&200)), Outcome::Success);
    assert_eq!(judge(Err(&())), Outcome::retryable());
}
