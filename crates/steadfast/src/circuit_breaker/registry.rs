//! Named breakers shared by every service that names them.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};

use super::breaker::CircuitBreaker;
use super::builder::CircuitBreakerBuilder;
use crate::config::ConfigError;

/// A set of named breakers: one breaker per downstream, however many clones, routers or
/// layers use it.
///
/// Cheap to clone (clones share the set). [`Registry::global`] is a process-wide one.
///
/// ```
/// use steadfast::circuit_breaker::Registry;
///
/// let registry = Registry::new();
/// let a = registry.get_or_build("inventory", |b| b.consecutive_failures(5)).unwrap();
/// // The second caller gets the same breaker; its settings are not applied again.
/// let b = registry.get_or_build("inventory", |b| b.consecutive_failures(99)).unwrap();
/// a.force_open();
/// assert_eq!(b.state(), steadfast::circuit_breaker::CircuitState::ForcedOpen);
/// assert_eq!(registry.names(), ["inventory"]);
/// ```
///
/// # Invariants
///
/// Lookups take a read lock; the write lock is taken only to add or remove a breaker, and the
/// builder runs under it, so two racing first callers still end up with one breaker.
#[derive(Clone, Default)]
pub struct Registry {
    breakers: Arc<RwLock<HashMap<Arc<str>, CircuitBreaker>>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("names", &self.names())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide registry.
    pub fn global() -> &'static Registry {
        static GLOBAL: OnceLock<Registry> = OnceLock::new();
        GLOBAL.get_or_init(Registry::new)
    }

    /// The breaker called `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<CircuitBreaker> {
        self.read().get(name).cloned()
    }

    /// The breaker called `name`, built with `configure` (applied to a builder already named
    /// `name`) if it does not exist yet.
    pub fn get_or_build(
        &self,
        name: &str,
        configure: impl FnOnce(CircuitBreakerBuilder) -> CircuitBreakerBuilder,
    ) -> Result<CircuitBreaker, ConfigError> {
        if let Some(b) = self.get(name) {
            return Ok(b);
        }
        let mut map = self.breakers.write().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = map.get(name) {
            return Ok(b.clone());
        }
        let breaker = configure(CircuitBreaker::builder())
            .name(name.to_owned())
            .build()?;
        map.insert(Arc::from(name), breaker.clone());
        Ok(breaker)
    }

    /// Adds `breaker` under its own name, replacing (and returning) any breaker of that name.
    pub fn insert(&self, breaker: CircuitBreaker) -> Option<CircuitBreaker> {
        let name: Arc<str> = Arc::from(breaker.name());
        self.breakers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name, breaker)
    }

    /// Removes the breaker called `name`. Services already using it keep it.
    pub fn remove(&self, name: &str) -> Option<CircuitBreaker> {
        self.breakers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name)
    }

    /// The names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.read().keys().map(|k| k.to_string()).collect();
        names.sort();
        names
    }

    /// Every breaker, sorted by name (for metrics exporters).
    pub fn breakers(&self) -> Vec<CircuitBreaker> {
        let mut all: Vec<CircuitBreaker> = self.read().values().cloned().collect();
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Arc<str>, CircuitBreaker>> {
        self.breakers.read().unwrap_or_else(|p| p.into_inner())
    }
}
