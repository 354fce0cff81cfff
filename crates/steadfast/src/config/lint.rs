//! Lint: settings that are each valid but do not work together in a stack.
//!
//! A stack's order is fixed by the file format (total timeout, retry, hedge, breaker, attempt
//! timeout, outermost first), so a retry layer can never sit below the breaker in a stack read
//! from a file; the lints here cover the combinations the format does allow.
//!
//! ```
//! # #[cfg(all(feature = "retry", feature = "circuit-breaker"))] {
//! use steadfast::config::{lint, Config, Format, LintKind};
//!
//! let text = r#"{ "stacks": { "api": { "cancel": "1s", "attempt_timeout": "2s" } } }"#;
//! let config = Config::from_str(text, Format::Json).unwrap();
//! let warnings = lint(&config);
//! assert_eq!(warnings[0].kind, LintKind::AttemptNotShorterThanTotal);
//! assert_eq!(warnings[0].path, "stacks.api.attempt_timeout");
//! # }
//! ```

use std::fmt;
use std::time::Duration;

use super::breaker::{BreakerSettings, WindowSettings};
use super::file::{Config, StackSettings};
use super::hedge::{HedgeModeSetting, HedgeSettings};
use super::retry::{BudgetSettings, RetrySettings};

/// Which combination a [`Lint`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LintKind {
    /// The attempt timeout is at least the total timeout: a retry can never start.
    AttemptNotShorterThanTotal,
    /// The retries, each an attempt timeout plus the longest backoff, outlast the total
    /// timeout: the last attempts can never run.
    RetriesOutlastTotal,
    /// A time window shorter than twice the attempt timeout: a slow call can outlive the
    /// window it was counted in.
    WindowShorterThanTwoAttempts,
    /// A retry budget that never refills: once spent, no retry is ever allowed again.
    BudgetNeverRefills,
    /// The longest server hint honoured is below the backoff cap: a server asking for more
    /// time than the client's own schedule would wait is cut short.
    HintClampBelowBackoffCap,
    /// A hedge layer that may send hedges but has no budget: the layer sends none.
    HedgeWithoutBudget,
    /// The hedge delay is at least the attempt timeout: the first attempt times out before
    /// any hedge races it.
    HedgeDelayNotShorterThanAttempt,
}

/// One warning: where, why, and what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lint {
    /// The combination.
    pub kind: LintKind,
    /// The setting's path in the file (`stacks.inventory.attempt_timeout`).
    pub path: String,
    /// Why the combination does not do what was meant.
    pub why: String,
    /// What to change.
    pub fix: String,
}

impl fmt::Display for Lint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.path, self.why, self.fix)
    }
}

/// The warnings for every policy, hedge layer, breaker and stack of `config`, in the file's
/// order.
pub fn lint(config: &Config) -> Vec<Lint> {
    let mut out = Vec::new();
    for (name, retry) in config.policies() {
        lint_retry(&mut out, &format!("policies.{name}"), retry);
    }
    for (name, hedge) in config.hedges() {
        lint_hedge(&mut out, &format!("hedges.{name}"), hedge);
    }
    for (name, stack) in config.stacks() {
        lint_stack(&mut out, &format!("stacks.{name}"), stack);
    }
    out
}

fn push(out: &mut Vec<Lint>, kind: LintKind, path: String, why: String, fix: String) {
    out.push(Lint {
        kind,
        path,
        why,
        fix,
    });
}

fn lint_stack(out: &mut Vec<Lint>, path: &str, stack: &StackSettings) {
    let total = stack.cancel.as_ref().and_then(|c| c.timeout);
    let attempt = stack.attempt_timeout.as_ref().and_then(|c| c.timeout);
    if let (Some(total), Some(attempt)) = (total, attempt) {
        if attempt >= total {
            push(
                out,
                LintKind::AttemptNotShorterThanTotal,
                format!("{path}.attempt_timeout"),
                format!(
                    "the attempt timeout ({attempt:?}) is not shorter than the total timeout \
                     ({total:?}), so no retry can start"
                ),
                "make the attempt timeout a fraction of the total timeout".into(),
            );
        } else if let Some(retry) = &stack.retry {
            let retries = retry.max_attempts.unwrap_or(1).saturating_sub(1);
            let cap = retry
                .backoff
                .as_ref()
                .and_then(|b| b.max)
                .unwrap_or(Duration::ZERO);
            let need =
                attempt.saturating_add((attempt.saturating_add(cap)).saturating_mul(retries));
            if retries > 0 && need > total {
                push(
                    out,
                    LintKind::RetriesOutlastTotal,
                    format!("{path}.retry.max_attempts"),
                    format!(
                        "{retries} retries of up to {attempt:?} each plus a backoff of up to \
                         {cap:?} need {need:?}, beyond the total timeout ({total:?}): the last \
                         attempts can never run"
                    ),
                    "lower max_attempts, the attempt timeout or the backoff cap, or raise the \
                     total timeout"
                        .into(),
                );
            }
        }
    }
    if let Some(hedge) = &stack.hedge {
        let latency = matches!(hedge.mode, None | Some(HedgeModeSetting::Latency));
        // The builder's default delay is a fixed 100 ms.
        let delay = hedge
            .delay
            .map_or(Duration::from_millis(100), |d| d.first_delay());
        if let Some(attempt) = attempt.filter(|a| latency && delay >= *a) {
            push(
                out,
                LintKind::HedgeDelayNotShorterThanAttempt,
                format!("{path}.hedge.delay"),
                format!(
                    "the hedge delay ({delay:?}) is not shorter than the attempt timeout \
                     ({attempt:?}): the first attempt times out before a hedge can race it"
                ),
                "make the hedge delay a fraction of the attempt timeout (near the latency's \
                 95th percentile)"
                    .into(),
            );
        }
        lint_hedge(out, &format!("{path}.hedge"), hedge);
    }
    if let (Some(attempt), Some(breaker)) = (attempt, &stack.breaker) {
        lint_window(out, &format!("{path}.breaker.window"), breaker, attempt);
    }
    if let Some(retry) = &stack.retry {
        lint_retry(out, &format!("{path}.retry"), retry);
    }
}

fn lint_window(out: &mut Vec<Lint>, path: &str, breaker: &BreakerSettings, attempt: Duration) {
    if let Some(WindowSettings::Time { length, .. }) = breaker.window {
        if length < attempt.saturating_mul(2) {
            push(
                out,
                LintKind::WindowShorterThanTwoAttempts,
                path.to_owned(),
                format!(
                    "the window ({length:?}) is shorter than twice the attempt timeout \
                     ({attempt:?}): a slow call ends after the window it started in"
                ),
                "make the window at least twice the attempt timeout".into(),
            );
        }
    }
}

fn lint_retry(out: &mut Vec<Lint>, path: &str, retry: &RetrySettings) {
    match retry.budget {
        Some(BudgetSettings::TokenBucket {
            success_refund: Some(0),
            ..
        }) => push(
            out,
            LintKind::BudgetNeverRefills,
            format!("{path}.budget.success_refund"),
            "successes put no tokens back, so once the bucket is spent no retry is allowed \
             again"
                .into(),
            "give success_refund a value above 0".into(),
        ),
        Some(BudgetSettings::Ratio {
            ratio: Some(ratio),
            min_per_second: Some(0),
            ..
        }) if ratio <= 0.0 => push(
            out,
            LintKind::BudgetNeverRefills,
            format!("{path}.budget.ratio"),
            "a ratio of 0 with no minimum per second never allows a retry".into(),
            "give ratio or min_per_second a value above 0".into(),
        ),
        _ => {}
    }
    let cap = retry.backoff.as_ref().and_then(|b| b.max);
    if let (Some(hint), Some(cap)) = (retry.max_hint, cap) {
        if hint < cap {
            push(
                out,
                LintKind::HintClampBelowBackoffCap,
                format!("{path}.max_hint"),
                format!(
                    "the longest server hint honoured ({hint:?}) is below the backoff cap \
                     ({cap:?}): a server asking for a wait gets less than the client's own \
                     schedule would give"
                ),
                "make max_hint at least the backoff cap".into(),
            );
        }
    }
}

fn lint_hedge(out: &mut Vec<Lint>, path: &str, hedge: &HedgeSettings) {
    // The builder's default is two attempts.
    if hedge.max_attempts.unwrap_or(2) > 1 && hedge.budget.is_none() {
        push(
            out,
            LintKind::HedgeWithoutBudget,
            format!("{path}.budget"),
            "the hedge layer has no budget, and without one it sends no hedge at all".into(),
            "give it a budget (`budget = { kind = \"ratio\", ratio = 0.1 }`), or share the \
             retry layer's in code (`HedgeLayerBuilder::budget`)"
                .into(),
        );
    }
}
