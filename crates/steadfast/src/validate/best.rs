//! Recovering the best invalid response when the retries run out.

use std::fmt;
use std::marker::PhantomData;

use super::error::Invalid;
use crate::retry::{Recover, RetryError, StopReason};
use crate::BoxError;

/// Answers a retry that gave up with the best response that failed validation; see
/// [`best_of`].
pub struct BestOf<F, S> {
    score: F,
    _score: PhantomData<fn() -> S>,
}

impl<F: Clone, S> Clone for BestOf<F, S> {
    fn clone(&self) -> Self {
        BestOf {
            score: self.score.clone(),
            _score: PhantomData,
        }
    }
}

impl<F: Copy, S> Copy for BestOf<F, S> {}

impl<F, S> fmt::Debug for BestOf<F, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BestOf").finish_non_exhaustive()
    }
}

/// A retry recovery (see [`RetryPolicyBuilder::recover`](crate::retry::RetryPolicyBuilder::recover))
/// that answers with the best response the attempts got, when none passed validation.
///
/// When the retry layer gives up, `score` rates every [`Invalid`] response the
/// [`RetryError`] kept (the first attempt's and the latest ones, see
/// [`RetryError::errors`]); the highest score wins, and a tie goes to the later attempt.
/// Scores that cannot be compared (a `NaN`) lose to any that can. The winner's response is
/// returned as `Ok`.
///
/// The `RetryError` is returned unchanged when there is nothing to choose from (no attempt
/// ended with an invalid response of this type: they all failed in transport, say), and when
/// the request was cancelled: nobody is waiting for an answer.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use steadfast::retry::{Backoff, RetryLayer, RetryPolicy};
/// use steadfast::validate::{best_of, ensure, Invalid, ValidateLayer};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let answers = Arc::new(Mutex::new(vec!["ok", "a fine answer", "meh"].into_iter()));
/// let model = service_fn(move |_: ()| {
///     let next = answers.lock().unwrap().next().unwrap();
///     async move { Ok::<_, std::io::Error>(next.to_string()) }
/// });
/// let policy = RetryPolicy::builder()
///     .max_attempts(3)
///     .backoff(Backoff::none())
///     // Prefer the answer that failed the fewest checks, then the longest.
///     .recover(best_of(|r: &Invalid<String>| (usize::MAX - r.reasons().len(), r.response().len())))
///     .build()
///     .unwrap();
/// let svc = ServiceBuilder::new()
///     .layer(RetryLayer::new(policy))
///     .layer(ValidateLayer::builder()
///         .response(ensure("ends without a full stop", |s: &String| s.ends_with('.')))
///         .build()
///         .unwrap())
///     .service(model);
/// assert_eq!(svc.oneshot(()).await.unwrap(), "a fine answer");
/// # }
/// ```
pub fn best_of<Res, S, F>(score: F) -> BestOf<F, S>
where
    F: Fn(&Invalid<Res>) -> S,
    S: PartialOrd,
{
    BestOf {
        score,
        _score: PhantomData,
    }
}

impl<Res, S, F> Recover<Res> for BestOf<F, S>
where
    Res: Send + Sync + 'static,
    F: Fn(&Invalid<Res>) -> S,
    S: PartialOrd,
{
    fn recover(&self, mut error: RetryError) -> Result<Res, BoxError> {
        if matches!(error.reason(), StopReason::Cancelled(_)) {
            return Err(error.into());
        }
        let mut best: Option<(u32, S)> = None;
        for (attempt, e) in error.errors() {
            let Some(invalid) = e.downcast_ref::<Invalid<Res>>() else {
                continue;
            };
            let score = (self.score)(invalid);
            let comparable = |s: &S| s.partial_cmp(s).is_some();
            let better = match &best {
                None => true,
                // A score that cannot be compared (NaN) never replaces another.
                Some(_) if !comparable(&score) => false,
                Some((_, top)) if !comparable(top) => true,
                // `>=`: a tie goes to the later attempt.
                Some((_, top)) => score >= *top,
            };
            if better {
                best = Some((attempt, score));
            }
        }
        let Some((attempt, _)) = best else {
            return Err(error.into());
        };
        tracing::debug!(attempt, "answering with the best invalid response");
        let kept = error
            .take_error(attempt)
            .expect("the chosen attempt's error is kept");
        match kept.downcast::<Invalid<Res>>() {
            Ok(invalid) => Ok(invalid.into_response()),
            Err(_) => unreachable!("the chosen error was checked to be an Invalid response"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::{Backoff, RetryPolicy};
    use crate::validate::{Reason, ValidationContext};

    fn give_up_with(values: Vec<Result<f64, &'static str>>) -> RetryError {
        let policy = RetryPolicy::builder()
            .max_attempts(values.len() as u32)
            .backoff(Backoff::none())
            .build()
            .unwrap();
        let mut values = values.into_iter();
        let err = policy
            .run_blocking(|attempt| -> Result<(), BoxError> {
                match values.next().unwrap() {
                    Ok(v) => Err(Box::new(Invalid::new(
                        v,
                        vec![Reason::from("low")],
                        ValidationContext::new(attempt, Default::default()),
                    ))),
                    Err(m) => Err(m.into()),
                }
            })
            .unwrap_err();
        *err.downcast::<RetryError>().unwrap()
    }

    #[test]
    fn highest_score_wins_and_ties_go_to_the_later_attempt() {
        let pick = best_of(|r: &Invalid<f64>| *r.response());
        let err = give_up_with(vec![Ok(1.0), Ok(3.0), Err("reset"), Ok(2.0)]);
        assert_eq!(pick.recover(err).unwrap(), 3.0);

        let whole = best_of(|r: &Invalid<f64>| r.response().trunc() as i64);
        let err = give_up_with(vec![Ok(5.1), Ok(5.2), Ok(1.0)]);
        assert_eq!(whole.recover(err).unwrap(), 5.2);
    }

    #[test]
    fn nan_scores_lose() {
        let pick = best_of(|r: &Invalid<f64>| *r.response());
        let err = give_up_with(vec![Ok(f64::NAN), Ok(-1.0), Ok(f64::NAN)]);
        assert_eq!(pick.recover(err).unwrap(), -1.0);
    }

    #[test]
    fn nothing_to_choose_from_returns_the_error() {
        let pick = best_of(|r: &Invalid<f64>| *r.response());
        let err = give_up_with(vec![Err("reset"), Err("refused")]);
        let back = pick.recover(err).unwrap_err();
        let back = back.downcast_ref::<RetryError>().unwrap();
        assert_eq!(back.errors().count(), 2);
    }
}
