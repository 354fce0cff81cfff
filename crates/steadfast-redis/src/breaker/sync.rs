//! The background task of a shared breaker: every sync interval, or as soon as the fleet's
//! state changes (pub/sub), it sends the local breaker's new counts to Redis in one script
//! call and applies the fleet's answer to the local breaker. Nothing here is on the request
//! path; when Redis does not answer, the local breaker goes on by its own rules.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::PubSub;
use steadfast::circuit_breaker::{CircuitBreaker, CircuitState};

use super::script::SYNC;
use super::stats::SyncStats;
use crate::fleet::Fleet;

/// The fleet's state as the script reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FleetState {
    Closed,
    Open,
    HalfOpen,
}

impl FleetState {
    fn from_code(code: i64) -> Self {
        match code {
            1 => FleetState::Open,
            2 => FleetState::HalfOpen,
            _ => FleetState::Closed,
        }
    }
}

/// What woke the background task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// The sync interval ended.
    Tick,
    /// The fleet's state changed (pub/sub).
    Message,
    /// The subscription ended.
    Ended,
    /// Time to look at the local count (`sync_every_calls`).
    Check,
}

/// A fleet probe permit this instance holds: the generation it was granted in, and the local
/// breaker's trip count when its half-open period was opened.
#[derive(Debug, Clone, Copy)]
struct Probe {
    generation: i64,
    trips: u64,
}

/// The fleet's rules, as the builder checked them.
pub(super) struct Params {
    pub(super) fleet: Fleet,
    pub(super) breaker: CircuitBreaker,
    pub(super) failure_rate: f64,
    pub(super) minimum_calls: u32,
    pub(super) window: Duration,
    pub(super) open_for: Duration,
    pub(super) probes: u32,
    pub(super) half_open_timeout: Duration,
}

pub(super) struct BreakerSync {
    fleet: Fleet,
    breaker: CircuitBreaker,
    script: redis::Script,
    key: String,
    permits_key: String,
    channel: String,
    /// Script arguments that never change: rate, minimum calls, open ms, window ms, buckets,
    /// permits, half-open limit ms, key ttl ms.
    fixed: [u64; 8],
    half_open_timeout: Duration,
    stats: Arc<SyncStats>,
    /// The local breaker's lifetime counts already sent (or given up on).
    successes: u64,
    failures: u64,
    /// The fleet's window: counts older than this are not sent after an outage.
    window: Duration,
    /// When Redis last answered a round (or the task started).
    answered: tokio::time::Instant,
    applied: Option<(i64, FleetState)>,
    probe: Option<Probe>,
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

impl BreakerSync {
    pub(super) fn new(b: Params, stats: Arc<SyncStats>) -> Self {
        let name = b.breaker.name().to_owned();
        let key = b.fleet.key("breaker", &name);
        let m = b.breaker.metrics();
        BreakerSync {
            permits_key: format!("{key}:permits:"),
            channel: format!("{key}:state"),
            key,
            script: redis::Script::new(SYNC),
            fixed: [
                (b.failure_rate * 100.0).round() as u64,
                u64::from(b.minimum_calls),
                ms(b.open_for),
                ms(b.window),
                10,
                u64::from(b.probes),
                ms(b.half_open_timeout),
                ms(b.fleet.inner.key_ttl),
            ],
            half_open_timeout: b.half_open_timeout,
            fleet: b.fleet,
            breaker: b.breaker,
            stats,
            successes: m.successes,
            failures: m.failures,
            window: b.window,
            answered: tokio::time::Instant::now(),
            applied: None,
            probe: None,
        }
    }

    pub(super) async fn run(mut self) {
        let mut tick = tokio::time::interval(self.fleet.sync_interval());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // With `sync_every_calls`: the local breaker's count is read every tenth of the
        // interval (no Redis), and a round leaves as soon as enough outcomes wait.
        let every = self.fleet.sync_every_calls().map(u64::from);
        let mut check =
            tokio::time::interval((self.fleet.sync_interval() / 10).max(Duration::from_millis(1)));
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pubsub: Option<PubSub> = None;
        loop {
            if pubsub.is_none() {
                pubsub = self.subscribe().await;
            }
            let woken = match pubsub.as_mut() {
                Some(p) => {
                    let mut messages = p.on_message();
                    tokio::select! {
                        _ = tick.tick() => Wake::Tick,
                        m = messages.next() => if m.is_some() { Wake::Message } else { Wake::Ended },
                        _ = check.tick(), if every.is_some() => Wake::Check,
                    }
                }
                None => tokio::select! {
                    _ = tick.tick() => Wake::Tick,
                    _ = check.tick(), if every.is_some() => Wake::Check,
                },
            };
            match woken {
                Wake::Tick | Wake::Message => {}
                Wake::Check => {
                    if every.is_none_or(|n| self.pending() < n) {
                        continue;
                    }
                }
                Wake::Ended => {
                    // The subscription ended (Redis went away): subscribe again next round.
                    pubsub = None;
                    tick.tick().await;
                }
            }
            self.sync().await;
        }
    }

    /// Outcomes the local breaker recorded since the last round.
    fn pending(&self) -> u64 {
        let m = self.breaker.metrics();
        m.successes.saturating_sub(self.successes) + m.failures.saturating_sub(self.failures)
    }

    async fn subscribe(&self) -> Option<PubSub> {
        let client = &self.fleet.inner.client;
        let channel = self.channel.clone();
        self.fleet
            .run("subscribe", async move {
                let mut p = client.get_async_pubsub().await?;
                p.subscribe(channel).await?;
                Ok(p)
            })
            .await
    }

    /// One round: the counts since the last round (and a probe's verdict) to Redis, the
    /// fleet's state back to the local breaker.
    async fn sync(&mut self) {
        let m = self.breaker.metrics();
        let successes = m.successes.saturating_sub(self.successes);
        let failures = m.failures.saturating_sub(self.failures);
        let (report, report_gen) = match self.probe {
            Some(p) if m.trips > p.trips => (2, p.generation),
            Some(p) if self.breaker.state() == CircuitState::Closed => (1, p.generation),
            Some(p) => (0, p.generation),
            None => (0, -1),
        };
        let want = u64::from(
            self.probe.is_none() && self.applied.is_some_and(|(_, s)| s != FleetState::Closed),
        );
        let mut inv = self.script.key(&self.key);
        inv.key(&self.permits_key)
            .arg(successes)
            .arg(failures)
            .arg(report)
            .arg(report_gen)
            .arg(want);
        for a in self.fixed {
            inv.arg(a);
        }
        inv.arg(&self.channel);
        let mut con = self.fleet.inner.con.clone();
        let Some(answer) = self
            .fleet
            .run("breaker sync", inv.invoke_async::<Vec<i64>>(&mut con))
            .await
        else {
            // Counts are kept until Redis answers a round that carries them, so those seen
            // during an outage reach the fleet when it ends (a round whose answer was lost
            // after Redis ran it may be counted twice, which only brings the verdict closer).
            // Once the outage is longer than the fleet's window, what it kept is given up: it
            // would land in the window's newest bucket, long after it happened.
            if self.answered.elapsed() > self.window {
                self.successes = m.successes;
                self.failures = m.failures;
            }
            return;
        };
        self.answered = tokio::time::Instant::now();
        self.successes = m.successes;
        self.failures = m.failures;
        let [state, generation, left_ms, permit] = answer[..] else {
            return;
        };
        self.stats.syncs.fetch_add(1, Ordering::Relaxed);
        self.stats
            .generation
            .store(generation.max(0) as u64, Ordering::Relaxed);
        if report != 0 || self.probe.is_some_and(|p| p.generation != generation) {
            self.probe = None;
        }
        self.apply(
            FleetState::from_code(state),
            generation,
            Duration::from_millis(left_ms.max(0) as u64),
            permit == 1,
        );
    }

    /// Applies the fleet's state, once per fleet generation (and on a permit).
    fn apply(&mut self, state: FleetState, generation: i64, left: Duration, permit: bool) {
        let previous = self.applied;
        if previous.is_some_and(|(g, s)| g == generation && s == state) && !permit {
            return;
        }
        self.applied = Some((generation, state));
        let newer = previous.is_none_or(|(g, _)| generation > g);
        match state {
            FleetState::Closed => {
                // Only a newer generation closes: a Redis that lost its keys (a restart) starts
                // again at zero, and must not close a breaker the fleet had opened.
                if !newer || previous.is_none_or(|(_, s)| s == FleetState::Closed) {
                    return;
                }
                if self.breaker.state() != CircuitState::Closed {
                    self.breaker.close();
                }
            }
            FleetState::Open => {
                // Held open a little past the fleet's open time, so that the fleet, not each
                // instance, decides who probes; if Redis stops answering, the local breaker
                // probes on its own once this has passed.
                self.breaker.isolate(left + self.fleet.sync_interval() * 2);
            }
            FleetState::HalfOpen if permit => {
                self.breaker.isolate(Duration::ZERO);
                self.probe = Some(Probe {
                    generation,
                    trips: self.breaker.metrics().trips,
                });
                self.stats.permits.fetch_add(1, Ordering::Relaxed);
            }
            FleetState::HalfOpen => self.breaker.isolate(self.half_open_timeout),
        }
        self.stats.applied.fetch_add(1, Ordering::Relaxed);
    }
}
