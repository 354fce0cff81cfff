//! The circuit breaker's settings as data.

use std::time::Duration;

use super::backoff::BackoffSettings;
use super::node::{Node, Out};
use super::read::settings_serde;
use super::read::{choice, join, number, Reader, Table};

/// A circuit breaker's settings, as a file gives them: every setting optional, `None` meaning
/// the builder's default (see
/// [`CircuitBreaker::builder`](crate::circuit_breaker::CircuitBreaker::builder)).
///
/// In a file:
///
/// ```toml
/// name = "inventory"                  # default: the key the settings are under
/// failure_rate = 50                   # percent, or "off"
/// slow_call_rate = { percent = 80, threshold = "2s" }
/// consecutive_failures = 5
/// minimum_calls = 20
/// window = { count = 100 }            # or { time = "1m", buckets = 12 } (default 10 buckets)
/// half_open_max_calls = 3
/// success_threshold = 2
/// half_open_rule = "first_failure"    # or "rates"
/// max_half_open = "30s"
/// open_for = "30s"                    # or open_backoff = { kind = "exponential", ... }
/// count_cancellations = false
/// count_invalid = true
/// ```
///
/// `open_for` and `open_backoff` both set how long the breaker stays open; a table gives one
/// or the other. `open_backoff` is a [`BackoffSettings`]; without `kind` it adjusts the
/// default (a constant 60 s).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct BreakerSettings {
    /// The breaker's name.
    pub name: Option<String>,
    /// The failure rate that trips the breaker, or none.
    pub failure_rate: Option<FailureRate>,
    /// The slow-call rule.
    pub slow_call_rate: Option<SlowCallRate>,
    /// Trips after this many failures in a row.
    pub consecutive_failures: Option<u32>,
    /// Calls the window must hold before the rates count.
    pub minimum_calls: Option<u32>,
    /// The sliding window the rates are taken over.
    pub window: Option<WindowSettings>,
    /// Probes allowed in each half-open period.
    pub half_open_max_calls: Option<u32>,
    /// Successful probes that close the breaker.
    pub success_threshold: Option<u32>,
    /// How half-open judges its probes.
    pub half_open_rule: Option<HalfOpenMode>,
    /// The longest a breaker stays half-open with a probe outstanding.
    pub max_half_open: Option<Duration>,
    /// How long the breaker stays open, each time.
    pub open_for: Option<Duration>,
    /// How long the breaker stays open after each consecutive trip.
    pub open_backoff: Option<BackoffSettings>,
    /// Whether cancelled calls count as failures.
    pub count_cancellations: Option<bool>,
    /// Whether invalid responses count as failures.
    pub count_invalid: Option<bool>,
}

/// The failure-rate rule: a percentage, or off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FailureRate {
    /// No failure-rate rule (`"off"` in a file).
    Off,
    /// Trips at this percentage of failed calls (above 0, at most 100).
    Percent(f64),
}

/// The slow-call rule: calls slower than `threshold` are slow, and `percent` of them trip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlowCallRate {
    /// The share of slow calls that trips the breaker, in percent.
    pub percent: f64,
    /// How long a call may take before it counts as slow.
    pub threshold: Duration,
}

/// A sliding window, as [`SlidingWindow`](crate::circuit_breaker::SlidingWindow) has it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WindowSettings {
    /// The last `n` calls (`{ count = n }`).
    Count(u32),
    /// The calls of the last `length`, in `buckets` steps (`{ time = "1m", buckets = 12 }`,
    /// 10 buckets when not given).
    Time {
        /// How far back calls count.
        length: Duration,
        /// How many steps the window slides in.
        buckets: u32,
    },
}

/// How a half-open breaker judges its probes, as
/// [`HalfOpenRule`](crate::circuit_breaker::HalfOpenRule) has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HalfOpenMode {
    /// The first failed probe reopens (`"first_failure"`).
    FirstFailure,
    /// The probes' rates decide (`"rates"`).
    Rates,
}

const RULES: &[(&str, HalfOpenMode)] = &[
    ("first_failure", HalfOpenMode::FirstFailure),
    ("rates", HalfOpenMode::Rates),
];

impl BreakerSettings {
    /// These settings with every setting `over` gives replacing this one's. The open time
    /// (`open_for` or `open_backoff`) is taken whole from `over` when it gives either.
    pub fn overridden_by(&self, over: &BreakerSettings) -> BreakerSettings {
        let over_open = over.open_for.is_some() || over.open_backoff.is_some();
        let (open_for, open_backoff) = match (&self.open_backoff, &over.open_backoff) {
            (Some(a), Some(b)) => (None, Some(a.overridden_by(b))),
            _ if over_open => (over.open_for, over.open_backoff.clone()),
            _ => (self.open_for, self.open_backoff.clone()),
        };
        BreakerSettings {
            name: over.name.clone().or_else(|| self.name.clone()),
            failure_rate: over.failure_rate.or(self.failure_rate),
            slow_call_rate: over.slow_call_rate.or(self.slow_call_rate),
            consecutive_failures: over.consecutive_failures.or(self.consecutive_failures),
            minimum_calls: over.minimum_calls.or(self.minimum_calls),
            window: over.window.or(self.window),
            half_open_max_calls: over.half_open_max_calls.or(self.half_open_max_calls),
            success_threshold: over.success_threshold.or(self.success_threshold),
            half_open_rule: over.half_open_rule.or(self.half_open_rule),
            max_half_open: over.max_half_open.or(self.max_half_open),
            open_for,
            open_backoff,
            count_cancellations: over.count_cancellations.or(self.count_cancellations),
            count_invalid: over.count_invalid.or(self.count_invalid),
        }
    }

    pub(crate) fn read_table(r: &mut Reader, t: &mut Table<'_>) -> BreakerSettings {
        let settings = BreakerSettings {
            name: t.string(r, "name"),
            failure_rate: t.read(r, "failure_rate", read_failure_rate),
            slow_call_rate: t.read(r, "slow_call_rate", read_slow_call_rate),
            consecutive_failures: t.u32(r, "consecutive_failures"),
            minimum_calls: t.u32(r, "minimum_calls"),
            window: t.read(r, "window", read_window),
            half_open_max_calls: t.u32(r, "half_open_max_calls"),
            success_threshold: t.u32(r, "success_threshold"),
            half_open_rule: t.read(r, "half_open_rule", |r, n, p| choice(r, n, p, RULES)),
            max_half_open: t.duration(r, "max_half_open"),
            open_for: t.duration(r, "open_for"),
            open_backoff: t.read(r, "open_backoff", BackoffSettings::read),
            count_cancellations: t.bool(r, "count_cancellations"),
            count_invalid: t.bool(r, "count_invalid"),
        };
        if t.has("open_for") && t.has("open_backoff") {
            r.report(
                &join(t.path(), "open_backoff"),
                None,
                "give `open_for` or `open_backoff`, not both",
            );
        }
        settings
    }

    pub(crate) fn read(r: &mut Reader, node: &Node, path: &str) -> Option<BreakerSettings> {
        let mut t = r.table(node, path)?;
        let settings = Self::read_table(r, &mut t);
        t.finish(r);
        Some(settings)
    }

    /// The table these settings read from.
    pub fn to_node(&self) -> Node {
        let n = |v: Option<u32>| v.map(|n| Node::Integer(n.into()));
        Out::default()
            .put("name", self.name.as_deref().map(Node::text))
            .put(
                "failure_rate",
                self.failure_rate.map(|f| match f {
                    FailureRate::Off => Node::text("off"),
                    FailureRate::Percent(p) => Node::Float(p),
                }),
            )
            .put(
                "slow_call_rate",
                self.slow_call_rate.map(|s| {
                    Node::Map(vec![
                        ("percent".into(), Node::Float(s.percent)),
                        ("threshold".into(), Node::duration(s.threshold)),
                    ])
                }),
            )
            .put("consecutive_failures", n(self.consecutive_failures))
            .put("minimum_calls", n(self.minimum_calls))
            .put(
                "window",
                self.window.map(|w| match w {
                    WindowSettings::Count(c) => {
                        Node::Map(vec![("count".into(), Node::Integer(c.into()))])
                    }
                    WindowSettings::Time { length, buckets } => Node::Map(vec![
                        ("time".into(), Node::duration(length)),
                        ("buckets".into(), Node::Integer(buckets.into())),
                    ]),
                }),
            )
            .put("half_open_max_calls", n(self.half_open_max_calls))
            .put("success_threshold", n(self.success_threshold))
            .put(
                "half_open_rule",
                self.half_open_rule.map(|m| match m {
                    HalfOpenMode::FirstFailure => Node::text("first_failure"),
                    HalfOpenMode::Rates => Node::text("rates"),
                }),
            )
            .put("max_half_open", self.max_half_open.map(Node::duration))
            .put("open_for", self.open_for.map(Node::duration))
            .put(
                "open_backoff",
                self.open_backoff.as_ref().map(BackoffSettings::to_node),
            )
            .put(
                "count_cancellations",
                self.count_cancellations.map(Node::Bool),
            )
            .put("count_invalid", self.count_invalid.map(Node::Bool))
            .node()
    }
}

fn read_failure_rate(r: &mut Reader, node: &Node, path: &str) -> Option<FailureRate> {
    match node {
        Node::String(s) if s == "off" => Some(FailureRate::Off),
        Node::Integer(_) | Node::Float(_) => number(r, node, path).map(FailureRate::Percent),
        other => {
            r.report(
                path,
                Some(other),
                "must be a percentage (such as 50) or \"off\"",
            );
            None
        }
    }
}

fn read_slow_call_rate(r: &mut Reader, node: &Node, path: &str) -> Option<SlowCallRate> {
    let mut t = r.table(node, path)?;
    let percent = t.f64(r, "percent");
    let threshold = t.duration(r, "threshold");
    for key in ["percent", "threshold"] {
        if !t.has(key) {
            r.report(
                &join(path, key),
                None,
                "missing (the slow-call rule needs it)",
            );
        }
    }
    t.finish(r);
    Some(SlowCallRate {
        percent: percent?,
        threshold: threshold?,
    })
}

fn read_window(r: &mut Reader, node: &Node, path: &str) -> Option<WindowSettings> {
    let mut t = r.table(node, path)?;
    let window = match (t.has("count"), t.has("time")) {
        (true, false) => t.u32(r, "count").map(WindowSettings::Count),
        (false, true) => {
            let length = t.duration(r, "time");
            let buckets = t.u32(r, "buckets").unwrap_or(10);
            length.map(|length| WindowSettings::Time { length, buckets })
        }
        (both, _) => {
            let rule = if both {
                "give `count` or `time`, not both"
            } else {
                "needs `count` (calls) or `time` (a duration)"
            };
            r.report(path, Some(node), rule);
            let _ = t.entries();
            None
        }
    };
    t.finish(r);
    window
}

settings_serde!(BreakerSettings);

#[cfg(feature = "circuit-breaker")]
mod build {
    use std::time::Duration;

    use super::{BreakerSettings, FailureRate, HalfOpenMode, WindowSettings};
    use crate::circuit_breaker::{
        CircuitBreaker, CircuitBreakerBuilder, HalfOpenRule, SlidingWindow,
    };
    use crate::config::backoff::{BackoffSettings, Strategy};
    use crate::error::ConfigError;

    /// The breaker's default open time, which an `open_backoff` table without `kind` adjusts.
    fn default_open_backoff() -> BackoffSettings {
        BackoffSettings {
            strategy: Some(Strategy::Constant {
                delay: Duration::from_secs(60),
            }),
            ..BackoffSettings::default()
        }
    }

    impl BreakerSettings {
        /// A builder with these settings (its defaults for the rest), ready for the parts
        /// that stay in code: listeners, observers, a random source.
        pub fn builder(&self) -> CircuitBreakerBuilder {
            let mut b = CircuitBreaker::builder();
            if let Some(name) = &self.name {
                b = b.name(name.clone());
            }
            match self.failure_rate {
                Some(FailureRate::Off) => b = b.no_failure_rate(),
                Some(FailureRate::Percent(p)) => b = b.failure_rate(p),
                None => {}
            }
            if let Some(s) = self.slow_call_rate {
                b = b.slow_call_rate(s.percent, s.threshold);
            }
            if let Some(n) = self.consecutive_failures {
                b = b.consecutive_failures(n);
            }
            if let Some(n) = self.minimum_calls {
                b = b.minimum_calls(n);
            }
            match self.window {
                Some(WindowSettings::Count(n)) => b = b.window(SlidingWindow::Count(n)),
                Some(WindowSettings::Time { length, buckets }) => {
                    b = b.window(SlidingWindow::Time { length, buckets })
                }
                None => {}
            }
            if let Some(n) = self.half_open_max_calls {
                b = b.half_open_max_calls(n);
            }
            if let Some(n) = self.success_threshold {
                b = b.success_threshold(n);
            }
            match self.half_open_rule {
                Some(HalfOpenMode::FirstFailure) => {
                    b = b.half_open_rule(HalfOpenRule::FirstFailure)
                }
                Some(HalfOpenMode::Rates) => b = b.half_open_rule(HalfOpenRule::Rates),
                None => {}
            }
            if let Some(d) = self.max_half_open {
                b = b.max_half_open(d);
            }
            if let Some(d) = self.open_for {
                b = b.open_for(d);
            }
            if let Some(backoff) = &self.open_backoff {
                b = b.open_backoff(backoff.to_backoff(&default_open_backoff()));
            }
            if let Some(yes) = self.count_cancellations {
                b = b.count_cancellations(yes);
            }
            if let Some(yes) = self.count_invalid {
                b = b.count_invalid(yes);
            }
            b
        }

        /// The breaker these settings describe, every setting checked by the builder.
        pub fn build(&self) -> Result<CircuitBreaker, ConfigError> {
            self.builder().build()
        }
    }
}
