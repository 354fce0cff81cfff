//! [`SharedBreakerBuilder`]: the fleet-wide rules of a shared breaker.

use std::time::Duration;

use steadfast::circuit_breaker::CircuitBreaker;
use steadfast::ConfigError;

use std::sync::Arc;

use super::shared::SharedBreaker;
use super::stats::SyncStats;
use super::sync::{BreakerSync, Params};
use crate::fleet::Fleet;

/// The fleet's rules for one shared breaker, checked by [`start`](Self::start).
///
/// The local breaker keeps its own rules for the request path; these decide when the fleet as
/// a whole opens: over a time window of every instance's calls, when the failure rate reaches
/// the threshold (once the window holds the minimum number of calls). Started by
/// [`Fleet::share_breaker`].
#[derive(Debug)]
pub struct SharedBreakerBuilder {
    fleet: Fleet,
    breaker: CircuitBreaker,
    failure_rate: f64,
    minimum_calls: u32,
    window: Duration,
    open_for: Duration,
    probes: u32,
    half_open_timeout: Duration,
}

impl SharedBreakerBuilder {
    /// The fleet's failure rate, in percent, at which the breaker opens everywhere
    /// (default 50; above 0, at most 100).
    pub fn failure_rate(mut self, percent: f64) -> Self {
        self.failure_rate = percent;
        self
    }

    /// Calls the fleet's window must hold before its rate is judged (default 20; at least 1).
    pub fn minimum_calls(mut self, n: u32) -> Self {
        self.minimum_calls = n;
        self
    }

    /// The fleet's sliding time window, kept in ten buckets (default 10 s; at least 10 ms).
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// How long the fleet stays open before probing (default 5 s; at least 1 ms).
    pub fn open_for(mut self, d: Duration) -> Self {
        self.open_for = d;
        self
    }

    /// Instances that may probe in one fleet half-open period (default 1; at least 1). Each lets
    /// its local breaker go half-open, so the fleet sends this many times the local breaker's
    /// `half_open_max_calls` probes: with a local limit of one, exactly this many.
    pub fn probes(mut self, n: u32) -> Self {
        self.probes = n;
        self
    }

    /// How long a fleet half-open period may last without a verdict before the fleet opens
    /// again (default 10 s; at least two sync intervals). An instance without a permit holds
    /// its local breaker open this long at most, so it also bounds how long an instance waits
    /// for a fleet that stopped answering.
    pub fn half_open_timeout(mut self, d: Duration) -> Self {
        self.half_open_timeout = d;
        self
    }

    /// Checks the settings and starts the background task that shares the breaker. Must be
    /// called inside a tokio runtime; the task runs on it until the returned handle is dropped.
    pub fn start(self) -> Result<SharedBreaker, ConfigError> {
        const L: &str = "shared breaker";
        if !(self.failure_rate > 0.0 && self.failure_rate <= 100.0) {
            return Err(ConfigError::new(
                L,
                "failure_rate",
                "must be above 0 and at most 100",
            ));
        }
        if self.minimum_calls == 0 {
            return Err(ConfigError::new(L, "minimum_calls", "must be at least 1"));
        }
        if self.window < Duration::from_millis(10) {
            return Err(ConfigError::new(L, "window", "must be at least 10 ms"));
        }
        if self.open_for < Duration::from_millis(1) {
            return Err(ConfigError::new(L, "open_for", "must be at least 1 ms"));
        }
        if self.probes == 0 {
            return Err(ConfigError::new(L, "probes", "must be at least 1"));
        }
        if self.half_open_timeout < self.fleet.sync_interval() * 2 {
            return Err(ConfigError::new(
                L,
                "half_open_timeout",
                "must be at least two sync intervals",
            ));
        }
        if self.breaker.name().is_empty() {
            return Err(ConfigError::new(
                L,
                "name",
                "the breaker must have a name: its shared state is keyed by it",
            ));
        }
        let runtime = Fleet::runtime(L)?;
        let stats = Arc::new(SyncStats::default());
        let breaker = self.breaker.clone();
        let sync = BreakerSync::new(
            Params {
                fleet: self.fleet,
                breaker: self.breaker,
                failure_rate: self.failure_rate,
                minimum_calls: self.minimum_calls,
                window: self.window,
                open_for: self.open_for,
                probes: self.probes,
                half_open_timeout: self.half_open_timeout,
            },
            stats.clone(),
        );
        let task = runtime.spawn(sync.run()).abort_handle();
        Ok(SharedBreaker::new(breaker, stats, task))
    }
}

impl Fleet {
    /// Starts sharing `breaker` across the fleet under its name (its key is
    /// `steadfast:{namespace}:breaker:{name}`); finish with
    /// [`start`](SharedBreakerBuilder::start).
    pub fn share_breaker(&self, breaker: CircuitBreaker) -> SharedBreakerBuilder {
        SharedBreakerBuilder {
            fleet: self.clone(),
            breaker,
            failure_rate: 50.0,
            minimum_calls: 20,
            window: Duration::from_secs(10),
            open_for: Duration::from_secs(5),
            probes: 1,
            half_open_timeout: Duration::from_secs(10),
        }
    }
}
