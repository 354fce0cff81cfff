//! [`RatioBudget`]: retries as a fraction of recent requests, plus a paced floor.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use super::retry_budget::RetryBudget;
use crate::config::ConfigError;
use crate::sync::{AtomicU64, Mutex, Ordering};

/// Fixed-point scale: one retry costs `SCALE` units, so ratios are exact to 1/SCALE.
const SCALE: i64 = 10_000;
/// Sliding windows are made of this many buckets.
const BUCKETS: usize = 10;
/// Bits of a packed bucket that hold the amount; the rest hold the bucket's epoch.
const AMOUNT_BITS: u32 = 44;
const AMOUNT_MASK: u64 = (1 << AMOUNT_BITS) - 1;

/// A bucket packed into one atomic: `epoch << 44 | amount`. An epoch mismatch means the bucket
/// holds an old slot's amount, which counts as zero.
#[derive(Debug, Default)]
struct Bucket(AtomicU64);

impl Bucket {
    fn add(&self, epoch: u64, amount: u64) {
        let epoch_tag = epoch % (1 << (64 - AMOUNT_BITS));
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let (e, a) = (cur >> AMOUNT_BITS, cur & AMOUNT_MASK);
            let next_amount = if e == epoch_tag {
                (a + amount).min(AMOUNT_MASK)
            } else {
                amount.min(AMOUNT_MASK)
            };
            let next = (epoch_tag << AMOUNT_BITS) | next_amount;
            match self
                .0
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    fn get(&self, epoch: u64) -> u64 {
        let epoch_tag = epoch % (1 << (64 - AMOUNT_BITS));
        let cur = self.0.load(Ordering::Acquire);
        if cur >> AMOUNT_BITS == epoch_tag {
            cur & AMOUNT_MASK
        } else {
            0
        }
    }
}

/// A sliding window of packed buckets indexed by epoch.
#[derive(Debug, Default)]
struct Window {
    buckets: [Bucket; BUCKETS],
}

impl Window {
    fn add(&self, epoch: u64, amount: u64) {
        self.buckets[(epoch % BUCKETS as u64) as usize].add(epoch, amount);
    }

    /// The sum over the `BUCKETS` epochs ending at `epoch`.
    fn sum(&self, epoch: u64) -> u64 {
        (0..BUCKETS as u64)
            .filter(|back| *back <= epoch)
            .map(|back| {
                let e = epoch - back;
                self.buckets[(e % BUCKETS as u64) as usize].get(e)
            })
            .sum()
    }
}

/// Retries limited to a fraction of recent requests, plus a floor per second.
///
/// A retry is allowed when either of two allowances has one to give:
///
/// * the ratio: over the last `window` (default 10 s, sliding in ten steps), retries paid for
///   by it stay within `ratio` × requests;
/// * the floor, when the ratio has none left: `min_per_second` retries per second, paced. It
///   holds at most one second's worth (`min_per_second` retries, spent at once if need be)
///   and refills one retry every `1 / min_per_second` s, so a quiet client can retry at that
///   rate without ever spending a whole window's worth of the floor in one burst.
///
/// Over any window, retries are thus at most `ratio` × requests + `min_per_second` × (window
/// seconds + 1).
///
/// # Invariants
///
/// Deposits are one compare-and-swap on a packed `(epoch, amount)` word, so no deposit is lost
/// when a bucket rolls over. Withdrawals take a short `std` mutex (on the retry path only) so
/// that checking the allowances and spending from one are one step: concurrent retries can
/// never overdraw the budget. The floor is a rate limiter in the GCRA style: the next instant
/// it can give a retry without exceeding its rate, which a grant pushes on by one interval.
pub struct RatioBudget {
    origin: Instant,
    bucket_nanos: u64,
    per_request: u64,
    /// The floor's pace, one retry per `floor_interval` ns; 0 for no floor.
    floor_interval: u64,
    /// How far ahead of now the floor's next instant may be and still give a retry: one
    /// second's worth, less one interval.
    floor_burst: u64,
    /// The floor's next instant, in ns since `origin` (changed under `withdraw_lock`).
    floor_next: AtomicU64,
    deposits: Window,
    withdrawals: Window,
    withdraw_lock: Mutex<()>,
}

impl fmt::Debug for RatioBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RatioBudget")
            .field("ratio", &(self.per_request as f64 / SCALE as f64))
            .field(
                "window",
                &Duration::from_nanos(self.bucket_nanos * BUCKETS as u64),
            )
            .field("balance", &self.balance())
            .finish()
    }
}

/// One second, in the budget's nanoseconds.
const SECOND_NANOS: u64 = 1_000_000_000;

impl RatioBudget {
    /// Starts a builder: ratio 0.2, floor 10 retries per second, window 10 s.
    pub fn builder() -> RatioBudgetBuilder {
        RatioBudgetBuilder {
            ratio: 0.2,
            min_per_second: 10,
            window: Duration::from_secs(10),
        }
    }

    /// Nanoseconds since the budget was built.
    fn now_nanos(&self) -> u64 {
        // u64 nanoseconds last 584 years, and a 64-bit division is much cheaper than a
        // 128-bit one.
        Instant::now()
            .saturating_duration_since(self.origin)
            .as_nanos() as u64
    }

    fn epoch(&self) -> u64 {
        self.now_nanos() / self.bucket_nanos
    }

    /// Retries the budget would allow right now (rounded down): what the ratio allows (below
    /// zero while retries made earlier in the window outnumber it) plus what the floor holds.
    pub fn balance(&self) -> i64 {
        let now = self.now_nanos();
        self.ratio_balance_at(now / self.bucket_nanos) / SCALE + self.floor_at(now)
    }

    /// What the ratio allows over the window ending at `epoch`, in units of `SCALE`.
    fn ratio_balance_at(&self, epoch: u64) -> i64 {
        let deposits = self.deposits.sum(epoch) as i64;
        let withdrawals = self.withdrawals.sum(epoch) as i64;
        deposits - withdrawals
    }

    /// Retries the floor holds at `now`.
    fn floor_at(&self, now: u64) -> i64 {
        if self.floor_interval == 0 {
            return 0;
        }
        let next = self.floor_next.load(Ordering::Relaxed).max(now);
        match (now + self.floor_burst).checked_sub(next) {
            Some(ahead) => (ahead / self.floor_interval + 1) as i64,
            None => 0,
        }
    }
}

impl RetryBudget for RatioBudget {
    /// What the ratio allows over the window (with its fraction) plus what the floor holds.
    fn balance(&self) -> Option<f64> {
        let now = self.now_nanos();
        let ratio = self.ratio_balance_at(now / self.bucket_nanos) as f64 / SCALE as f64;
        Some(ratio + self.floor_at(now) as f64)
    }

    fn describe(&self) -> crate::describe::Value {
        let min_per_second = match self.floor_interval {
            0 => 0,
            every => (SECOND_NANOS as f64 / every as f64).round() as u64,
        };
        crate::describe::Value::variant("ratio")
            .with(
                "ratio",
                crate::describe::Value::Percent(self.per_request as f64 * 100.0 / SCALE as f64),
            )
            .with("min_per_second", min_per_second)
            .with(
                "window",
                Duration::from_nanos(self.bucket_nanos * BUCKETS as u64),
            )
    }

    fn deposit(&self) {
        if self.per_request > 0 {
            self.deposits.add(self.epoch(), self.per_request);
        }
    }

    fn withdraw(&self) -> bool {
        let _guard = self
            .withdraw_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = self.now_nanos();
        let epoch = now / self.bucket_nanos;
        if self.ratio_balance_at(epoch) >= SCALE {
            self.withdrawals.add(epoch, SCALE as u64);
            return true;
        }
        if self.floor_interval == 0 {
            return false;
        }
        // The floor gives a retry if its next instant is within one second's burst of now.
        let next = self.floor_next.load(Ordering::Relaxed).max(now);
        if next > now.saturating_add(self.floor_burst) {
            return false;
        }
        self.floor_next
            .store(next.saturating_add(self.floor_interval), Ordering::Relaxed);
        true
    }
}

/// Builds a [`RatioBudget`].
#[derive(Debug, Clone)]
pub struct RatioBudgetBuilder {
    ratio: f64,
    min_per_second: u32,
    window: Duration,
}

impl RatioBudgetBuilder {
    /// Retries allowed per request, between 0 and 1000 (0.1 = 10%). Exact to 1/10,000.
    pub fn ratio(mut self, ratio: f64) -> Self {
        self.ratio = ratio;
        self
    }

    /// Retries allowed per second whatever the traffic, so a quiet client can still retry
    /// (default 10; 0 for none). Paced: at most `n` at once, then one every `1 / n` s.
    pub fn min_per_second(mut self, n: u32) -> Self {
        self.min_per_second = n;
        self
    }

    /// How far back requests and retries count (at least 10 ms, at most one day).
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Checks the settings and builds the budget.
    pub fn build(self) -> Result<RatioBudget, ConfigError> {
        if !(self.ratio.is_finite() && (0.0..=1000.0).contains(&self.ratio)) {
            return Err(ConfigError::new(
                "retry budget",
                "ratio",
                format!("must be between 0 and 1000 (got {})", self.ratio),
            ));
        }
        if self.window < Duration::from_millis(10) || self.window > Duration::from_secs(86_400) {
            return Err(ConfigError::new(
                "retry budget",
                "window",
                format!("must be between 10ms and 1 day (got {:?})", self.window),
            ));
        }
        let bucket_nanos = (self.window.as_nanos() / BUCKETS as u128) as u64;
        let floor_interval = match self.min_per_second {
            0 => 0,
            n => (SECOND_NANOS / u64::from(n)).max(1),
        };
        Ok(RatioBudget {
            origin: Instant::now(),
            bucket_nanos,
            per_request: (self.ratio * SCALE as f64).round() as u64,
            floor_interval,
            floor_burst: SECOND_NANOS.saturating_sub(floor_interval),
            floor_next: AtomicU64::new(0),
            deposits: Window::default(),
            withdrawals: Window::default(),
            withdraw_lock: Mutex::new(()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn fractional_ratios_are_exact() {
        // tower's TpsBudget turns 0.3 into "one retry per 3 requests" (33%); this must be 30%.
        let b = RatioBudget::builder()
            .ratio(0.3)
            .min_per_second(0)
            .build()
            .unwrap();
        for _ in 0..100 {
            b.deposit();
        }
        let granted = (0..100).filter(|_| b.withdraw()).count();
        assert_eq!(granted, 30);

        let b = RatioBudget::builder()
            .ratio(0.125)
            .min_per_second(0)
            .build()
            .unwrap();
        for _ in 0..1_000 {
            b.deposit();
        }
        assert_eq!((0..1_000).filter(|_| b.withdraw()).count(), 125);
    }

    #[tokio::test(start_paused = true)]
    async fn floor_allows_retries_without_traffic() {
        let b = RatioBudget::builder()
            .ratio(0.0)
            .min_per_second(2)
            .window(Duration::from_secs(5))
            .build()
            .unwrap();
        assert_eq!(b.balance(), 2);
        assert_eq!((0..50).filter(|_| b.withdraw()).count(), 2);
        assert_eq!(b.balance(), 0);
        // Then one every half second.
        tokio::time::advance(Duration::from_millis(499)).await;
        assert!(!b.withdraw());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(b.withdraw());
        assert!(!b.withdraw());
        // Idle time refills it, to one second's worth at most.
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(b.balance(), 2);
        assert_eq!((0..50).filter(|_| b.withdraw()).count(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_floor_is_paced_not_spent_as_one_burst_of_a_window() {
        // 10 per second over a 10 s window: a burst gets one second's worth, not a hundred.
        let b = RatioBudget::builder()
            .ratio(0.0)
            .min_per_second(10)
            .window(Duration::from_secs(10))
            .build()
            .unwrap();
        assert_eq!((0..1_000).filter(|_| b.withdraw()).count(), 10);
        // Over the next ten seconds, asking all the time: ten a second.
        let mut granted = 0;
        for _ in 0..1_000 {
            tokio::time::advance(Duration::from_millis(10)).await;
            granted += usize::from(b.withdraw());
        }
        assert_eq!(granted, 100);
    }

    #[tokio::test(start_paused = true)]
    async fn the_ratio_is_spent_before_the_floor() {
        let b = RatioBudget::builder()
            .ratio(0.5)
            .min_per_second(1)
            .build()
            .unwrap();
        for _ in 0..4 {
            b.deposit();
        }
        assert_eq!(b.balance(), 3);
        assert_eq!((0..10).filter(|_| b.withdraw()).count(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn deposits_and_withdrawals_expire_with_the_window() {
        let b = RatioBudget::builder()
            .ratio(0.5)
            .min_per_second(0)
            .window(Duration::from_secs(10))
            .build()
            .unwrap();
        for _ in 0..10 {
            b.deposit();
        }
        assert_eq!(b.balance(), 5);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(b.withdraw());
        assert_eq!(b.balance(), 4);
        // The deposits leave the window first, then the withdrawal.
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(b.balance(), -1);
        assert!(!b.withdraw());
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(b.balance(), 0);
        for _ in 0..2 {
            b.deposit();
        }
        assert!(b.withdraw());
        assert!(!b.withdraw());
    }

    #[tokio::test(start_paused = true)]
    async fn long_idle_gaps_do_not_resurrect_old_buckets() {
        let b = RatioBudget::builder()
            .ratio(1.0)
            .min_per_second(0)
            .window(Duration::from_secs(1))
            .build()
            .unwrap();
        b.deposit();
        // Exactly one full ring later, the same bucket index comes round with a new epoch.
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(b.balance(), 0);
        tokio::time::advance(Duration::from_secs(1_000)).await;
        assert_eq!(b.balance(), 0);
    }

    #[test]
    fn concurrent_withdrawals_never_overdraw() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let _guard = rt.enter();
        let b = Arc::new(
            RatioBudget::builder()
                .ratio(0.1)
                .min_per_second(0)
                .window(Duration::from_secs(3600))
                .build()
                .unwrap(),
        );
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || {
                    let mut granted = 0;
                    for _ in 0..10_000 {
                        b.deposit();
                        if b.withdraw() {
                            granted += 1;
                        }
                    }
                    granted
                })
            })
            .collect();
        let granted: i32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        // 40,000 requests at 10% buy exactly 4,000 retries, whatever the interleaving.
        assert_eq!(granted, 4_000);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Advance(u64),
        Deposit(u8),
        Withdraw(u8),
    }

    fn any_op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            (0u64..3_000).prop_map(Op::Advance),
            (1u8..20).prop_map(Op::Deposit),
            (1u8..10).prop_map(Op::Withdraw),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// The budget grants exactly what a direct recount of the window allows: deposits
        /// and grants of the last ten buckets, plus the floor.
        #[test]
        fn ratio_budget_matches_a_recount_of_its_window(
            ratio_permille in 0u32..=1000,
            floor in 0u32..3,
            ops in proptest::collection::vec(any_op(), 1..60),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap();
            rt.block_on(async {
                let ratio = f64::from(ratio_permille) / 1000.0;
                let window = Duration::from_secs(1);
                let b = RatioBudget::builder()
                    .ratio(ratio)
                    .min_per_second(floor)
                    .window(window)
                    .build()
                    .unwrap();
                let origin = Instant::now();
                let bucket = window / BUCKETS as u32;
                // (epoch, deposits, grants paid by the ratio) as seen by the model.
                let mut log: Vec<(u64, i64, i64)> = Vec::new();
                // The instants (ns since origin) of the retries the floor granted; its state
                // is replayed from them.
                let mut floor_grants: Vec<u64> = Vec::new();
                let epoch_now = || (origin.elapsed().as_nanos() / bucket.as_nanos()) as u64;
                for op in ops {
                    match op {
                        Op::Advance(ms) => tokio::time::advance(Duration::from_millis(ms)).await,
                        Op::Deposit(n) => {
                            for _ in 0..n {
                                b.deposit();
                            }
                            log.push((epoch_now(), i64::from(n), 0));
                        }
                        Op::Withdraw(n) => {
                            for _ in 0..n {
                                let e = epoch_now();
                                let lo = e.saturating_sub(BUCKETS as u64 - 1);
                                let (dep, grants) = log
                                    .iter()
                                    .filter(|(le, _, _)| *le >= lo && *le <= e)
                                    .fold((0, 0), |(d, g), (_, ld, lg)| (d + ld, g + lg));
                                let per_request = i64::from(ratio_permille) * SCALE / 1000;
                                let by_ratio = dep * per_request - grants * SCALE >= SCALE;
                                let now = origin.elapsed().as_nanos() as u64;
                                let by_floor = !by_ratio && floor > 0 && {
                                    let interval = 1_000_000_000 / u64::from(floor);
                                    // GCRA, replayed from every grant so far.
                                    let next = floor_grants
                                        .iter()
                                        .fold(0u64, |next, &at| next.max(at) + interval);
                                    next.max(now) <= now + 1_000_000_000 - interval
                                };
                                let got = b.withdraw();
                                proptest::prop_assert_eq!(got, by_ratio || by_floor);
                                if by_ratio {
                                    log.push((e, 0, 1));
                                } else if by_floor {
                                    floor_grants.push(now);
                                }
                            }
                        }
                    }
                }
                Ok(())
            })?;
        }
    }

    #[test]
    fn the_builder_rejects_bad_values() {
        assert_eq!(
            RatioBudget::builder()
                .ratio(-0.1)
                .build()
                .unwrap_err()
                .field(),
            "ratio"
        );
        assert_eq!(
            RatioBudget::builder()
                .ratio(f64::NAN)
                .build()
                .unwrap_err()
                .field(),
            "ratio"
        );
        assert_eq!(
            RatioBudget::builder()
                .window(Duration::ZERO)
                .build()
                .unwrap_err()
                .field(),
            "window"
        );
    }
}
