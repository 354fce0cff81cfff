//! The retry layer's settings as data.

use std::time::Duration;

use tracing::Level;

use super::backoff::BackoffSettings;
use super::classify::{classify_node, read_classify, ClassifyRules};
use super::node::{Node, Out};
use super::read::settings_serde;
use super::read::{choice, Reader};

/// A retry policy's settings, as a file gives them: every setting optional, `None` meaning the
/// builder's default (see [`RetryPolicy::builder`](crate::retry::RetryPolicy::builder)).
///
/// In a file:
///
/// ```toml
/// name = "inventory"          # default: the key the settings are under
/// max_attempts = 4
/// backoff = { kind = "exponential", base = "100ms", max = "2s", jitter = "full" }
/// max_elapsed = "10s"
/// max_hint = "30s"
/// max_hint_wait_total = "1m"
/// start_jitter = "500ms"
/// seed = 7
/// log_level = "warn"          # trace, debug, info, warn or error
/// budget = { kind = "ratio", ratio = 0.2, min_per_second = 10, window = "10s" }
/// classify = "http"           # a name the caller maps to a classifier
/// ```
///
/// `budget` is `{ kind = "ratio", ratio, min_per_second, window }` (a
/// [`RatioBudget`](crate::retry::RatioBudget)) or `{ kind = "token_bucket", capacity,
/// retry_cost, success_refund }` (a [`TokenBucket`](crate::retry::TokenBucket)); the
/// parameters left out take the budget builder's defaults.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct RetrySettings {
    /// The policy's name ([`name`](crate::retry::RetryPolicyBuilder::name)).
    pub name: Option<String>,
    /// The most attempts, the first included.
    pub max_attempts: Option<u32>,
    /// The wait before each retry; what is not set keeps the default schedule's (exponential
    /// from 100 ms, capped at 10 s, full jitter).
    pub backoff: Option<BackoffSettings>,
    /// No retry past this long after the first attempt.
    pub max_elapsed: Option<Duration>,
    /// The longest server hint honoured.
    pub max_hint: Option<Duration>,
    /// The most time one request may wait on server hints in all.
    pub max_hint_wait_total: Option<Duration>,
    /// The most random wait before a request's first attempt.
    pub start_jitter: Option<Duration>,
    /// Seeds the policy's random source, for reproducible delays.
    pub seed: Option<u64>,
    /// The level of the policy's `tracing` events.
    pub log_level: Option<Level>,
    /// A retry budget of the policy's own.
    pub budget: Option<BudgetSettings>,
    /// The name of a built-in classifier (such as `"http"`). The settings only carry it:
    /// classifiers are code, and the caller maps the name to one
    /// ([`classify`](crate::retry::RetryPolicyBuilder::classify)) after
    /// [`builder`](Self::builder).
    pub classify: Option<String>,
    /// The rules the file gives that classifier (`classify = { name = "http", retry = [503] }`),
    /// which the caller applies too. They go with [`classify`](Self::classify): a layer that
    /// overrides the name drops the rules it inherited.
    pub classify_rules: Option<ClassifyRules>,
}

/// A retry budget's settings: which kind, and its parameters (`None`: the budget builder's
/// default).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum BudgetSettings {
    /// A [`RatioBudget`](crate::retry::RatioBudget).
    Ratio {
        /// Retries allowed per request.
        ratio: Option<f64>,
        /// Retries allowed per second whatever the traffic.
        min_per_second: Option<u32>,
        /// How far back requests and retries count.
        window: Option<Duration>,
    },
    /// A [`TokenBucket`](crate::retry::TokenBucket).
    TokenBucket {
        /// Tokens when full.
        capacity: Option<u32>,
        /// Tokens one retry costs.
        retry_cost: Option<u32>,
        /// Tokens a successful request puts back.
        success_refund: Option<u32>,
    },
}

const LEVELS: &[(&str, Level)] = &[
    ("trace", Level::TRACE),
    ("debug", Level::DEBUG),
    ("info", Level::INFO),
    ("warn", Level::WARN),
    ("error", Level::ERROR),
];

impl RetrySettings {
    /// These settings with every setting `over` gives replacing this one's; a backoff is
    /// merged setting by setting, a budget replaced whole.
    pub fn overridden_by(&self, over: &RetrySettings) -> RetrySettings {
        RetrySettings {
            name: over.name.clone().or_else(|| self.name.clone()),
            max_attempts: over.max_attempts.or(self.max_attempts),
            backoff: match (&self.backoff, &over.backoff) {
                (Some(a), Some(b)) => Some(a.overridden_by(b)),
                (a, b) => b.clone().or_else(|| a.clone()),
            },
            max_elapsed: over.max_elapsed.or(self.max_elapsed),
            max_hint: over.max_hint.or(self.max_hint),
            max_hint_wait_total: over.max_hint_wait_total.or(self.max_hint_wait_total),
            start_jitter: over.start_jitter.or(self.start_jitter),
            seed: over.seed.or(self.seed),
            log_level: over.log_level.or(self.log_level),
            budget: over.budget.or(self.budget),
            // A name and its rules are one setting.
            classify: over.classify.clone().or_else(|| self.classify.clone()),
            classify_rules: if over.classify.is_some() {
                over.classify_rules.clone()
            } else {
                self.classify_rules.clone()
            },
        }
    }

    /// Reads the settings from table `t`, reporting every problem to `r`; the caller reports
    /// the keys nobody read, after reading its own (such as a stack's `from`).
    pub(crate) fn read_table(r: &mut Reader, t: &mut super::read::Table<'_>) -> RetrySettings {
        let (classify, classify_rules) = t.read(r, "classify", read_classify).unzip();
        RetrySettings {
            name: t.string(r, "name"),
            max_attempts: t.u32(r, "max_attempts"),
            backoff: t.read(r, "backoff", BackoffSettings::read),
            max_elapsed: t.duration(r, "max_elapsed"),
            max_hint: t.duration(r, "max_hint"),
            max_hint_wait_total: t.duration(r, "max_hint_wait_total"),
            start_jitter: t.duration(r, "start_jitter"),
            seed: t.u64(r, "seed"),
            log_level: t.read(r, "log_level", |r, n, p| choice(r, n, p, LEVELS)),
            budget: t.read(r, "budget", read_budget),
            classify,
            classify_rules: classify_rules.flatten(),
        }
    }

    pub(crate) fn read(r: &mut Reader, node: &Node, path: &str) -> Option<RetrySettings> {
        let mut t = r.table(node, path)?;
        let settings = Self::read_table(r, &mut t);
        t.finish(r);
        Some(settings)
    }

    /// The table these settings read from.
    pub fn to_node(&self) -> Node {
        let level = |l: Level| {
            let name = LEVELS
                .iter()
                .find(|(_, v)| *v == l)
                .map_or("debug", |(n, _)| n);
            Node::text(name)
        };
        Out::default()
            .put("name", self.name.as_deref().map(Node::text))
            .put(
                "max_attempts",
                self.max_attempts.map(|n| Node::Integer(n.into())),
            )
            .put(
                "backoff",
                self.backoff.as_ref().map(BackoffSettings::to_node),
            )
            .put("max_elapsed", self.max_elapsed.map(Node::duration))
            .put("max_hint", self.max_hint.map(Node::duration))
            .put(
                "max_hint_wait_total",
                self.max_hint_wait_total.map(Node::duration),
            )
            .put("start_jitter", self.start_jitter.map(Node::duration))
            .put("seed", self.seed.map(|n| Node::Integer(n.into())))
            .put("log_level", self.log_level.map(level))
            .put("budget", self.budget.map(budget_node))
            .put(
                "classify",
                classify_node(self.classify.as_deref(), self.classify_rules.as_ref()),
            )
            .node()
    }
}

pub(crate) fn read_budget(r: &mut Reader, node: &Node, path: &str) -> Option<BudgetSettings> {
    let mut t = r.table(node, path)?;
    let kind = t.read(r, "kind", |r, n, p| {
        choice(r, n, p, &[("ratio", true), ("token_bucket", false)])
    });
    let budget = match kind {
        Some(true) => Some(BudgetSettings::Ratio {
            ratio: t.f64(r, "ratio"),
            min_per_second: t.u32(r, "min_per_second"),
            window: t.duration(r, "window"),
        }),
        Some(false) => Some(BudgetSettings::TokenBucket {
            capacity: t.u32(r, "capacity"),
            retry_cost: t.u32(r, "retry_cost"),
            success_refund: t.u32(r, "success_refund"),
        }),
        None => {
            if !t.has("kind") {
                r.report(
                    &super::read::join(path, "kind"),
                    None,
                    "missing (a budget is `ratio` or `token_bucket`)",
                );
            }
            // The rest cannot be read without the kind: nothing more to report.
            let _ = t.entries();
            None
        }
    };
    t.finish(r);
    budget
}

pub(crate) fn budget_node(budget: BudgetSettings) -> Node {
    let n = |v: Option<u32>| v.map(|n| Node::Integer(n.into()));
    match budget {
        BudgetSettings::Ratio {
            ratio,
            min_per_second,
            window,
        } => Out::default()
            .put("kind", Some(Node::text("ratio")))
            .put("ratio", ratio.map(Node::Float))
            .put("min_per_second", n(min_per_second))
            .put("window", window.map(Node::duration))
            .node(),
        BudgetSettings::TokenBucket {
            capacity,
            retry_cost,
            success_refund,
        } => Out::default()
            .put("kind", Some(Node::text("token_bucket")))
            .put("capacity", n(capacity))
            .put("retry_cost", n(retry_cost))
            .put("success_refund", n(success_refund))
            .node(),
    }
}

settings_serde!(RetrySettings);

#[cfg(feature = "retry")]
pub(crate) mod build {
    use std::time::Duration;

    use std::sync::Arc;

    /// The retry layer's default schedule, which a backoff table without `kind` adjusts.
    fn default_backoff() -> BackoffSettings {
        BackoffSettings {
            strategy: Some(Strategy::Exponential {
                base: Duration::from_millis(100),
                factor: None,
            }),
            max: Some(Duration::from_secs(10)),
            min: None,
            jitter: Some(crate::backoff::Jitter::Full),
        }
    }

    use super::{BudgetSettings, RetrySettings};
    use crate::config::backoff::{BackoffSettings, Strategy};
    use crate::error::ConfigError;
    use crate::retry::{RatioBudget, RetryBudget, TokenBucket};
    use crate::retry::{RetryPolicy, RetryPolicyBuilder};

    impl RetrySettings {
        /// A builder with these settings (its defaults for the rest), ready for the parts
        /// that stay in code: a classifier, listeners, observers. The budget, if any, is built
        /// here, new for each call; it fails if its settings break the budget's rules.
        pub fn builder(&self) -> Result<RetryPolicyBuilder, ConfigError> {
            let mut b = RetryPolicy::builder();
            if let Some(name) = &self.name {
                b = b.name(name.clone());
            }
            if let Some(n) = self.max_attempts {
                b = b.max_attempts(n);
            }
            if let Some(backoff) = &self.backoff {
                b = b.backoff(backoff.to_backoff(&default_backoff()));
            }
            if let Some(d) = self.max_elapsed {
                b = b.max_elapsed(d);
            }
            if let Some(d) = self.max_hint {
                b = b.max_hint(d);
            }
            if let Some(d) = self.max_hint_wait_total {
                b = b.max_hint_wait_total(d);
            }
            if let Some(d) = self.start_jitter {
                b = b.start_jitter(d);
            }
            if let Some(seed) = self.seed {
                b = b.seed(seed);
            }
            if let Some(level) = self.log_level {
                b = b.log_level(level);
            }
            if let Some(budget) = self.budget {
                b = b.budget(build_budget(budget)?);
            }
            Ok(b)
        }

        /// The policy these settings describe, every setting checked by the builder.
        pub fn build(&self) -> Result<RetryPolicy, ConfigError> {
            self.builder()?.build()
        }
    }

    /// A new budget with these settings.
    pub(crate) fn build_budget(
        budget: BudgetSettings,
    ) -> Result<Arc<dyn RetryBudget>, ConfigError> {
        Ok(match budget {
            BudgetSettings::Ratio {
                ratio,
                min_per_second,
                window,
            } => {
                let mut b = RatioBudget::builder();
                if let Some(x) = ratio {
                    b = b.ratio(x);
                }
                if let Some(n) = min_per_second {
                    b = b.min_per_second(n);
                }
                if let Some(d) = window {
                    b = b.window(d);
                }
                Arc::new(b.build()?)
            }
            BudgetSettings::TokenBucket {
                capacity,
                retry_cost,
                success_refund,
            } => {
                let mut b = TokenBucket::builder();
                if let Some(n) = capacity {
                    b = b.capacity(n);
                }
                if let Some(n) = retry_cost {
                    b = b.retry_cost(n);
                }
                if let Some(n) = success_refund {
                    b = b.success_refund(n);
                }
                Arc::new(b.build()?)
            }
        })
    }
}
