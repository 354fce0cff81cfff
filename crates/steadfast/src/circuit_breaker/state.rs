//! The lock-free state machine behind a [`CircuitBreaker`](super::CircuitBreaker): admission,
//! half-open probes, result recording and transitions, all on atomics.
//!
//! The state and a generation share one word (`generation << 3 | state`); a call's [`Permit`]
//! carries the word it was admitted under, and half-open permits and probe verdicts live in
//! generation-tagged words of their own ([`pack_half_open`]). The closed path reads the state
//! word and records into the window (`window.rs`); everything else is cold.
//!
//! # Why this is one file
//!
//! This file is over the usual length on purpose, because it reads best whole: it is one
//! concept, one state machine. Every transition is a compare-and-swap on the same word, and the
//! invariants below must be checked against every writer of that word at once (as the loom
//! models do). Split across files, a reader would have to hold the word's layout and each of
//! its writers in mind from several places. What is not part of the machine lives elsewhere:
//! the sliding windows in `window.rs`, the settings in `live.rs` and their checks in `builder.rs`, the
//! states and events in `events.rs`, the public handle in `breaker.rs`.
//!
//! # Invariants
//!
//! Each invariant names the `loom` models in `tests/loom_breaker.rs` that check it under every
//! interleaving loom can find; the others follow from the code's structure and are covered by
//! the state-machine and stress tests.
//!
//! * The state and its generation change only by a compare-and-swap from the exact word the
//!   transition was decided on, and each transition bumps the generation: of two racing
//!   transitions only one happens (`concurrent_failures_trip_once`: two failures racing in
//!   the closed state trip the breaker once; `success_and_failure_race_in_half_open`: a
//!   successful and a failed probe end closed or open, never half-open).
//! * A call records its result only under the state word it was admitted under: results of
//!   calls admitted before a transition are discarded.
//! * A half-open period hands out at most `half_open_max_calls` permits in total, however its
//!   probes interleave (`one_probe_slot_two_callers`,
//!   `never_more_than_n_permits_per_half_open_period`).
//! * A probe gives its permit back, or counts as completed, only in its own period: a dropped
//!   or ignored probe frees its permit for another call (`dropped_probe_releases_its_slot`),
//!   and a late one never frees a permit of a later period.
//! * Under the rate rule, every probe's verdict is counted before the probe counts as
//!   completed, so whoever completes the period's last probe sees every verdict and the period
//!   is judged exactly once (`the_rate_rule_judges_the_period_once`).
//! * A probe that never completes holds its permit until `max_half_open` has passed; the next
//!   call then reopens the breaker.
//! * The open deadline and the entry time are written before a transition is published; a
//!   transition that loses its race may still overwrite them with values computed at the same
//!   moment.

use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::events::{BreakerEvent, CircuitState, TransitionReason};
use super::live::{Config, ProbeRule, Settings};
use super::metrics::{rate, BreakerMetrics};
use super::window::Window;
use crate::random::RandomSource;
use crate::sync::{AtomicU32, AtomicU64, Ordering};

pub(super) type Listener = Arc<dyn Fn(&BreakerEvent<'_>) + Send + Sync>;

/// How a call ended, as the breaker records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallResult {
    Success,
    Failure,
    /// The call completed but its response was judged invalid: a semantic failure.
    Invalid,
    Ignored,
}

/// A call the breaker let through. Probes hold a half-open permit until they finish.
///
/// One non-zero word, so that a response future's `Option<Permit>` is 8 bytes moved as one:
/// bit 63 is always set, bit 62 marks a probe, and the rest is the state word when the call
/// was admitted (whose generation would need 2^59 transitions to reach bit 62).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Permit {
    raw: NonZeroU64,
}

const PERMIT_SET: u64 = 1 << 63;
const PERMIT_PROBE: u64 = 1 << 62;

impl Permit {
    #[inline]
    fn new(word: u64, probe: bool) -> Self {
        debug_assert!(word & (PERMIT_SET | PERMIT_PROBE) == 0);
        let probe = if probe { PERMIT_PROBE } else { 0 };
        Permit {
            raw: NonZeroU64::new(word | probe | PERMIT_SET).expect("bit 63 is set"),
        }
    }

    /// The state word when the call was admitted.
    #[inline]
    fn word(self) -> u64 {
        self.raw.get() & !(PERMIT_SET | PERMIT_PROBE)
    }

    /// `true` for a half-open probe.
    #[inline]
    fn probe(self) -> bool {
        self.raw.get() & PERMIT_PROBE != 0
    }

    pub(crate) fn records(&self) -> bool {
        kind(self.word()) != CircuitState::Disabled
    }

    /// The breaker's state when the call was admitted.
    pub(crate) fn state(self) -> CircuitState {
        kind(self.word())
    }
}

const KIND_BITS: u32 = 3;

pub(super) fn kind(word: u64) -> CircuitState {
    CircuitState::from_bits(word)
}

fn generation(word: u64) -> u64 {
    word >> KIND_BITS
}

/// A generation-tagged pair of 16-bit counts: `generation (32) | a (16) | b (16)`.
///
/// The half-open word holds `permits handed out | probes completed` (completed and counted:
/// successes under [`ProbeRule::FirstFailure`], every judged probe under
/// [`ProbeRule::Rates`]); probes in flight are the difference. The verdict word of the
/// rate rule holds `failed | slow`.
fn unpack_half_open(w: u64) -> (u32, u32, u32) {
    (
        (w >> 32) as u32,
        ((w >> 16) & 0xFFFF) as u32,
        (w & 0xFFFF) as u32,
    )
}

fn pack_half_open(gen: u32, a: u32, b: u32) -> u64 {
    (u64::from(gen) << 32) | (u64::from(a.min(0xFFFF)) << 16) | u64::from(b.min(0xFFFF))
}

/// A duration as nanoseconds, saturating at `u64::MAX` (about 584 years: never, in practice).
pub(super) fn saturating_nanos(d: Duration) -> u64 {
    d.as_nanos().min(u128::from(u64::MAX)) as u64
}

// Aligned so that the `Arc`'s reference counts, written by every call, sit on cache lines of
// their own instead of sharing one with the state word every call reads.
#[repr(align(128))]
pub(crate) struct Core {
    pub(super) name: Arc<str>,
    cfg: Settings,
    pub(super) origin: Instant,
    /// `generation << 3 | state`: every transition bumps the generation.
    pub(super) state: AtomicU64,
    window: Window,
    consecutive: AtomicU32,
    pub(super) open_until: AtomicU64,
    entered_at: AtomicU64,
    pub(super) trips_in_row: AtomicU32,
    last_open: AtomicU64,
    half_open: AtomicU64,
    /// Failed and slow probes of the current half-open period, for [`ProbeRule::Rates`].
    probe_verdicts: AtomicU64,
    half_open_timeouts: AtomicU64,
    failures: AtomicU64,
    invalid: AtomicU64,
    slow: AtomicU64,
    rejections: AtomicU64,
    ignored: AtomicU64,
    trips: AtomicU64,
    probe_calls: AtomicU64,
    rng: Arc<dyn RandomSource>,
    listeners: Box<[Listener]>,
}

/// A call the breaker did not let through, as the breaker's core reports it; the handle the
/// call went through turns it into a [`Rejected`] (see [`BreakerRef::rejected`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refusal {
    pub(crate) state: CircuitState,
    pub(crate) retry_after: Option<Duration>,
}

impl Core {
    /// The settings the breaker was built with (for its description).
    pub(super) fn config(&self) -> impl std::ops::Deref<Target = Config> + '_ {
        self.cfg.get()
    }

    /// Replaces the settings the breaker judges by; its state, window and counters stay.
    #[cfg(feature = "reload")]
    pub(super) fn replace_config(&self, cfg: Config) {
        self.cfg.replace(cfg);
    }

    /// The breaker's sliding window (for its description).
    pub(super) fn window(&self) -> &Window {
        &self.window
    }

    /// A breaker's state machine in `initial` (a manual state), with its window empty and
    /// every counter at zero.
    pub(super) fn new(
        name: Arc<str>,
        cfg: Config,
        initial: CircuitState,
        window: Window,
        rng: Arc<dyn RandomSource>,
        listeners: Box<[Listener]>,
    ) -> Core {
        Core {
            name,
            cfg: Settings::new(cfg),
            origin: Instant::now(),
            state: AtomicU64::new(initial.bits()),
            window,
            consecutive: AtomicU32::new(0),
            open_until: AtomicU64::new(0),
            entered_at: AtomicU64::new(0),
            trips_in_row: AtomicU32::new(0),
            last_open: AtomicU64::new(0),
            half_open: AtomicU64::new(0),
            probe_verdicts: AtomicU64::new(0),
            half_open_timeouts: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            invalid: AtomicU64::new(0),
            slow: AtomicU64::new(0),
            rejections: AtomicU64::new(0),
            ignored: AtomicU64::new(0),
            trips: AtomicU64::new(0),
            probe_calls: AtomicU64::new(0),
            rng,
            listeners,
        }
    }

    fn now(&self) -> u64 {
        Instant::now()
            .saturating_duration_since(self.origin)
            .as_nanos()
            .min(u128::from(u64::MAX)) as u64
    }

    /// `true` when call durations are measured (slow-call rules on).
    #[inline]
    pub(crate) fn measures_duration(&self) -> bool {
        self.cfg.measures_duration()
    }

    pub(crate) fn counts_cancellations(&self) -> bool {
        self.cfg.get().count_cancellations
    }

    #[inline]
    fn emit(&self, event: BreakerEvent<'_>) {
        for l in self.listeners.iter() {
            l(&event);
        }
    }

    /// A refusal; with `count`, a rejection: counted, and told to the listeners.
    fn refuse(&self, state: CircuitState, retry_after: Option<Duration>, count: bool) -> Refusal {
        if count {
            self.rejections.fetch_add(1, Ordering::Relaxed);
            if !self.listeners.is_empty() {
                self.emit(BreakerEvent::CallRejected {
                    name: &self.name,
                    state,
                });
            }
            tracing::trace!(breaker = %self.name, %state, "call rejected");
        }
        Refusal { state, retry_after }
    }

    /// Admits a call or rejects it.
    #[inline]
    pub(crate) fn try_acquire(&self) -> Result<Permit, Refusal> {
        let word = self.state.load(Ordering::Acquire);
        match kind(word) {
            CircuitState::Closed | CircuitState::MetricsOnly | CircuitState::Disabled => {
                if !self.listeners.is_empty() {
                    self.emit(BreakerEvent::CallPermitted {
                        name: &self.name,
                        state: kind(word),
                    });
                }
                Ok(Permit::new(word, false))
            }
            _ => self.acquire_slow(word),
        }
    }

    #[cold]
    fn acquire_slow(&self, word: u64) -> Result<Permit, Refusal> {
        self.admit_slow(word, true)
    }

    /// Admission outside the closed states. `count`: a refusal is a rejection (counted, and
    /// told to the listeners); backpressure's rechecks pass `false`.
    fn admit_slow(&self, mut word: u64, count: bool) -> Result<Permit, Refusal> {
        loop {
            match kind(word) {
                CircuitState::Open => {
                    let now = self.now();
                    let until = self.open_until.load(Ordering::Acquire);
                    if now < until {
                        return Err(self.refuse(
                            CircuitState::Open,
                            Some(Duration::from_nanos(until - now)),
                            count,
                        ));
                    }
                    self.transition(
                        word,
                        CircuitState::HalfOpen,
                        TransitionReason::OpenTimeElapsed,
                    );
                    word = self.state.load(Ordering::Acquire);
                }
                CircuitState::HalfOpen => {
                    if self.half_open_expired(word) {
                        self.transition(
                            word,
                            CircuitState::Open,
                            TransitionReason::HalfOpenTimeout,
                        );
                        word = self.state.load(Ordering::Acquire);
                        continue;
                    }
                    return self.acquire_probe(word, count);
                }
                CircuitState::ForcedOpen => {
                    return Err(self.refuse(CircuitState::ForcedOpen, None, count));
                }
                // Closed again (or disabled) since the caller looked.
                _ if count => return self.try_acquire(),
                _ => return Ok(Permit::new(word, false)),
            }
        }
    }

    /// Backpressure's readiness check: `Ok(None)` when the breaker lets calls through without
    /// a permit to hold (closed, disabled, metrics-only), `Ok(Some(probe))` when it admitted
    /// a half-open probe for the caller, and the refusal otherwise. A refusal here is not a
    /// rejection: nothing is counted and no event is sent.
    pub(crate) fn poll_admission(&self) -> Result<Option<Permit>, Refusal> {
        let word = self.state.load(Ordering::Acquire);
        match kind(word) {
            CircuitState::Closed | CircuitState::MetricsOnly | CircuitState::Disabled => Ok(None),
            _ => self
                .admit_slow(word, false)
                .map(|p| if p.probe() { Some(p) } else { None }),
        }
    }

    /// `true` if the permit was taken under the state the breaker is in now.
    #[inline]
    pub(crate) fn is_current(&self, permit: Permit) -> bool {
        self.state.load(Ordering::Acquire) == permit.word()
    }

    /// `true` when the half-open period of `word` has lasted longer than `max_half_open`
    /// while a probe still holds its permit: that probe has hung, and the breaker must
    /// reopen instead of waiting for it forever.
    fn half_open_expired(&self, word: u64) -> bool {
        let max = self.cfg.get().max_half_open;
        if max == u64::MAX {
            return false;
        }
        let entered = self.entered_at.load(Ordering::Acquire);
        if self.now().saturating_sub(entered) <= max {
            return false;
        }
        let (g, issued, done) = unpack_half_open(self.half_open.load(Ordering::Acquire));
        g == generation(word) as u32 && issued > done
    }

    fn acquire_probe(&self, word: u64, count: bool) -> Result<Permit, Refusal> {
        let gen = generation(word) as u32;
        let mut cur = self.half_open.load(Ordering::Acquire);
        loop {
            let (g, issued, done) = unpack_half_open(cur);
            let (issued, done) = if g == gen { (issued, done) } else { (0, 0) };
            // A total for the period, not a bound on probes at once: completed probes keep
            // their permits.
            if issued >= self.cfg.get().half_open_max_calls {
                return Err(self.refuse(CircuitState::HalfOpen, None, count));
            }
            let next = pack_half_open(gen, issued + 1, done);
            match self.half_open.compare_exchange_weak(
                cur,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        if !self.listeners.is_empty() {
            self.emit(BreakerEvent::CallPermitted {
                name: &self.name,
                state: CircuitState::HalfOpen,
            });
        }
        Ok(Permit::new(word, true))
    }

    /// Gives a probe's permit back to its half-open period (the call was dropped, or its
    /// result ignored), so another call may use it.
    fn give_back_probe(&self, permit: Permit) {
        let gen = generation(permit.word()) as u32;
        let mut cur = self.half_open.load(Ordering::Acquire);
        loop {
            let (g, issued, done) = unpack_half_open(cur);
            if g != gen {
                return;
            }
            let next = pack_half_open(gen, issued.saturating_sub(1), done);
            match self.half_open.compare_exchange_weak(
                cur,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Counts a probe as completed in its half-open period; returns the completed probes so
    /// far, or `None` if the period is over.
    fn complete_probe(&self, permit: Permit) -> Option<u32> {
        let gen = generation(permit.word()) as u32;
        let mut cur = self.half_open.load(Ordering::Acquire);
        loop {
            let (g, issued, done) = unpack_half_open(cur);
            if g != gen {
                return None;
            }
            let next = pack_half_open(gen, issued, done + 1);
            match self.half_open.compare_exchange_weak(
                cur,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(done + 1),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Adds a probe's verdict to its period's failed and slow counts ([`ProbeRule::Rates`]);
    /// returns them, or `None` if the period is over. Called before the probe is counted as
    /// completed, so that whoever completes the last probe sees every verdict.
    fn count_probe_verdict(&self, permit: Permit, failed: bool, slow: bool) -> Option<(u32, u32)> {
        let gen = generation(permit.word()) as u32;
        let mut cur = self.probe_verdicts.load(Ordering::Acquire);
        loop {
            let (g, f, sl) = unpack_half_open(cur);
            let (f, sl) = if g == gen {
                (f, sl)
            } else if self.is_current(permit) {
                // The counts of an earlier period: the first verdict of this one starts over.
                (0, 0)
            } else {
                return None;
            };
            let counts = (f + u32::from(failed), sl + u32::from(slow));
            let next = pack_half_open(gen, counts.0, counts.1);
            match self.probe_verdicts.compare_exchange_weak(
                cur,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(counts),
                Err(actual) => cur = actual,
            }
        }
    }

    /// A call ended without a result to record (its future was dropped).
    pub(crate) fn release(&self, permit: Permit) {
        if permit.probe() {
            self.give_back_probe(permit);
        }
    }

    /// Records how an admitted call ended.
    #[inline]
    pub(crate) fn on_result(&self, permit: Permit, result: CallResult, duration: Option<Duration>) {
        if !permit.records() {
            return;
        }
        // Slow means longer than the threshold, as in resilience4j.
        // The settings are read only for a timed call (a slow-call rule was on).
        let slow = match duration {
            Some(d) => self.cfg.get().slow_threshold.is_some_and(|t| d > t),
            None => false,
        };
        if permit.probe() {
            self.on_probe_result(permit, result, slow, duration);
            return;
        }
        if self.state.load(Ordering::Acquire) != permit.word() {
            // Admitted under an earlier generation: not counted.
            return;
        }
        if result == CallResult::Ignored {
            self.on_ignored();
            return;
        }
        let failure = self.counts_as_failure(result);
        self.window.record(failure, slow);
        if result != CallResult::Success || slow {
            self.on_bad_call(permit.word(), result, failure, slow, duration);
        } else if self.cfg.counts_consecutive() && self.consecutive.load(Ordering::Relaxed) != 0 {
            self.consecutive.store(0, Ordering::Relaxed);
        }
        if result == CallResult::Success && !self.listeners.is_empty() {
            self.emit(BreakerEvent::Success {
                name: &self.name,
                duration,
            });
        }
    }

    /// Whether `result` counts as a failure for the breaker's rules.
    #[inline]
    fn counts_as_failure(&self, result: CallResult) -> bool {
        match result {
            CallResult::Failure => true,
            CallResult::Invalid => self.cfg.get().count_invalid,
            CallResult::Success | CallResult::Ignored => false,
        }
    }

    /// Counts a failure or a semantic failure apart, and tells the listeners.
    fn count_failed(&self, result: CallResult, duration: Option<Duration>) {
        let name = &*self.name;
        match result {
            CallResult::Failure => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                if !self.listeners.is_empty() {
                    self.emit(BreakerEvent::Failure { name, duration });
                }
            }
            CallResult::Invalid => {
                self.invalid.fetch_add(1, Ordering::Relaxed);
                if !self.listeners.is_empty() {
                    self.emit(BreakerEvent::Invalid { name, duration });
                }
            }
            CallResult::Success | CallResult::Ignored => {}
        }
    }

    fn on_ignored(&self) {
        self.ignored.fetch_add(1, Ordering::Relaxed);
        if !self.listeners.is_empty() {
            self.emit(BreakerEvent::Ignored { name: &self.name });
        }
    }

    /// A call that failed, was invalid, or was slow. `failure` says whether it counts as a
    /// failure for the rules.
    #[cold]
    fn on_bad_call(
        &self,
        word: u64,
        result: CallResult,
        failure: bool,
        slow: bool,
        duration: Option<Duration>,
    ) {
        if slow {
            self.slow.fetch_add(1, Ordering::Relaxed);
            if !self.listeners.is_empty() {
                self.emit(BreakerEvent::Slow {
                    name: &self.name,
                    duration: duration.unwrap_or_default(),
                });
            }
        }
        let mut reason = None;
        self.count_failed(result, duration);
        if failure {
            if let Some(limit) = self.cfg.get().consecutive_failures {
                let n = self.consecutive.fetch_add(1, Ordering::AcqRel) + 1;
                if n >= limit {
                    reason = Some(TransitionReason::ConsecutiveFailures(n));
                }
            }
        } else if self.cfg.counts_consecutive() {
            self.consecutive.store(0, Ordering::Relaxed);
        }
        if kind(word) != CircuitState::Closed {
            return;
        }
        if reason.is_none() {
            reason = self.rate_reached();
        }
        if let Some(reason) = reason {
            self.transition(word, CircuitState::Open, reason);
        }
    }

    /// The rate rule the window's counts, as the last call left them, break, if any.
    fn rate_reached(&self) -> Option<TransitionReason> {
        let counts = self.window.recorded();
        let cfg = self.cfg.get();
        if counts.total < u64::from(cfg.minimum_calls) || counts.total == 0 {
            return None;
        }
        // In 128 bits: a time window's counts may use all 64.
        let total = u128::from(counts.total);
        if let Some(bp) = cfg.failure_rate_bp {
            if u128::from(counts.failures) * 10_000 >= u128::from(bp) * total {
                return Some(TransitionReason::FailureRate {
                    rate: rate(counts.failures, counts.total),
                });
            }
        }
        if let Some(bp) = cfg.slow_rate_bp {
            if u128::from(counts.slow) * 10_000 >= u128::from(bp) * total {
                return Some(TransitionReason::SlowCallRate {
                    rate: rate(counts.slow, counts.total),
                });
            }
        }
        None
    }

    #[cold]
    fn on_probe_result(
        &self,
        permit: Permit,
        result: CallResult,
        slow: bool,
        duration: Option<Duration>,
    ) {
        if result == CallResult::Ignored {
            self.give_back_probe(permit);
            self.on_ignored();
            return;
        }
        let failed = self.counts_as_failure(result);
        let cfg = self.cfg.get();
        let slow = slow && cfg.slow_rate_bp.is_some();
        if result == CallResult::Success {
            if !self.listeners.is_empty() {
                self.emit(BreakerEvent::Success {
                    name: &self.name,
                    duration,
                });
            }
        } else {
            // A failure, or an invalid response (which, when it does not count as a failure,
            // means the downstream answered: the probe succeeded).
            self.count_failed(result, duration);
        }
        if slow {
            self.slow.fetch_add(1, Ordering::Relaxed);
        }
        match cfg.half_open_rule {
            ProbeRule::FirstFailure => {
                if failed || slow {
                    self.transition(
                        permit.word(),
                        CircuitState::Open,
                        TransitionReason::ProbeFailed,
                    );
                } else if let Some(successes) = self.complete_probe(permit) {
                    if successes >= cfg.success_threshold {
                        self.transition(
                            permit.word(),
                            CircuitState::Closed,
                            TransitionReason::ProbesSucceeded(successes),
                        );
                    }
                }
            }
            ProbeRule::Rates => self.judge_probe_rates(permit, failed, slow),
        }
        // Probe successes count as calls too, so lifetime success counts stay truthful.
        self.probe_calls.fetch_add(1, Ordering::Relaxed);
    }

    /// [`ProbeRule::Rates`]: records one probe, and decides once the rates over the
    /// period's permitted calls are certain.
    fn judge_probe_rates(&self, permit: Permit, failed: bool, slow: bool) {
        let cfg = self.cfg.get();
        let n = cfg.half_open_max_calls;
        let reached = |count: u32, bp: Option<u32>| {
            bp.is_some_and(|bp| u64::from(count) * 10_000 >= u64::from(bp) * u64::from(n))
        };
        let verdict = |f: u32, sl: u32| {
            if reached(f, cfg.failure_rate_bp) {
                Some(TransitionReason::FailureRate {
                    rate: rate(f.into(), n.into()),
                })
            } else if reached(sl, cfg.slow_rate_bp) {
                Some(TransitionReason::SlowCallRate {
                    rate: rate(sl.into(), n.into()),
                })
            } else {
                None
            }
        };
        if failed || slow {
            let Some((f, sl)) = self.count_probe_verdict(permit, failed, slow) else {
                return;
            };
            // Every one of the period's calls completes or gives its permit back to another
            // call, so the rate is over exactly `n` calls: reached now, it stays reached.
            if let Some(reason) = verdict(f, sl) {
                self.transition(permit.word(), CircuitState::Open, reason);
                return;
            }
        }
        if self.complete_probe(permit) == Some(n) {
            // The last of the period's calls: every other verdict was counted before its
            // call was counted as completed.
            let (g, f, sl) = unpack_half_open(self.probe_verdicts.load(Ordering::Acquire));
            let (f, sl) = if g == generation(permit.word()) as u32 {
                (f, sl)
            } else {
                (0, 0)
            };
            let (to, reason) = match verdict(f, sl) {
                Some(reason) => (CircuitState::Open, reason),
                None => (
                    CircuitState::Closed,
                    TransitionReason::ProbeRates {
                        failure_rate: rate(f.into(), n.into()),
                        slow_call_rate: rate(sl.into(), n.into()),
                    },
                ),
            };
            self.transition(permit.word(), to, reason);
        }
    }

    /// Moves from exactly `from` to `to`; `false` if another transition got there first.
    fn transition(&self, from: u64, to: CircuitState, reason: TransitionReason) -> bool {
        if self.state.load(Ordering::Acquire) != from {
            // Decided on a state that is already gone (a late probe, a lost race): leave the
            // current state's open deadline and entry time alone.
            return false;
        }
        let next_trips = self.trips_in_row.load(Ordering::Acquire).saturating_add(1);
        if to == CircuitState::Open {
            let prev = Duration::from_nanos(self.last_open.load(Ordering::Acquire));
            let d = self
                .cfg
                .get()
                .open_backoff
                .delay(next_trips, prev, &*self.rng);
            self.store_open_for(d);
        }
        // Written before the transition is published, as the open deadline is, so that no
        // caller that sees the new state reads the time the previous state was entered.
        self.entered_at.store(self.now(), Ordering::Release);
        let to_word = ((generation(from) + 1) << KIND_BITS) | to.bits();
        if self
            .state
            .compare_exchange(from, to_word, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        self.after_transition(kind(from), to, reason, Some(next_trips));
        true
    }

    fn store_open_for(&self, d: Duration) {
        let d = saturating_nanos(d);
        self.last_open.store(d, Ordering::Release);
        self.open_until
            .store(self.now().saturating_add(d), Ordering::Release);
    }

    fn after_transition(
        &self,
        from: CircuitState,
        to: CircuitState,
        reason: TransitionReason,
        trips_in_row: Option<u32>,
    ) {
        match to {
            CircuitState::Closed => {
                self.window.reset();
                self.consecutive.store(0, Ordering::Release);
                if reason != TransitionReason::Manual {
                    self.trips_in_row.store(0, Ordering::Release);
                }
            }
            CircuitState::Open => {
                self.trips.fetch_add(1, Ordering::Relaxed);
                if reason == TransitionReason::HalfOpenTimeout {
                    self.half_open_timeouts.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(n) = trips_in_row {
                    self.trips_in_row.store(n, Ordering::Release);
                }
            }
            _ => {}
        }
        match to {
            CircuitState::Open | CircuitState::ForcedOpen => {
                tracing::warn!(breaker = %self.name, %from, %to, %reason, "circuit breaker opened")
            }
            _ => {
                tracing::info!(breaker = %self.name, %from, %to, %reason, "circuit breaker state changed")
            }
        }
        self.emit(BreakerEvent::StateTransition {
            name: &self.name,
            from,
            to,
            reason,
        });
    }

    /// A manual change: from whatever state, to `to`.
    pub(super) fn set_state(&self, to: CircuitState, open_for: Option<Duration>) {
        if let Some(d) = open_for {
            self.store_open_for(d);
        }
        self.entered_at.store(self.now(), Ordering::Release);
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            let next = ((generation(cur) + 1) << KIND_BITS) | to.bits();
            match self
                .state
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        self.after_transition(kind(cur), to, TransitionReason::Manual, None);
    }

    pub(super) fn metrics(&self) -> BreakerMetrics {
        let counts = self.window.counts();
        let judged = counts.total >= u64::from(self.cfg.get().minimum_calls) && counts.total > 0;
        let failures = self.failures.load(Ordering::Relaxed);
        let invalid = self.invalid.load(Ordering::Relaxed);
        let ignored = self.ignored.load(Ordering::Relaxed);
        let calls = self.window.calls() + self.probe_calls.load(Ordering::Relaxed);
        BreakerMetrics {
            state: kind(self.state.load(Ordering::Acquire)),
            failure_rate: judged.then(|| rate(counts.failures, counts.total)),
            slow_call_rate: judged.then(|| rate(counts.slow, counts.total)),
            window_calls: counts.total,
            window_failures: counts.failures,
            window_slow: counts.slow,
            successes: calls.saturating_sub(failures.saturating_add(invalid)),
            failures,
            invalid,
            slow: self.slow.load(Ordering::Relaxed),
            rejections: self.rejections.load(Ordering::Relaxed),
            ignored,
            trips: self.trips.load(Ordering::Relaxed),
            half_open_timeouts: self.half_open_timeouts.load(Ordering::Relaxed),
        }
    }
}
