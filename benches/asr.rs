//! Criterion micro-benchmarks for ivr-asr (`make bench`). Owned by the asr crate's work.

use criterion::{Criterion, criterion_group, criterion_main};

fn placeholder(c: &mut Criterion) {
    c.bench_function("asr/placeholder", |b| b.iter(|| std::hint::black_box(1u32) + 1));
}

criterion_group!(benches, placeholder);
criterion_main!(benches);
