//! Runnable examples of steadfast. This library is empty: the examples live in `examples/`.
//!
//! ```sh
//! cargo run -p steadfast-examples --example demo      # a retrying HTTP client against a flaky server
//! cargo run -p steadfast-examples --example retry_fn  # retrying plain async and blocking functions
//! cargo run -p steadfast-examples --example retry_until_valid  # retry until a model's JSON is valid
//! ```
