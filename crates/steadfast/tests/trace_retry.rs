//! The retry layer's decision trace, on tokio's paused clock: for a request that carries a
//! trace, every attempt's verdict and rule, the backoff chosen and how (schedule and jitter,
//! a class, a server's hint clamped), the budget's answer with its balance, and why the
//! layer stopped; the error that ends the request carries the trace. A request without one
//! records nothing.

#![cfg(feature = "retry")]

use std::sync::Arc;
use std::time::Duration;

use steadfast::backoff::Jitter;
use steadfast::classify::{Attempt, Outcome};
use steadfast::retry::{Backoff, FailedAttempt, RetryError, RetryLayer, RetryPolicy, TokenBucket};
use steadfast::token::{CancelToken, HasCancelToken};
use steadfast::trace::{Decision, DecisionTrace, DelaySource};
use steadfast::BoxError;
use steadfast_test::{Reply, Scripted, TestError};
use tower::{Layer, ServiceExt};

/// A request that may carry a token and a trace.
#[derive(Clone, Debug, Default)]
struct Job {
    token: Option<CancelToken>,
    trace: Option<DecisionTrace>,
}

impl HasCancelToken for Job {
    fn cancel_token(&self) -> Option<&CancelToken> {
        self.token.as_ref()
    }

    fn decision_trace(&self) -> Option<&DecisionTrace> {
        self.trace.as_ref()
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn traced() -> (Job, DecisionTrace) {
    let trace = DecisionTrace::new();
    let job = Job {
        token: None,
        trace: Some(trace.clone()),
    };
    (job, trace)
}

fn retry_error(e: &BoxError) -> &RetryError {
    e.downcast_ref::<RetryError>()
        .unwrap_or_else(|| panic!("expected a RetryError, got {e:?}"))
}

fn decisions(trace: &DecisionTrace) -> Vec<Decision> {
    trace.entries().into_iter().map(|e| e.decision).collect()
}

fn classified(attempt: u32, outcome: Outcome, rule: &'static str) -> Decision {
    Decision::Classified {
        attempt,
        outcome,
        rule: Some(rule.into()),
    }
}

fn scheduled(attempt: u32, delay: Duration, jitter: &'static str) -> Decision {
    Decision::Backoff {
        attempt,
        delay,
        source: DelaySource::Schedule {
            scheduled: delay,
            jitter: jitter.into(),
        },
    }
}

#[tokio::test(start_paused = true)]
async fn every_attempt_its_budget_and_backoff_then_why_it_stopped() {
    let svc = Scripted::<u32, Job>::new([Reply::err("a"), Reply::err("b"), Reply::err("c")]);
    // Two retries' worth of tokens: 10, then 5, then 0 left.
    let budget = TokenBucket::builder()
        .capacity(10)
        .retry_cost(5)
        .build()
        .unwrap();
    let policy = RetryPolicy::builder()
        .name("payments")
        .max_attempts(3)
        .backoff(Backoff::constant(ms(100)))
        .budget(Arc::new(budget))
        .build()
        .unwrap();
    let (job, trace) = traced();
    let err = RetryLayer::new(policy)
        .layer(svc)
        .oneshot(job)
        .await
        .unwrap_err();
    let err = retry_error(&err);
    assert!(err.decision_trace().unwrap().same_as(&trace));
    let entries = trace.entries();
    assert!(entries.iter().all(|e| e.layer == "payments"), "{trace}");
    assert_eq!(
        decisions(&trace),
        [
            classified(1, Outcome::retryable(), "any error"),
            Decision::Budget {
                allowed: true,
                balance: Some(1.0)
            },
            scheduled(1, ms(100), "none"),
            classified(2, Outcome::retryable(), "any error"),
            Decision::Budget {
                allowed: true,
                balance: Some(0.0)
            },
            scheduled(2, ms(100), "none"),
            classified(3, Outcome::retryable(), "any error"),
            Decision::Stopped {
                attempts: 3,
                reason: "attempts exhausted".into()
            },
        ]
    );
    assert_eq!(
        entries[2].decision.to_string(),
        "attempt 1 failed: retrying in 100ms (backoff schedule 100ms, no jitter)"
    );
    let story = trace.to_string();
    assert!(
        story.contains("payments: budget allowed a retry (balance 1.0)"),
        "{story}"
    );
    assert!(
        story.ends_with("payments: gave up after 3 attempts: attempts exhausted"),
        "{story}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refusing_budget_is_recorded_with_its_balance() {
    let svc = Scripted::<u32, Job>::new([Reply::err("a"), Reply::err("b")]);
    let budget = TokenBucket::builder()
        .capacity(5)
        .retry_cost(5)
        .build()
        .unwrap();
    let policy = RetryPolicy::builder()
        .backoff(Backoff::none())
        .budget(Arc::new(budget))
        .build()
        .unwrap();
    let (job, trace) = traced();
    let err = RetryLayer::new(policy)
        .layer(svc)
        .oneshot(job)
        .await
        .unwrap_err();
    assert!(retry_error(&err).decision_trace().is_some());
    let d = decisions(&trace);
    assert_eq!(trace.entries()[0].layer, "retry");
    assert_eq!(
        d[4..],
        [
            Decision::Budget {
                allowed: false,
                balance: Some(0.0)
            },
            Decision::Stopped {
                attempts: 2,
                reason: "retry budget exhausted".into()
            },
        ],
        "{trace}"
    );
}

#[tokio::test(start_paused = true)]
async fn jitter_is_named_and_the_delay_before_it_kept() {
    let svc = Scripted::<u32, Job>::new([Reply::err("a"), Reply::ok(7)]);
    let policy = RetryPolicy::builder()
        .backoff(Backoff::exponential(ms(400)).jitter(Jitter::Full))
        .seed(7)
        .build()
        .unwrap();
    let (job, trace) = traced();
    assert_eq!(
        RetryLayer::new(policy)
            .layer(svc.clone())
            .oneshot(job)
            .await
            .unwrap(),
        7
    );
    let d = decisions(&trace);
    assert_eq!(d.len(), 3, "{trace}");
    let Decision::Backoff {
        attempt: 1,
        delay,
        source: DelaySource::Schedule { scheduled, jitter },
    } = &d[1]
    else {
        panic!("{trace}");
    };
    assert_eq!((*scheduled, jitter.as_ref()), (ms(400), "full"));
    assert!(*delay < ms(400), "{delay:?} is the jittered delay");
    // The timer waits the jittered delay (to the clock's millisecond).
    assert!(svc.gaps()[0].abs_diff(*delay) < ms(1), "{:?}", svc.gaps());
    assert_eq!(d[2], classified(2, Outcome::Success, "ok"));
}

#[tokio::test(start_paused = true)]
async fn a_hint_clamped_by_the_policy_says_so() {
    let svc = Scripted::<u32, Job>::new([Reply::ok(503), Reply::ok(200)]);
    let policy = RetryPolicy::builder()
        .max_hint(ms(1_000))
        .classify_with(
            |_: &Attempt<'_, Job>, r: Result<&u32, &TestError>| match r {
                Ok(503) => Outcome::retry_after(ms(5_000)),
                _ => Outcome::Success,
            },
        )
        .build()
        .unwrap();
    let (job, trace) = traced();
    let out = RetryLayer::new(policy).layer(svc).oneshot(job).await;
    assert_eq!(out.unwrap(), 200);
    // A closure names no rule.
    assert_eq!(
        decisions(&trace),
        [
            Decision::Classified {
                attempt: 1,
                outcome: Outcome::retry_after(ms(5_000)),
                rule: None
            },
            Decision::Backoff {
                attempt: 1,
                delay: ms(1_000),
                source: DelaySource::Hint {
                    asked: ms(5_000),
                    clamped: true
                }
            },
            Decision::Classified {
                attempt: 2,
                outcome: Outcome::Success,
                rule: None
            },
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_class_of_failure_is_named() {
    let svc = Scripted::<u32, Job>::new([Reply::err("a"), Reply::ok(1)]);
    let policy = RetryPolicy::builder()
        .backoff(Backoff::constant(ms(100)))
        .backoff_for(
            |f: &FailedAttempt<'_>| f.error_is::<std::io::Error>(),
            Backoff::constant(ms(1)),
        )
        .backoff_for(
            |f: &FailedAttempt<'_>| f.error_is::<TestError>(),
            Backoff::constant(ms(7)),
        )
        .build()
        .unwrap();
    let (job, trace) = traced();
    RetryLayer::new(policy)
        .layer(svc)
        .oneshot(job)
        .await
        .unwrap();
    assert_eq!(
        decisions(&trace)[1],
        Decision::Backoff {
            attempt: 1,
            delay: ms(7),
            source: DelaySource::Class {
                class: "class 2".into()
            }
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_cancelled_before_its_first_attempt_has_it_in_its_trace() {
    let svc = Scripted::<u32, Job>::new([]);
    let token = CancelToken::new();
    token.cancel();
    let (mut job, trace) = traced();
    job.token = Some(token);
    let policy = RetryPolicy::builder().build().unwrap();
    let err = RetryLayer::new(policy)
        .layer(svc.clone())
        .oneshot(job)
        .await
        .unwrap_err();
    assert!(retry_error(&err).decision_trace().is_some());
    assert_eq!(svc.calls(), 0);
    let d = decisions(&trace);
    assert!(
        matches!(&d[..], [Decision::Stopped { attempts: 0, reason }] if reason.starts_with("cancelled")),
        "{trace}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_without_a_trace_records_nothing() {
    // A trace exists in the process (the layers look for one), but not on this request.
    let elsewhere = DecisionTrace::new();
    let svc = Scripted::<u32, Job>::new([Reply::err("a"), Reply::err("b")]);
    let policy = RetryPolicy::builder()
        .max_attempts(2)
        .backoff(Backoff::constant(ms(10)))
        .build()
        .unwrap();
    let err = RetryLayer::new(policy)
        .layer(svc)
        .oneshot(Job::default())
        .await
        .unwrap_err();
    let err = retry_error(&err);
    assert_eq!(err.attempts(), 2);
    assert!(err.decision_trace().is_none());
    assert!(elsewhere.is_empty());
}
