//! The chaos layer's settings as data: the parts of an experiment a file can hold.
//!
//! ```
//! use std::time::Duration;
//! use steadfast::config::{ChaosLatency, ChaosSettings, Format, Node};
//!
//! let node = Node::parse(
//!     r#"{ "enabled": true, "seed": 7, "fault_rate": 0.05,
//!          "latency": { "rate": 0.1, "min": "50ms", "max": "500ms" } }"#,
//!     Format::Json,
//! )
//! .unwrap();
//! let settings = ChaosSettings::from_node(&node).unwrap();
//! assert_eq!(settings.fault_rate, Some(0.05));
//! assert_eq!(
//!     settings.latency.unwrap().delay,
//!     Some(ChaosLatency::Range { min: Duration::from_millis(50), max: Duration::from_millis(500) })
//! );
//! ```

use std::time::Duration;

use super::node::{Node, Out};
use super::read::settings_serde;
use super::read::{join, Reader, Table};

/// A chaos layer's settings, as a file gives them: whether it is on, its seed, the rate of its
/// built-in fault and its latency injection.
///
/// In a file:
///
/// ```toml
/// enabled = true               # default: on
/// seed = 7                     # a fixed sequence of draws
/// fault_rate = 0.05            # 5% of requests fail with a ChaosError
/// latency = { rate = 0.1, delay = "200ms" }    # or { rate = 0.1, min = "50ms", max = "500ms" }
/// ```
///
/// What stays in code: the layer's name (a `&'static str`), the errors of a fault of your own,
/// injected outcomes and behaviours, predicates (`when`), per-injection switches, latency drawn
/// from a function, listeners. [`builder`](Self::builder) gives a builder to add them to.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub struct ChaosSettings {
    /// Whether the layer starts switched on (its [`ChaosSwitch`](crate::chaos::ChaosSwitch)).
    pub enabled: Option<bool>,
    /// Seeds the layer's random source.
    pub seed: Option<u64>,
    /// The share of requests, from 0 to 1, that fail with a
    /// [`ChaosError`](crate::chaos::ChaosError) ([`FaultInjection::chaos`](crate::chaos::FaultInjection::chaos)).
    pub fault_rate: Option<f64>,
    /// Added latency.
    pub latency: Option<LatencySettings>,
}

/// A latency injection's settings.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub struct LatencySettings {
    /// The share of requests delayed, from 0 to 1 (default 1: every one).
    pub rate: Option<f64>,
    /// How long; a latency table without one is an error.
    pub delay: Option<ChaosLatency>,
}

/// How long an injected delay is.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum ChaosLatency {
    /// Always this long (`delay = "200ms"`).
    Fixed(Duration),
    /// Drawn uniformly from `min..=max` (`min = "50ms", max = "500ms"`).
    Range {
        /// The shortest.
        min: Duration,
        /// The longest.
        max: Duration,
    },
}

impl ChaosSettings {
    /// These settings with every setting `over` gives replacing this one's; a latency is
    /// replaced whole.
    pub fn overridden_by(&self, over: &ChaosSettings) -> ChaosSettings {
        ChaosSettings {
            enabled: over.enabled.or(self.enabled),
            seed: over.seed.or(self.seed),
            fault_rate: over.fault_rate.or(self.fault_rate),
            latency: over.latency.or(self.latency),
        }
    }

    pub(crate) fn read_table(r: &mut Reader, t: &mut Table<'_>) -> ChaosSettings {
        ChaosSettings {
            enabled: t.bool(r, "enabled"),
            seed: t.u64(r, "seed"),
            fault_rate: t.read(r, "fault_rate", rate),
            latency: t.read(r, "latency", read_latency),
        }
    }

    pub(crate) fn read(r: &mut Reader, node: &Node, path: &str) -> Option<ChaosSettings> {
        let mut t = r.table(node, path)?;
        let settings = Self::read_table(r, &mut t);
        t.finish(r);
        Some(settings)
    }

    /// The table these settings read from.
    pub fn to_node(&self) -> Node {
        Out::default()
            .put("enabled", self.enabled.map(Node::Bool))
            .put("seed", self.seed.map(|n| Node::Integer(n.into())))
            .put("fault_rate", self.fault_rate.map(Node::Float))
            .put("latency", self.latency.map(latency_node))
            .node()
    }
}

/// A number from 0 to 1.
fn rate(r: &mut Reader, node: &Node, path: &str) -> Option<f64> {
    let x = super::read::number(r, node, path)?;
    if (0.0..=1.0).contains(&x) {
        Some(x)
    } else {
        r.report(path, Some(node), "must be from 0 to 1 (0.05 for 5%)");
        None
    }
}

fn read_latency(r: &mut Reader, node: &Node, path: &str) -> Option<LatencySettings> {
    let mut t = r.table(node, path)?;
    let rate = t.read(r, "rate", rate);
    let fixed = t.duration(r, "delay");
    let min = t.duration(r, "min");
    let max = t.duration(r, "max");
    let unread = ["delay", "min", "max"]
        .iter()
        .zip([fixed, min, max])
        .any(|(k, d)| t.has(k) && d.is_none());
    let delay = match (fixed, min, max) {
        // A value that did not read was reported already.
        _ if unread => None,
        (Some(d), None, None) => Some(ChaosLatency::Fixed(d)),
        (None, Some(min), Some(max)) => Some(ChaosLatency::Range { min, max }),
        (fixed, min, max) => {
            let rule = match (fixed, min.or(max)) {
                (Some(_), _) => "give either `delay` or `min` and `max`, not both",
                (None, Some(_)) => "a range needs both `min` and `max`",
                (None, None) => "missing (a latency needs `delay`, or `min` and `max`)",
            };
            r.report(&join(path, "delay"), None, rule);
            None
        }
    };
    t.finish(r);
    delay.map(|delay| LatencySettings {
        rate,
        delay: Some(delay),
    })
}

fn latency_node(latency: LatencySettings) -> Node {
    let mut out = Out::default();
    out.put("rate", latency.rate.map(Node::Float));
    match latency.delay {
        Some(ChaosLatency::Fixed(d)) => {
            out.put("delay", Some(Node::duration(d)));
        }
        Some(ChaosLatency::Range { min, max }) => {
            out.put("min", Some(Node::duration(min)));
            out.put("max", Some(Node::duration(max)));
        }
        None => {}
    }
    out.node()
}

settings_serde!(ChaosSettings);

#[cfg(feature = "chaos")]
mod build {
    use super::{ChaosLatency, ChaosSettings};
    use crate::chaos::LatencyInjection;
    use crate::chaos::{ChaosLayer, ChaosLayerBuilder, ChaosSwitch, FaultInjection};

    impl ChaosSettings {
        /// A builder with these settings, ready for the parts that stay in code (outcomes,
        /// behaviours, faults of your own, predicates, a name, listeners). Its
        /// `build` checks the rates and the latency range, and needs at least one injection.
        pub fn builder<Req, Res>(&self) -> ChaosLayerBuilder<Req, Res> {
            let mut b = ChaosLayer::builder();
            if let Some(on) = self.enabled {
                b = b.switch(ChaosSwitch::new(on));
            }
            if let Some(seed) = self.seed {
                b = b.seed(seed);
            }
            if let Some(rate) = self.fault_rate {
                b = b.fault(FaultInjection::chaos().rate(rate));
            }
            if let Some(latency) = self.latency {
                let injection = match latency.delay {
                    Some(ChaosLatency::Fixed(d)) => Some(LatencyInjection::fixed(d)),
                    Some(ChaosLatency::Range { min, max }) => {
                        Some(LatencyInjection::uniform(min, max))
                    }
                    None => None,
                };
                if let Some(mut injection) = injection {
                    if let Some(rate) = latency.rate {
                        injection = injection.rate(rate);
                    }
                    b = b.latency(injection);
                }
            }
            b
        }
    }
}
