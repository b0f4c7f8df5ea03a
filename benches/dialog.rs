//! Criterion micro-benchmarks for ivr-dialog (`make bench`): the dialog budget is < 5 ms
//! per turn (DESIGN.md §5); these show where the time goes.

use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use ivr_dialog::{Date, Dialog, Event, Flow};

fn benches(c: &mut Criterion) {
    let flow = Arc::new(Flow::demo());
    let th = flow.settings.thresholds;
    c.bench_function("dialog/normalize", |b| {
        b.iter(|| {
            ivr_dialog::for_matching(std::hint::black_box(
                "Uh, it's one two three, double five, oh seven and twenty-one!",
            ))
        })
    });
    c.bench_function("dialog/intent_decide", |b| {
        b.iter(|| {
            flow.matcher.decide(
                std::hint::black_box("um where's my package it hasn't arrived"),
                None,
                th,
            )
        })
    });
    c.bench_function("dialog/flow_compile", |b| {
        b.iter(|| Flow::from_toml(ivr_dialog::DEMO_FLOW, "parcel.toml").map(|f| f.nodes.len()))
    });
    c.bench_function("dialog/turn_track_to_confirm", |b| {
        let t = Instant::now();
        let today = Date::new(2026, 5, 6).unwrap_or(Date {
            year: 2026,
            month: 5,
            day: 6,
        });
        b.iter(|| {
            let mut d = Dialog::new(Arc::clone(&flow), today, t);
            d.start(t);
            d.handle(
                Event::Speech {
                    text: "I want to track my parcel one two three four five six seven eight"
                        .into(),
                    confidence: 0.9,
                    embedding: None,
                },
                t,
            )
        })
    });
}

criterion_group!(dialog, benches);
criterion_main!(dialog);
