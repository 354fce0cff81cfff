//! The soak: a million requests through steadfast's whole HTTP client stack against a local
//! axum server whose faults come from [`ChaosLayer`](steadfast::chaos::ChaosLayer), with every
//! request accounted for.
//!
//! The server ([`ChaosServer`]) answers `GET /item` and `POST /echo` with JSON, and a seeded
//! share of its answers are faults ([`FAULTS`]): slow and stalled answers, hang-ups, `503`s,
//! `429`s with `Retry-After`, bodies cut off mid-way, invalid JSON, and short outages. The
//! client ([`client`]) is hyper-util's legacy client behind the cancel, replay, retry (with a
//! budget), circuit breaker, per-attempt timeout and validate layers. The program
//! `cargo run --release -p steadfast-reliability --bin soak` sends the requests and checks that
//! each ended in exactly one answer or one typed error ([`Ending`], counted in a [`Tally`]), by
//! its deadline, without the memory or the task count growing.
//!
//! ```
//! use steadfast_reliability::soak::{Ending, Settings, Tally};
//!
//! let settings = Settings::from_args(["--requests", "100"]).unwrap();
//! let mut tally = Tally::default();
//! for _ in 0..settings.requests {
//!     tally.record(Ending::Answered, std::time::Duration::ZERO);
//! }
//! assert_eq!(tally.total(), settings.requests);
//! assert_eq!(tally.defects(), 0);
//! ```

mod client;
mod server;
mod settings;
mod tally;

pub use client::{client, Observers, SoakClient};
pub use server::{ChaosServer, FAULTS, ITEM};
pub use settings::Settings;
pub use tally::{Ending, Tally};
