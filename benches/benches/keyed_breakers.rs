//! Per-key circuit breakers: admitting a new key when the set is full (1,024 and 100,000
//! keys), and looking up a key the set already holds.
//!
//! Each set is filled once, outside the timed loop; a new-key iteration asks for a key never
//! seen before, so every iteration makes one breaker and makes room for it.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use steadfast::circuit_breaker::{CircuitBreaker, KeyedBreakers};

/// A full set of `max_keys` breakers, keyed `0..max_keys`.
fn full_set(max_keys: usize) -> KeyedBreakers<u64> {
    let set = KeyedBreakers::builder(|| CircuitBreaker::builder().consecutive_failures(5))
        .max_keys(max_keys)
        .build()
        .unwrap();
    for k in 0..max_keys as u64 {
        set.get(&k).unwrap();
    }
    set
}

fn keyed(c: &mut Criterion) {
    let mut group = c.benchmark_group("keyed");
    for max_keys in [1_024_usize, 100_000] {
        let set = full_set(max_keys);
        let mut next = max_keys as u64;
        // Few samples for the large set, where a scan of the whole set per new key would take
        // milliseconds.
        group.sample_size(if max_keys > 10_000 { 10 } else { 100 });
        group.bench_function(BenchmarkId::new("new_key_full", max_keys), |b| {
            b.iter(|| {
                next += 1;
                set.get(black_box(&next)).unwrap()
            })
        });
    }
    group.sample_size(100);
    let set = full_set(1_024);
    group.bench_function("lookup_existing", |b| {
        b.iter(|| set.get(black_box(&512)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, keyed);
criterion_main!(benches);
