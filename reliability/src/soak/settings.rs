//! The soak's settings, read from its command line.

use std::time::Duration;

/// The most requests in flight at once the soak accepts.
const MAX_CONCURRENCY: usize = 1 << 16;

/// What the soak runs: how many requests, how hard, and the limits its checks hold the
/// stack to. Every field has a flag of the same name (`--requests`, `--concurrency`, ...);
/// durations are given in milliseconds (`--deadline-ms 1000`).
///
/// ```
/// use steadfast_reliability::soak::Settings;
///
/// let s = Settings::from_args(["--requests", "5000", "--concurrency", "32"]).unwrap();
/// assert_eq!((s.requests, s.concurrency), (5000, 32));
/// assert_eq!(s.warmup(), 250);
/// assert!(Settings::from_args(["--concurrency", "0"]).unwrap_err().contains("concurrency"));
/// assert!(Settings::from_args(["--fast"]).is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Requests to send in all.
    pub requests: u64,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Each request's deadline, from the moment it is sent.
    pub deadline: Duration,
    /// How long after its deadline a request may end and still count as in time (scheduling
    /// on a busy machine).
    pub slack: Duration,
    /// How long one attempt may take before the client gives up on it.
    pub attempt_timeout: Duration,
    /// How long a stalled answer takes; longer than `attempt_timeout`.
    pub stall: Duration,
    /// The longest delay of a slow answer (they are drawn uniformly from 1 ms up to this).
    pub slow_max: Duration,
    /// How often the server goes down for `outage` (every answer a `503`); zero for never.
    pub outage_every: Duration,
    /// How long each outage lasts.
    pub outage: Duration,
    /// The most the resident set may grow between the end of the warm-up and the end of the
    /// run, in bytes.
    pub max_rss_growth: u64,
    /// Seed of every injection's draws and of the retry jitter.
    pub seed: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            requests: 1_000_000,
            concurrency: 64,
            deadline: Duration::from_millis(250),
            slack: Duration::from_millis(100),
            attempt_timeout: Duration::from_millis(100),
            stall: Duration::from_millis(400),
            slow_max: Duration::from_millis(20),
            outage_every: Duration::from_millis(2000),
            outage: Duration::from_millis(50),
            max_rss_growth: 8 * 1024 * 1024,
            seed: 1,
        }
    }
}

impl Settings {
    /// Reads the flags in `args` (without the program's name) over the defaults. Returns the
    /// problem, naming the flag, for an unknown flag, a missing or unreadable value, or a
    /// value that breaks a rule.
    pub fn from_args<I, S>(args: I) -> Result<Settings, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut s = Settings::default();
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let flag = flag.as_ref().to_owned();
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let value = value.as_ref();
            let number = || {
                value
                    .replace('_', "")
                    .parse::<u64>()
                    .map_err(|e| format!("{flag} {value}: {e}"))
            };
            let ms = || number().map(Duration::from_millis);
            match flag.as_str() {
                "--requests" => s.requests = number()?,
                "--concurrency" => s.concurrency = number()? as usize,
                "--deadline-ms" => s.deadline = ms()?,
                "--slack-ms" => s.slack = ms()?,
                "--attempt-timeout-ms" => s.attempt_timeout = ms()?,
                "--stall-ms" => s.stall = ms()?,
                "--slow-max-ms" => s.slow_max = ms()?,
                "--outage-every-ms" => s.outage_every = ms()?,
                "--outage-ms" => s.outage = ms()?,
                "--max-rss-growth-mib" => s.max_rss_growth = number()?.saturating_mul(1 << 20),
                "--seed" => s.seed = number()?,
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        s.check()?;
        Ok(s)
    }

    fn check(&self) -> Result<(), String> {
        let hour = Duration::from_secs(3600);
        let durations = [
            self.deadline,
            self.slack,
            self.attempt_timeout,
            self.stall,
            self.slow_max,
            self.outage_every,
            self.outage,
        ];
        let rules = [
            (self.requests == 0, "--requests must be at least 1"),
            (self.concurrency == 0, "--concurrency must be at least 1"),
            (
                self.concurrency > MAX_CONCURRENCY,
                "--concurrency must be at most 65536",
            ),
            (
                durations.iter().any(|d| *d > hour),
                "every --...-ms flag must be at most 3600000 (an hour)",
            ),
            (self.deadline.is_zero(), "--deadline-ms must be at least 1"),
            (
                self.attempt_timeout.is_zero(),
                "--attempt-timeout-ms must be at least 1",
            ),
            (
                self.stall <= self.attempt_timeout,
                "--stall-ms must be longer than --attempt-timeout-ms",
            ),
            (self.slow_max.is_zero(), "--slow-max-ms must be at least 1"),
            (
                !self.outage_every.is_zero() && self.outage >= self.outage_every,
                "--outage-ms must be shorter than --outage-every-ms",
            ),
        ];
        match rules.iter().find(|(broken, _)| *broken) {
            Some((_, rule)) => Err((*rule).to_owned()),
            None => Ok(()),
        }
    }

    /// Requests sent before the first memory reading: the first 5%, at least one.
    pub fn warmup(&self) -> u64 {
        (self.requests / 20).max(1).min(self.requests)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_set_their_fields() {
        let s = Settings::from_args([
            "--requests",
            "1_000",
            "--deadline-ms",
            "250",
            "--max-rss-growth-mib",
            "3",
            "--outage-every-ms",
            "0",
        ])
        .unwrap();
        assert_eq!(s.requests, 1000);
        assert_eq!(s.deadline, Duration::from_millis(250));
        assert_eq!(s.max_rss_growth, 3 << 20);
        assert!(s.outage_every.is_zero());
        assert_eq!(
            Settings::from_args::<[&str; 0], &str>([]),
            Ok(Settings::default())
        );
    }

    #[test]
    fn broken_rules_name_the_flag() {
        let err = |args: &[&str]| Settings::from_args(args).unwrap_err();
        assert!(err(&["--requests", "0"]).contains("--requests"));
        assert!(err(&["--stall-ms", "50"]).contains("--stall-ms"));
        assert!(err(&["--requests"]).contains("needs a value"));
        assert!(err(&["--requests", "many"]).contains("--requests many"));
        assert!(err(&["--outage-ms", "5000"]).contains("--outage-ms"));
        assert!(err(&["--concurrency", "100000"]).contains("--concurrency"));
        assert!(err(&["--deadline-ms", "18446744073709551615"]).contains("an hour"));
    }
}
