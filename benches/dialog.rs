//! Criterion micro-benchmarks for ivr-dialog (`make bench`). Owned by the dialog crate's work.

use criterion::{Criterion, criterion_group, criterion_main};

fn placeholder(c: &mut Criterion) {
    c.bench_function("dialog/placeholder", |b| b.iter(|| std::hint::black_box(1u32) + 1));
}

criterion_group!(benches, placeholder);
criterion_main!(benches);
