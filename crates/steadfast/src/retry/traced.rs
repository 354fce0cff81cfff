//! What the retry layer keeps for a request that carries a decision trace, and the words of
//! its entries.

use std::borrow::Cow;
use std::time::Duration;

use super::policy::Settings;
use crate::backoff::Noted;
use crate::classify::Outcome;
use crate::trace::{Decision, DecisionTrace, DelaySource};

/// What a request with a decision trace keeps for it, in its state's cold part.
#[derive(Debug)]
pub(crate) struct Traced {
    pub(crate) trace: DecisionTrace,
    /// The running attempt's verdict and rule as the classifier explained them, until the
    /// verdict (refined) is recorded.
    pub(crate) explained: Option<(Outcome, Option<Cow<'static, str>>)>,
    /// How the delay being decided was chosen, until the retry is decided.
    pub(crate) source: Option<DelaySource>,
}

impl Traced {
    pub(crate) fn new(trace: DecisionTrace) -> Self {
        Traced {
            trace,
            explained: None,
            source: None,
        }
    }

    /// Records attempt `attempt`'s verdict, `outcome` (the classifier's, refined by what
    /// steadfast's own errors say), with the rule the classifier gave; a verdict the
    /// refinement changed names that too.
    pub(crate) fn record_classified(
        &mut self,
        layer: Cow<'static, str>,
        attempt: u32,
        outcome: Outcome,
    ) {
        let (explained, rule) = self.explained.take().unwrap_or((outcome, None));
        let rule = if explained == outcome {
            rule
        } else {
            Some(Cow::Owned(match rule {
                Some(rule) => format!("{rule}, then {explained} refined by the error's kind"),
                None => format!("{explained} refined by the error's kind"),
            }))
        };
        self.trace.record(
            layer,
            Decision::Classified {
                attempt,
                outcome,
                rule,
            },
        );
    }
}

/// The layer's name in a decision trace: the policy's name, or `"retry"`.
pub(crate) fn layer_name<C, K, R>(settings: &Settings<C, K, R>) -> Cow<'static, str> {
    match settings.shared_name() {
        Some(name) => Cow::Owned(name.to_string()),
        None => Cow::Borrowed("retry"),
    }
}

/// Where a delay from a backoff schedule came from, as the schedule noted it.
pub(crate) fn schedule_source(noted: Noted, delay: Duration) -> DelaySource {
    let (scheduled, jitter) = noted.0.unwrap_or((delay, Cow::Borrowed("none")));
    DelaySource::Schedule { scheduled, jitter }
}
