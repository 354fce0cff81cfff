//! Retry until the JSON is valid: a model client that answers with broken or incomplete JSON
//! now and then, wrapped in a retry layer, a circuit breaker and a validate layer.
//!
//! ```sh
//! cargo run -p steadfast-examples --example retry_until_valid
//! ```
//!
//! The "model" is a local scripted service that answers after a short think, so the example
//! runs in well under a second and shows the same thing every time:
//!
//! 1. broken JSON, then JSON without the answer, then a good answer: three attempts, success;
//! 2. a model that never gets it right: the best of its answers is used instead of an error;
//! 3. the same without a fallback: the error keeps every attempt's answer and reasons;
//! 4. an empty prompt: rejected before it reaches the model.
//!
//! It exits with an error if any of that does not happen.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
use steadfast::retry::{Backoff, RetryError, RetryEvent, RetryLayer, RetryPolicy};
use steadfast::token::{HasCancelToken, RetryAttempt};
use steadfast::validate::{
    best_of, ensure, validator_fn, Invalid, InvalidRequest, InvalidResponse, Reason, ValidateLayer,
    ValidationContext, Validator,
};
use steadfast::BoxError;
use tower::{service_fn, Service, ServiceBuilder, ServiceExt};

/// A prompt for the model. It keeps the retry layer's attempt tag, so the validators below
/// the retry layer know which attempt they judge.
#[derive(Clone, Debug)]
struct Prompt {
    text: String,
    attempt: Option<RetryAttempt>,
}

impl Prompt {
    fn new(text: &str) -> Self {
        Prompt {
            text: text.into(),
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

/// The answer must be a JSON object with a numeric `answer` and a `confidence` of at least
/// 0.8; from the third attempt on, 0.5 will do.
#[derive(Clone, Copy)]
struct AnswerSchema;

impl Validator<String> for AnswerSchema {
    fn validate(&self, completion: &String, cx: &ValidationContext, reasons: &mut Vec<Reason>) {
        let json: Value = match serde_json::from_str(completion) {
            Ok(v) => v,
            Err(e) => {
                reasons.push(Reason::new(format!("not valid JSON ({e})")));
                return;
            }
        };
        if !json["answer"].is_number() {
            reasons.push(Reason::from("no numeric \"answer\""));
        }
        let needed = if cx.attempt() >= 3 { 0.5 } else { 0.8 };
        match json["confidence"].as_f64() {
            Some(c) if c >= needed => {}
            Some(c) => reasons.push(Reason::new(format!("confidence {c} is below {needed}"))),
            None => reasons.push(Reason::from("no \"confidence\"")),
        }
    }
}

/// A scripted model: answers from `drafts`, in order, after a short think.
#[derive(Clone)]
struct Model {
    drafts: Arc<Mutex<VecDeque<&'static str>>>,
    calls: Arc<Mutex<u32>>,
}

impl Model {
    fn new(drafts: &[&'static str]) -> Self {
        Model {
            drafts: Arc::new(Mutex::new(drafts.iter().copied().collect())),
            calls: Arc::default(),
        }
    }

    fn calls(&self) -> u32 {
        *self.calls.lock().unwrap()
    }

    fn service(&self) -> impl Service<Prompt, Response = String, Error = std::io::Error> + Clone {
        let model = self.clone();
        service_fn(move |prompt: Prompt| {
            *model.calls.lock().unwrap() += 1;
            let draft = model.drafts.lock().unwrap().pop_front();
            async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                let attempt = prompt.attempt.map_or(1, |a| a.number());
                let draft = draft.ok_or_else(|| std::io::Error::other("model out of drafts"))?;
                println!("    attempt {attempt}: {:?} -> {draft}", prompt.text);
                Ok(draft.to_string())
            }
        })
    }
}

fn check(ok: bool, what: &str) -> Result<(), BoxError> {
    if ok {
        Ok(())
    } else {
        Err(format!("expected {what}").into())
    }
}

fn policy_builder() -> steadfast::retry::RetryPolicyBuilder {
    RetryPolicy::builder()
        .max_attempts(4)
        .backoff(Backoff::constant(Duration::from_millis(10)))
        .on_event(|event: &RetryEvent<'_>| {
            if let RetryEvent::Retry {
                attempt,
                outcome,
                error: Some(e),
                ..
            } = event
            {
                let why = steadfast::classify::find_source::<InvalidResponse>(*e)
                    .map_or_else(|| e.to_string(), |w| w.to_string());
                println!("      attempt {attempt}: {outcome}: {why}");
            }
        })
}

fn validate_layer(
) -> Result<ValidateLayer<impl Validator<Prompt> + Clone, impl Validator<String> + Clone>, BoxError>
{
    Ok(ValidateLayer::builder()
        .request(ensure("empty prompt", |p: &Prompt| {
            !p.text.trim().is_empty()
        }))
        .request_fn(|p: &Prompt, _: &ValidationContext| match p.text.len() {
            0..=200 => Ok(()),
            n => Err(format!("prompt of {n} bytes is over 200")),
        })
        .response(AnswerSchema)
        .response(validator_fn(|s: &String, _: &ValidationContext| {
            if s.len() <= 1_000 {
                Ok(())
            } else {
                Err("longer than 1000 bytes")
            }
        }))
        .build()?)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let started = tokio::time::Instant::now();
    let breaker = CircuitBreaker::builder()
        .name("model")
        .consecutive_failures(20)
        .build()?;

    println!("1. broken JSON, then no answer, then a good one");
    let model = Model::new(&[
        r#"{"answer": 42, "confidence": 0.9"#,
        r#"{"confidence": 0.95}"#,
        r#"{"answer": 42, "confidence": 0.93}"#,
    ]);
    let svc = ServiceBuilder::new()
        .layer(RetryLayer::new(policy_builder().build()?))
        .layer(CircuitBreakerLayer::new(breaker.clone()))
        .layer(validate_layer()?)
        .service(model.service());
    let answer = svc.oneshot(Prompt::new("what is six times seven?")).await?;
    println!("  -> {answer} after {} calls", model.calls());
    check(model.calls() == 3, "three calls")?;
    check(answer.contains("42"), "the answer 42")?;

    println!("2. a model that never gets it right: the best answer stands in");
    let model = Model::new(&[
        r#"{"answer": "forty-two"}"#,
        r#"{"answer": 41, "confidence": 0.2}"#,
        r#"{"answer": 42, "confidence": 0.3"#,
        r#"{"answer": 42, "confidence": 0.45}"#,
    ]);
    let policy = policy_builder()
        // Fewest problems first; then the latest attempt.
        .recover(best_of(|r: &Invalid<String>| {
            std::cmp::Reverse(r.reasons().len())
        }))
        .build()?;
    let svc = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .layer(CircuitBreakerLayer::new(breaker.clone()))
        .layer(validate_layer()?)
        .service(model.service());
    let answer = svc.oneshot(Prompt::new("what is six times seven?")).await?;
    println!("  -> best of four: {answer}");
    check(model.calls() == 4, "four calls")?;
    check(
        answer == r#"{"answer": 42, "confidence": 0.45}"#,
        "the last answer, which failed one check only",
    )?;

    println!("3. the same without a fallback: every attempt is kept in the error");
    let model = Model::new(&[
        r#"{"answer": "forty-two"}"#,
        r#"{"answer": 41, "confidence": 0.2}"#,
        r#"{"answer": 42, "confidence": 0.3"#,
        r#"{"answer": 42, "confidence": 0.45}"#,
    ]);
    let svc = ServiceBuilder::new()
        .layer(RetryLayer::new(policy_builder().build()?))
        .layer(CircuitBreakerLayer::new(breaker.clone()))
        .layer(validate_layer()?)
        .service(model.service());
    let err = svc
        .oneshot(Prompt::new("what is six times seven?"))
        .await
        .err()
        .ok_or("expected the retries to run out")?;
    let err = err
        .downcast::<RetryError>()
        .map_err(|e| format!("expected a RetryError, got {e}"))?;
    println!("  -> {err}");
    let mut kept = 0;
    for (attempt, e) in err.errors() {
        let invalid = e
            .downcast_ref::<Invalid<String>>()
            .ok_or("expected every kept error to be an invalid answer")?;
        let reasons: Vec<&str> = invalid.reasons().iter().map(Reason::as_str).collect();
        println!(
            "     #{attempt} {} rejected: {}",
            invalid.response(),
            reasons.join("; ")
        );
        kept += 1;
    }
    check(kept == 4, "four kept answers")?;

    println!("4. an empty prompt never reaches the model");
    let model = Model::new(&[]);
    let svc = ServiceBuilder::new()
        .layer(RetryLayer::new(policy_builder().build()?))
        .layer(CircuitBreakerLayer::new(breaker.clone()))
        .layer(validate_layer()?)
        .service(model.service());
    let err = svc
        .oneshot(Prompt::new("  "))
        .await
        .err()
        .ok_or("expected the prompt to be rejected")?;
    println!("  -> {err} ({} calls to the model)", model.calls());
    check(err.is::<InvalidRequest>(), "an InvalidRequest, not retried")?;
    check(model.calls() == 0, "no call to the model")?;

    let m = breaker.metrics();
    println!(
        "breaker '{}': {} successes, {} transport failures, {} invalid answers, {} ignored",
        breaker.name(),
        m.successes,
        m.failures,
        m.invalid,
        m.ignored
    );
    check(
        (m.successes, m.failures, m.invalid, m.ignored) == (1, 0, 10, 1),
        "1 success, 0 failures, 10 invalid answers and 1 ignored rejection",
    )?;
    println!("done in {:?}", started.elapsed());
    Ok(())
}
