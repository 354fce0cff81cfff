//! The on/off switch of a chaos layer or of one of its injections.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Turns chaos on or off at runtime, from any thread, without rebuilding the service.
///
/// A cheap handle: clones share one flag, so a test keeps a clone and flips it while requests
/// run. A [`ChaosLayer`](super::ChaosLayer) has a switch for all of its injections
/// ([`ChaosLayerBuilder::switch`](super::ChaosLayerBuilder::switch)), and each injection can
/// have one of its own (`FaultInjection::switch` and the like); an injection fires only while
/// every switch above it is on. This plays the part of the `Enabled` and `EnabledGenerator`
/// options of Polly's chaos strategies.
///
/// A request started after a flip sees it: one started later on the same thread, or on a
/// thread that learnt of the flip through a channel, a join, a lock or any other
/// synchronisation. A request racing with the flip may see either state. The switch is a
/// relaxed atomic flag (`Ordering::Relaxed`), so it orders nothing but itself: it turns
/// injections on and off, and is not a way to hand other data to the requests that see it.
///
/// ```
/// use steadfast::chaos::ChaosSwitch;
///
/// let switch = ChaosSwitch::new(false);
/// let handle = switch.clone();
/// std::thread::spawn(move || handle.turn_on()).join().unwrap();
/// assert!(switch.is_on());
/// switch.set(false);
/// assert!(!switch.is_on());
/// ```
#[derive(Debug, Clone)]
pub struct ChaosSwitch(Arc<AtomicBool>);

impl ChaosSwitch {
    /// A switch that starts on (`true`) or off (`false`).
    pub fn new(on: bool) -> Self {
        ChaosSwitch(Arc::new(AtomicBool::new(on)))
    }

    /// Whether the switch is on.
    #[inline]
    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Turns the switch on or off; every clone sees it on the requests started after it.
    pub fn set(&self, on: bool) {
        self.0.store(on, Ordering::Relaxed);
    }

    /// Turns the switch on.
    pub fn turn_on(&self) {
        self.set(true);
    }

    /// Turns the switch off.
    pub fn turn_off(&self) {
        self.set(false);
    }
}

impl Default for ChaosSwitch {
    /// A switch that starts on.
    fn default() -> Self {
        ChaosSwitch::new(true)
    }
}
