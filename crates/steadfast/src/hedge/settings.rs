//! What every copy of a hedge layer shares: its checked settings.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use super::delay::{HedgeDelay, HedgeMode};
use super::events::HedgeEvent;
use crate::retry::RetryBudget;
use crate::trace::{Decision, DecisionTrace};

/// A listener of [`HedgeEvent`]s.
pub(super) type Listener = Arc<dyn Fn(&HedgeEvent) + Send + Sync>;

/// The settings of a built [`HedgeLayer`](super::HedgeLayer) but its classifier and cloner
/// (which each service and response future holds by value), behind one `PerThreadArc` that
/// every service and response future of the layer shares: a request's copy of it is counted
/// per thread, without a locked instruction (see `crate::per_thread_arc`).
pub(super) struct Settings {
    pub(super) name: Option<Cow<'static, str>>,
    pub(super) mode: HedgeMode,
    pub(super) delay: HedgeDelay,
    pub(super) max_attempts: u32,
    pub(super) budget: Option<Arc<dyn RetryBudget>>,
    pub(super) deposit: bool,
    pub(super) listeners: Box<[Listener]>,
}

impl Settings {
    /// `true` when a request may get more than one attempt: more than one is allowed and a
    /// budget pays for them.
    #[inline]
    pub(super) fn hedges(&self) -> bool {
        self.max_attempts > 1 && self.budget.is_some()
    }

    /// Calls every listener with `event`.
    #[cold]
    pub(super) fn emit(&self, event: HedgeEvent) {
        for l in self.listeners.iter() {
            l(&event);
        }
    }
}

impl Settings {
    /// Records `decision` in `trace` under the layer's name (its own, or `"hedge"`).
    #[cold]
    pub(super) fn record(&self, trace: &DecisionTrace, decision: Decision) {
        trace.record(
            self.name.clone().unwrap_or(Cow::Borrowed("hedge")),
            decision,
        );
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("name", &self.name)
            .field("mode", &self.mode)
            .field("delay", &self.delay)
            .field("max_attempts", &self.max_attempts)
            .field("budget", &self.budget)
            .field("deposit", &self.deposit)
            .field("listeners", &self.listeners.len())
            .finish_non_exhaustive()
    }
}
