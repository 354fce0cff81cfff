//! Benchmarks of steadfast's layers. This library is empty: the benchmark targets live in
//! `benches/` and share the harness in `benches/common/`.
//!
//! * `cargo bench -p steadfast-benches --bench retry`: the retry layer's success path against
//!   a bare service and `tower::retry`.
//! * `cargo bench -p steadfast-benches --bench circuit_breaker`: the breaker's closed path, a
//!   rejection, and two threads sharing one breaker.
//! * `cargo bench -p steadfast-benches --bench cancel`: the cancel layer on HTTP requests.
//! * `cargo bench -p steadfast-benches --bench hedge`: the hedge layer's success path against
//!   `tower::hedge`.
//! * `cargo bench -p steadfast-benches --bench peers`: every layer and a full stack against
//!   tower, tower-resilience, seatbelt and failsafe, with contention and failure paths.
//! * `cargo bench -p steadfast-benches --bench allocs`: heap allocations per call for every
//!   contender above; fails if steadfast's retry layer or closed breaker allocates on the
//!   success path.
//! * `cargo bench -p steadfast-benches --bench fleet`: a breaker and a retry budget shared
//!   through Redis (`steadfast-redis`) against the local ones, on the request path; starts a
//!   `redis-server` of its own (`reliability/redis.sh` installs it).
//! * `benches/run.sh`: all of the above, then the plot `docs/img/overhead.svg`.
//!
//! Method, machine and results: `docs/benchmarks.md`.
