//! Checking a settings file: every error the reader finds (with its path, value and rule),
//! then the lint's warnings about settings that are each valid but do not work together.
//!
//! ```sh
//! cargo run -p steadfast-examples --example config_lint -- examples/config/inventory.toml
//! ```
//!
//! Exits with 1 when the file has errors, 2 when no file is given, and 0 otherwise (warnings
//! do not fail the check).

use std::process::ExitCode;

use steadfast::config::{lint, load};

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: config_lint FILE (.toml, .yaml, .yml or .json)");
        return ExitCode::from(2);
    };
    let config = match load(&path) {
        Ok(config) => config,
        Err(errors) => {
            for line in errors.to_string().lines() {
                eprintln!("error: {line}");
            }
            return ExitCode::FAILURE;
        }
    };
    let warnings = lint(&config);
    for warning in &warnings {
        println!("warning: {}: {}", warning.path, warning.why);
        println!("  help: {}", warning.fix);
    }
    println!("{path}: no errors, {} warning(s)", warnings.len());
    ExitCode::SUCCESS
}
