//! Hedge settings in files: `[hedges.NAME]`, `[defaults]` and a stack's `hedge`, every problem
//! with its path, the builder getting the values, settings that read back equal, and the
//! lints about hedging.

use std::time::Duration;

use proptest::prelude::*;
use steadfast::config::{
    lint, BudgetSettings, Config, DelaySettings, Format, HedgeModeSetting, HedgeSettings, LintKind,
    Node,
};
use steadfast::hedge::HedgeMode;

const FILE: &str = r#"
[defaults.hedge]
max_attempts = 3
budget = { kind = "ratio", ratio = 0.1 }

[hedges.search]
mode = "latency"
delay = { percentile = 95, floor = "5ms", min_samples = 100, fallback = "50ms" }

[hedges.fanout]
mode = "parallel"
max_attempts = 2

[stacks.catalog]
attempt_timeout = "1s"
hedge = { from = "search", delay = "20ms", deposit_requests = false }

[stacks.reviews]
hedge = "fanout"
"#;

fn config() -> Config {
    Config::from_str(FILE, Format::Toml).unwrap()
}

#[test]
fn hedges_inherit_the_defaults_and_stacks_start_from_them() {
    let config = config();
    let search = config.hedge("search").unwrap();
    assert_eq!(search.name.as_deref(), Some("search"));
    assert_eq!(search.max_attempts, Some(3));
    assert_eq!(search.mode, Some(HedgeModeSetting::Latency));
    assert_eq!(
        search.delay,
        Some(DelaySettings::Percentile {
            percentile: 95.0,
            floor: Some(Duration::from_millis(5)),
            min_samples: Some(100),
            fallback: Some(Duration::from_millis(50)),
            window: None,
        })
    );
    assert!(matches!(
        search.budget,
        Some(BudgetSettings::Ratio {
            ratio: Some(r),
            ..
        }) if r == 0.1
    ));
    assert_eq!(config.hedge("fanout").unwrap().max_attempts, Some(2));
    assert_eq!(
        config.hedges().map(|(k, _)| k).collect::<Vec<_>>(),
        ["search", "fanout"]
    );

    // A stack's hedge starts from a named one, overrides it, and is named after the stack.
    let catalog = config.stack("catalog").unwrap().hedge.as_ref().unwrap();
    assert_eq!(catalog.name.as_deref(), Some("catalog"));
    assert_eq!(
        catalog.delay,
        Some(DelaySettings::Fixed(Duration::from_millis(20)))
    );
    assert_eq!(catalog.max_attempts, Some(3));
    assert_eq!(catalog.deposit_requests, Some(false));
    // A stack naming one takes it whole (named after the stack, as retry and breaker are).
    let reviews = config.stack("reviews").unwrap().hedge.as_ref().unwrap();
    assert_eq!(reviews.mode, Some(HedgeModeSetting::Parallel));
    assert_eq!(reviews.max_attempts, Some(2));
}

#[test]
fn the_builder_gets_the_values() {
    let config = config();
    let layer = config.hedge("search").unwrap().build().unwrap();
    assert_eq!(layer.name(), Some("search"));
    assert_eq!(layer.mode(), HedgeMode::Latency);
    assert_eq!(layer.max_attempts(), 3);
    assert_eq!(
        layer.delay().to_string(),
        "p95 of the last 30s (floor 5ms, fixed 50ms until 100 samples)"
    );
    let layer = config.hedge("fanout").unwrap().build().unwrap();
    assert_eq!(layer.mode(), HedgeMode::Parallel);
    assert_eq!(layer.max_attempts(), 2);
    let stack = config.stack("catalog").unwrap();
    let layer = stack.hedge.as_ref().unwrap().build().unwrap();
    assert_eq!(layer.delay().to_string(), "fixed 20ms");
    assert_eq!(layer.name(), Some("catalog"));
    // The top of the percentile range builds.
    let node = Node::parse(r#"{ "delay": { "percentile": 99.9 } }"#, Format::Json).unwrap();
    HedgeSettings::from_node(&node).unwrap().build().unwrap();
}

fn problems(text: &str) -> Vec<String> {
    match Config::from_str(text, Format::Toml) {
        Ok(_) => Vec::new(),
        Err(e) => e.problems().iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn every_problem_is_reported_with_its_path() {
    assert_eq!(
        problems(
            r#"
[hedges.a]
mode = "latancy"
max_atempts = 2
delay = { percentile = 30, flor = "1ms" }

[hedges.b]
delay = { floor = "1ms" }
deposit_requests = "yes"

[stacks.s]
hedge = "serch"
"#
        ),
        [
            "hedges.a.mode = \"latancy\": unknown value (did you mean `latency`?)",
            "hedges.a.delay.percentile = 30: must be from 50 to 99.9 (95 for the 95th percentile)",
            "hedges.a.delay.flor = \"1ms\": unknown setting (did you mean `floor`?)",
            "hedges.a.max_atempts = 2: unknown setting (did you mean `max_attempts`?)",
            "hedges.b.delay.percentile: missing (a delay is a duration, or a table with a \
             percentile from 50 to 99.9)",
            "hedges.b.deposit_requests = \"yes\": must be true or false",
            "stacks.s.hedge = \"serch\": no hedge layer of that name in [hedges]",
        ]
    );
    // The builder's rules, at the setting.
    assert_eq!(
        problems(
            "[hedges.a]\nmax_attempts = 11\n[stacks.s]\nhedge = { delay = { percentile = 90, window = \"1ms\" } }\n"
        ),
        [
            "hedges.a.max_attempts = 11: must be from 1 to 10 (got 11)",
            "stacks.s.hedge.delay.window = \"1ms\": a percentile's window must be at least 10ms \
             (got 1ms)",
        ]
    );
}

#[test]
fn lints_about_hedging() {
    let config = Config::from_str(
        r#"
[hedges.unpaid]
delay = "10ms"

[stacks.slow]
attempt_timeout = "50ms"
hedge = { delay = "50ms", budget = { kind = "ratio" } }

[stacks.fine]
attempt_timeout = "1s"
hedge = { delay = "50ms", budget = { kind = "ratio" } }

[stacks.parallel]
attempt_timeout = "50ms"
hedge = { mode = "parallel", delay = "1s", budget = { kind = "ratio" } }

[stacks.single]
hedge = { max_attempts = 1 }
"#,
        Format::Toml,
    )
    .unwrap();
    let found: Vec<(LintKind, String)> = lint(&config)
        .into_iter()
        .map(|l| (l.kind, l.path))
        .collect();
    assert_eq!(
        found,
        [
            (LintKind::HedgeWithoutBudget, "hedges.unpaid.budget".into()),
            (
                LintKind::HedgeDelayNotShorterThanAttempt,
                "stacks.slow.hedge.delay".into()
            ),
        ]
    );
    let why = lint(&config).remove(1);
    assert!(why.why.contains("50ms"), "{why}");
    assert!(!why.fix.is_empty());
}

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..10_000).prop_map(Duration::from_millis),
        (1u64..100_000).prop_map(Duration::from_micros),
        (1u64..3_600).prop_map(Duration::from_secs),
    ]
}

fn delay() -> impl Strategy<Value = DelaySettings> {
    let d = || proptest::option::of(duration());
    prop_oneof![
        duration().prop_map(DelaySettings::Fixed),
        (
            500u32..=999,
            d(),
            proptest::option::of(0u64..10_000),
            d(),
            d()
        )
            .prop_map(|(p, floor, min_samples, fallback, window)| {
                DelaySettings::Percentile {
                    percentile: f64::from(p) / 10.0,
                    floor,
                    min_samples,
                    fallback,
                    window,
                }
            }),
    ]
}

fn hedge_settings() -> impl Strategy<Value = HedgeSettings> {
    let mode = prop_oneof![
        Just(HedgeModeSetting::Latency),
        Just(HedgeModeSetting::Parallel),
        Just(HedgeModeSetting::Fallback),
    ];
    let budget = prop_oneof![
        (
            proptest::option::of(0u32..100),
            proptest::option::of(0u32..50)
        )
            .prop_map(|(ratio, min)| BudgetSettings::Ratio {
                ratio: ratio.map(|r| f64::from(r) / 100.0),
                min_per_second: min,
                window: None,
            }),
        proptest::option::of(1u32..1000).prop_map(|capacity| BudgetSettings::TokenBucket {
            capacity,
            retry_cost: None,
            success_refund: Some(1),
        }),
    ];
    (
        proptest::option::of("[a-z][a-z0-9-]{0,8}"),
        proptest::option::of(mode),
        proptest::option::of(delay()),
        proptest::option::of(0u32..20),
        proptest::option::of(budget),
        proptest::option::of(any::<bool>()),
        proptest::option::of(prop_oneof![
            Just("http".to_owned()),
            Just("grpc".to_owned())
        ]),
    )
        .prop_map(
            |(name, mode, delay, max_attempts, budget, deposit, classify)| {
                let mut s = HedgeSettings::default();
                s.name = name;
                s.mode = mode;
                s.delay = delay;
                s.max_attempts = max_attempts;
                s.budget = budget;
                s.deposit_requests = deposit;
                s.classify = classify;
                s
            },
        )
}

proptest! {
    #[test]
    fn hedge_settings_read_back_equal(s in hedge_settings()) {
        for format in [Format::Toml, Format::Json, Format::Yaml] {
            let text = s.to_node().write(format).unwrap();
            let node = Node::parse(&text, format).unwrap();
            prop_assert_eq!(&HedgeSettings::from_node(&node).unwrap(), &s, "{:?}:\n{}", format, text);
        }
        let json = serde_json::to_string(&s).unwrap();
        prop_assert_eq!(serde_json::from_str::<HedgeSettings>(&json).unwrap(), s);
    }
}

#[test]
fn the_complete_file_reads_its_hedges_in_every_format() {
    let toml = include_str!("config/complete.toml");
    let yaml = include_str!("config/complete.yaml");
    let json = include_str!("config/complete.json");
    let config = Config::from_str(toml, Format::Toml).unwrap();
    for (text, format) in [(yaml, Format::Yaml), (json, Format::Json)] {
        assert_eq!(
            Config::from_str(text, format).unwrap(),
            config,
            "{format:?}"
        );
    }
    let lookup = config.hedge("lookup").unwrap();
    assert_eq!(lookup.max_attempts, Some(3));
    assert_eq!(lookup.deposit_requests, Some(false));
    assert_eq!(lookup.classify.as_deref(), Some("http"));
    assert!(lookup.budget.is_some(), "inherited from [defaults.hedge]");
    let mirror = config.hedge("mirror").unwrap().build().unwrap();
    assert_eq!(mirror.mode(), HedgeMode::Parallel);
    let search = config.stack("search").unwrap().hedge.as_ref().unwrap();
    assert_eq!(search.name.as_deref(), Some("search"));
    assert_eq!(search.max_attempts, Some(2));
    assert_eq!(search.mode, Some(HedgeModeSetting::Latency));
    assert!(config.stack("inventory").unwrap().hedge.is_none());
    // The chaos sections too.
    assert_eq!(config.chaos("outage").unwrap().fault_rate, Some(0.05));
    assert_eq!(config.chaos("slow-disk").unwrap().enabled, Some(false));
}
