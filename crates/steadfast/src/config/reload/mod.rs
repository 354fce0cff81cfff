//! Live reload (feature `reload`): a stack built from a settings file that takes new settings
//! while it serves. See [`ReloadableStack`].
//!
//! A program that watches its settings file reloads on change; a reload that fails keeps the
//! settings in use and says why:
//!
//! ```no_run
//! use std::time::Duration;
//! use steadfast::config::{load, ReloadableStack};
//!
//! # async fn run() -> Result<(), steadfast::config::SettingsError> {
//! let path = "resilience.toml";
//! let stack = ReloadableStack::new(&load(path)?, "inventory", steadfast::classify::AnyError)?;
//! // ... serve through `ServiceBuilder::new().layer(stack.clone())` ...
//! let mut seen = std::fs::metadata(path).and_then(|m| m.modified()).ok();
//! loop {
//!     tokio::time::sleep(Duration::from_secs(2)).await;
//!     let now = std::fs::metadata(path).and_then(|m| m.modified()).ok();
//!     if now != seen {
//!         seen = now;
//!         match stack.reload_file(path) {
//!             Ok(version) => println!("settings version {version}"),
//!             Err(e) => eprintln!("kept the settings in use:\n{e}"),
//!         }
//!     }
//! }
//! # }
//! ```

mod future;
mod handle;
mod service;
mod version;

pub use future::ReloadFuture;
pub use handle::ReloadableStack;
pub use service::ReloadService;
