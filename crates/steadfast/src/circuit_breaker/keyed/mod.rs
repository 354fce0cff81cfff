//! One breaker per key taken from the request (a host, a route, a tenant), created on
//! demand, bounded in number, dropped when idle.
//!
//! `table.rs` holds the sharded table (shards, the clock hand, sweeps and eviction), `error.rs`
//! the errors, and `layer.rs` the layer and its service.

use std::fmt;
use std::hash::Hash;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use self::table::{Inner, Namer, Settings};
use super::breaker::CircuitBreaker;
use super::builder::CircuitBreakerBuilder;
use crate::config::ConfigError;
use crate::observe::Observer;

mod error;
mod layer;
mod table;

pub use error::{KeyTableFull, KeyedError};
pub use layer::{KeyedCircuitBreakerLayer, KeyedCircuitBreakerService};

/// A set of breakers, one per key, made from one set of settings.
///
/// A breaker is made the first time its key is asked for, and kept while it matters:
///
/// * **Open circuits are never forgotten.** A breaker that is open with open time left, or
///   forced open, is never dropped; one that is half-open, or open with its open time over, is
///   dropped only once idle. Asking for its key again finds it, still open.
/// * **Idle breakers go as time passes.** A breaker not asked for during the idle timeout is
///   dropped by the calls that follow (see below), without [`evict_idle`](Self::evict_idle).
/// * **Room for a new key** is made by dropping a closed (or disabled, or metrics-only)
///   breaker that was not asked for lately: a clock (second-chance) policy, which keeps keys in
///   use and lets one-off keys go first.
/// * **When there is no room**, because every slot that could take the new key holds an open,
///   half-open or forced-open breaker, the new key gets [`KeyedError::Full`] and its call fails
///   with [`KeyTableFull`]: the bound holds and no open circuit is forgotten.
///
/// Cheap to clone; clones share the set.
///
/// ```
/// use std::time::Duration;
/// use steadfast::circuit_breaker::{CircuitBreaker, KeyedBreakers};
///
/// let per_host = KeyedBreakers::builder(|| CircuitBreaker::builder().consecutive_failures(5))
///     .name(|host: &String| format!("upstream {host}"))
///     .max_keys(1_000)
///     .idle_timeout(Duration::from_secs(600))
///     .build()
///     .unwrap();
/// let a = per_host.get(&"a.example".to_string()).unwrap();
/// assert_eq!(a.name(), "upstream a.example");
/// assert_eq!(per_host.len(), 1);
/// ```
///
/// # Cost
///
/// The set is split into shards (about 128 keys each; one shard below 256 keys), each with
/// its own lock; a key's shard is picked by a seeded hash. Looking up a known key takes its
/// shard's read lock and reads one word of its entry (written at most once a millisecond, or
/// after the clock hand has passed it). A
/// new key makes its breaker outside any lock, then takes its shard's write lock for work
/// bounded by the shard's size, not by `max_keys`: two entries checked for idleness, and when
/// the shard is full the clock hand's search for a breaker to drop, amortised O(1) (at most
/// two rounds of the shard when most of it is pinned). Idle breakers are swept on lookups:
/// every half idle timeout, spread over the shards, a lookup that finds a sweep due sweeps
/// the next shards (at most four) with `try_write`, and a shard left mostly empty gives its
/// memory back.
///
/// # Invariants
///
/// * Each shard holds at most its share of `max_keys` (the shares add up to `max_keys`), so
///   the set never holds more than `max_keys` breakers.
/// * A breaker open with open time left, or forced open, is never dropped.
/// * Lookups of known keys never take a write lock, and a write lock is held only for work
///   bounded by the shard's size; breakers dropped are freed after the lock is released.
pub struct KeyedBreakers<K> {
    inner: Arc<Inner<K>>,
}

impl<K> Clone for KeyedBreakers<K> {
    fn clone(&self) -> Self {
        KeyedBreakers {
            inner: self.inner.clone(),
        }
    }
}

impl<K> fmt::Debug for KeyedBreakers<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedBreakers")
            .field("len", &self.inner.len.load(Ordering::Relaxed))
            .field("max_keys", &self.inner.max_keys)
            .field("idle_timeout", &self.inner.idle_timeout)
            .field("shards", &self.inner.shard_count())
            .finish_non_exhaustive()
    }
}

/// Builds [`KeyedBreakers`]: made by [`KeyedBreakers::builder`], checked by
/// [`build`](Self::build).
///
/// ```
/// use std::time::Duration;
/// use steadfast::circuit_breaker::{CircuitBreaker, KeyedBreakers};
///
/// let builder = KeyedBreakers::<u64>::builder(|| CircuitBreaker::builder().failure_rate(20.0))
///     .name(|user: &u64| format!("user {user}"))
///     .max_keys(64)
///     .idle_timeout(Duration::from_secs(120));
/// let per_user = builder.build().unwrap();
/// assert_eq!(per_user.get(&7).unwrap().name(), "user 7");
///
/// // The breaker settings are checked once, when the set is built.
/// let bad = KeyedBreakers::<u64>::builder(|| CircuitBreaker::builder().failure_rate(0.0));
/// assert!(bad.build().unwrap_err().to_string().contains("failure_rate"));
/// ```
pub struct KeyedBreakersBuilder<K> {
    settings: Settings,
    names: Option<Namer<K>>,
    max_keys: usize,
    idle_timeout: Duration,
    observers: Vec<Arc<dyn Observer>>,
}

impl<K> fmt::Debug for KeyedBreakersBuilder<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedBreakersBuilder")
            .field("max_keys", &self.max_keys)
            .field("idle_timeout", &self.idle_timeout)
            .field("named", &self.names.is_some())
            .finish_non_exhaustive()
    }
}

impl<K> KeyedBreakers<K> {
    /// Starts a builder: `settings` configures the breaker of every key (it is called once per
    /// new key, and once by [`build`](KeyedBreakersBuilder::build) to check it). Defaults: at
    /// most 1,024 breakers, idle after 10 minutes, every breaker named as `settings` names it
    /// (see [`name`](KeyedBreakersBuilder::name)).
    pub fn builder(
        settings: impl Fn() -> CircuitBreakerBuilder + Send + Sync + 'static,
    ) -> KeyedBreakersBuilder<K> {
        KeyedBreakersBuilder {
            settings: Arc::new(settings),
            names: None,
            max_keys: 1_024,
            idle_timeout: Duration::from_secs(600),
            observers: Vec::new(),
        }
    }
}

impl<K> KeyedBreakers<K>
where
    K: Hash + Eq + Clone,
{
    /// The breaker for `key`, made if needed.
    ///
    /// Fails only for a new key: with [`KeyedError::Full`] when every slot that could take it
    /// holds an open circuit (see [`KeyTableFull`]).
    #[inline]
    pub fn get(&self, key: &K) -> Result<CircuitBreaker, KeyedError> {
        self.inner.get(key)
    }

    /// The breaker for `key` if the set holds one, without making it (and without counting
    /// as a use).
    pub fn peek(&self, key: &K) -> Option<CircuitBreaker> {
        self.inner.peek(key)
    }

    /// Drops every breaker idle for longer than the idle timeout at once (open breakers only
    /// once their open time is over; forced-open ones never); returns how many. Idle
    /// breakers also go without this, as calls arrive.
    pub fn evict_idle(&self) -> usize {
        self.inner.evict_idle()
    }

    /// How many breakers the set holds.
    pub fn len(&self) -> usize {
        self.inner.len.load(Ordering::Relaxed)
    }

    /// `true` when the set holds no breaker.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K> KeyedBreakers<K> {
    /// The most breakers kept at once.
    pub(crate) fn max_keys(&self) -> usize {
        self.inner.max_keys
    }

    /// How long a breaker may go unused before it is dropped.
    pub(crate) fn idle_timeout(&self) -> Duration {
        self.inner.idle_timeout
    }

    /// A breaker built with the settings of every key's breaker, not kept (for the set's
    /// description); `None` if the settings no longer build.
    pub(crate) fn sample(&self) -> Option<CircuitBreaker> {
        (self.inner.settings())().build().ok()
    }
}

impl<K> KeyedBreakersBuilder<K> {
    /// Names each key's breaker (in errors, events and `tracing`): `name(key)` replaces the
    /// name the settings give.
    pub fn name(mut self, name: impl Fn(&K) -> String + Send + Sync + 'static) -> Self {
        self.names = Some(Arc::new(name));
        self
    }

    /// Hands every key's breaker's events to `observer`: each breaker, when it is made for a
    /// new key, asks the observer for a listener ([`Observer::breaker`]) under its own name
    /// (see [`name`](Self::name)), as
    /// [`CircuitBreakerBuilder::observe`](super::CircuitBreakerBuilder::observe) does. May be
    /// called several times.
    pub fn observe(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observers.push(observer);
        self
    }

    /// The most breakers kept at once (at least 1).
    pub fn max_keys(mut self, n: usize) -> Self {
        self.max_keys = n;
        self
    }

    /// How long a breaker may go unused before it is dropped (more than zero). Open breakers
    /// are kept at least until their open time is over, forced-open ones always.
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }

    /// Checks every setting, the breaker settings included, and builds the set (empty).
    pub fn build(self) -> Result<KeyedBreakers<K>, ConfigError> {
        let err = |field: &'static str, rule: &'static str| {
            ConfigError::new("keyed circuit breaker", field, rule)
        };
        if self.max_keys == 0 {
            return Err(err("max_keys", "must be at least 1 (got 0)"));
        }
        if self.idle_timeout.is_zero() {
            return Err(err("idle_timeout", "must be greater than zero"));
        }
        (self.settings)().build()?;
        let mut settings = self.settings;
        if !self.observers.is_empty() {
            // After the check above, so that the observers are asked only for real breakers.
            let (template, observers) = (settings, self.observers);
            settings = Arc::new(move || {
                observers
                    .iter()
                    .fold(template(), |b, o| b.observe(o.clone()))
            });
        }
        Ok(KeyedBreakers {
            inner: Arc::new(Inner::new(
                settings,
                self.names,
                self.max_keys,
                self.idle_timeout,
            )),
        })
    }
}
