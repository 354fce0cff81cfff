//! The hedge layer's settings as data.
//!
//! ```
//! use std::time::Duration;
//! use steadfast::config::{DelaySettings, Format, HedgeSettings, Node};
//!
//! let node = Node::parse(
//!     r#"{ "delay": { "percentile": 95, "fallback": "50ms" }, "max_attempts": 3 }"#,
//!     Format::Json,
//! )
//! .unwrap();
//! let settings = HedgeSettings::from_node(&node).unwrap();
//! assert_eq!(settings.max_attempts, Some(3));
//! assert_eq!(settings.delay.unwrap().first_delay(), Duration::from_millis(50));
//! assert!(matches!(settings.delay, Some(DelaySettings::Percentile { .. })));
//! ```

use std::time::Duration;

use super::classify::{classify_node, read_classify, ClassifyRules};
use super::node::{Node, Out};
use super::read::settings_serde;
use super::read::{choice, join, number, Reader, Table};
use super::retry::{budget_node, read_budget, BudgetSettings};

/// A hedge layer's settings, as a file gives them: every setting optional, `None` meaning the
/// builder's default (see [`HedgeLayer::builder`](crate::hedge::HedgeLayer::builder)).
///
/// In a file:
///
/// ```toml
/// name = "search"             # default: the key the settings are under
/// mode = "latency"            # latency, parallel or fallback
/// delay = "50ms"              # or a live percentile, below
/// max_attempts = 3
/// budget = { kind = "ratio", ratio = 0.1 }
/// deposit_requests = true
/// classify = "http"           # a name the caller maps to a classifier
/// ```
///
/// `delay` is a duration (the same wait before every hedge) or a live percentile of the
/// latencies the layer observes: `{ percentile = 95, floor = "5ms", min_samples = 100,
/// fallback = "50ms", window = "30s" }`, `percentile` from 50 to 99.9 and the rest optional
/// (the [`PercentileDelay`](crate::hedge::PercentileDelay) defaults). `budget` is a retry
/// budget as in [`RetrySettings`](super::RetrySettings); without one the layer sends no
/// hedge. What stays in code: the classifier (the file only names it), how requests are
/// copied, a delay computed by a function, a shared budget or histogram, listeners.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct HedgeSettings {
    /// The layer's name ([`name`](crate::hedge::HedgeLayerBuilder::name)).
    pub name: Option<String>,
    /// How attempts are spread out.
    pub mode: Option<HedgeModeSetting>,
    /// How long the latency mode waits before each hedge.
    pub delay: Option<DelaySettings>,
    /// The most attempts, the first included.
    pub max_attempts: Option<u32>,
    /// The budget every hedge is paid from, new for each layer built.
    pub budget: Option<BudgetSettings>,
    /// Whether the layer deposits into its budget once per request.
    pub deposit_requests: Option<bool>,
    /// The name of a built-in classifier (such as `"http"`), which the caller maps to one.
    pub classify: Option<String>,
    /// The rules the file gives that classifier (see
    /// [`RetrySettings::classify_rules`](super::RetrySettings::classify_rules)).
    pub classify_rules: Option<ClassifyRules>,
}

/// How a hedged request's attempts are spread out, as a file names it (see
/// [`HedgeMode`](crate::hedge::HedgeMode)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HedgeModeSetting {
    /// A hedge after the delay with no answer (`"latency"`).
    Latency,
    /// Every attempt at once (`"parallel"`).
    Parallel,
    /// A hedge only after a non-fatal failure (`"fallback"`).
    Fallback,
}

/// The hedge delay, as a file gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum DelaySettings {
    /// The same wait before every hedge.
    Fixed(Duration),
    /// A live percentile of the observed latencies; `None`: the default of
    /// [`PercentileDelay`](crate::hedge::PercentileDelay).
    Percentile {
        /// Which percentile, from 50 to 99.9 (`95` for the 95th).
        percentile: f64,
        /// The shortest delay.
        floor: Option<Duration>,
        /// The latencies needed before the percentile is used.
        min_samples: Option<u64>,
        /// The delay until then.
        fallback: Option<Duration>,
        /// How far back latencies count.
        window: Option<Duration>,
    },
}

impl DelaySettings {
    /// The delay before the first hedge as far as the file tells: the fixed delay, or a
    /// percentile's fallback (what it waits until enough latencies are seen; 100 ms when not
    /// given).
    pub fn first_delay(&self) -> Duration {
        match self {
            DelaySettings::Fixed(d) => *d,
            DelaySettings::Percentile { fallback, .. } => {
                fallback.unwrap_or(Duration::from_millis(100))
            }
        }
    }
}

const MODES: &[(&str, HedgeModeSetting)] = &[
    ("latency", HedgeModeSetting::Latency),
    ("parallel", HedgeModeSetting::Parallel),
    ("fallback", HedgeModeSetting::Fallback),
];

impl HedgeSettings {
    /// These settings with every setting `over` gives replacing this one's; a delay and a
    /// budget are replaced whole.
    pub fn overridden_by(&self, over: &HedgeSettings) -> HedgeSettings {
        HedgeSettings {
            name: over.name.clone().or_else(|| self.name.clone()),
            mode: over.mode.or(self.mode),
            delay: over.delay.or(self.delay),
            max_attempts: over.max_attempts.or(self.max_attempts),
            budget: over.budget.or(self.budget),
            deposit_requests: over.deposit_requests.or(self.deposit_requests),
            // A name and its rules are one setting.
            classify: over.classify.clone().or_else(|| self.classify.clone()),
            classify_rules: if over.classify.is_some() {
                over.classify_rules.clone()
            } else {
                self.classify_rules.clone()
            },
        }
    }

    /// Reads the settings from table `t`; the caller reports the keys nobody read.
    pub(crate) fn read_table(r: &mut Reader, t: &mut Table<'_>) -> HedgeSettings {
        let (classify, classify_rules) = t.read(r, "classify", read_classify).unzip();
        HedgeSettings {
            name: t.string(r, "name"),
            mode: t.read(r, "mode", |r, n, p| choice(r, n, p, MODES)),
            delay: t.read(r, "delay", read_delay),
            max_attempts: t.u32(r, "max_attempts"),
            budget: t.read(r, "budget", read_budget),
            deposit_requests: t.bool(r, "deposit_requests"),
            classify,
            classify_rules: classify_rules.flatten(),
        }
    }

    pub(crate) fn read(r: &mut Reader, node: &Node, path: &str) -> Option<HedgeSettings> {
        let mut t = r.table(node, path)?;
        let settings = Self::read_table(r, &mut t);
        t.finish(r);
        Some(settings)
    }

    /// The table these settings read from.
    pub fn to_node(&self) -> Node {
        let mode = |m: HedgeModeSetting| {
            let name = MODES
                .iter()
                .find(|(_, v)| *v == m)
                .map_or("latency", |(n, _)| n);
            Node::text(name)
        };
        Out::default()
            .put("name", self.name.as_deref().map(Node::text))
            .put("mode", self.mode.map(mode))
            .put("delay", self.delay.map(delay_node))
            .put(
                "max_attempts",
                self.max_attempts.map(|n| Node::Integer(n.into())),
            )
            .put("budget", self.budget.map(budget_node))
            .put("deposit_requests", self.deposit_requests.map(Node::Bool))
            .put(
                "classify",
                classify_node(self.classify.as_deref(), self.classify_rules.as_ref()),
            )
            .node()
    }
}

/// A duration, or a percentile table.
fn read_delay(r: &mut Reader, node: &Node, path: &str) -> Option<DelaySettings> {
    if let Node::String(_) = node {
        return super::read::duration(r, node, path).map(DelaySettings::Fixed);
    }
    let mut t = r.table(node, path)?;
    let percentile = t.read(r, "percentile", |r, n, p| {
        let x = number(r, n, p)?;
        if (50.0..=99.9).contains(&x) {
            Some(x)
        } else {
            r.report(
                p,
                Some(n),
                "must be from 50 to 99.9 (95 for the 95th percentile)",
            );
            None
        }
    });
    let floor = t.duration(r, "floor");
    let min_samples = t.u64(r, "min_samples");
    let fallback = t.duration(r, "fallback");
    let window = t.duration(r, "window");
    if !t.has("percentile") {
        r.report(
            &join(path, "percentile"),
            None,
            "missing (a delay is a duration, or a table with a percentile from 50 to 99.9)",
        );
    }
    t.finish(r);
    percentile.map(|percentile| DelaySettings::Percentile {
        percentile,
        floor,
        min_samples,
        fallback,
        window,
    })
}

fn delay_node(delay: DelaySettings) -> Node {
    match delay {
        DelaySettings::Fixed(d) => Node::duration(d),
        DelaySettings::Percentile {
            percentile,
            floor,
            min_samples,
            fallback,
            window,
        } => Out::default()
            .put("percentile", Some(Node::Float(percentile)))
            .put("floor", floor.map(Node::duration))
            .put("min_samples", min_samples.map(|n| Node::Integer(n.into())))
            .put("fallback", fallback.map(Node::duration))
            .put("window", window.map(Node::duration))
            .node(),
    }
}

settings_serde!(HedgeSettings);

#[cfg(feature = "hedge")]
mod build {
    use super::{DelaySettings, HedgeModeSetting, HedgeSettings};
    use crate::config::retry::build::build_budget;
    use crate::error::ConfigError;
    use crate::hedge::{HedgeDelay, HedgeLayer, HedgeLayerBuilder, HedgeMode};

    impl HedgeSettings {
        /// A builder with these settings (its defaults for the rest), ready for the parts
        /// that stay in code: a classifier, a cloner, listeners, a shared budget. The budget,
        /// if any, is built here, new for each call; it fails if its settings break the
        /// budget's rules.
        pub fn builder(&self) -> Result<HedgeLayerBuilder, ConfigError> {
            let mut b = HedgeLayer::builder();
            if let Some(name) = &self.name {
                b = b.name(name.clone());
            }
            if let Some(mode) = self.mode {
                b = b.mode(match mode {
                    HedgeModeSetting::Latency => HedgeMode::Latency,
                    HedgeModeSetting::Parallel => HedgeMode::Parallel,
                    HedgeModeSetting::Fallback => HedgeMode::Fallback,
                });
            }
            if let Some(delay) = self.delay {
                b = b.delay(to_delay(delay));
            }
            if let Some(n) = self.max_attempts {
                b = b.max_attempts(n);
            }
            if let Some(budget) = self.budget {
                b = b.budget(build_budget(budget)?);
            }
            if let Some(deposit) = self.deposit_requests {
                b = b.deposit_requests(deposit);
            }
            Ok(b)
        }

        /// The layer these settings describe, every setting checked by the builder.
        pub fn build(&self) -> Result<HedgeLayer, ConfigError> {
            self.builder()?.build()
        }
    }

    fn to_delay(delay: DelaySettings) -> HedgeDelay {
        match delay {
            DelaySettings::Fixed(d) => HedgeDelay::fixed(d),
            DelaySettings::Percentile {
                percentile,
                floor,
                min_samples,
                fallback,
                window,
            } => {
                // 99.9 / 100 is a hair above 0.999 in floating point.
                let mut p = HedgeDelay::percentile((percentile / 100.0).min(0.999));
                if let Some(d) = floor {
                    p = p.floor(d);
                }
                if let Some(n) = min_samples {
                    p = p.min_samples(n);
                }
                if let Some(d) = fallback {
                    p = p.fallback(d);
                }
                if let Some(d) = window {
                    p = p.window(d);
                }
                p.into()
            }
        }
    }
}
