//! Benchmarks of steadfast's retry layer. This library is empty: the benchmark targets live in
//! `benches/` and share the harness in `benches/common/mod.rs`.
//!
//! * `cargo bench -p steadfast-benches --bench retry`: time per call on the success path.
//! * `cargo bench -p steadfast-benches --bench allocs`: heap allocations per call on the
//!   success path; fails if steadfast's default policy allocates.
//!
//! Method, machine and results: `docs/benchmarks.md`.
