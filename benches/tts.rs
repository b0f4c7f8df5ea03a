//! Criterion micro-benchmarks for ivr-tts (`make bench`). Owned by the tts crate's work.

use criterion::{Criterion, criterion_group, criterion_main};

fn placeholder(c: &mut Criterion) {
    c.bench_function("tts/placeholder", |b| b.iter(|| std::hint::black_box(1u32) + 1));
}

criterion_group!(benches, placeholder);
criterion_main!(benches);
