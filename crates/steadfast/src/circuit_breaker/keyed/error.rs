//! The errors of a keyed set of breakers: why a key has no breaker.

use std::fmt;

use crate::config::ConfigError;
use crate::trace::DecisionTrace;
use crate::BoxError;

/// Why [`KeyedBreakers::get`](super::KeyedBreakers::get) has no breaker for a key.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum KeyedError {
    /// The key is new and there is no room for it: see [`KeyTableFull`].
    Full(KeyTableFull),
    /// The settings made an invalid breaker for this key. They were checked when the set was
    /// built, so this happens only if the settings closure returned other settings since.
    Config(ConfigError),
}

impl fmt::Display for KeyedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyedError::Full(e) => e.fmt(f),
            KeyedError::Config(e) => e.fmt(f),
        }
    }
}

// No `source`: the message is the inner error's own, so a report of the chain would repeat it.
impl std::error::Error for KeyedError {}

impl KeyedError {
    /// This error, carrying the decision trace of the request it ends (a table full of open
    /// circuits; invalid settings are the set's own failure).
    #[cold]
    #[inline(never)]
    pub(super) fn with_trace(self, trace: &DecisionTrace) -> Self {
        match self {
            KeyedError::Full(full) => KeyedError::Full(KeyTableFull {
                trace: Some(trace.clone()),
                ..full
            }),
            other => other,
        }
    }

    pub(super) fn into_box(self) -> BoxError {
        match self {
            KeyedError::Full(e) => Box::new(e),
            KeyedError::Config(e) => Box::new(e),
        }
    }
}

/// A new key was refused a breaker: the key table is full of open circuits.
///
/// Every slot that could take the key (those of its shard: see [`KeyedBreakers`]) holds a
/// breaker the set must not forget: open with open time left, forced open, or half-open or
/// open and still in use. Dropping one would send the next call for its key to a downstream
/// known to be failing, so the new key's call fails instead, with this error (downcast it from
/// the layer's `BoxError`), without being sent. Room comes back as those breakers close, or
/// end their open time and go idle; a refused key is let in again once there is room (a full
/// shard is looked at again at most every 100 ms).
///
/// [`KeyedBreakers`]: super::KeyedBreakers
#[derive(Debug, Clone)]
pub struct KeyTableFull {
    pub(super) slots: usize,
    pub(super) trace: Option<DecisionTrace>,
}

impl KeyTableFull {
    /// The [decision trace](crate::trace) of the request refused a breaker, when it carried
    /// one.
    pub fn decision_trace(&self) -> Option<&DecisionTrace> {
        self.trace.as_ref()
    }

    /// How many slots could have taken the key (its shard's share of `max_keys`).
    pub fn slots(&self) -> usize {
        self.slots
    }
}

impl fmt::Display for KeyTableFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no circuit breaker for a new key: key table full of open circuits (all {} slots for the key hold open, half-open or forced-open breakers)",
            self.slots
        )
    }
}

impl std::error::Error for KeyTableFull {}
