//! Model checks of the retry budgets under every interleaving `loom` can find: withdrawals
//! racing for the last tokens, refunds and deposits racing withdrawals, and the floor of the
//! ratio budget spent from several threads. Run with:
//!
//! ```sh
//! RUSTFLAGS="--cfg steadfast_loom" cargo test -p steadfast --test loom_budget --release
//! ```
#![cfg(steadfast_loom)]

use std::sync::Arc;
use std::time::Duration;

use loom::thread;
use steadfast::retry::{RatioBudget, RetryBudget, TokenBucket};

fn bucket(capacity: u32, retry_cost: u32, success_refund: u32) -> Arc<TokenBucket> {
    Arc::new(
        TokenBucket::builder()
            .capacity(capacity)
            .retry_cost(retry_cost)
            .success_refund(success_refund)
            .build()
            .unwrap(),
    )
}

/// A ratio budget of one retry per request and no floor, over a window far longer than a
/// model runs, so that only the interleaving decides what it grants.
fn ratio_only() -> Arc<RatioBudget> {
    Arc::new(
        RatioBudget::builder()
            .ratio(1.0)
            .min_per_second(0)
            .window(Duration::from_secs(3600))
            .build()
            .unwrap(),
    )
}

/// Runs `op` on `threads` threads at once and counts how many returned `true`.
fn granted<B: Send + Sync + 'static>(budget: &Arc<B>, threads: usize, op: fn(&B) -> bool) -> usize {
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let budget = budget.clone();
            thread::spawn(move || op(&budget))
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|ok| *ok)
        .count()
}

/// Three threads withdraw at once from a bucket holding exactly two retries: exactly two get
/// one, and the bucket ends empty.
#[test]
fn token_bucket_three_withdrawals_two_retries() {
    loom::model(|| {
        let b = bucket(10, 5, 0);
        assert_eq!(granted(&b, 3, TokenBucket::withdraw), 2);
        assert_eq!(b.level(), 0);
    });
}

/// Refunds race a withdrawal on an empty bucket while another thread reads the level: the
/// level stays within `[0, capacity]`, and no refund is lost (the end level is the refunds
/// less what was spent).
#[test]
fn token_bucket_refunds_race_a_withdrawal() {
    loom::model(|| {
        let b = bucket(2, 1, 1);
        assert!(b.withdraw() && b.withdraw());
        let refunds: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || b.on_success(1))
            })
            .collect();
        let spender = {
            let b = b.clone();
            thread::spawn(move || b.withdraw())
        };
        let seen = b.level();
        assert!((0..=2).contains(&seen), "level {seen} out of bounds");
        for r in refunds {
            r.join().unwrap();
        }
        let spent = i64::from(spender.join().unwrap());
        assert_eq!(b.level(), 2 - spent, "a refund was lost");
    });
}

/// Refunds into a full bucket race a withdrawal: the level never goes above the capacity.
#[test]
fn token_bucket_refunds_never_overfill() {
    loom::model(|| {
        let b = bucket(1, 1, 1);
        let refunds: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || b.on_success(1))
            })
            .collect();
        let spent = b.withdraw();
        assert!(spent, "the bucket starts full");
        let seen = b.level();
        assert!((0..=1).contains(&seen), "level {seen} out of bounds");
        for r in refunds {
            r.join().unwrap();
        }
        assert!((0..=1).contains(&b.level()));
    });
}

/// Three threads withdraw at once from a ratio budget that two requests paid for: exactly
/// two retries are granted, and the budget ends at zero.
#[test]
fn ratio_three_withdrawals_two_deposits() {
    loom::model(|| {
        let b = ratio_only();
        b.deposit();
        b.deposit();
        assert_eq!(granted(&b, 3, RatioBudget::withdraw), 2);
        assert_eq!(b.balance(), 0);
    });
}

/// Deposits from two threads race a withdrawal from a third: no deposit is lost (the end
/// balance is the deposits less the grants), and the accounting never goes below zero.
#[test]
fn ratio_deposits_race_a_withdrawal() {
    loom::model(|| {
        let b = ratio_only();
        let depositors: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || b.deposit())
            })
            .collect();
        let spender = {
            let b = b.clone();
            thread::spawn(move || b.withdraw())
        };
        for d in depositors {
            d.join().unwrap();
        }
        let spent = i64::from(spender.join().unwrap());
        assert_eq!(b.balance(), 2 - spent, "a deposit was lost");
    });
}

/// Two requests on two threads each deposit and then ask for a retry, as the retry layer
/// does, at one retry per request: both always get it, whatever the interleaving.
#[test]
fn ratio_requests_paying_for_their_own_retries() {
    loom::model(|| {
        let b = ratio_only();
        assert_eq!(
            granted(&b, 2, |b| {
                b.deposit();
                b.withdraw()
            }),
            2
        );
        assert_eq!(b.balance(), 0);
    });
}

/// With no traffic, three threads spend a floor of two retries per second at once: exactly
/// two are granted.
#[test]
fn ratio_floor_three_withdrawals_two_retries() {
    loom::model(|| {
        let b = Arc::new(
            RatioBudget::builder()
                .ratio(0.0)
                .min_per_second(2)
                .window(Duration::from_secs(3600))
                .build()
                .unwrap(),
        );
        assert_eq!(granted(&b, 3, RatioBudget::withdraw), 2);
        assert_eq!(b.balance(), 0);
    });
}
