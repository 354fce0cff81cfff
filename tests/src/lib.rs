//! Cross-crate tests of steadfast against real servers on 127.0.0.1; the tests live in
//! `tests/`. Run them with `cargo test -p steadfast-integration`.

/// The README's code blocks, compiled and run as doctests so that none of them can rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
mod readme {}
