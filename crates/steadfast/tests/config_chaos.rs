//! Chaos settings in files: `[chaos.NAME]` read, every problem with its path, the layer built
//! from them doing what they say (paused clock), and settings that read back equal.

use std::time::Duration;

use proptest::prelude::*;
use steadfast::chaos::ChaosError;
use steadfast::config::{ChaosLatency, ChaosSettings, Config, Format, LatencySettings, Node};
use tower::{service_fn, Layer, ServiceExt};

const FILE: &str = r#"
[chaos.outage]
seed = 7
fault_rate = 1.0

[chaos.slow]
latency = { delay = "200ms" }

[chaos.jitter]
enabled = false
latency = { rate = 0.5, min = "10ms", max = "30ms" }

[chaos.off]
enabled = false
latency = { delay = "200ms" }
"#;

fn problems(text: &str) -> Vec<String> {
    match Config::from_str(text, Format::Toml) {
        Ok(_) => Vec::new(),
        Err(e) => e.problems().iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn chaos_sections_are_read() {
    let config = Config::from_str(FILE, Format::Toml).unwrap();
    let outage = config.chaos("outage").unwrap();
    assert_eq!((outage.seed, outage.fault_rate), (Some(7), Some(1.0)));
    let jitter = config.chaos("jitter").unwrap();
    assert_eq!(jitter.enabled, Some(false));
    let latency = jitter.latency.unwrap();
    assert_eq!(latency.rate, Some(0.5));
    assert_eq!(
        latency.delay,
        Some(ChaosLatency::Range {
            min: Duration::from_millis(10),
            max: Duration::from_millis(30)
        })
    );
    assert_eq!(
        config.chaos_layers().map(|(k, _)| k).collect::<Vec<_>>(),
        ["outage", "slow", "jitter", "off"]
    );
}

#[test]
fn every_problem_is_reported_with_its_path() {
    assert_eq!(
        problems(
            r#"
[chaos.a]
fault_rate = 5
latency = { min = "10ms" }
enabeld = true

[chaos.b]
latency = { delay = "1s", min = "1ms", max = "2ms" }

[chaos.c]
latency = { rate = 0.1 }
"#
        ),
        [
            "chaos.a.fault_rate = 5: must be from 0 to 1 (0.05 for 5%)",
            "chaos.a.latency.delay: a range needs both `min` and `max`",
            "chaos.a.enabeld = true: unknown setting (did you mean `enabled`?)",
            "chaos.b.latency.delay: give either `delay` or `min` and `max`, not both",
            "chaos.c.latency.delay: missing (a latency needs `delay`, or `min` and `max`)",
        ]
    );
    // The chaos builder's rules, once the file reads cleanly.
    assert_eq!(
        problems("[chaos.d]\nlatency = { min = \"30ms\", max = \"10ms\" }\n"),
        ["chaos.d.latency.max = \"10ms\": must not be less than `latency.min` (got 10ms < 30ms)"]
    );
}

async fn call(settings: &ChaosSettings) -> Result<u32, tower::BoxError> {
    let layer = settings.builder::<u32, u32>().build().unwrap();
    let svc = service_fn(|n: u32| async move { Ok::<_, tower::BoxError>(n + 1) });
    layer.layer(svc).oneshot(1).await
}

#[tokio::test(start_paused = true)]
async fn the_layer_does_what_the_file_says() {
    let config = Config::from_str(FILE, Format::Toml).unwrap();
    // Every request fails with the built-in fault.
    let err = call(config.chaos("outage").unwrap()).await.unwrap_err();
    assert!(err.downcast_ref::<ChaosError>().is_some(), "{err}");
    // Every request is 200 ms late.
    let start = tokio::time::Instant::now();
    assert_eq!(call(config.chaos("slow").unwrap()).await.unwrap(), 2);
    assert_eq!(start.elapsed(), Duration::from_millis(200));
    // Switched off: no delay at all.
    let start = tokio::time::Instant::now();
    assert_eq!(call(config.chaos("off").unwrap()).await.unwrap(), 2);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

fn duration() -> impl Strategy<Value = Duration> {
    (0u64..100_000).prop_map(Duration::from_millis)
}

fn chaos_settings() -> impl Strategy<Value = ChaosSettings> {
    let rate = || proptest::option::of((0u32..=100).prop_map(|n| f64::from(n) / 100.0));
    let delay = prop_oneof![
        duration().prop_map(ChaosLatency::Fixed),
        (duration(), duration()).prop_map(|(min, max)| ChaosLatency::Range { min, max }),
    ];
    let latency = (rate(), delay).prop_map(|(rate, delay)| {
        let mut l = LatencySettings::default();
        l.rate = rate;
        l.delay = Some(delay);
        l
    });
    (
        proptest::option::of(any::<bool>()),
        proptest::option::of(0u64..1 << 62),
        rate(),
        proptest::option::of(latency),
    )
        .prop_map(|(enabled, seed, fault_rate, latency)| {
            let mut s = ChaosSettings::default();
            s.enabled = enabled;
            s.seed = seed;
            s.fault_rate = fault_rate;
            s.latency = latency;
            s
        })
}

proptest! {
    #[test]
    fn chaos_settings_read_back_equal(s in chaos_settings()) {
        for format in [Format::Toml, Format::Json, Format::Yaml] {
            let text = s.to_node().write(format).unwrap();
            let node = Node::parse(&text, format).unwrap();
            prop_assert_eq!(&ChaosSettings::from_node(&node).unwrap(), &s, "{:?}:\n{}", format, text);
        }
        let json = serde_json::to_string(&s).unwrap();
        prop_assert_eq!(serde_json::from_str::<ChaosSettings>(&json).unwrap(), s);
    }
}
