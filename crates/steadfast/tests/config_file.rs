//! Settings files: the same settings from TOML, YAML and JSON; defaults, named policies and
//! overrides; every problem at once with its path; the builders getting the values; and
//! settings that serialize and read back equal.

use std::time::Duration;

use proptest::prelude::*;
use steadfast::backoff::Jitter;
use steadfast::circuit_breaker::CircuitBreakerLayer;
use steadfast::config::{
    load, BackoffSettings, BreakerSettings, BudgetSettings, CancelSettings, Config, FailureRate,
    Format, HalfOpenMode, RetrySettings, SlowCallRate, WindowSettings,
};
use steadfast::describe::StackDescription;
use steadfast::retry::RetryLayer;
use tracing::Level;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Every kind of setting, once; the same settings in three formats.
const TOML: &str = include_str!("config/complete.toml");
const YAML: &str = include_str!("config/complete.yaml");
const JSON: &str = include_str!("config/complete.json");

fn toml() -> Config {
    Config::from_str(TOML, Format::Toml).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_same_file_in_toml_yaml_and_json_reads_the_same() {
    let toml = toml();
    let yaml = Config::from_str(YAML, Format::Yaml).unwrap_or_else(|e| panic!("{e}"));
    let json = Config::from_str(JSON, Format::Json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(toml, yaml);
    assert_eq!(toml, json);
    let names: Vec<&str> = toml.stacks().map(|(name, _)| name).collect();
    assert_eq!(names, ["inventory", "search"], "in the file's order");
}

#[test]
fn every_setting_is_read() {
    let config = toml();
    let mut want = RetrySettings::default();
    want.name = Some("standard".into());
    want.max_attempts = Some(4);
    let mut backoff = BackoffSettings::default();
    backoff.strategy = Some(Strategy_::Exponential {
        base: ms(100),
        factor: Some(3.0),
    });
    backoff.max = Some(secs(2));
    backoff.min = Some(ms(10));
    backoff.jitter = Some(Jitter::Proportional(0.25));
    want.backoff = Some(backoff);
    want.max_elapsed = Some(secs(90));
    want.max_hint = Some(secs(30));
    want.max_hint_wait_total = Some(secs(45));
    want.start_jitter = Some(ms(1500));
    want.seed = Some(7);
    want.log_level = Some(Level::WARN);
    want.budget = Some(BudgetSettings::Ratio {
        ratio: Some(0.1),
        min_per_second: Some(5),
        window: Some(secs(20)),
    });
    want.classify = Some("http".into());
    assert_eq!(config.policy("standard"), Some(&want));

    let quick = config.policy("quick").unwrap();
    assert_eq!(quick.name.as_deref(), Some("quick-retries"));
    assert_eq!(
        quick.budget,
        Some(BudgetSettings::TokenBucket {
            capacity: Some(100),
            retry_cost: Some(10),
            success_refund: Some(2),
        })
    );

    let mut want = BreakerSettings::default();
    want.name = Some("payments".into());
    want.failure_rate = Some(FailureRate::Percent(25.5));
    want.slow_call_rate = Some(SlowCallRate {
        percent: 80.0,
        threshold: secs(2),
    });
    want.consecutive_failures = Some(5);
    want.minimum_calls = Some(20);
    want.window = Some(WindowSettings::Time {
        length: secs(60),
        buckets: 12,
    });
    want.half_open_max_calls = Some(4);
    want.success_threshold = Some(2);
    want.half_open_rule = Some(HalfOpenMode::FirstFailure);
    want.max_half_open = Some(secs(30));
    let mut open = BackoffSettings::default();
    open.strategy = Some(Strategy_::Exponential {
        base: secs(1),
        factor: None,
    });
    open.max = Some(secs(60));
    want.open_backoff = Some(open);
    want.count_cancellations = Some(true);
    want.count_invalid = Some(false);
    assert_eq!(config.breaker("payments"), Some(&want));

    let strict = config.breaker("strict").unwrap();
    assert_eq!(strict.failure_rate, Some(FailureRate::Off));
    assert_eq!(strict.half_open_rule, Some(HalfOpenMode::Rates));
    assert_eq!(strict.open_for, Some(secs(15)));
}

#[test]
fn layers_inherit_the_defaults_and_override_them_setting_by_setting() {
    let config = toml();
    // A policy without its own value takes the default's.
    assert_eq!(config.policy("quick").unwrap().max_hint, Some(secs(30)));
    // Its own backoff sets a strategy; the default's cap and jitter stay.
    let quick = config.policy("quick").unwrap().backoff.clone().unwrap();
    assert_eq!(quick.strategy, Some(Strategy_::Constant { delay: ms(50) }));
    assert_eq!(
        (quick.max, quick.jitter),
        (Some(secs(5)), Some(Jitter::Equal))
    );
    // A breaker without its own window takes the default one.
    assert_eq!(
        config.breaker("strict").unwrap().window,
        Some(WindowSettings::Count(50))
    );
    assert_eq!(config.breaker("strict").unwrap().minimum_calls, Some(10));

    let inventory = config.stack("inventory").unwrap();
    let retry = inventory.retry.as_ref().unwrap();
    // The stack's own setting, over the policy's, over the default's.
    assert_eq!(retry.max_attempts, Some(5));
    // The policy's settings the stack does not override.
    assert_eq!(retry.seed, Some(7));
    assert_eq!(retry.classify.as_deref(), Some("http"));
    // A backoff is overridden setting by setting: the stack's cap, the policy's strategy.
    let backoff = retry.backoff.as_ref().unwrap();
    assert_eq!(backoff.max, Some(secs(3)));
    assert_eq!(backoff.min, Some(ms(10)));
    assert!(matches!(
        backoff.strategy,
        Some(Strategy_::Exponential { .. })
    ));
    // Layers are named after their stack unless the file names them.
    assert_eq!(retry.name.as_deref(), Some("inventory"));
    let breaker = inventory.breaker.as_ref().unwrap();
    assert_eq!(breaker.name.as_deref(), Some("inventory"));
    assert_eq!(breaker.failure_rate, Some(FailureRate::Percent(25.5)));
    let cancel = inventory.cancel.as_ref().unwrap();
    assert_eq!(
        (cancel.name.as_deref(), cancel.timeout),
        (Some("inventory"), Some(secs(5)))
    );
    let attempt = inventory.attempt_timeout.as_ref().unwrap();
    assert_eq!(
        (attempt.name.as_deref(), attempt.timeout),
        (Some("inventory-attempt"), Some(secs(1)))
    );

    let search = config.stack("search").unwrap();
    // No named policy: the defaults, with the stack's backoff strategy.
    let retry = search.retry.as_ref().unwrap();
    assert_eq!(retry.max_attempts, Some(3));
    assert_eq!(
        retry.backoff.as_ref().unwrap().strategy,
        Some(Strategy_::Linear {
            initial: Some(ms(50)),
            step: ms(100)
        })
    );
    let breaker = search.breaker.as_ref().unwrap();
    assert_eq!(breaker.open_for, Some(secs(20)));
    assert_eq!(breaker.consecutive_failures, Some(3));
    // The cancel layer's own name, and the default timeout.
    let cancel = search.cancel.as_ref().unwrap();
    assert_eq!(
        (cancel.name.as_deref(), cancel.timeout),
        (Some("search-total"), Some(secs(10)))
    );
    // A layer the stack does not give is not there, defaults or not.
    assert_eq!(search.attempt_timeout, None);
}

/// The JSON of the description of `layer`.
fn described(layer: &impl steadfast::describe::Describe) -> serde_json::Value {
    serde_json::to_value(StackDescription::of(layer)).unwrap()
}

#[test]
fn the_builders_get_the_values() {
    let config = toml();
    let stack = config.stack("inventory").unwrap();
    let policy = stack.retry.as_ref().unwrap().build().unwrap();
    assert_eq!(
        described(&RetryLayer::new(policy)),
        serde_json::json!([{
            "kind": "retry",
            "name": "inventory",
            "settings": {
                "max_attempts": 5,
                "backoff": {
                    "kind": "exponential", "base": "100ms", "factor": 3.0, "max": "3s",
                    "min": "10ms", "jitter": { "kind": "proportional", "share": 0.25 }
                },
                "max_elapsed": "90s",
                "max_hint": "30s",
                "max_hint_wait_total": "45s",
                "budget": { "kind": "ratio", "ratio": "10%", "min_per_second": 5, "window": "20s" },
                "classify": "AnyError",
                "clone_requests": "CloneAll",
                "log_level": "warn"
            }
        }])
    );
    let breaker = stack.breaker.as_ref().unwrap().build().unwrap();
    assert_eq!(
        described(&CircuitBreakerLayer::new(breaker)),
        serde_json::json!([{
            "kind": "circuit-breaker",
            "name": "inventory",
            "settings": {
                "classify": "AnyError",
                "failure_rate": "25.5%",
                "slow_call_rate": ["80%", "2s"],
                "consecutive_failures": 5,
                "minimum_calls": 20,
                "window": { "kind": "time", "length": "1m", "buckets": 12 },
                "half_open_max_calls": 4,
                "success_threshold": 2,
                "half_open_rule": "first_failure",
                "max_half_open": "30s",
                "open_backoff": { "kind": "exponential", "base": "1s", "factor": 2.0, "max": "1m" },
                "count_cancellations": true,
                "count_invalid": false
            }
        }])
    );
    let cancel = stack.cancel.as_ref().unwrap().build().unwrap();
    assert_eq!(
        described(&cancel),
        serde_json::json!([{ "kind": "cancel", "name": "inventory", "settings": { "timeout": "5s" } }])
    );

    // A backoff without `kind` adjusts the layer's default schedule.
    let search = config.stack("search").unwrap();
    let mut retry = search.retry.clone().unwrap();
    retry.backoff = Some(BackoffSettings::default());
    let d = described(&RetryLayer::new(retry.build().unwrap()));
    assert_eq!(
        d[0]["settings"]["backoff"],
        serde_json::json!({ "kind": "exponential", "base": "100ms", "factor": 2.0, "max": "10s", "jitter": "full" })
    );
    // The strict breaker: no failure rate, open for a constant time, rates in half-open.
    let breaker = search.breaker.as_ref().unwrap().build().unwrap();
    let d = described(&CircuitBreakerLayer::new(breaker));
    let settings = &d[0]["settings"];
    assert_eq!(settings.get("failure_rate"), None);
    assert_eq!(settings["half_open_rule"], "rates");
    assert_eq!(
        settings["open_backoff"],
        serde_json::json!({ "kind": "constant", "delay": "20s" })
    );
    // A token bucket budget.
    let quick = config.policy("quick").unwrap().build().unwrap();
    let d = described(&RetryLayer::new(quick));
    assert_eq!(d[0]["name"], "quick-retries");
    assert_eq!(
        d[0]["settings"]["budget"],
        serde_json::json!({ "kind": "token_bucket", "capacity": 100, "retry_cost": 10, "success_refund": 2 })
    );
}

/// The problems `text` (TOML) has, one a line.
fn problems(text: &str) -> Vec<String> {
    let err = Config::from_str(text, Format::Toml).unwrap_err();
    assert!(!err.problems().is_empty());
    err.to_string().lines().map(str::to_owned).collect()
}

#[test]
fn every_problem_is_reported_at_once_with_its_path() {
    let text = r#"
[defaults.retry]
max_atempts = 3

[policies.standard]
max_attempts = -1
backoff = { kind = "exponentail", base = "1s" }
max_elapsed = 250
log_level = "loud"
seed = "7"

[policies.other]
backoff = { base = "1s", max = "2x" }
budget = { ratio = 0.5 }

[breakers.b]
failure_rate = true
window = { count = 10, time = "1s" }
open_for = "1s"
open_backoff = { kind = "constant" }
slow_call_rate = { percent = 50 }
count_invalid = "yes"

[stacks.s]
retry = "standrad"
breaker = { from = "nope", opn_for = "1s" }
cancel = { timeout = "5 s" }
atempt_timeout = "1s"

[stack.x]
"#;
    assert_eq!(
        problems(text),
        [
            "defaults.retry.max_atempts = 3: unknown setting (did you mean `max_attempts`?)",
            "policies.standard.max_attempts = -1: must be a whole number from 0 to 4294967295",
            "policies.standard.backoff.kind = \"exponentail\": unknown value (did you mean `exponential`?)",
            "policies.standard.max_elapsed = 250: not a duration (use a unit: \"2s\")",
            "policies.standard.seed = \"7\": must be a whole number",
            "policies.standard.log_level = \"loud\": must be one of: trace, debug, info, warn, error",
            "policies.other.backoff.base: needs a `kind` beside it (the strategy it is a parameter of)",
            "policies.other.backoff.max = \"2x\": not a duration (use a unit: \"2s\")",
            "policies.other.budget.kind: missing (a budget is `ratio` or `token_bucket`)",
            "breakers.b.failure_rate = true: must be a percentage (such as 50) or \"off\"",
            "breakers.b.slow_call_rate.threshold: missing (the slow-call rule needs it)",
            "breakers.b.window = {count = 10, time = \"1s\"}: give `count` or `time`, not both",
            "breakers.b.open_backoff.delay: missing (this kind of backoff needs it)",
            "breakers.b.count_invalid = \"yes\": must be true or false",
            "breakers.b.open_backoff: give `open_for` or `open_backoff`, not both",
            "stacks.s.cancel.timeout = \"5 s\": not a duration (use a unit: \"2s\")",
            "stacks.s.retry = \"standrad\": no policy of that name in [policies] (did you mean `standard`?)",
            "stacks.s.breaker.from = \"nope\": no breaker of that name in [breakers]",
            "stacks.s.breaker.opn_for = \"1s\": unknown setting (did you mean `open_for`?)",
            "stacks.s.atempt_timeout = \"1s\": unknown setting (did you mean `attempt_timeout`?)",
            "stack = {x = {}}: unknown setting (did you mean `stacks`?)",
        ]
    );
}

#[test]
fn syntax_errors_and_other_shapes() {
    // A syntax error is one problem, in the parser's words.
    let err = Config::from_str("[policies.a\nmax_attempts = 1", Format::Toml).unwrap_err();
    assert_eq!(err.problems().len(), 1);
    assert_eq!(err.problems()[0].path(), "");
    assert!(err.to_string().contains("line 1"), "{err}");
    // Tables where they belong, and keys given twice (JSON and YAML allow it).
    assert_eq!(
        problems("policies = 3\nstacks = { a = 1 }"),
        [
            "policies = 3: must be a table",
            "stacks.a = 1: must be a table",
        ]
    );
    let err = Config::from_str(
        r#"{"policies": {"a": {"max_attempts": 2, "max_attempts": 3}}}"#,
        Format::Json,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "policies.a.max_attempts = 3: given twice");
    // Each problem's parts, apart.
    let err = Config::from_str("[policies.a]\nmax_elapsed = \"2x\"", Format::Toml).unwrap_err();
    let p = &err.problems()[0];
    assert_eq!(p.file(), None);
    assert_eq!(p.path(), "policies.a.max_elapsed");
    assert_eq!(
        p.value().map(ToString::to_string).as_deref(),
        Some("\"2x\"")
    );
    assert_eq!(p.rule(), "not a duration (use a unit: \"2s\")");
}

#[test]
fn the_builders_rules_are_reported_at_the_setting() {
    let text = r#"
[policies.zero]
max_attempts = 0
backoff = { kind = "exponential", base = "1s", factor = 0.5 }

[policies.floor]
backoff = { max = "1s", min = "5s" }

[policies.jitter]
backoff = { jitter = { proportional = 2.0 } }
budget = { kind = "ratio", ratio = 2000 }

[breakers.small]
minimum_calls = 200
window = { count = 100 }

[breakers.open]
open_backoff = { kind = "exponential", base = "1s", factor = 0.5 }

[stacks.s]
cancel = "0s"
retry = { from = "zero", max_attempts = 2 }
"#;
    assert_eq!(
        problems(text),
        [
            "policies.zero.max_attempts = 0: must be at least 1 (got 0)",
            "policies.floor.backoff.min = \"5s\": must not exceed backoff.max (5s > 1s)",
            "policies.jitter.budget.ratio = 2000.0: must be between 0 and 1000 (got 2000)",
            "breakers.small.minimum_calls = 200: must not exceed the count window's size (200 > 100)",
            "breakers.open.open_backoff.factor = 0.5: must be a finite number of at least 1 (got 0.5)",
            "stacks.s.cancel.timeout = \"0s\": must be greater than zero",
            "stacks.s.retry.backoff.factor = 0.5: must be a finite number of at least 1 (got 0.5)",
        ]
    );
}

#[test]
fn files_are_read_by_their_extension_and_named_in_problems() {
    let dir = std::env::temp_dir().join(format!("steadfast-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in [
        ("a.toml", TOML),
        ("a.yaml", YAML),
        ("a.yml", YAML),
        ("a.json", JSON),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        assert_eq!(
            load(&path).unwrap_or_else(|e| panic!("{e}")),
            toml(),
            "{name}"
        );
    }
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "[stacks.inventory.retry]\nbackoff = { max = \"2x\" }\n",
    )
    .unwrap();
    let err = load(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: stacks.inventory.retry.backoff.max = \"2x\": not a duration (use a unit: \"2s\")",
            path.display()
        )
    );
    assert_eq!(err.problems()[0].file(), Some(&*path.display().to_string()));
    let err = load(dir.join("a.ini")).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("unknown format: name the file .toml, .yaml, .yml or .json"),
        "{err}"
    );
    let err = load(dir.join("missing.toml")).unwrap_err();
    assert!(
        err.to_string().contains("missing.toml: cannot be read"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn duration() -> impl proptest::strategy::Strategy<Value = Duration> {
    prop_oneof![
        (0u64..10_000).prop_map(Duration::from_millis),
        (0u64..1_000_000).prop_map(Duration::from_secs),
        (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

fn percent() -> impl proptest::strategy::Strategy<Value = f64> {
    (1u32..=10_000).prop_map(|bp| f64::from(bp) / 100.0)
}

fn strategy() -> impl proptest::strategy::Strategy<Value = Strategy_> {
    prop_oneof![
        Just(Strategy_::None),
        duration().prop_map(|delay| Strategy_::Constant { delay }),
        (proptest::option::of(duration()), duration())
            .prop_map(|(initial, step)| Strategy_::Linear { initial, step }),
        (duration(), proptest::option::of(1.0f64..100.0))
            .prop_map(|(base, factor)| Strategy_::Exponential { base, factor }),
        duration().prop_map(|base| Strategy_::Fibonacci { base }),
        duration().prop_map(|base| Strategy_::Decorrelated { base }),
    ]
}

/// `Strategy` is both proptest's trait and the backoff strategy: the latter's name here.
type Strategy_ = steadfast::config::Strategy;

fn backoff() -> impl proptest::strategy::Strategy<Value = BackoffSettings> {
    let jitter = prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        (0.0f64..=1.0).prop_map(Jitter::Proportional),
    ];
    (
        proptest::option::of(strategy()),
        proptest::option::of(duration()),
        proptest::option::of(duration()),
        proptest::option::of(jitter),
    )
        .prop_map(|(strategy, max, min, jitter)| {
            let mut b = BackoffSettings::default();
            b.strategy = strategy;
            b.max = max;
            b.min = min;
            b.jitter = jitter;
            b
        })
}

fn name() -> impl proptest::strategy::Strategy<Value = Option<String>> {
    proptest::option::of("[a-z][a-z0-9_-]{0,12}")
}

fn retry_settings() -> impl proptest::strategy::Strategy<Value = RetrySettings> {
    let budget = prop_oneof![
        (
            proptest::option::of(0.0f64..1000.0),
            proptest::option::of(any::<u32>()),
            proptest::option::of(duration()),
        )
            .prop_map(|(ratio, min_per_second, window)| BudgetSettings::Ratio {
                ratio,
                min_per_second,
                window
            }),
        (
            proptest::option::of(any::<u32>()),
            proptest::option::of(any::<u32>()),
            proptest::option::of(any::<u32>()),
        )
            .prop_map(|(capacity, retry_cost, success_refund)| {
                BudgetSettings::TokenBucket {
                    capacity,
                    retry_cost,
                    success_refund,
                }
            }),
    ];
    let level = prop_oneof![
        Just(Level::TRACE),
        Just(Level::DEBUG),
        Just(Level::INFO),
        Just(Level::WARN),
        Just(Level::ERROR),
    ];
    let d = || proptest::option::of(duration());
    (
        (
            name(),
            proptest::option::of(1u32..100),
            proptest::option::of(backoff()),
        ),
        (d(), d(), d(), d()),
        // TOML's integers are 64-bit signed: a seed is written there up to `i64::MAX`.
        proptest::option::of(0..=i64::MAX as u64),
        proptest::option::of(level),
        proptest::option::of(budget),
        name(),
    )
        .prop_map(
            |(
                (name, max_attempts, backoff),
                (elapsed, hint, hint_total, start),
                seed,
                level,
                budget,
                classify,
            )| {
                let mut s = RetrySettings::default();
                s.name = name;
                s.max_attempts = max_attempts;
                s.backoff = backoff;
                s.max_elapsed = elapsed;
                s.max_hint = hint;
                s.max_hint_wait_total = hint_total;
                s.start_jitter = start;
                s.seed = seed;
                s.log_level = level;
                s.budget = budget;
                s.classify = classify;
                s
            },
        )
}

fn breaker_settings() -> impl proptest::strategy::Strategy<Value = BreakerSettings> {
    let failure_rate = prop_oneof![
        Just(FailureRate::Off),
        percent().prop_map(FailureRate::Percent)
    ];
    let slow = (percent(), duration())
        .prop_map(|(percent, threshold)| SlowCallRate { percent, threshold });
    let window = prop_oneof![
        (1u32..1000).prop_map(WindowSettings::Count),
        (duration(), 1u32..1000)
            .prop_map(|(length, buckets)| WindowSettings::Time { length, buckets }),
    ];
    let mode = prop_oneof![Just(HalfOpenMode::FirstFailure), Just(HalfOpenMode::Rates)];
    let open = prop_oneof![
        Just((None, None)),
        duration().prop_map(|d| (Some(d), None)),
        backoff().prop_map(|b| (None, Some(b))),
    ];
    let n = || proptest::option::of(1u32..1000);
    let b = || proptest::option::of(any::<bool>());
    (
        (
            name(),
            proptest::option::of(failure_rate),
            proptest::option::of(slow),
        ),
        (n(), n(), proptest::option::of(window), n(), n()),
        (
            proptest::option::of(mode),
            proptest::option::of(duration()),
            open,
            b(),
            b(),
        ),
    )
        .prop_map(
            |(
                (name, failure_rate, slow),
                (consecutive, minimum, window, half_open_calls, successes),
                (mode, max_half_open, (open_for, open_backoff), cancellations, invalid),
            )| {
                let mut s = BreakerSettings::default();
                s.name = name;
                s.failure_rate = failure_rate;
                s.slow_call_rate = slow;
                s.consecutive_failures = consecutive;
                s.minimum_calls = minimum;
                s.window = window;
                s.half_open_max_calls = half_open_calls;
                s.success_threshold = successes;
                s.half_open_rule = mode;
                s.max_half_open = max_half_open;
                s.open_for = open_for;
                s.open_backoff = open_backoff;
                s.count_cancellations = cancellations;
                s.count_invalid = invalid;
                s
            },
        )
}

proptest! {
    #[test]
    fn retry_settings_read_back_equal(s in retry_settings()) {
        for format in [Format::Toml, Format::Json, Format::Yaml] {
            let text = s.to_node().write(format).unwrap();
            let node = steadfast::config::Node::parse(&text, format).unwrap();
            prop_assert_eq!(&RetrySettings::from_node(&node).unwrap(), &s, "{:?}:\n{}", format, text);
        }
        // Through serde, as any format would.
        let json = serde_json::to_string(&s).unwrap();
        prop_assert_eq!(serde_json::from_str::<RetrySettings>(&json).unwrap(), s);
    }

    #[test]
    fn breaker_settings_read_back_equal(s in breaker_settings()) {
        for format in [Format::Toml, Format::Json, Format::Yaml] {
            let text = s.to_node().write(format).unwrap();
            let node = steadfast::config::Node::parse(&text, format).unwrap();
            prop_assert_eq!(&BreakerSettings::from_node(&node).unwrap(), &s, "{:?}:\n{}", format, text);
        }
        let json = serde_json::to_string(&s).unwrap();
        prop_assert_eq!(serde_json::from_str::<BreakerSettings>(&json).unwrap(), s);
    }

    #[test]
    fn cancel_settings_read_back_equal(name in name(), timeout in proptest::option::of(duration())) {
        let mut s = CancelSettings::default();
        s.name = name;
        s.timeout = timeout;
        let text = s.to_node().write(Format::Toml).unwrap();
        let node = steadfast::config::Node::parse(&text, Format::Toml).unwrap();
        prop_assert_eq!(CancelSettings::from_node(&node).unwrap(), s);
    }
}
