//! The validate layer on its own and under the retry layer and a circuit breaker, on tokio's
//! paused clock.

#![cfg(all(
    feature = "validate",
    feature = "retry",
    feature = "circuit-breaker",
    feature = "http"
))]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::circuit_breaker::{
    BreakerEvent, CircuitBreaker, CircuitBreakerLayer, CircuitState, SlidingWindow,
};
use steadfast::classify::{find_source, Outcome};
use steadfast::retry::{Backoff, RetryError, RetryEvent, RetryLayer, RetryPolicy, StopReason};
use steadfast::token::{HasCancelToken, RetryAttempt};
use steadfast::validate::{
    best_of, ensure, until_attempt, validator_fn, Invalid, InvalidRequest, InvalidResponse,
    ValidateLayer, ValidationContext,
};
use steadfast::BoxError;
use steadfast_test::{ReadinessProbe, Reply, Scripted, TestError};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A prompt for a model: a request type of our own that carries the retry layer's tag.
#[derive(Clone, Debug)]
struct Prompt {
    text: String,
    attempt: Option<RetryAttempt>,
}

impl Prompt {
    fn new(text: &str) -> Self {
        Prompt {
            text: text.to_string(),
            attempt: None,
        }
    }
}

impl HasCancelToken for Prompt {
    fn retry_attempt(&self) -> Option<RetryAttempt> {
        self.attempt
    }

    fn set_retry_attempt(&mut self, attempt: RetryAttempt) -> bool {
        self.attempt = Some(attempt);
        true
    }
}

/// A rough JSON check, enough for these tests: an object with balanced braces and quotes.
fn looks_like_json(s: &str) -> bool {
    s.starts_with('{')
        && s.ends_with('}')
        && s.matches('{').count() == s.matches('}').count()
        && s.matches('"').count() % 2 == 0
}

fn reasons_of(invalid: &Invalid<String>) -> Vec<String> {
    invalid.reasons().iter().map(|r| r.to_string()).collect()
}

fn retry_error(e: &BoxError) -> &RetryError {
    e.downcast_ref::<RetryError>()
        .unwrap_or_else(|| panic!("expected a RetryError, got {e:?}"))
}

#[tokio::test(start_paused = true)]
async fn retries_until_valid_and_validators_see_each_attempt() {
    // Each answer takes 100 ms; the retry waits 50 ms between attempts.
    let model = Scripted::<String, Prompt>::new([
        Reply::ok("{\"answer\": 4".to_string()).after(ms(100)),
        Reply::ok("{\"a\": 42}".to_string()).after(ms(100)),
        Reply::ok("{\"a\": 42}".to_string()).after(ms(100)),
    ]);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let events = Arc::new(Mutex::new(Vec::new()));
    let policy = RetryPolicy::builder()
        .max_attempts(5)
        .backoff(Backoff::constant(ms(50)))
        // With a time limit the retry layer's clock starts with the first attempt.
        .max_elapsed(Duration::from_secs(10))
        .on_event({
            let events = events.clone();
            move |e: &RetryEvent<'_>| {
                if let RetryEvent::Retry {
                    attempt,
                    outcome,
                    error,
                    ..
                } = e
                {
                    let why = error.and_then(find_source::<InvalidResponse>);
                    events
                        .lock()
                        .unwrap()
                        .push((*attempt, *outcome, why.map(|w| w.to_string())));
                }
            }
        })
        .build()
        .unwrap();
    let validate = ValidateLayer::builder()
        .response_fn({
            let seen = seen.clone();
            move |_: &String, cx: &ValidationContext| {
                seen.lock().unwrap().push((cx.attempt(), cx.elapsed()));
                Ok::<_, &'static str>(())
            }
        })
        .response(ensure("not valid JSON", |s: &String| looks_like_json(s)))
        // Ask for a detailed answer at first; from the third attempt on, settle for less.
        .response(until_attempt(
            3,
            ensure("shorter than 12 characters", |s: &String| s.len() >= 12),
        ))
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .layer(validate)
        .service(model.clone());

    let answer = svc.oneshot(Prompt::new("what is six times seven?")).await;
    assert_eq!(answer.unwrap(), "{\"a\": 42}");
    assert_eq!(model.calls(), 3);
    // Attempt n is validated after n answers of 100 ms and n - 1 waits of 50 ms.
    assert_eq!(
        *seen.lock().unwrap(),
        [(1, ms(100)), (2, ms(250)), (3, ms(400))]
    );
    // The first attempt carried no tag; the retries were tagged with their number.
    let tags: Vec<Option<u32>> = model
        .requests()
        .iter()
        .map(|p| p.attempt.map(|a| a.number()))
        .collect();
    assert_eq!(tags, [None, Some(2), Some(3)]);
    // The retry layer saw invalid responses, with their reasons.
    assert_eq!(
        *events.lock().unwrap(),
        [
            (1, Outcome::Invalid, Some("not valid JSON".to_string())),
            (
                2,
                Outcome::Invalid,
                Some("shorter than 12 characters".to_string())
            ),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn http_requests_carry_the_attempt_in_their_extensions() {
    let model = Scripted::<String, http::Request<String>>::new([])
        .then_always(Reply::ok("nope".to_string()));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .backoff(Backoff::none())
        .clone_requests_with(|r: &http::Request<String>| {
            Some(
                http::Request::builder()
                    .uri(r.uri().clone())
                    .body(r.body().clone())
                    .unwrap(),
            )
        })
        .build()
        .unwrap();
    let validate = ValidateLayer::builder()
        .response_fn({
            let seen = seen.clone();
            move |_: &String, cx: &ValidationContext| {
                seen.lock().unwrap().push(cx.attempt());
                Err("never good enough")
            }
        })
        .build()
        .unwrap();
    let svc = RetryLayer::new(policy).layer(validate.layer(model.clone()));
    let req = http::Request::builder()
        .uri("/complete")
        .body("prompt".to_string())
        .unwrap();
    let err = svc.oneshot(req).await.unwrap_err();
    assert_eq!(retry_error(&err).attempts(), 3);
    assert_eq!(*seen.lock().unwrap(), [1, 2, 3]);
    let tags: Vec<Option<u32>> = model
        .requests()
        .iter()
        .map(|r| r.retry_attempt().map(|a| a.number()))
        .collect();
    assert_eq!(tags, [None, Some(2), Some(3)]);
}

#[tokio::test(start_paused = true)]
async fn every_failing_validator_gives_its_reason() {
    let model = Scripted::<String, Prompt>::new([Reply::ok("[1, 2".to_string())]);
    let svc = ValidateLayer::builder()
        .response(ensure("not valid JSON", |s: &String| looks_like_json(s)))
        .response(ensure("passes", |_: &String| true))
        .response_fn(|s: &String, _: &ValidationContext| {
            if s.contains("answer") {
                Ok(())
            } else {
                Err(format!("no answer in {} characters", s.len()))
            }
        })
        .response(ensure("too short", |s: &String| s.len() > 10))
        .build()
        .unwrap()
        .layer(model);
    let err = svc.oneshot(Prompt::new("list")).await.unwrap_err();
    let invalid = err.downcast_ref::<Invalid<String>>().unwrap();
    assert_eq!(
        reasons_of(invalid),
        ["not valid JSON", "no answer in 5 characters", "too short"]
    );
    assert_eq!(invalid.attempt(), 1);
    assert_eq!(invalid.response(), "[1, 2");
    assert_eq!(
        std::error::Error::source(invalid).unwrap().to_string(),
        "not valid JSON; no answer in 5 characters; too short"
    );
}

fn drafts() -> Vec<&'static str> {
    vec![
        "{\"answ",
        "{\"answer\": \"",
        "{\"ans\": 1}",
        "{\"answer\": \"forty-",
    ]
}

fn strict_json() -> ValidateLayer<
    impl Clone + steadfast::validate::Validator<Prompt>,
    impl Clone + steadfast::validate::Validator<String>,
> {
    ValidateLayer::builder()
        .response(ensure("not valid JSON", |s: &String| looks_like_json(s)))
        .response(ensure("no answer field", |s: &String| {
            s.contains("\"answer\"")
        }))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn exhaustion_keeps_every_attempt_response_and_reasons() {
    let model = Scripted::<String, Prompt>::new(drafts().into_iter().map(|d| Reply::ok(d.into())));
    let svc = ServiceBuilder::new()
        .layer(RetryLayer::new(
            RetryPolicy::builder()
                .max_attempts(4)
                .backoff(Backoff::constant(ms(10)))
                .build()
                .unwrap(),
        ))
        .layer(strict_json())
        .service(model.clone());
    let err = svc.oneshot(Prompt::new("q")).await.unwrap_err();
    let e = retry_error(&err);
    assert_eq!(e.reason(), &StopReason::AttemptsExhausted);
    assert_eq!(e.attempts(), 4);
    assert!(e.history().all(|r| r.outcome == Outcome::Invalid));
    let kept: Vec<(u32, String, Vec<String>)> = e
        .errors()
        .map(|(n, err)| {
            let invalid = err
                .downcast_ref::<Invalid<String>>()
                .expect("every kept error is an invalid response");
            assert_eq!(invalid.attempt(), n);
            (n, invalid.response().clone(), reasons_of(invalid))
        })
        .collect();
    let json = "not valid JSON".to_string();
    let field = "no answer field".to_string();
    assert_eq!(
        kept,
        [
            (
                1,
                drafts()[0].to_string(),
                vec![json.clone(), field.clone()]
            ),
            (2, drafts()[1].to_string(), vec![json.clone()]),
            (3, drafts()[2].to_string(), vec![field]),
            (4, drafts()[3].to_string(), vec![json]),
        ]
    );
    // The last attempt's invalid response is also the error's source.
    let last = e.last_error().unwrap();
    assert_eq!(
        last.downcast_ref::<Invalid<String>>().unwrap().response(),
        drafts()[3]
    );

    // The kept responses can be taken out by value.
    let err = *err.downcast::<RetryError>().unwrap();
    let responses: Vec<String> = err
        .into_errors()
        .into_iter()
        .map(|(_, e)| e.downcast::<Invalid<String>>().unwrap().into_response())
        .collect();
    assert_eq!(responses, drafts());
}

#[tokio::test(start_paused = true)]
async fn long_retries_keep_the_first_and_latest_attempts() {
    let model = Scripted::<String, Prompt>::new((1..=20).map(|n| Reply::ok(format!("draft {n}"))));
    let svc = RetryLayer::new(
        RetryPolicy::builder()
            .max_attempts(20)
            .backoff(Backoff::none())
            .build()
            .unwrap(),
    )
    .layer(strict_json().layer(model));
    let err = svc.oneshot(Prompt::new("q")).await.unwrap_err();
    let e = retry_error(&err);
    let kept: Vec<String> = e
        .errors()
        .map(|(_, e)| {
            e.downcast_ref::<Invalid<String>>()
                .unwrap()
                .response()
                .clone()
        })
        .collect();
    let want: Vec<String> = std::iter::once(1)
        .chain(6..=20)
        .map(|n| format!("draft {n}"))
        .collect();
    assert_eq!(kept, want);
    assert_eq!(e.history_omitted(), 4);
}

#[tokio::test(start_paused = true)]
async fn best_of_answers_with_the_highest_scoring_response() {
    let model = Scripted::<String, Prompt>::new(drafts().into_iter().map(|d| Reply::ok(d.into())));
    let policy = RetryPolicy::builder()
        .max_attempts(4)
        .backoff(Backoff::constant(ms(10)))
        // Fewest failed checks first, then the longest answer.
        .recover(best_of(|r: &Invalid<String>| {
            (std::cmp::Reverse(r.reasons().len()), r.response().len())
        }))
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .layer(strict_json())
        .service(model.clone());
    let answer = svc.oneshot(Prompt::new("q")).await.unwrap();
    // Attempts 2, 3 and 4 failed one check each; attempt 4's answer is the longest.
    assert_eq!(answer, drafts()[3]);
    assert_eq!(model.calls(), 4);
}

#[tokio::test(start_paused = true)]
async fn best_of_leaves_transport_failures_alone() {
    let model = Scripted::<String, Prompt>::new([]).then_always(Reply::err("connection reset"));
    let policy = RetryPolicy::builder()
        .max_attempts(2)
        .backoff(Backoff::none())
        .recover(best_of(|r: &Invalid<String>| r.response().len()))
        .build()
        .unwrap();
    let svc = RetryLayer::new(policy).layer(strict_json().layer(model));
    let err = svc.oneshot(Prompt::new("q")).await.unwrap_err();
    let e = retry_error(&err);
    let kept: Vec<String> = e
        .errors()
        .map(|(_, e)| e.downcast_ref::<TestError>().unwrap().0.clone())
        .collect();
    assert_eq!(kept, ["connection reset", "connection reset"]);
}

#[tokio::test(start_paused = true)]
async fn rejected_requests_never_reach_the_service() {
    // An empty script: any call would panic.
    let probe = ReadinessProbe::new(Scripted::<String, Prompt>::new([]));
    let validate = ValidateLayer::builder()
        .request(ensure("empty prompt", |p: &Prompt| !p.text.is_empty()))
        .request_fn(|p: &Prompt, _: &ValidationContext| {
            if p.text.len() <= 16 {
                Ok(())
            } else {
                Err(format!("prompt of {} characters is over 16", p.text.len()))
            }
        })
        .response(ensure("not valid JSON", |s: &String| looks_like_json(s)))
        .build()
        .unwrap();
    let mut svc = validate.layer(probe.clone());
    let err = svc
        .ready()
        .await
        .unwrap()
        .call(Prompt::new(""))
        .await
        .unwrap_err();
    let rejected = err.downcast_ref::<InvalidRequest>().unwrap();
    assert_eq!(rejected.reasons().len(), 1);
    assert_eq!(
        rejected.to_string(),
        "request rejected by validation: empty prompt"
    );
    let err = svc
        .ready()
        .await
        .unwrap()
        .call(Prompt::new("a very long prompt indeed"))
        .await
        .unwrap_err();
    let rejected = err.downcast_ref::<InvalidRequest>().unwrap();
    assert_eq!(
        rejected.reasons()[0].as_str(),
        "prompt of 25 characters is over 16"
    );
    assert_eq!(probe.calls(), 0);

    // The same service still sends good requests, each after its own readiness.
    let model = Scripted::<String, Prompt>::new([Reply::ok("{}".to_string())]);
    let probe = ReadinessProbe::new(model.clone());
    let mut svc = ValidateLayer::builder()
        .request(ensure("empty prompt", |p: &Prompt| !p.text.is_empty()))
        .build()
        .unwrap()
        .layer(probe.clone());
    assert!(svc
        .ready()
        .await
        .unwrap()
        .call(Prompt::new(""))
        .await
        .is_err());
    let ok = svc.ready().await.unwrap().call(Prompt::new("hi")).await;
    assert_eq!(ok.unwrap(), "{}");
    assert_eq!(probe.calls(), 1);
    assert_eq!(model.requests()[0].text, "hi");
}

#[tokio::test(start_paused = true)]
async fn rejected_requests_are_not_retried_nor_counted_by_a_breaker() {
    let model = Scripted::<String, Prompt>::new([]);
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(1)
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(RetryLayer::new(
            RetryPolicy::builder()
                .max_attempts(3)
                .backoff(Backoff::none())
                .build()
                .unwrap(),
        ))
        .layer(CircuitBreakerLayer::new(breaker.clone()))
        .layer(
            ValidateLayer::builder()
                .request(ensure("empty prompt", |p: &Prompt| !p.text.is_empty()))
                .build()
                .unwrap(),
        )
        .service(model.clone());
    let err = svc.oneshot(Prompt::new("")).await.unwrap_err();
    // Not wrapped in a RetryError: it was not retried.
    assert!(err.is::<InvalidRequest>(), "got {err:?}");
    assert_eq!(model.calls(), 0);
    let m = breaker.metrics();
    assert_eq!((m.failures, m.invalid, m.ignored), (0, 0, 1));
    assert_eq!(breaker.state(), CircuitState::Closed);
}

fn breaker_events(count_invalid: bool) -> (CircuitBreaker, Arc<Mutex<Vec<&'static str>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let breaker = CircuitBreaker::builder()
        .failure_rate(50.0)
        .minimum_calls(4)
        .window(SlidingWindow::count(10))
        .open_for(Duration::from_secs(30))
        .count_invalid(count_invalid)
        .on_event({
            let events = events.clone();
            move |e: &BreakerEvent<'_>| {
                let name = match e {
                    BreakerEvent::Success { .. } => "success",
                    BreakerEvent::Failure { .. } => "failure",
                    BreakerEvent::Invalid { .. } => "invalid",
                    _ => return,
                };
                events.lock().unwrap().push(name);
            }
        })
        .build()
        .unwrap();
    (breaker, events)
}

/// Four calls through breaker → validate → model: one transport failure, then three answers
/// that fail validation.
async fn four_calls(breaker: &CircuitBreaker) {
    let model = Scripted::<String, Prompt>::new([
        Reply::err("connection reset"),
        Reply::ok("{".to_string()),
        Reply::ok("{\"a\"".to_string()),
        Reply::ok("nope".to_string()),
    ]);
    let svc = CircuitBreakerLayer::new(breaker.clone()).layer(strict_json().layer(model));
    for _ in 0..4 {
        let err = svc.clone().oneshot(Prompt::new("q")).await.unwrap_err();
        assert!(err.is::<TestError>() || err.is::<Invalid<String>>());
    }
}

#[tokio::test(start_paused = true)]
async fn a_breaker_counts_invalid_responses_apart_and_trips_on_them() {
    let (breaker, events) = breaker_events(true);
    four_calls(&breaker).await;
    let m = breaker.metrics();
    assert_eq!((m.failures, m.invalid, m.successes), (1, 3, 0));
    assert_eq!(
        *events.lock().unwrap(),
        ["failure", "invalid", "invalid", "invalid"]
    );
    // Invalid responses count toward the failure rate by default: 4 of 4 failed.
    assert_eq!(breaker.state(), CircuitState::Open);
    assert_eq!(m.trips, 1);
}

#[tokio::test(start_paused = true)]
async fn a_breaker_can_leave_invalid_responses_out_of_its_failure_rate() {
    let (breaker, events) = breaker_events(false);
    four_calls(&breaker).await;
    let m = breaker.metrics();
    assert_eq!((m.failures, m.invalid, m.successes), (1, 3, 0));
    assert_eq!(
        *events.lock().unwrap(),
        ["failure", "invalid", "invalid", "invalid"]
    );
    // Only the transport failure counts: 1 of 4 is under 50%.
    assert_eq!(m.window_calls, 4);
    assert_eq!(m.window_failures, 1);
    assert_eq!(m.failure_rate, Some(25.0));
    assert_eq!(breaker.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn an_invalid_probe_reopens_only_when_invalid_responses_count() {
    for (count_invalid, after) in [(true, CircuitState::Open), (false, CircuitState::Closed)] {
        let (breaker, _) = breaker_events(count_invalid);
        breaker.isolate(ms(100));
        tokio::time::advance(ms(100)).await;
        let model = Scripted::<String, Prompt>::new([Reply::ok("{".to_string())]);
        let svc = CircuitBreakerLayer::new(breaker.clone()).layer(strict_json().layer(model));
        let err = svc.oneshot(Prompt::new("q")).await.unwrap_err();
        assert!(err.is::<Invalid<String>>());
        assert_eq!(breaker.state(), after, "count_invalid({count_invalid})");
        assert_eq!(breaker.metrics().invalid, 1);
    }
}

#[tokio::test(start_paused = true)]
async fn a_layer_without_validators_is_a_config_error() {
    let err = ValidateLayer::builder().build().unwrap_err();
    assert_eq!(err.layer(), "validate");
    assert_eq!(err.field(), "validators");
    assert_eq!(
        err.to_string(),
        "invalid validate configuration: `validators` must include at least one request or response validator (got none)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_without_delay_is_tagged_with_the_time_its_failed_attempt_ended() {
    // Each answer takes 100 ms and the retries follow at once. Without a time limit the
    // retry layer's clock starts when the first attempt fails; with one, when it starts.
    for limited in [false, true] {
        let model = Scripted::<String, Prompt>::new([
            Reply::err("busy").after(ms(100)),
            Reply::err("busy").after(ms(100)),
            Reply::ok("{}".to_string()).after(ms(100)),
        ]);
        let mut policy = RetryPolicy::builder()
            .max_attempts(3)
            .backoff(Backoff::none());
        if limited {
            policy = policy.max_elapsed(Duration::from_secs(10));
        }
        let svc = RetryLayer::new(policy.build().unwrap()).layer(model.clone());
        assert_eq!(svc.oneshot(Prompt::new("q")).await.unwrap(), "{}");
        let tags: Vec<Option<(u32, Duration)>> = model
            .requests()
            .iter()
            .map(|p| p.attempt.map(|a| (a.number(), a.elapsed())))
            .collect();
        let (second, third) = if limited {
            (ms(100), ms(200))
        } else {
            (Duration::ZERO, ms(100))
        };
        assert_eq!(
            tags,
            [None, Some((2, second)), Some((3, third))],
            "with a time limit: {limited}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn validators_see_the_attempt_tag_without_a_retry_layer() {
    // A caller (or a retry loop of its own) can tag requests too.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let svc = ValidateLayer::builder()
        .request(validator_fn({
            let seen = seen.clone();
            move |_: &Prompt, cx: &ValidationContext| {
                seen.lock().unwrap().push((cx.attempt(), cx.elapsed()));
                Ok::<_, &'static str>(())
            }
        }))
        .build()
        .unwrap()
        .layer(Scripted::<String, Prompt>::new([]).then_always(Reply::ok("{}".to_string())));
    let mut tagged = Prompt::new("q");
    tagged.set_retry_attempt(RetryAttempt::new(4, ms(700)));
    svc.clone().oneshot(Prompt::new("q")).await.unwrap();
    svc.oneshot(tagged).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), [(1, Duration::ZERO), (4, ms(700))]);
}

#[tokio::test(start_paused = true)]
async fn recovery_runs_on_a_give_up_only() {
    use steadfast::token::CancelToken;

    let recovered = Arc::new(Mutex::new(Vec::new()));
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .backoff(Backoff::constant(ms(100)))
        .recover_with({
            let recovered = recovered.clone();
            move |err: RetryError| {
                recovered.lock().unwrap().push(err.attempts());
                Ok::<_, BoxError>("cached".to_string())
            }
        })
        .build()
        .unwrap();

    // Attempts run out: the recovery answers.
    let down = Scripted::<String, Prompt>::new([]).then_always(Reply::err("refused"));
    let svc = RetryLayer::new(policy.clone()).layer(down.clone());
    assert_eq!(svc.oneshot(Prompt::new("q")).await.unwrap(), "cached");
    assert_eq!(*recovered.lock().unwrap(), [3]);

    // A non-retryable error passes through: nothing to recover from.
    let svc = RetryLayer::new(policy.clone()).layer(
        ValidateLayer::builder()
            .request(ensure("empty prompt", |p: &Prompt| !p.text.is_empty()))
            .build()
            .unwrap()
            .layer(down.clone()),
    );
    let err = svc.oneshot(Prompt::new("")).await.unwrap_err();
    assert!(err.is::<InvalidRequest>());

    // A cancelled request gets its RetryError: nobody is waiting for an answer.
    #[derive(Clone)]
    struct Job(CancelToken);
    impl HasCancelToken for Job {
        fn cancel_token(&self) -> Option<&CancelToken> {
            Some(&self.0)
        }
    }
    let token = CancelToken::new();
    let svc = RetryLayer::new(policy.clone())
        .layer(Scripted::<String, Job>::new([]).then_always(Reply::err("refused")));
    let call = tokio::spawn(svc.oneshot(Job(token.clone())));
    tokio::time::sleep(ms(50)).await;
    token.cancel();
    let err = call.await.unwrap().unwrap_err();
    assert!(retry_error(&err).is_cancelled());
    assert_eq!(recovered.lock().unwrap().len(), 1);

    // The function-level API recovers the same way.
    let answer = policy
        .run(|_| async { Err::<String, _>(std::io::Error::other("refused")) })
        .await
        .unwrap();
    assert_eq!(answer, "cached");
    assert_eq!(*recovered.lock().unwrap(), [3, 3]);
}
