//! The built-in classifiers by name: what each name classifies as, and the error for a name
//! no classifier has.

use http::{Method, Request, Response};
use steadfast::classify::{Attempt, Classify, Outcome};
use steadfast_http::by_name::{classifier_by_name, NamedClassifier, CLASSIFIER_NAMES};

fn answer(c: &NamedClassifier, method: Method, status: u16, grpc: Option<u8>) -> Outcome {
    let req = Request::builder().method(method).body(()).unwrap();
    let mut res = Response::builder().status(status);
    if let Some(code) = grpc {
        res = res
            .header("content-type", "application/grpc")
            .header("grpc-status", code.to_string());
    }
    let res = res.body(()).unwrap();
    Classify::<_, _, std::io::Error>::classify(c, &Attempt::first(&req), Ok(&res))
}

fn refused(c: &NamedClassifier, method: Method) -> Outcome {
    let req = Request::builder().method(method).body(()).unwrap();
    let err = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    Classify::<_, Response<()>, _>::classify(c, &Attempt::first(&req), Err(&err))
}

fn named(name: &str) -> NamedClassifier {
    classifier_by_name("stacks.api.retry.classify", name).unwrap()
}

#[test]
fn http_retries_idempotent_requests_on_transient_statuses() {
    let c = named("http");
    assert!(matches!(c, NamedClassifier::Http(_)));
    assert_eq!(answer(&c, Method::GET, 503, None), Outcome::retryable());
    assert_eq!(answer(&c, Method::GET, 500, None), Outcome::NonRetryable);
    assert_eq!(answer(&c, Method::GET, 200, None), Outcome::Success);
    // POST is not idempotent (RFC 9110): not retried.
    assert_eq!(answer(&c, Method::POST, 503, None), Outcome::NonRetryable);
}

#[test]
fn http_idempotent_retries_every_method() {
    let c = named("http_idempotent");
    assert_eq!(answer(&c, Method::POST, 503, None), Outcome::retryable());
    assert_eq!(answer(&c, Method::POST, 500, None), Outcome::NonRetryable);
}

#[test]
fn grpc_reads_the_grpc_status() {
    let c = named("grpc");
    assert!(matches!(c, NamedClassifier::Grpc(_)));
    // UNAVAILABLE (14) is retried, INTERNAL (13) is a failure not retried.
    assert_eq!(
        answer(&c, Method::POST, 200, Some(14)),
        Outcome::retryable()
    );
    assert_eq!(
        answer(&c, Method::POST, 200, Some(13)),
        Outcome::NonRetryable
    );
    assert_eq!(answer(&c, Method::POST, 200, Some(0)), Outcome::Success);
}

#[test]
fn transport_retries_only_errors_where_no_answer_came() {
    let c = named("transport");
    assert_eq!(answer(&c, Method::GET, 503, None), Outcome::NonRetryable);
    assert_eq!(answer(&c, Method::GET, 429, None), Outcome::Success);
    assert_eq!(refused(&c, Method::GET), Outcome::retryable());
    // A refused connection never reached the server: safe for any method.
    assert_eq!(refused(&c, Method::POST), Outcome::retryable());
}

#[test]
fn every_known_name_maps_to_a_classifier() {
    for name in CLASSIFIER_NAMES {
        assert!(classifier_by_name("classify", name).is_ok(), "{name}");
    }
}

#[test]
fn an_unknown_name_is_reported_with_its_path_and_the_known_names() {
    let err = classifier_by_name("stacks.api.retry.classify", "grcp").unwrap_err();
    assert_eq!(err.path(), "stacks.api.retry.classify");
    assert_eq!(err.name(), "grcp");
    assert_eq!(
        err.to_string(),
        "stacks.api.retry.classify = \"grcp\": unknown classifier (did you mean `grpc`? known: \
         http, http_idempotent, grpc, transport)"
    );
    let err = classifier_by_name("hedges.a.classify", "magic").unwrap_err();
    assert_eq!(
        err.to_string(),
        "hedges.a.classify = \"magic\": unknown classifier (known: http, http_idempotent, grpc, \
         transport)"
    );
}

#[cfg(feature = "config")]
#[test]
fn the_standard_client_names_the_known_classifiers_for_an_unknown_one() {
    use steadfast::config::{Config, Format};
    use steadfast_http::preset::StandardClient;

    let config = Config::from_str(
        r#"{ "stacks": { "a": { "retry": { "classify": "htp" } }, "b": { "retry": { "classify": "grpc" } } } }"#,
        Format::Json,
    )
    .unwrap();
    let err = StandardClient::from_stack(config.stack("a").unwrap()).unwrap_err();
    assert_eq!(err.field(), "retry.classify");
    assert!(err.rule().contains("did you mean `http`?"), "{err}");
    assert!(err.rule().contains("known: http, http_idempotent"), "{err}");
    let err = StandardClient::from_stack(config.stack("b").unwrap()).unwrap_err();
    assert_eq!(err.rule(), "the preset classifies with `http` (got `grpc`)");
}
