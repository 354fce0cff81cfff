//! The versions of a [`ReloadableStack`](super::ReloadableStack): each set of settings and the
//! layers built from them, and the one in use.

use std::sync::atomic::AtomicU64;

use arc_swap::ArcSwap;

use crate::config::{StackLayer, StackSettings};

/// One version of a stack's settings and the layers built from them.
pub(crate) struct Version<C, K> {
    pub(crate) number: u64,
    pub(crate) settings: StackSettings,
    pub(crate) layer: StackLayer<C, K>,
}

/// The version in use, as requests read it.
pub(crate) struct Current<C, K> {
    /// The version in use.
    pub(crate) version: ArcSwap<Version<C, K>>,
    /// Its number, stored after it: a service whose stack is of this number needs nothing
    /// more than this load to know it is up to date.
    pub(crate) number: AtomicU64,
}
