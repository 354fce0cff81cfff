//! What the chaos layer tells you while it works.

use super::Injection;

/// Something the chaos layer did to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChaosEvent {
    /// A fault of kind `injection` was injected into the request.
    Injected {
        /// What was injected.
        injection: Injection,
    },
}
