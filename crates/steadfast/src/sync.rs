//! Atomics for the concurrent state machines, swapped for `loom`'s when the crate is built
//! with `--cfg steadfast_loom`, so the model checker can explore every interleaving.

#[cfg(steadfast_loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
#[cfg(not(steadfast_loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
