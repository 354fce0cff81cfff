//! A classifier's rules in files (`classify = { name = "http", retry = [503] }`): read with
//! every problem at its path, inherited with the name they go with, and written back equal.

use proptest::prelude::*;
use steadfast::config::{
    ClassifyRules, CodeSetting, Config, Format, HedgeSettings, Node, RetrySettings, GRPC_CODE_NAMES,
};

const FILE: &str = r#"
[policies.http]
classify = { name = "http", retry = [500, 503], fail = [429], ignore = [404] }

[hedges.grpc]
classify = { name = "grpc", retry = ["UNAVAILABLE", "ABORTED"], success = ["NOT_FOUND"] }

[stacks.inherits]
retry = { from = "http", max_attempts = 2 }

[stacks.renames]
retry = { from = "http", classify = "transport" }

[stacks.own]
hedge = { from = "grpc", classify = { name = "grpc", fail = ["UNAVAILABLE"] } }
"#;

#[test]
fn rules_are_read_and_go_with_their_name() {
    let config = Config::from_str(FILE, Format::Toml).unwrap();
    let http = config.policy("http").unwrap();
    assert_eq!(http.classify.as_deref(), Some("http"));
    let rules = http.classify_rules.as_ref().unwrap();
    assert_eq!(
        rules.retry,
        [CodeSetting::Status(500), CodeSetting::Status(503)]
    );
    assert_eq!(rules.fail, [CodeSetting::Status(429)]);
    assert_eq!(rules.ignore, [CodeSetting::Status(404)]);
    assert!(rules.success.is_empty());
    let grpc = config
        .hedge("grpc")
        .unwrap()
        .classify_rules
        .as_ref()
        .unwrap();
    assert_eq!(
        grpc.retry,
        [
            CodeSetting::Grpc("UNAVAILABLE"),
            CodeSetting::Grpc("ABORTED")
        ]
    );

    // A stack starting from the policy keeps its rules; one that names another classifier
    // drops them; one that gives its own rules replaces them whole.
    let retry = |s: &str| config.stack(s).unwrap().retry.clone().unwrap();
    assert_eq!(retry("inherits").classify_rules.as_ref(), Some(rules));
    assert_eq!(retry("renames").classify.as_deref(), Some("transport"));
    assert_eq!(retry("renames").classify_rules, None);
    let own = config.stack("own").unwrap().hedge.as_ref().unwrap();
    let own = own.classify_rules.as_ref().unwrap();
    assert_eq!(own.fail, [CodeSetting::Grpc("UNAVAILABLE")]);
    assert!(own.retry.is_empty() && own.success.is_empty());
}

#[test]
fn every_problem_is_reported_at_once_with_its_path() {
    let err = Config::from_str(
        r#"
        [policies.a]
        classify = { name = "http", retry = [503, 600, 99, 503], fail = "500", sucess = [200] }

        [policies.b]
        classify = { retry = ["UNAVALABLE", "unavailable", "MAGIC", 1.5] }
        "#,
        Format::Toml,
    )
    .unwrap_err();
    let lines: Vec<String> = err.problems().iter().map(|p| p.to_string()).collect();
    assert_eq!(
        lines,
        [
            "policies.a.classify.retry.1 = 600: must be an HTTP status from 100 to 599",
            "policies.a.classify.retry.2 = 99: must be an HTTP status from 100 to 599",
            "policies.a.classify.retry.3 = 503: given already, in `retry`",
            "policies.a.classify.fail = \"500\": must be a list of HTTP statuses or gRPC code names",
            "policies.a.classify.sucess = [200]: unknown setting (did you mean `success`?)",
            "policies.b.classify.name: missing (the built-in classifier these rules adjust, such \
             as \"http\")",
            "policies.b.classify.retry.0 = \"UNAVALABLE\": unknown gRPC code (did you mean \
             `UNAVAILABLE`?)",
            "policies.b.classify.retry.1 = \"unavailable\": unknown gRPC code (did you mean \
             `UNAVAILABLE`?)",
            &format!(
                "policies.b.classify.retry.2 = \"MAGIC\": unknown gRPC code (known: {})",
                GRPC_CODE_NAMES.join(", ")
            ),
            "policies.b.classify.retry.3 = 1.5: must be an HTTP status (503) or a gRPC code name \
             (\"UNAVAILABLE\")",
        ]
    );
}

fn rules() -> impl Strategy<Value = ClassifyRules> {
    let code = prop_oneof![
        (100u16..=599).prop_map(CodeSetting::Status),
        proptest::sample::select(GRPC_CODE_NAMES.to_vec()).prop_map(CodeSetting::Grpc),
    ];
    proptest::collection::vec((code, 0usize..4), 0..8).prop_map(|codes| {
        let mut rules = ClassifyRules::default();
        let mut seen = Vec::new();
        for (code, list) in codes {
            if seen.contains(&code) {
                continue;
            }
            seen.push(code);
            match list {
                0 => rules.retry.push(code),
                1 => rules.fail.push(code),
                2 => rules.success.push(code),
                _ => rules.ignore.push(code),
            }
        }
        rules
    })
}

fn classify() -> impl Strategy<Value = (Option<String>, Option<ClassifyRules>)> {
    let name = prop_oneof![Just("http".to_owned()), Just("grpc".to_owned())];
    proptest::option::of((name, proptest::option::of(rules())))
        .prop_map(|c| c.map_or((None, None), |(n, r)| (Some(n), r)))
}

proptest! {
    #[test]
    fn rules_read_back_equal((name, rules) in classify()) {
        let mut retry = RetrySettings::default();
        retry.classify = name.clone();
        retry.classify_rules = rules.clone();
        let mut hedge = HedgeSettings::default();
        hedge.classify = name;
        hedge.classify_rules = rules;
        for format in [Format::Toml, Format::Json, Format::Yaml] {
            let text = retry.to_node().write(format).unwrap();
            let node = Node::parse(&text, format).unwrap();
            prop_assert_eq!(&RetrySettings::from_node(&node).unwrap(), &retry, "{:?}:\n{}", format, text);
            let text = hedge.to_node().write(format).unwrap();
            let node = Node::parse(&text, format).unwrap();
            prop_assert_eq!(&HedgeSettings::from_node(&node).unwrap(), &hedge, "{:?}:\n{}", format, text);
        }
        let json = serde_json::to_string(&retry).unwrap();
        prop_assert_eq!(serde_json::from_str::<RetrySettings>(&json).unwrap(), retry);
    }
}
