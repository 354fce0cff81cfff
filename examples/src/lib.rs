//! Runnable examples of steadfast. The examples live in `examples/`.
//!
//! ```sh
//! cargo run -p steadfast-examples --example demo      # a retrying HTTP client against a flaky server
//! cargo run -p steadfast-examples --example retry_fn  # retrying plain async and blocking functions
//! cargo run -p steadfast-examples --example http_client  # hyper-util's client with HTTP's rules
//! cargo run -p steadfast-examples --example axum_server  # handlers that notice a client has gone
//! cargo run -p steadfast-examples --example grpc  # tonic: deadlines across the wire, retrying channels
//! cargo run -p steadfast-examples --example retry_until_valid  # retry until a model's JSON is valid
//! cargo run -p steadfast-examples --example prometheus  # layer metrics scraped by Prometheus from an axum app
//! cargo run -p steadfast-examples --example config_lint -- examples/config/inventory.toml  # check a settings file
//! ```
//!
//! The library holds the code an example shares with its test:
//! [`prometheus`] for `cargo run -p steadfast-examples --example prometheus`.

pub mod prometheus;
