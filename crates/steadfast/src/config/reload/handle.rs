//! [`ReloadableStack`]: a stack built from its settings, whose settings can be replaced while
//! it serves.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use tower_layer::Layer;

use super::service::ReloadService;
use super::version::{Current, Version};
use crate::circuit_breaker::CircuitBreaker;
use crate::classify::AnyError;
use crate::config::file::check_stack;
use crate::config::read::join;
use crate::config::retry::build::build_budget;
use crate::config::StackBuilder;
use crate::config::{
    load, BudgetSettings, Config, ConfigError, Problem, SettingsError, StackLayer, StackSettings,
};
use crate::retry::{CloneAll, RetryBudget};

/// What lives across versions: the breaker and the budget, and what builds a version.
struct Kept<C, K> {
    classifier: C,
    cloner: K,
    breaker: Option<CircuitBreaker>,
    budget: Option<(BudgetSettings, Arc<dyn RetryBudget>)>,
}

/// A stack of layers built from its settings (see [`StackLayer`]) whose settings can be
/// replaced while it serves: [`reload`](Self::reload) checks new settings, builds the layers
/// they describe, and swaps them in at once.
///
/// * **Atomic**: each request runs on one version of the stack, the one in use when its
///   service was polled ready for it, and keeps it to its end, retries and attempt timeouts
///   included; no request sees part of one version and part of another. Requests after a
///   reload use the new version; requests in flight finish on the one they started with.
/// * **Lock-free on the request path**: each [`ReloadService`] keeps the stack of the version
///   it last saw; when polled ready it reads the number of the version in use (one atomic
///   load) and, only when that changed, builds its stack again from the new version (an
///   `arc-swap` load, no allocation). A request otherwise costs what it costs through the same
///   stack built once. Reloads take a lock among themselves only.
/// * **State is kept**: the breaker is the same breaker in every version, its settings replaced
///   by [`CircuitBreaker::reconfigure`] (its state, window and counters stay; a new threshold
///   applies to the window as it stands, and requests of an older version in flight are
///   judged by the breaker's settings of the moment). A retry budget whose settings did not
///   change is the same budget, with its balance; a budget whose settings changed starts
///   anew.
/// * **All or nothing**: a reload whose settings break a rule changes nothing and returns
///   every problem, at its path (`stacks.inventory.retry.max_attempts`); so does one that would
///   change the breaker's name or window (a new window would start empty).
///
/// Cheap to clone: clones are handles on the same stack. It is itself the `Layer`.
///
/// ```
/// use std::time::Duration;
/// use steadfast::config::{Config, Format, ReloadableStack};
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let file = |attempts: u32| format!(
///     r#"{{ "stacks": {{ "inventory": {{ "retry": {{ "max_attempts": {attempts}, "backoff": {{ "kind": "none" }} }} }} }} }}"#
/// );
/// let config = Config::from_str(&file(2), Format::Json).unwrap();
/// let stack = ReloadableStack::new(&config, "inventory", steadfast::classify::AnyError).unwrap();
/// let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
/// let mut svc = stack.layer(service_fn({
///     let calls = calls.clone();
///     move |_: u32| {
///         calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///         async { Err::<u32, _>(std::io::Error::other("down")) }
///     }
/// }));
/// assert!(svc.ready().await.unwrap().call(1).await.is_err());
/// assert_eq!(calls.swap(0, std::sync::atomic::Ordering::Relaxed), 2);
///
/// // Four attempts from now on.
/// assert_eq!(stack.reload(&Config::from_str(&file(4), Format::Json).unwrap()).unwrap(), 2);
/// assert!(svc.ready().await.unwrap().call(1).await.is_err());
/// assert_eq!(calls.swap(0, std::sync::atomic::Ordering::Relaxed), 4);
///
/// // Settings that break a rule change nothing, and say why.
/// let mut bad = stack.settings();
/// bad.retry.as_mut().unwrap().max_attempts = Some(0);
/// let err = stack.reload_settings(&bad).unwrap_err();
/// assert_eq!(err.problems()[0].path(), "stacks.inventory.retry.max_attempts");
/// assert_eq!(stack.version(), 2);
/// # }
/// ```
pub struct ReloadableStack<C = AnyError, K = CloneAll> {
    current: Arc<Current<C, K>>,
    name: Arc<str>,
    kept: Arc<Mutex<Kept<C, K>>>,
}

impl<C, K> Clone for ReloadableStack<C, K> {
    fn clone(&self) -> Self {
        ReloadableStack {
            current: self.current.clone(),
            name: self.name.clone(),
            kept: self.kept.clone(),
        }
    }
}

impl<C, K> std::fmt::Debug for ReloadableStack<C, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.current.version.load();
        f.debug_struct("ReloadableStack")
            .field("name", &self.name)
            .field("version", &v.number)
            .field("settings", &v.settings)
            .finish_non_exhaustive()
    }
}

impl<C: Clone> ReloadableStack<C> {
    /// The stack `name` of `config`, with `classifier` judging calls for its retry layer and
    /// breaker (see [`crate::classify`]). Its first version is 1.
    pub fn new(config: &Config, name: &str, classifier: C) -> Result<Self, SettingsError> {
        let settings = config.find_stack(name)?;
        Self::from_builder(name, settings.builder().classify(classifier))
    }
}

impl<C: Clone, K: Clone> ReloadableStack<C, K> {
    /// A stack called `name` (its key in the settings file: problems are reported under
    /// `stacks.NAME`, and [`reload`](Self::reload) looks for that key) from `builder`'s
    /// settings and code parts: its classifier and request cloner serve every version; a
    /// breaker it was given is the stack's breaker, which reloads then reconfigure (so the
    /// file's breaker settings must keep its name).
    ///
    /// ```
    /// use steadfast::config::{Config, Format, ReloadableStack};
    ///
    /// let config = Config::from_str(r#"{ "stacks": { "s": { "retry": { "max_attempts": 3 } } } }"#, Format::Json).unwrap();
    /// let builder = config.find_stack("s").unwrap().builder().clone_requests(steadfast::retry::CloneAll);
    /// let stack = ReloadableStack::from_builder("s", builder).unwrap();
    /// assert_eq!(stack.version(), 1);
    /// ```
    pub fn from_builder(name: &str, builder: StackBuilder<C, K>) -> Result<Self, SettingsError> {
        let mut kept = Kept {
            classifier: builder.classifier,
            cloner: builder.cloner,
            breaker: builder.breaker,
            budget: None,
        };
        let settings = builder.settings;
        let path = join("stacks", name);
        let layer = build(&path, &mut kept, &settings, false)?;
        let version = Version {
            number: 1,
            settings,
            layer,
        };
        Ok(ReloadableStack {
            current: Arc::new(Current {
                version: ArcSwap::from_pointee(version),
                number: AtomicU64::new(1),
            }),
            name: Arc::from(name),
            kept: Arc::new(Mutex::new(kept)),
        })
    }

    /// Replaces the settings with those of this stack's name in `config`; returns the new
    /// version's number. On an error nothing changed.
    pub fn reload(&self, config: &Config) -> Result<u64, SettingsError> {
        self.reload_settings(config.find_stack(&self.name)?)
    }

    /// Reads the settings file at `path` (as [`load`] does) and replaces the settings with
    /// those of this stack's name in it; returns the new version's number. On an error,
    /// which names the file, nothing changed.
    pub fn reload_file(&self, path: impl AsRef<Path>) -> Result<u64, SettingsError> {
        let path = path.as_ref();
        let config = load(path)?;
        self.reload(&config)
            .map_err(|e| e.in_file(&path.display().to_string()))
    }

    /// Replaces the settings with `settings`; returns the new version's number. On an error
    /// nothing changed.
    pub fn reload_settings(&self, settings: &StackSettings) -> Result<u64, SettingsError> {
        // One reload at a time; requests do not take this lock.
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let layer = build(&join("stacks", &self.name), &mut kept, settings, true)?;
        let number = self.current.version.load().number + 1;
        self.current.version.store(Arc::new(Version {
            number,
            settings: settings.clone(),
            layer,
        }));
        self.current.number.store(number, Ordering::Release);
        tracing::info!(stack = %self.name, version = number, "settings reloaded");
        Ok(number)
    }
}

impl<C, K> ReloadableStack<C, K> {
    /// The stack's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The number of the settings in use: 1 for the first, one more for each reload that
    /// succeeded.
    pub fn version(&self) -> u64 {
        self.current.version.load().number
    }

    /// The settings in use.
    pub fn settings(&self) -> StackSettings {
        self.current.version.load().settings.clone()
    }

    /// The stack's breaker, the same in every version, once a version has had one.
    pub fn breaker(&self) -> Option<CircuitBreaker> {
        self.kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .breaker
            .clone()
    }

    /// The retry budget in use, when the retry settings give one.
    pub fn budget(&self) -> Option<Arc<dyn RetryBudget>> {
        let v = self.current.version.load();
        v.settings.retry.as_ref().and_then(|r| r.budget)?;
        self.kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .budget
            .as_ref()
            .map(|(_, b)| b.clone())
    }
}

/// The layers of the version in use.
impl<C: Clone, K: Clone> crate::describe::Describe for ReloadableStack<C, K> {
    fn describe(&self) -> Vec<crate::describe::LayerDescription> {
        self.current.version.load().layer.describe()
    }
}

impl<S: Clone, C: Clone, K: Clone> Layer<S> for ReloadableStack<C, K> {
    type Service = ReloadService<S, C, K>;

    fn layer(&self, inner: S) -> Self::Service {
        ReloadService::new(inner, self.current.clone())
    }
}

/// Checks `settings` and builds their layers, with the breaker and budget kept from earlier
/// versions; changes `kept` only when it returns `Ok`. On a reload, the kept breaker takes
/// the settings' breaker rules.
fn build<C: Clone, K: Clone>(
    path: &str,
    kept: &mut Kept<C, K>,
    settings: &StackSettings,
    reload: bool,
) -> Result<StackLayer<C, K>, SettingsError> {
    check_stack(path, settings)?;
    let at = |section: &str, e: ConfigError| {
        // A rule of the stack itself (its `validate` or `hedge` section) is at the stack's path.
        let base = if section == "stack" {
            path.to_owned()
        } else {
            join(path, section)
        };
        let path = join(&base, e.field());
        SettingsError::new(vec![Problem::new(path, None, e.rule().to_owned())])
    };
    // The budget: the one kept when its settings are the same, else a new one.
    let budget = match settings.retry.as_ref().and_then(|r| r.budget) {
        Some(wanted) => match &kept.budget {
            Some((had, budget)) if *had == wanted => Some((wanted, budget.clone())),
            _ => Some((
                wanted,
                build_budget(wanted).map_err(|e| at("retry.budget", e))?,
            )),
        },
        None => None,
    };
    let mut builder = settings
        .builder()
        .classify(kept.classifier.clone())
        .clone_requests(kept.cloner.clone())
        .budget(budget.as_ref().map(|(_, b)| b.clone()));
    if let Some(breaker) = &kept.breaker {
        builder = builder.breaker(breaker.clone());
    }
    // The settings were checked above: a builder's refusal here would be a gap in that check,
    // reported at the nearest path all the same.
    let layer = builder.build().map_err(|e| {
        let section = match e.layer() {
            "circuit breaker" => "breaker",
            "retry budget" => "retry.budget",
            "backoff" => "retry.backoff",
            other => other,
        };
        at(section, e)
    })?;
    // The breaker last: it is the one step that changes shared state, and it changes it only
    // if it succeeds.
    if let (true, Some(breaker), Some(s)) = (reload, &kept.breaker, &settings.breaker) {
        breaker
            .reconfigure(s.builder())
            .map_err(|e| at("breaker", e))?;
    }
    if kept.breaker.is_none() {
        kept.breaker = layer.breaker().cloned();
    }
    if budget.is_some() {
        kept.budget = budget;
    }
    Ok(layer)
}
