//! Criterion micro-benchmarks for ivr-media (`make bench`). Owned by the media crate's work.

use criterion::{Criterion, criterion_group, criterion_main};

fn placeholder(c: &mut Criterion) {
    c.bench_function("media/placeholder", |b| b.iter(|| std::hint::black_box(1u32) + 1));
}

criterion_group!(benches, placeholder);
criterion_main!(benches);
