//! The reliability suite of steadfast: programs that drive the layers under faults, load and
//! hostile input, and report figures for `docs/reliability.md`.
//!
//! Each program is a binary of this package (`cargo run --release -p steadfast-reliability
//! --bin NAME`), and each has a script beside it that runs the full version; `.ci/run` runs a
//! short version of each.
//!
//! ```
//! // The resident set size of this process, as the memory figures report it.
//! let rss = steadfast_reliability::rss_bytes();
//! assert!(rss.is_none_or(|bytes| bytes > 0));
//! ```

pub mod checks;
pub mod soak;

/// The resident set size of this process in bytes, read from `/proc/self/status` (`VmRSS`), or
/// `None` where the platform has no such file.
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Formats a byte count as MiB with one decimal, for reports.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(rss_bytes().expect("VmRSS in /proc/self/status") > 1024 * 1024);
        }
    }

    #[test]
    fn mib_has_one_decimal() {
        assert_eq!(mib(3 * 1024 * 1024 + 512 * 1024), "3.5 MiB");
    }
}
