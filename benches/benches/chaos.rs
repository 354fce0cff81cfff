//! The chaos layer's cost per call against a bare service: with its switch off (how it sits
//! in a stack between rehearsals), and on with an injection whose rate is 0 (the switch, the
//! predicate-free trigger and one random draw, but nothing injected).
//!
//! Calls are driven with a no-op waker, as in the other benches; the bare service answers at
//! once.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use steadfast::chaos::{ChaosLayer, ChaosSwitch, FaultInjection};
use tower::Layer;

mod common;

use common::{call_now, Bare};

fn chaos(c: &mut Criterion) {
    let mut group = c.benchmark_group("chaos");
    let mut bare = Bare;
    group.bench_function("bare", |b| b.iter(|| call_now(&mut bare, black_box(7))));
    let mut off = common::chaos_off();
    group.bench_function("steadfast_switch_off", |b| {
        b.iter(|| call_now(&mut off, black_box(7)))
    });
    let mut on = ChaosLayer::builder()
        .switch(ChaosSwitch::new(true))
        .seed(1)
        .fault(FaultInjection::chaos().rate(0.0))
        .build()
        .expect("valid layer")
        .layer(Bare);
    group.bench_function("steadfast_on_rate_zero", |b| {
        b.iter(|| call_now(&mut on, black_box(7)))
    });
    group.finish();
}

criterion_group!(benches, chaos);
criterion_main!(benches);
