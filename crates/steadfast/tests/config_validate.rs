//! A stack's `validate` section in files: read with every problem at its path, written back
//! equal, and built innermost in the stack by `StackBuilder::validate_with`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use steadfast::config::{Config, Format, Node, ValidateSettings};
use steadfast::describe::Describe;
use steadfast::validate::{ensure, AcceptAll, And, Invalid, ValidateLayer, Validator};
use steadfast::ConfigError;
use tower::{service_fn, Layer, ServiceExt};

const FILE: &str = r#"
[stacks.api]
cancel = "5s"
retry = { max_attempts = 3, backoff = { kind = "none" } }
breaker = { consecutive_failures = 10 }
attempt_timeout = "1s"

[stacks.api.validate]
request_headers = ["authorization"]
success_status = true
response_headers = ["content-type", "x-request-id"]
json_fields = ["id", "name"]
max_body = 4096
"#;

#[test]
fn a_stacks_validate_section_is_read_and_named_after_the_stack() {
    let config = Config::from_str(FILE, Format::Toml).unwrap();
    let v = config.stack("api").unwrap().validate.as_ref().unwrap();
    assert_eq!(v.name.as_deref(), Some("api"));
    assert_eq!(
        v.request_headers.as_deref(),
        Some(&["authorization".to_owned()][..])
    );
    assert_eq!(v.success_status, Some(true));
    assert_eq!(v.response_headers.as_ref().unwrap().len(), 2);
    assert_eq!(v.json_fields.as_ref().unwrap(), &["id", "name"]);
    assert_eq!(v.max_body, Some(4096));
    assert!(v.checks_requests() && v.checks_responses() && v.checks_bodies());
}

#[test]
fn every_problem_is_reported_at_once_with_its_path() {
    let err = Config::from_str(
        r#"
        [stacks.api.validate]
        request_headers = ["authorization", "bad header", 7]
        success_status = "yes"
        response_headers = "content-type"
        json_fields = [""]
        max_body = 0
        jsno = true
        "#,
        Format::Toml,
    )
    .unwrap_err();
    let lines: Vec<String> = err.problems().iter().map(|p| p.to_string()).collect();
    assert_eq!(
        lines,
        [
            "stacks.api.validate.request_headers.1 = \"bad header\": not a header name (letters, \
             digits and !#$%&'*+-.^_`|~ only, as RFC 9110's tokens)",
            "stacks.api.validate.request_headers.2 = 7: must be text",
            "stacks.api.validate.success_status = \"yes\": must be true or false",
            "stacks.api.validate.response_headers = \"content-type\": must be a list of text",
            "stacks.api.validate.json_fields.0 = \"\": must not be empty",
            "stacks.api.validate.max_body = 0: must be at least 1 byte",
            "stacks.api.validate.jsno = true: unknown setting (did you mean `json`?)",
        ]
    );
    // A section that checks nothing is refused once the file reads cleanly.
    let err = Config::from_str(
        "[stacks.api.validate]\nsuccess_status = false\njson_fields = []\n",
        Format::Toml,
    )
    .unwrap_err();
    assert_eq!(err.problems().len(), 1);
    assert_eq!(err.problems()[0].path(), "stacks.api.validate");
    assert!(
        err.problems()[0].rule().starts_with("checks nothing"),
        "{err}"
    );
}

fn names() -> impl Strategy<Value = Option<Vec<String>>> {
    proptest::option::of(proptest::collection::vec("[a-z][a-z0-9-]{0,10}", 0..4))
}

fn validate_settings() -> impl Strategy<Value = ValidateSettings> {
    (
        proptest::option::of("[a-z][a-z0-9-]{0,8}"),
        names(),
        proptest::option::of(any::<bool>()),
        names(),
        proptest::option::of(any::<bool>()),
        proptest::option::of(proptest::collection::vec(
            "[a-zA-Z_][a-zA-Z0-9_ ]{0,10}",
            0..4,
        )),
        proptest::option::of(any::<bool>()),
        proptest::option::of(1u64..(1 << 40)),
    )
        .prop_map(|(name, req, success, res, json, fields, grpc, max_body)| {
            let mut s = ValidateSettings::default();
            s.name = name;
            s.request_headers = req;
            s.success_status = success;
            s.response_headers = res;
            s.json = json;
            s.json_fields = fields;
            s.grpc_status = grpc;
            s.max_body = max_body;
            s
        })
}

proptest! {
    #[test]
    fn validate_settings_read_back_equal(s in validate_settings()) {
        for format in [Format::Toml, Format::Json, Format::Yaml] {
            let text = s.to_node().write(format).unwrap();
            let node = Node::parse(&text, format).unwrap();
            prop_assert_eq!(&ValidateSettings::from_node(&node).unwrap(), &s, "{:?}:\n{}", format, text);
        }
        let json = serde_json::to_string(&s).unwrap();
        prop_assert_eq!(serde_json::from_str::<ValidateSettings>(&json).unwrap(), s);
    }
}

/// What a program's own reading of the section builds: here, the JSON fields become a check
/// that the answer names each of them.
fn answers_name_fields(
    s: &ValidateSettings,
) -> Result<ValidateLayer<AcceptAll, And<AcceptAll, impl Validator<String> + Clone>>, ConfigError> {
    let fields = s.json_fields.clone().unwrap_or_default();
    ValidateLayer::builder()
        .response(ensure("a field is missing", move |answer: &String| {
            fields.iter().all(|f| answer.contains(f.as_str()))
        }))
        .build()
}

#[test]
fn layer_refuses_a_stack_whose_validators_it_cannot_build() {
    let config = Config::from_str(FILE, Format::Toml).unwrap();
    let err = config
        .find_stack("api")
        .unwrap()
        .layer(steadfast::classify::AnyError)
        .unwrap_err();
    assert_eq!((err.layer(), err.field()), ("stack", "validate"));
    assert!(err.rule().contains("validate_with"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn the_validate_layer_goes_innermost_and_invalid_answers_are_retried() {
    let config = Config::from_str(FILE, Format::Toml).unwrap();
    let stack = config
        .find_stack("api")
        .unwrap()
        .builder()
        .validate_with(answers_name_fields)
        .build()
        .unwrap();
    let layers = stack.describe();
    let kinds: Vec<&str> = layers.iter().map(|l| l.kind()).collect();
    assert_eq!(
        kinds,
        ["cancel", "retry", "circuit-breaker", "cancel", "validate"]
    );

    // Two incomplete answers, then a complete one: the retry layer above retries the
    // invalid ones, and the breaker counts them.
    let calls = Arc::new(AtomicU32::new(0));
    let svc = stack.layer(service_fn({
        let calls = calls.clone();
        move |_: u32| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok::<_, std::io::Error>(match n {
                    0 => "id".to_owned(),
                    1 => "name".to_owned(),
                    _ => "id and name".to_owned(),
                })
            }
        }
    }));
    assert_eq!(svc.clone().oneshot(1).await.unwrap(), "id and name");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let metrics = stack.breaker().unwrap().metrics();
    assert_eq!(metrics.invalid, 2, "{metrics:?}");

    // Three invalid answers use every attempt; the last one's error keeps the answer.
    calls.store(0, Ordering::SeqCst);
    let svc = stack.layer(service_fn(|_: u32| async {
        Ok::<_, std::io::Error>("neither".to_owned())
    }));
    let started = tokio::time::Instant::now();
    let err = svc.oneshot(1).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::ZERO);
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err.as_ref());
    let mut found = false;
    while let Some(e) = source {
        found |= e.downcast_ref::<Invalid<String>>().is_some();
        source = e.source();
    }
    assert!(found, "{err}");
}

#[test]
fn validate_with_refuses_a_stack_without_a_validate_section() {
    let config =
        Config::from_str("[stacks.s]\nretry = { max_attempts = 2 }\n", Format::Toml).unwrap();
    let err = config
        .find_stack("s")
        .unwrap()
        .builder()
        .validate_with(answers_name_fields)
        .build()
        .unwrap_err();
    assert_eq!((err.layer(), err.field()), ("stack", "validate"));
    assert!(err.rule().starts_with("missing"), "{err}");
}

#[test]
fn the_complete_file_reads_its_validate_section_and_rules_in_every_format() {
    use steadfast::config::CodeSetting;

    let toml = Config::from_str(include_str!("config/complete.toml"), Format::Toml).unwrap();
    let yaml = Config::from_str(include_str!("config/complete.yaml"), Format::Yaml).unwrap();
    let json = Config::from_str(include_str!("config/complete.json"), Format::Json).unwrap();
    assert_eq!(toml, yaml);
    assert_eq!(toml, json);
    let v = toml.stack("search").unwrap().validate.as_ref().unwrap();
    assert_eq!(v.name.as_deref(), Some("search"));
    assert_eq!(v.json_fields.as_ref().unwrap(), &["items"]);
    assert_eq!(v.max_body, Some(65536));
    let rules = toml
        .policy("quick")
        .unwrap()
        .classify_rules
        .as_ref()
        .unwrap();
    assert_eq!(
        rules.retry,
        [CodeSetting::Status(429), CodeSetting::Status(503)]
    );
    assert_eq!(rules.fail, [CodeSetting::Status(500)]);
}

#[test]
fn overriding_replaces_setting_by_setting_and_lists_whole() {
    let read = |text: &str| {
        ValidateSettings::from_node(&Node::parse(text, Format::Json).unwrap()).unwrap()
    };
    let base =
        read(r#"{ "success_status": true, "json_fields": ["id", "name"], "max_body": 100 }"#);
    let over = read(r#"{ "json_fields": ["sku"], "grpc_status": true }"#);
    let merged = base.overridden_by(&over);
    assert_eq!(merged.success_status, Some(true));
    assert_eq!(merged.json_fields.as_ref().unwrap(), &["sku"]);
    assert_eq!(merged.grpc_status, Some(true));
    assert_eq!(merged.max_body, Some(100));
}
