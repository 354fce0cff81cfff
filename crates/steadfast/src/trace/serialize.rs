//! The serialized form of a decision trace (feature `serde`).
//!
//! A trace is `{"entries": [...], "dropped": n}`; an entry is `{"at", "layer", "kind", ...}`
//! with the decision's fields beside its `kind` (`"classified"`, `"backoff"`, `"budget"`,
//! `"stopped"`, `"admission"`, `"recorded"`, `"invalid"`, `"cancelled"`, `"injected"`).
//! Durations are exact strings in the largest unit that holds them whole (`"250ms"`), as in a
//! stack's description; outcomes and cancel reasons are their text.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::{Decision, DecisionTrace, DelaySource, Entry};
use crate::describe::serialize::exact;

impl Serialize for DecisionTrace {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let entries = self.entries();
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("entries", &Entries(&entries))?;
        map.serialize_entry("dropped", &self.dropped())?;
        map.end()
    }
}

struct Entries<'a>(&'a [Entry]);

impl Serialize for Entries<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for entry in self.0 {
            seq.serialize_element(entry)?;
        }
        seq.end()
    }
}

impl Serialize for Entry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("at", &exact(self.at))?;
        map.serialize_entry("layer", &*self.layer)?;
        match &self.decision {
            Decision::Classified {
                attempt,
                outcome,
                rule,
            } => {
                map.serialize_entry("kind", "classified")?;
                map.serialize_entry("attempt", attempt)?;
                map.serialize_entry("outcome", &outcome.to_string())?;
                map.serialize_entry("rule", &rule.as_deref())?;
            }
            Decision::Backoff {
                attempt,
                delay,
                source,
            } => {
                map.serialize_entry("kind", "backoff")?;
                map.serialize_entry("attempt", attempt)?;
                map.serialize_entry("delay", &exact(*delay))?;
                match source {
                    DelaySource::Schedule { scheduled, jitter } => {
                        map.serialize_entry("source", "schedule")?;
                        map.serialize_entry("scheduled", &exact(*scheduled))?;
                        map.serialize_entry("jitter", &**jitter)?;
                    }
                    DelaySource::Class { class } => {
                        map.serialize_entry("source", "class")?;
                        map.serialize_entry("class", &**class)?;
                    }
                    DelaySource::Hint { asked, clamped } => {
                        map.serialize_entry("source", "hint")?;
                        map.serialize_entry("asked", &exact(*asked))?;
                        map.serialize_entry("clamped", clamped)?;
                    }
                }
            }
            Decision::Budget { allowed, balance } => {
                map.serialize_entry("kind", "budget")?;
                map.serialize_entry("allowed", allowed)?;
                map.serialize_entry("balance", balance)?;
            }
            Decision::Stopped { attempts, reason } => {
                map.serialize_entry("kind", "stopped")?;
                map.serialize_entry("attempts", attempts)?;
                map.serialize_entry("reason", &**reason)?;
            }
            Decision::Admission {
                state,
                permitted,
                failures,
                calls,
            } => {
                map.serialize_entry("kind", "admission")?;
                map.serialize_entry("state", &**state)?;
                map.serialize_entry("permitted", permitted)?;
                map.serialize_entry("failures", failures)?;
                map.serialize_entry("calls", calls)?;
            }
            Decision::Recorded { outcome } => {
                map.serialize_entry("kind", "recorded")?;
                map.serialize_entry("outcome", &**outcome)?;
            }
            Decision::Invalid { validator, reason } => {
                map.serialize_entry("kind", "invalid")?;
                map.serialize_entry("validator", &**validator)?;
                map.serialize_entry("reason", &**reason)?;
            }
            Decision::Cancelled { reason } => {
                map.serialize_entry("kind", "cancelled")?;
                map.serialize_entry("reason", &reason.to_string())?;
            }
            Decision::Injected { fault } => {
                map.serialize_entry("kind", "injected")?;
                map.serialize_entry("fault", &**fault)?;
            }
            Decision::HedgeSent { attempt, balance } => {
                map.serialize_entry("kind", "hedge_sent")?;
                map.serialize_entry("attempt", attempt)?;
                map.serialize_entry("balance", balance)?;
            }
            Decision::HedgeStopped { reason } => {
                map.serialize_entry("kind", "hedge_stopped")?;
                map.serialize_entry("reason", &**reason)?;
            }
            Decision::HedgeWon {
                attempt,
                attempts,
                losers,
            } => {
                map.serialize_entry("kind", "hedge_won")?;
                map.serialize_entry("attempt", attempt)?;
                map.serialize_entry("attempts", attempts)?;
                map.serialize_entry("losers", losers)?;
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::classify::Outcome;

    #[test]
    fn entries_serialize_flat_with_their_kind() {
        let trace = DecisionTrace::with_capacity(2);
        trace.record(
            "api",
            Decision::Classified {
                attempt: 1,
                outcome: Outcome::retryable(),
                rule: Some("status 503".into()),
            },
        );
        trace.record(
            "api",
            Decision::Backoff {
                attempt: 1,
                delay: Duration::from_millis(80),
                source: DelaySource::Schedule {
                    scheduled: Duration::from_millis(100),
                    jitter: "full".into(),
                },
            },
        );
        trace.record(
            "api",
            Decision::Recorded {
                outcome: "failure".into(),
            },
        );
        let json = serde_json::to_value(&trace).unwrap();
        assert_eq!(json["dropped"], 1);
        let entries = json["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0]["kind"], "classified");
        assert_eq!(entries[0]["rule"], "status 503");
        assert_eq!(entries[0]["outcome"], "retryable failure");
        assert_eq!(entries[1]["kind"], "backoff");
        assert_eq!(entries[1]["delay"], "80ms");
        assert_eq!(entries[1]["scheduled"], "100ms");
        assert_eq!(entries[1]["jitter"], "full");
        assert_eq!(entries[1]["layer"], "api");
    }
}
