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

#[cfg(feature = "config")]
mod with_rules {
    use super::*;
    use steadfast::config::{Config, Format};
    use steadfast_http::by_name::{classifier_with_rules, ClassifierError};

    fn policy(config: &Config, name: &str) -> Result<NamedClassifier, ClassifierError> {
        let p = config.policy(name).unwrap();
        let path = format!("policies.{name}.classify");
        classifier_with_rules(
            &path,
            p.classify.as_deref().unwrap(),
            p.classify_rules.as_ref(),
        )
    }

    const FILE: &str = r#"{ "policies": {
        "http": { "classify": { "name": "http", "retry": [500], "success": [503], "ignore": [404] } },
        "transport": { "classify": { "name": "transport", "retry": [503] } },
        "grpc": { "classify": { "name": "grpc", "retry": ["INTERNAL"], "fail": ["UNAVAILABLE"] } },
        "http_with_codes": { "classify": { "name": "http", "fail": [500], "retry": ["UNAVAILABLE"] } },
        "grpc_with_statuses": { "classify": { "name": "grpc", "retry": [503] } },
        "unknown": { "classify": { "name": "htp", "retry": [503] } }
    } }"#;

    #[test]
    fn the_files_rules_go_on_top_of_the_named_classifier() {
        let config = Config::from_str(FILE, Format::Json).unwrap();
        let c = policy(&config, "http").unwrap();
        assert_eq!(answer(&c, Method::GET, 500, None), Outcome::retryable());
        assert_eq!(answer(&c, Method::GET, 503, None), Outcome::Success);
        assert_eq!(answer(&c, Method::GET, 404, None), Outcome::Ignored);
        // What the file leaves out keeps the classifier's rule, and its idempotency.
        assert_eq!(answer(&c, Method::GET, 502, None), Outcome::retryable());
        assert_eq!(answer(&c, Method::POST, 500, None), Outcome::NonRetryable);

        // `transport` keeps its own rules for the rest.
        let c = policy(&config, "transport").unwrap();
        assert_eq!(answer(&c, Method::GET, 503, None), Outcome::retryable());
        assert_eq!(answer(&c, Method::GET, 502, None), Outcome::NonRetryable);

        let c = policy(&config, "grpc").unwrap();
        assert_eq!(
            answer(&c, Method::POST, 200, Some(13)),
            Outcome::retryable()
        );
        assert_eq!(
            answer(&c, Method::POST, 200, Some(14)),
            Outcome::NonRetryable
        );
        assert_eq!(answer(&c, Method::POST, 200, Some(8)), Outcome::retryable());
    }

    #[test]
    fn a_code_of_the_other_kind_is_refused_at_its_path() {
        let config = Config::from_str(FILE, Format::Json).unwrap();
        let err = policy(&config, "http_with_codes").unwrap_err();
        assert_eq!(err.path(), "policies.http_with_codes.classify.retry.0");
        assert_eq!(
            err.to_string(),
            "policies.http_with_codes.classify.retry.0 = \"UNAVAILABLE\": a gRPC code, but \
             `http` classifies HTTP statuses (give a status, such as 503)"
        );
        let err = policy(&config, "grpc_with_statuses").unwrap_err();
        assert_eq!(err.path(), "policies.grpc_with_statuses.classify.retry.0");
        let err = policy(&config, "unknown").unwrap_err();
        assert!(matches!(err, ClassifierError::Unknown(_)));
        assert!(err.to_string().contains("did you mean `http`?"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_client_preset_takes_the_files_http_rules() {
        use std::sync::atomic::{AtomicU32, Ordering};
        use std::sync::Arc;

        use bytes::Bytes;
        use http_body_util::Full;
        use steadfast_http::preset::StandardClient;
        use steadfast_http::replay::ReplayBody;
        use tower::{service_fn, Layer, ServiceExt};

        let config = Config::from_str(
            r#"{ "stacks": {
                "a": { "retry": { "max_attempts": 3, "classify": { "name": "http", "retry": [500] } } },
                "b": { "retry": { "classify": { "name": "http", "retry": ["ABORTED"] } } }
            } }"#,
            Format::Json,
        )
        .unwrap();
        // A 500 is retried: the file's rule, not the preset's default.
        let calls = Arc::new(AtomicU32::new(0));
        let transport = service_fn({
            let calls = calls.clone();
            move |_: Request<ReplayBody<Full<Bytes>>>| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, std::io::Error>(Response::builder().status(500).body(()).unwrap()) }
            }
        });
        let client = StandardClient::from_stack(config.stack("a").unwrap())
            .unwrap()
            .build()
            .unwrap()
            .layer(transport);
        let req = Request::get("http://a.internal/")
            .body(Full::default())
            .unwrap();
        let _ = client.oneshot(req).await;
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let err = StandardClient::from_stack(config.stack("b").unwrap()).unwrap_err();
        assert_eq!(err.field(), "retry.classify");
        assert!(err.rule().contains("a gRPC code"), "{err}");
    }
}
