//! The settings a breaker's state machine reads ([`Config`]): fixed for the breaker's life, or, with the
//! `reload` feature, replaceable while it runs ([`CircuitBreaker::reconfigure`]).
//!
//! The state machine reads them in two places. The closed path asks only whether calls are
//! timed and whether the consecutive-failure rule is on; with `reload` those two answers are
//! kept in atomics beside the settings, read with one relaxed load each (the same instruction
//! as a plain field read), so the closed path costs what it does without the feature. The
//! rest (thresholds, half-open rules, the open time) is read where a call failed, was slow, or
//! was a probe: there a judgment takes one snapshot of the settings (an `arc-swap` load, no
//! lock), so a judgment never mixes settings from before and after a replacement.
//!
//! [`CircuitBreaker::reconfigure`]: super::CircuitBreaker::reconfigure

use std::ops::Deref;
use std::time::Duration;

use crate::backoff::Backoff;

/// How half-open judges its probes: the state machine's copy of the public
/// [`HalfOpenRule`](super::HalfOpenRule), which the builder converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ProbeRule {
    /// The first failed (or slow) probe reopens; `success_threshold` successes close.
    FirstFailure,
    /// The failure and slow-call rates over the period's permitted calls decide.
    Rates,
}

/// The settings the state machine reads, checked and converted by the builder.
pub(super) struct Config {
    pub(super) failure_rate_bp: Option<u32>,
    pub(super) slow_rate_bp: Option<u32>,
    pub(super) slow_threshold: Option<Duration>,
    pub(super) consecutive_failures: Option<u32>,
    pub(super) minimum_calls: u32,
    /// Permits for one half-open period, in total.
    pub(super) half_open_max_calls: u32,
    pub(super) success_threshold: u32,
    pub(super) half_open_rule: ProbeRule,
    /// How long half-open may last with a probe outstanding, in nanoseconds (`u64::MAX`:
    /// unbounded).
    pub(super) max_half_open: u64,
    pub(super) open_backoff: Backoff,
    pub(super) count_cancellations: bool,
    /// Whether invalid responses count as failures for the rules (else as successes).
    pub(super) count_invalid: bool,
}

/// The breaker's settings (see the module docs).
pub(super) struct Settings {
    #[cfg(not(feature = "reload"))]
    cell: Config,
    #[cfg(feature = "reload")]
    cell: arc_swap::ArcSwap<Config>,
    /// `slow_threshold.is_some()` of the settings now.
    #[cfg(feature = "reload")]
    measures: std::sync::atomic::AtomicBool,
    /// `consecutive_failures.is_some()` of the settings now.
    #[cfg(feature = "reload")]
    consecutive: std::sync::atomic::AtomicBool,
}

/// The settings as one judgment reads them.
#[cfg(feature = "reload")]
pub(super) struct Snapshot(arc_swap::Guard<std::sync::Arc<Config>>);

#[cfg(feature = "reload")]
impl Deref for Snapshot {
    type Target = Config;

    #[inline]
    fn deref(&self) -> &Config {
        &self.0
    }
}

impl Settings {
    pub(super) fn new(cfg: Config) -> Settings {
        #[cfg(feature = "reload")]
        {
            use std::sync::atomic::AtomicBool;
            Settings {
                measures: AtomicBool::new(cfg.slow_threshold.is_some()),
                consecutive: AtomicBool::new(cfg.consecutive_failures.is_some()),
                cell: arc_swap::ArcSwap::from_pointee(cfg),
            }
        }
        #[cfg(not(feature = "reload"))]
        Settings { cell: cfg }
    }

    /// The settings now, for one judgment.
    #[inline]
    pub(super) fn get(&self) -> impl Deref<Target = Config> + '_ {
        #[cfg(feature = "reload")]
        return Snapshot(self.cell.load());
        #[cfg(not(feature = "reload"))]
        return &self.cell;
    }

    /// `true` when calls are timed (a slow-call rule is on).
    #[inline]
    pub(super) fn measures_duration(&self) -> bool {
        #[cfg(feature = "reload")]
        return self.measures.load(std::sync::atomic::Ordering::Relaxed);
        #[cfg(not(feature = "reload"))]
        return self.cell.slow_threshold.is_some();
    }

    /// `true` when the consecutive-failure rule is on.
    #[inline]
    pub(super) fn counts_consecutive(&self) -> bool {
        #[cfg(feature = "reload")]
        return self.consecutive.load(std::sync::atomic::Ordering::Relaxed);
        #[cfg(not(feature = "reload"))]
        return self.cell.consecutive_failures.is_some();
    }

    /// Replaces the settings: judgments from now on read `cfg`.
    #[cfg(feature = "reload")]
    pub(super) fn replace(&self, cfg: Config) {
        use std::sync::atomic::Ordering;
        let measures = cfg.slow_threshold.is_some();
        let consecutive = cfg.consecutive_failures.is_some();
        self.cell.store(std::sync::Arc::new(cfg));
        self.measures.store(measures, Ordering::Relaxed);
        self.consecutive.store(consecutive, Ordering::Relaxed);
    }
}
