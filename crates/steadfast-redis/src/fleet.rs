//! [`Fleet`]: one Redis connection shared by the breakers and budgets of one instance, with its
//! settings and the health every background task reports to.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use steadfast::ConfigError;

use crate::health::{FleetStatus, Health};

/// The Redis side of one instance: where the fleet's shared state lives, and how often it is
/// synchronised. Cheap to clone (one `Arc`).
///
/// Built by [`Fleet::builder`]; nothing connects until a shared breaker or budget first
/// synchronises, and a Redis that is down at start is an outage like any other.
///
/// ```
/// use std::time::Duration;
/// use steadfast_redis::Fleet;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let fleet = Fleet::builder("redis://127.0.0.1:6379/0")
///     .namespace("checkout")
///     .sync_interval(Duration::from_millis(100))
///     .build()
///     .unwrap();
/// assert_eq!(fleet.key("breaker", "payments"), "steadfast:checkout:breaker:payments");
/// # }
/// ```
#[derive(Clone)]
pub struct Fleet {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) client: redis::Client,
    pub(crate) con: ConnectionManager,
    pub(crate) namespace: String,
    pub(crate) sync_interval: Duration,
    pub(crate) sync_every_calls: Option<u32>,
    pub(crate) timeout: Duration,
    pub(crate) key_ttl: Duration,
    pub(crate) health: Health,
}

impl fmt::Debug for Fleet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fleet")
            .field("namespace", &self.inner.namespace)
            .field("sync_interval", &self.inner.sync_interval)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl Fleet {
    /// Starts a builder for the Redis at `url` (`redis://host:port/db`, with the user and
    /// password in the URL when needed).
    pub fn builder(url: impl Into<String>) -> FleetBuilder {
        FleetBuilder {
            url: url.into(),
            namespace: "default".to_owned(),
            sync_interval: Duration::from_millis(100),
            sync_every_calls: None,
            timeout: Duration::from_millis(250),
            key_ttl: Duration::from_secs(3600),
        }
    }

    /// The key of a shared object: `steadfast:{namespace}:{kind}:{name}`.
    pub fn key(&self, kind: &str, name: &str) -> String {
        format!("steadfast:{}:{}:{}", self.inner.namespace, kind, name)
    }

    /// Whether Redis answers, and the counts of operations and outages.
    pub fn status(&self) -> FleetStatus {
        self.inner.health.status()
    }

    /// How often shared objects synchronise.
    pub fn sync_interval(&self) -> Duration {
        self.inner.sync_interval
    }

    /// The number of outcomes after which a shared object synchronises before its interval
    /// ends, if set.
    pub fn sync_every_calls(&self) -> Option<u32> {
        self.inner.sync_every_calls
    }

    /// Runs one Redis operation under the fleet's timeout, reporting its outcome to the health
    /// counters. `None` when it failed or timed out.
    pub(crate) async fn run<T, F>(&self, what: &str, op: F) -> Option<T>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        let ns = &self.inner.namespace;
        match tokio::time::timeout(self.inner.timeout, op).await {
            Ok(Ok(v)) => {
                self.inner.health.answered(ns);
                Some(v)
            }
            Ok(Err(e)) => {
                self.inner.health.failed(ns, what, &e);
                None
            }
            Err(_) => {
                self.inner.health.failed(ns, what, &"timed out");
                None
            }
        }
    }

    /// The current tokio runtime, or the error that says one is needed.
    pub(crate) fn runtime(layer: &'static str) -> Result<tokio::runtime::Handle, ConfigError> {
        tokio::runtime::Handle::try_current().map_err(|_| {
            ConfigError::new(layer, "runtime", "must be created inside a tokio runtime")
        })
    }
}

/// Builds a [`Fleet`]; [`build`](Self::build) checks every setting.
#[derive(Debug, Clone)]
pub struct FleetBuilder {
    url: String,
    namespace: String,
    sync_interval: Duration,
    sync_every_calls: Option<u32>,
    timeout: Duration,
    key_ttl: Duration,
}

impl FleetBuilder {
    /// The prefix that keeps this fleet's keys apart from others' on the same Redis (default
    /// `default`; letters, digits, `-`, `_` and `.` only).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// How often each shared object folds its local counts into Redis and reads the fleet's
    /// state back (default 100 ms; between 1 ms and 1 hour).
    pub fn sync_interval(mut self, interval: Duration) -> Self {
        self.sync_interval = interval;
        self
    }

    /// Also synchronise as soon as `n` outcomes are waiting to be sent, without waiting for
    /// the interval to end (default: unset, the interval alone; `n` between 1 and
    /// 1,000,000,000). Batches are then at most one interval apart *or* `n` outcomes large,
    /// so a burst reaches the fleet sooner; Redis operations grow to at most the cadence plus
    /// one per `n` outcomes.
    ///
    /// A shared budget counts its requests and successes (whichever its rules use) with one
    /// atomic add each when this is set, and the `n`-th wakes its task; nothing is added when
    /// unset. A shared breaker's outcomes are recorded by the local breaker, which its task
    /// reads without touching the request path: the task checks the count every tenth of the
    /// interval (at least every millisecond), so a breaker's early batch leaves within a
    /// tenth of an interval of its `n`-th outcome.
    pub fn sync_every_calls(mut self, n: u32) -> Self {
        self.sync_every_calls = Some(n);
        self
    }

    /// How long one Redis operation may take before Redis counts as not answering
    /// (default 250 ms; between 1 ms and 1 minute).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a shared object's keys outlive their last update (default 1 hour; at least
    /// one second and at least ten sync intervals).
    pub fn key_ttl(mut self, ttl: Duration) -> Self {
        self.key_ttl = ttl;
        self
    }

    /// Checks the settings and builds the fleet handle. Must be called inside a tokio runtime
    /// (the connection reconnects on it).
    pub fn build(self) -> Result<Fleet, ConfigError> {
        const L: &str = "fleet";
        if self.namespace.is_empty()
            || !self
                .namespace
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(ConfigError::new(
                L,
                "namespace",
                "must be non-empty letters, digits, `-`, `_` or `.`",
            ));
        }
        if self.sync_interval < Duration::from_millis(1)
            || self.sync_interval > Duration::from_secs(3600)
        {
            return Err(ConfigError::new(
                L,
                "sync_interval",
                "must be between 1 ms and 1 hour",
            ));
        }
        if self
            .sync_every_calls
            .is_some_and(|n| n == 0 || n > 1_000_000_000)
        {
            return Err(ConfigError::new(
                L,
                "sync_every_calls",
                "must be between 1 and 1,000,000,000",
            ));
        }
        if self.timeout < Duration::from_millis(1) || self.timeout > Duration::from_secs(60) {
            return Err(ConfigError::new(
                L,
                "timeout",
                "must be between 1 ms and 1 minute",
            ));
        }
        if self.key_ttl < Duration::from_secs(1) || self.key_ttl < self.sync_interval * 10 {
            return Err(ConfigError::new(
                L,
                "key_ttl",
                "must be at least 1 s and at least ten sync intervals",
            ));
        }
        let client = redis::Client::open(self.url.as_str())
            .map_err(|e| ConfigError::new(L, "url", format!("is not a Redis URL: {e}")))?;
        Fleet::runtime(L)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_max_delay(self.sync_interval.max(Duration::from_millis(10)));
        let con = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| ConfigError::new(L, "url", format!("cannot be used: {e}")))?;
        Ok(Fleet {
            inner: Arc::new(Inner {
                client,
                con,
                namespace: self.namespace,
                sync_interval: self.sync_interval,
                sync_every_calls: self.sync_every_calls,
                timeout: self.timeout,
                key_ttl: self.key_ttl,
                health: Health::new(),
            }),
        })
    }
}
