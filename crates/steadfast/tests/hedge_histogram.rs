//! The hedge layer's latency histogram against an exact, sorted-vector percentile.
#![cfg(feature = "hedge")]

use std::time::Duration;

use proptest::prelude::*;
use steadfast::hedge::LatencyHistogram;

/// The nearest-rank percentile of `values`.
fn exact(values: &mut [u64], q: f64) -> u64 {
    values.sort_unstable();
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

proptest! {
    #[test]
    fn percentiles_are_within_one_bucket_of_exact(
        mut values in prop::collection::vec(0u64..50_000_000, 1..400),
        q in prop::sample::select(vec![0.5, 0.9, 0.95, 0.99, 0.999]),
    ) {
        let h = LatencyHistogram::new(Duration::from_secs(3600), 4);
        for v in &values {
            h.record(Duration::from_micros(*v));
        }
        let want = exact(&mut values, q);
        let got = h.percentile(q).unwrap().as_micros() as u64;
        prop_assert!(got >= want, "{got} below the exact {want}");
        prop_assert!(got - want <= want / 16, "{got} more than 1/16 above the exact {want}");
    }
}
