//! The settings of a backoff schedule: the retry layer's waits and the breaker's open times.

use std::time::Duration;

#[cfg(any(feature = "retry", feature = "circuit-breaker"))]
use crate::backoff::Backoff;
use crate::backoff::Jitter;

use super::node::{Node, Out};
use super::read::settings_serde;
use super::read::{choice, join, number, Reader, Table};

/// A backoff schedule as data: its strategy, cap, floor and jitter, each optional.
///
/// In a file, `kind` names the strategy and the keys beside it are its parameters:
///
/// | `kind` | parameters |
/// | --- | --- |
/// | `none` | |
/// | `constant` | `delay` |
/// | `linear` | `step`, and `initial` (default: `step`) |
/// | `exponential` | `base`, and `factor` (default 2) |
/// | `fibonacci` | `base` |
/// | `decorrelated` | `base` |
///
/// plus `max`, `min` and `jitter` (`"none"`, `"full"`, `"equal"` or `{ proportional = 0.2 }`)
/// for any strategy. A table without `kind` keeps the layer's default strategy and changes only
/// the cap, floor or jitter it gives.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct BackoffSettings {
    /// The strategy and its parameters (`kind`), or the layer's default.
    pub strategy: Option<Strategy>,
    /// The cap on the raw delay, before jitter.
    pub max: Option<Duration>,
    /// The floor, applied after jitter.
    pub min: Option<Duration>,
    /// How each delay is randomised.
    pub jitter: Option<Jitter>,
}

/// A backoff strategy and its parameters, as [`Backoff`]'s constructors take them.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Strategy {
    /// No wait ([`Backoff::none`]).
    None,
    /// The same wait every time ([`Backoff::constant`]).
    Constant {
        /// The wait.
        delay: Duration,
    },
    /// `initial + step · (n − 1)` ([`Backoff::linear_from`]).
    Linear {
        /// The first wait (default: `step`).
        initial: Option<Duration>,
        /// How much each wait adds.
        step: Duration,
    },
    /// `base · factor^(n − 1)` ([`Backoff::exponential_with_factor`]).
    Exponential {
        /// The first wait.
        base: Duration,
        /// The growth factor, at least 1 (default 2).
        factor: Option<f64>,
    },
    /// `base` times the Fibonacci numbers ([`Backoff::fibonacci`]).
    Fibonacci {
        /// The first wait.
        base: Duration,
    },
    /// AWS's decorrelated jitter from `base` ([`Backoff::decorrelated`]).
    Decorrelated {
        /// The least wait.
        base: Duration,
    },
}

const KINDS: &[(&str, u8)] = &[
    ("none", 0),
    ("constant", 1),
    ("linear", 2),
    ("exponential", 3),
    ("fibonacci", 4),
    ("decorrelated", 5),
];

impl BackoffSettings {
    /// These settings with every setting `over` gives replacing this one's.
    pub fn overridden_by(&self, over: &BackoffSettings) -> BackoffSettings {
        BackoffSettings {
            strategy: over.strategy.or(self.strategy),
            max: over.max.or(self.max),
            min: over.min.or(self.min),
            jitter: over.jitter.or(self.jitter),
        }
    }

    /// The schedule, with `default` (the layer's own default schedule) filling what is not
    /// set. When a strategy is set here, the cap and jitter not set here are none, as with
    /// [`Backoff`]'s constructors.
    #[cfg(any(feature = "retry", feature = "circuit-breaker"))]
    pub(crate) fn to_backoff(&self, default: &BackoffSettings) -> Backoff {
        let (strategy, max, jitter) = match self.strategy {
            Some(s) => (s, self.max, self.jitter),
            None => (
                default.strategy.unwrap_or(Strategy::None),
                self.max.or(default.max),
                self.jitter.or(default.jitter),
            ),
        };
        let mut backoff = match strategy {
            Strategy::None => Backoff::none(),
            Strategy::Constant { delay } => Backoff::constant(delay),
            Strategy::Linear { initial, step } => {
                Backoff::linear_from(initial.unwrap_or(step), step)
            }
            Strategy::Exponential { base, factor } => {
                Backoff::exponential_with_factor(base, factor.unwrap_or(2.0))
            }
            Strategy::Fibonacci { base } => Backoff::fibonacci(base),
            Strategy::Decorrelated { base } => Backoff::decorrelated(base),
        };
        if let Some(max) = max {
            backoff = backoff.max(max);
        }
        if let Some(min) = self.min.or(default.min) {
            backoff = backoff.min(min);
        }
        backoff.jitter(jitter.unwrap_or(Jitter::None))
    }

    /// Reads the settings from the table at `path`.
    pub(crate) fn read(r: &mut Reader, node: &Node, path: &str) -> Option<BackoffSettings> {
        let mut t = r.table(node, path)?;
        let kind = t.read(r, "kind", |r, node, path| choice(r, node, path, KINDS));
        let strategy = match kind {
            None => {
                for key in ["delay", "step", "initial", "base", "factor"] {
                    // With a `kind` that is not one, its parameters cannot be checked.
                    if t.has(key) && !t.has("kind") {
                        r.report(
                            &join(t.path(), key),
                            None,
                            "needs a `kind` beside it (the strategy it is a parameter of)",
                        );
                    }
                    let _ = t.get(key);
                }
                None
            }
            Some(0) => Some(Strategy::None),
            Some(1) => required(&mut t, r, "delay").map(|delay| Strategy::Constant { delay }),
            Some(2) => {
                let step = required(&mut t, r, "step");
                let initial = t.duration(r, "initial");
                step.map(|step| Strategy::Linear { initial, step })
            }
            Some(3) => {
                let base = required(&mut t, r, "base");
                let factor = t.f64(r, "factor");
                base.map(|base| Strategy::Exponential { base, factor })
            }
            Some(4) => required(&mut t, r, "base").map(|base| Strategy::Fibonacci { base }),
            Some(_) => required(&mut t, r, "base").map(|base| Strategy::Decorrelated { base }),
        };
        let settings = BackoffSettings {
            strategy,
            max: t.duration(r, "max"),
            min: t.duration(r, "min"),
            jitter: t.read(r, "jitter", read_jitter),
        };
        t.finish(r);
        Some(settings)
    }

    /// The table these settings read from.
    pub fn to_node(&self) -> Node {
        let mut out = Out::default();
        let d = |d: Duration| Some(Node::duration(d));
        match self.strategy {
            None => {}
            Some(Strategy::None) => {
                out.put("kind", Some(Node::text("none")));
            }
            Some(Strategy::Constant { delay }) => {
                out.put("kind", Some(Node::text("constant")))
                    .put("delay", d(delay));
            }
            Some(Strategy::Linear { initial, step }) => {
                out.put("kind", Some(Node::text("linear")))
                    .put("step", d(step))
                    .put("initial", initial.map(Node::duration));
            }
            Some(Strategy::Exponential { base, factor }) => {
                out.put("kind", Some(Node::text("exponential")))
                    .put("base", d(base))
                    .put("factor", factor.map(Node::Float));
            }
            Some(Strategy::Fibonacci { base }) => {
                out.put("kind", Some(Node::text("fibonacci")))
                    .put("base", d(base));
            }
            Some(Strategy::Decorrelated { base }) => {
                out.put("kind", Some(Node::text("decorrelated")))
                    .put("base", d(base));
            }
        }
        out.put("max", self.max.map(Node::duration))
            .put("min", self.min.map(Node::duration))
            .put("jitter", self.jitter.map(jitter_node))
            .node()
    }
}

/// Reads a parameter the strategy cannot do without.
fn required(t: &mut Table<'_>, r: &mut Reader, key: &'static str) -> Option<Duration> {
    let d = t.duration(r, key);
    if d.is_none() && !t.has(key) {
        r.report(
            &join(t.path(), key),
            None,
            "missing (this kind of backoff needs it)",
        );
    }
    d
}

fn read_jitter(r: &mut Reader, node: &Node, path: &str) -> Option<Jitter> {
    if let Node::Map(_) = node {
        let mut t = r.table(node, path)?;
        let x = t.read(r, "proportional", number);
        if x.is_none() && !t.has("proportional") {
            r.report(
                path,
                Some(node),
                "a jitter table must be `{ proportional = 0.2 }`",
            );
        }
        t.finish(r);
        return x.map(Jitter::Proportional);
    }
    choice(
        r,
        node,
        path,
        &[
            ("none", Jitter::None),
            ("full", Jitter::Full),
            ("equal", Jitter::Equal),
        ],
    )
}

fn jitter_node(jitter: Jitter) -> Node {
    match jitter {
        Jitter::None => Node::text("none"),
        Jitter::Full => Node::text("full"),
        Jitter::Equal => Node::text("equal"),
        Jitter::Proportional(x) => Node::Map(vec![("proportional".into(), Node::Float(x))]),
    }
}

settings_serde!(BackoffSettings);
