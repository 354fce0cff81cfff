//! Cross-crate tests of steadfast against real servers on 127.0.0.1; the tests live in
//! `tests/`. Run them with `cargo test -p steadfast-integration`.
