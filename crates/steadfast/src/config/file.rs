//! A settings file: defaults, named policies and breakers, and stacks, resolved and checked.

use std::path::Path;

use super::breaker::BreakerSettings;
use super::cancel::CancelSettings;
use super::chaos::ChaosSettings;
use super::hedge::HedgeSettings;
use super::node::{Format, Node};
use super::read::{did_you_mean, join, text, Problem, Reader, SettingsError, Table};
use super::retry::RetrySettings;
use super::validate::ValidateSettings;

/// The layers of one stack, outermost first, each resolved (defaults, then the named policy
/// or breaker it starts from, then its own settings). A layer the stack does not give is
/// `None`.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct StackSettings {
    /// The total timeout, outermost.
    pub cancel: Option<CancelSettings>,
    /// The retry policy.
    pub retry: Option<RetrySettings>,
    /// The hedge layer, under the retry layer and over the breaker (see
    /// `docs/composition.md`). [`layer`](Self::layer) refuses a stack that has one;
    /// `layer_hedged` (feature `hedge`) builds it in its place.
    pub hedge: Option<HedgeSettings>,
    /// The circuit breaker, inside the retry layer, so that each attempt counts.
    pub breaker: Option<BreakerSettings>,
    /// The timeout of each attempt.
    pub attempt_timeout: Option<CancelSettings>,
    /// The validate layer's checks, innermost (under the attempt timeout, so that the retry
    /// layer retries an invalid answer and the breaker counts it). Its validators are built
    /// in code from these settings: see
    /// [`StackBuilder::validate_with`](crate::config::StackBuilder::validate_with).
    pub validate: Option<ValidateSettings>,
}

/// A settings file, read and resolved: its named retry policies, hedge layers, breakers and
/// stacks, each
/// with the file's defaults applied and a name (its key, unless the file gives one).
///
/// Every setting was checked while reading: by the reader (types, units, known keys) and by
/// the layer's own builder (the rules between settings), so building a layer from a `Config`
/// does not fail on its settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    defaults: StackSettings,
    policies: Vec<(String, RetrySettings)>,
    hedges: Vec<(String, HedgeSettings)>,
    breakers: Vec<(String, BreakerSettings)>,
    chaos: Vec<(String, ChaosSettings)>,
    stacks: Vec<(String, StackSettings)>,
}

/// Reads the settings file at `path`, in the format its extension names (`.toml`, `.yaml` or
/// `.yml`, `.json`); the problems it reports name the file.
pub fn load(path: impl AsRef<Path>) -> Result<Config, SettingsError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let fail = |rule: String| SettingsError::new(vec![Problem::new("", None, rule)]).in_file(&name);
    let format = path
        .extension()
        .and_then(|e| e.to_str())
        .and_then(Format::from_extension)
        .ok_or_else(|| fail("unknown format: name the file .toml, .yaml, .yml or .json".into()))?;
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot be read: {e}")))?;
    Config::from_str(&text, format).map_err(|e| e.in_file(&name))
}

impl Config {
    /// Reads settings from `text` in `format`.
    pub fn from_str(text: &str, format: Format) -> Result<Config, SettingsError> {
        let node = Node::parse(text, format)
            .map_err(|rule| SettingsError::new(vec![Problem::new("", None, rule)]))?;
        Config::from_node(&node)
    }

    /// Reads settings from a tree already parsed.
    pub fn from_node(node: &Node) -> Result<Config, SettingsError> {
        let mut r = Reader::default();
        let config = read_config(&mut r, node);
        if r.is_clean() {
            check(&mut r, &config);
        }
        r.finish(config)
    }

    /// The defaults every policy, breaker and stack starts from (`[defaults]`).
    pub fn defaults(&self) -> &StackSettings {
        &self.defaults
    }

    /// The retry policy named `name` (`[policies.NAME]`), resolved.
    pub fn policy(&self, name: &str) -> Option<&RetrySettings> {
        find(&self.policies, name)
    }

    /// The retry policies, in the file's order.
    pub fn policies(&self) -> impl Iterator<Item = (&str, &RetrySettings)> {
        self.policies.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The hedge layer named `name` (`[hedges.NAME]`), resolved.
    pub fn hedge(&self, name: &str) -> Option<&HedgeSettings> {
        find(&self.hedges, name)
    }

    /// The hedge layers, in the file's order.
    pub fn hedges(&self) -> impl Iterator<Item = (&str, &HedgeSettings)> {
        self.hedges.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The breaker named `name` (`[breakers.NAME]`), resolved.
    pub fn breaker(&self, name: &str) -> Option<&BreakerSettings> {
        find(&self.breakers, name)
    }

    /// The breakers, in the file's order.
    pub fn breakers(&self) -> impl Iterator<Item = (&str, &BreakerSettings)> {
        self.breakers.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The chaos layer named `name` (`[chaos.NAME]`), as the file gives it (chaos settings
    /// take nothing from `[defaults]`).
    pub fn chaos(&self, name: &str) -> Option<&ChaosSettings> {
        find(&self.chaos, name)
    }

    /// The chaos layers, in the file's order.
    pub fn chaos_layers(&self) -> impl Iterator<Item = (&str, &ChaosSettings)> {
        self.chaos.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The stack named `name` (`[stacks.NAME]`), resolved.
    pub fn stack(&self, name: &str) -> Option<&StackSettings> {
        find(&self.stacks, name)
    }

    /// The stack named `name`, or an error at its path (`stacks.NAME`) that suggests a near
    /// name, for a stack a program cannot run without.
    ///
    /// ```
    /// use steadfast::config::{Config, Format};
    ///
    /// let config = Config::from_str(r#"{ "stacks": { "inventory": {} } }"#, Format::Json).unwrap();
    /// assert!(config.find_stack("inventory").is_ok());
    /// let err = config.find_stack("inventroy").unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "stacks.inventroy: no stack of that name in [stacks] (did you mean `inventory`?)"
    /// );
    /// ```
    pub fn find_stack(&self, name: &str) -> Result<&StackSettings, SettingsError> {
        self.stack(name).ok_or_else(|| {
            let names: Vec<&str> = self.stacks.iter().map(|(k, _)| k.as_str()).collect();
            let rule = match did_you_mean(name, &names) {
                Some(near) => {
                    format!("no stack of that name in [stacks] (did you mean `{near}`?)")
                }
                None => "no stack of that name in [stacks]".to_owned(),
            };
            SettingsError::new(vec![Problem::new(join("stacks", name), None, rule)])
        })
    }

    /// The stacks, in the file's order.
    pub fn stacks(&self) -> impl Iterator<Item = (&str, &StackSettings)> {
        self.stacks.iter().map(|(k, v)| (k.as_str(), v))
    }
}

fn find<'a, T>(list: &'a [(String, T)], name: &str) -> Option<&'a T> {
    list.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// Applies `over` on `base` when both are there.
fn layered<T: Clone>(base: Option<&T>, over: Option<&T>, merge: impl Fn(&T, &T) -> T) -> Option<T> {
    match (base, over) {
        (Some(b), Some(o)) => Some(merge(b, o)),
        (b, o) => o.or(b).cloned(),
    }
}

fn read_config(r: &mut Reader, node: &Node) -> Config {
    let mut config = Config::default();
    let Some(mut top) = r.table(node, "") else {
        return config;
    };
    if let Some((node, path)) = top.get("defaults") {
        if let Some(mut t) = r.table(node, &path) {
            config.defaults = StackSettings {
                cancel: t.read(r, "cancel", CancelSettings::read),
                retry: t.read(r, "retry", RetrySettings::read),
                hedge: t.read(r, "hedge", HedgeSettings::read),
                breaker: t.read(r, "breaker", BreakerSettings::read),
                attempt_timeout: t.read(r, "attempt_timeout", CancelSettings::read),
                validate: None,
            };
            t.finish(r);
        }
    }
    let defaults = config.defaults.clone();
    // The policies and breakers as the file gives them, before defaults: a stack that starts
    // from one applies the defaults once, then the named settings, then its own.
    let raw_policies = named(r, &mut top, "policies", RetrySettings::read);
    let raw_hedges = named(r, &mut top, "hedges", HedgeSettings::read);
    let raw_breakers = named(r, &mut top, "breakers", BreakerSettings::read);
    config.chaos = named(r, &mut top, "chaos", ChaosSettings::read);
    for (name, raw) in &raw_policies {
        let mut s = layered(
            defaults.retry.as_ref(),
            Some(raw),
            RetrySettings::overridden_by,
        )
        .unwrap_or_default();
        s.name.get_or_insert_with(|| name.clone());
        config.policies.push((name.clone(), s));
    }
    for (name, raw) in &raw_hedges {
        let mut s = layered(
            defaults.hedge.as_ref(),
            Some(raw),
            HedgeSettings::overridden_by,
        )
        .unwrap_or_default();
        s.name.get_or_insert_with(|| name.clone());
        config.hedges.push((name.clone(), s));
    }
    for (name, raw) in &raw_breakers {
        let mut s = layered(
            defaults.breaker.as_ref(),
            Some(raw),
            BreakerSettings::overridden_by,
        )
        .unwrap_or_default();
        s.name.get_or_insert_with(|| name.clone());
        config.breakers.push((name.clone(), s));
    }
    if let Some((node, path)) = top.get("stacks") {
        if let Some(mut stacks) = r.table(node, &path) {
            for (name, node) in stacks.entries() {
                let path = join(&path, name);
                if let Some(stack) = read_stack(
                    r,
                    node,
                    &path,
                    name,
                    &defaults,
                    &Named {
                        policies: &raw_policies,
                        hedges: &raw_hedges,
                        breakers: &raw_breakers,
                    },
                ) {
                    config.stacks.push((name.clone(), stack));
                }
            }
        }
    }
    top.finish(r);
    config
}

/// Reads a table of named settings (`[policies.NAME]`).
fn named<T>(
    r: &mut Reader,
    top: &mut Table<'_>,
    key: &'static str,
    read: fn(&mut Reader, &Node, &str) -> Option<T>,
) -> Vec<(String, T)> {
    let mut out = Vec::new();
    if let Some((node, path)) = top.get(key) {
        if let Some(mut t) = r.table(node, &path) {
            for (name, node) in t.entries() {
                if let Some(s) = read(r, node, &join(&path, name)) {
                    out.push((name.clone(), s));
                }
            }
        }
    }
    out
}

/// The named settings of a file, as it gives them, that a stack's layers may start from.
struct Named<'a> {
    policies: &'a [(String, RetrySettings)],
    hedges: &'a [(String, HedgeSettings)],
    breakers: &'a [(String, BreakerSettings)],
}

fn read_stack(
    r: &mut Reader,
    node: &Node,
    path: &str,
    stack: &str,
    defaults: &StackSettings,
    known: &Named<'_>,
) -> Option<StackSettings> {
    let mut t = r.table(node, path)?;
    let cancel = t.read(r, "cancel", CancelSettings::read);
    let retry = t.read(r, "retry", |r, node, path| {
        let what = ("policy", "policies");
        read_layer(
            r,
            node,
            path,
            what,
            known.policies,
            RetrySettings::read_table,
        )
    });
    let hedge = t.read(r, "hedge", |r, node, path| {
        let what = ("hedge layer", "hedges");
        read_layer(r, node, path, what, known.hedges, HedgeSettings::read_table)
    });
    let breaker = t.read(r, "breaker", |r, node, path| {
        let what = ("breaker", "breakers");
        read_layer(
            r,
            node,
            path,
            what,
            known.breakers,
            BreakerSettings::read_table,
        )
    });
    let attempt_timeout = t.read(r, "attempt_timeout", CancelSettings::read);
    let validate = t.read(r, "validate", ValidateSettings::read);
    t.finish(r);
    let named = |mut name: Option<String>, suffix: &str| {
        name.get_or_insert_with(|| format!("{stack}{suffix}"));
        name
    };
    Some(StackSettings {
        cancel: layered(
            defaults.cancel.as_ref(),
            cancel.as_ref(),
            CancelSettings::overridden_by,
        )
        .map(|s| CancelSettings {
            name: named(s.name.clone(), ""),
            ..s
        }),
        retry: retry.map(|s| {
            let s = layered(
                defaults.retry.as_ref(),
                Some(&s),
                RetrySettings::overridden_by,
            )
            .unwrap_or_default();
            RetrySettings {
                name: named(s.name.clone(), ""),
                ..s
            }
        }),
        hedge: hedge.map(|s| {
            let s = layered(
                defaults.hedge.as_ref(),
                Some(&s),
                HedgeSettings::overridden_by,
            )
            .unwrap_or_default();
            HedgeSettings {
                name: named(s.name.clone(), ""),
                ..s
            }
        }),
        breaker: breaker.map(|s| {
            let s = layered(
                defaults.breaker.as_ref(),
                Some(&s),
                BreakerSettings::overridden_by,
            )
            .unwrap_or_default();
            BreakerSettings {
                name: named(s.name.clone(), ""),
                ..s
            }
        }),
        attempt_timeout: attempt_timeout.map(|s| {
            let s = layered(
                defaults.attempt_timeout.as_ref(),
                Some(&s),
                CancelSettings::overridden_by,
            )
            .unwrap_or_default();
            CancelSettings {
                name: named(s.name.clone(), "-attempt"),
                ..s
            }
        }),
        validate: validate.map(|s| ValidateSettings {
            name: named(s.name.clone(), ""),
            ..s
        }),
    })
}

/// Reads a stack's retry, hedge or breaker: the name of one the file defines, or a table of
/// its own settings that may start `from` one. Returns the named settings with the table's on
/// top. `what` is what one is called, and the section the file defines them in.
fn read_layer<T: Clone + Overridable>(
    r: &mut Reader,
    node: &Node,
    path: &str,
    (what, section): (&str, &str),
    known: &[(String, T)],
    read_table: fn(&mut Reader, &mut Table<'_>) -> T,
) -> Option<T> {
    let lookup = |r: &mut Reader, node: &Node, path: &str| -> Option<T> {
        let name = text(r, node, path)?;
        if let Some(found) = find(known, name) {
            return Some(found.clone());
        }
        let names: Vec<&str> = known.iter().map(|(k, _)| k.as_str()).collect();
        let rule = match did_you_mean(name, &names) {
            Some(near) => format!("no {what} of that name in [{section}] (did you mean `{near}`?)"),
            None => format!("no {what} of that name in [{section}]"),
        };
        r.report(path, Some(node), rule);
        None
    };
    if let Node::String(_) = node {
        return lookup(r, node, path);
    }
    let mut t = r.table(node, path)?;
    // A `from` that names nothing is reported, and the rest of the table is read all the same.
    let base = t.get("from").map(|(node, path)| lookup(r, node, &path));
    let own = read_table(r, &mut t);
    t.finish(r);
    match base {
        Some(Some(base)) => Some(base.overridden(&own)),
        Some(None) => None,
        None => Some(own),
    }
}

/// Settings that one layer of a file can override setting by setting.
trait Overridable {
    fn overridden(&self, over: &Self) -> Self;
}

impl Overridable for RetrySettings {
    fn overridden(&self, over: &Self) -> Self {
        self.overridden_by(over)
    }
}

impl Overridable for HedgeSettings {
    fn overridden(&self, over: &Self) -> Self {
        self.overridden_by(over)
    }
}

impl Overridable for BreakerSettings {
    fn overridden(&self, over: &Self) -> Self {
        self.overridden_by(over)
    }
}

/// Runs each layer's own builder on its resolved settings, reporting what it rejects at the
/// path of the setting.
fn check(r: &mut Reader, config: &Config) {
    for (name, s) in &config.policies {
        check_retry(r, &join("policies", name), s);
    }
    for (name, s) in &config.hedges {
        check_hedge(r, &join("hedges", name), s);
    }
    for (name, s) in &config.breakers {
        check_breaker(r, &join("breakers", name), s);
    }
    for (name, s) in &config.chaos {
        check_chaos(r, &join("chaos", name), s);
    }
    for (name, stack) in &config.stacks {
        check_one_stack(r, &join("stacks", name), stack);
    }
}

/// Runs each layer's builder on a stack's settings, reporting what they reject at the
/// setting's path below `path` (`stacks.NAME`).
#[allow(dead_code)] // Used by reload only.
pub(crate) fn check_stack(path: &str, stack: &StackSettings) -> Result<(), SettingsError> {
    let mut r = Reader::default();
    check_one_stack(&mut r, path, stack);
    r.finish(())
}

fn check_one_stack(r: &mut Reader, path: &str, stack: &StackSettings) {
    if let Some(s) = &stack.cancel {
        check_cancel(r, &join(path, "cancel"), s);
    }
    if let Some(s) = &stack.retry {
        check_retry(r, &join(path, "retry"), s);
    }
    if let Some(s) = &stack.hedge {
        check_hedge(r, &join(path, "hedge"), s);
    }
    if let Some(s) = &stack.breaker {
        check_breaker(r, &join(path, "breaker"), s);
    }
    if let Some(s) = &stack.attempt_timeout {
        check_cancel(r, &join(path, "attempt_timeout"), s);
    }
    if let Some(s) = &stack.validate {
        if !s.checks_anything() {
            let rule = "checks nothing: turn on a check (success_status, json, grpc_status) or \
                        list headers or fields";
            r.report(&join(path, "validate"), Some(&s.to_node()), rule);
        }
    }
}

/// Reports a builder's rejection at `base` and the setting's path below it.
#[allow(dead_code)] // Unused when no layer's feature is on.
fn rejected(r: &mut Reader, base: &str, node: &Node, field: &str, rule: &str) {
    let path = join(base, field);
    r.report(&path, node.at(field), rule);
}

#[cfg(feature = "retry")]
fn check_retry(r: &mut Reader, base: &str, s: &RetrySettings) {
    if let Err(e) = s.build() {
        let field = match (e.layer(), e.field()) {
            ("retry budget", f) => format!("budget.{f}"),
            ("backoff", "jitter") => "backoff.jitter".into(),
            (_, f) => f.to_owned(),
        };
        rejected(r, base, &s.to_node(), &field, e.rule());
    }
}

#[cfg(not(feature = "retry"))]
fn check_retry(_: &mut Reader, _: &str, _: &RetrySettings) {}

#[cfg(feature = "hedge")]
fn check_hedge(r: &mut Reader, base: &str, s: &HedgeSettings) {
    if let Err(e) = s.build() {
        let field = match (e.layer(), e.field()) {
            ("retry budget", f) => format!("budget.{f}"),
            (_, "delay") if e.rule().contains("window") => "delay.window".into(),
            (_, "delay") => "delay.percentile".into(),
            (_, f) => f.to_owned(),
        };
        rejected(r, base, &s.to_node(), &field, e.rule());
    }
}

#[cfg(not(feature = "hedge"))]
fn check_hedge(_: &mut Reader, _: &str, _: &HedgeSettings) {}

#[cfg(feature = "chaos")]
fn check_chaos(r: &mut Reader, base: &str, s: &ChaosSettings) {
    // Settings with no injection of their own get theirs in code: nothing to build yet.
    if s.fault_rate.is_none() && s.latency.is_none() {
        return;
    }
    if let Err(e) = s.builder::<(), ()>().build() {
        let field = match e.field() {
            "fault.rate" => "fault_rate",
            "latency.max" => "latency.max",
            "latency.rate" => "latency.rate",
            f => f,
        };
        rejected(r, base, &s.to_node(), field, e.rule());
    }
}

#[cfg(not(feature = "chaos"))]
fn check_chaos(_: &mut Reader, _: &str, _: &ChaosSettings) {}

#[cfg(feature = "circuit-breaker")]
fn check_breaker(r: &mut Reader, base: &str, s: &BreakerSettings) {
    if let Err(e) = s.build() {
        let field = match (e.layer(), e.field()) {
            ("backoff", "jitter") => "open_backoff.jitter".into(),
            (_, f) => match f.strip_prefix("backoff.") {
                Some(rest) => format!("open_backoff.{rest}"),
                None => f.to_owned(),
            },
        };
        rejected(r, base, &s.to_node(), &field, e.rule());
    }
}

#[cfg(not(feature = "circuit-breaker"))]
fn check_breaker(_: &mut Reader, _: &str, _: &BreakerSettings) {}

#[cfg(feature = "cancel")]
fn check_cancel(r: &mut Reader, base: &str, s: &CancelSettings) {
    if let Err(e) = s.build() {
        rejected(r, base, &s.to_node(), e.field(), e.rule());
    }
}

#[cfg(not(feature = "cancel"))]
fn check_cancel(_: &mut Reader, _: &str, _: &CancelSettings) {}
