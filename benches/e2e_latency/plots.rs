//! PNG plots with plotters (bitmap backend, ab_glyph text).

use std::collections::BTreeMap;
use std::path::Path;

use crate::phase::Phase;

pub type PlotResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// plotters draws text with ab_glyph from a TTF file (no fontconfig).
pub fn register_font() -> PlotResult {
    static DONE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if DONE.get().is_some() {
        return Ok(());
    }
    let path = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
    let bytes = std::fs::read(path)
        .map_err(|e| format!("{path}: {e} (Debian package fonts-dejavu-core)"))?;
    plotters::style::register_font(
        "sans-serif",
        plotters::style::FontStyle::Normal,
        Box::leak(bytes.into_boxed_slice()),
    )
    .map_err(|_| format!("{path}: not a usable font"))?;
    let _ = DONE.set(true);
    Ok(())
}

pub fn plot_histogram(path: &Path, phase: Option<&Phase>) -> PlotResult {
    use plotters::prelude::*;
    register_font()?;
    let Some(phase) = phase else {
        return Ok(());
    };
    let bin = 50.0;
    let kinds = [
        ("cached prompt", "cached", BLUE),
        ("live TTS", "live", RED),
        ("unknown", "unknown", BLACK),
    ];
    let mut counts: Vec<BTreeMap<i64, u32>> = vec![BTreeMap::new(); kinds.len()];
    let mut max_ms: f64 = 1000.0;
    for s in phase.samples.iter().filter(|s| !s.overlap) {
        let Some(ms) = s.wire_ms else { continue };
        max_ms = max_ms.max(ms + bin);
        if let Some(k) = kinds.iter().position(|k| k.1 == s.kind) {
            *counts[k].entry((ms / bin).floor() as i64).or_insert(0) += 1;
        }
    }
    // Stacked bars: cached below, live above.
    let mut top: BTreeMap<i64, u32> = BTreeMap::new();
    for c in &counts {
        for (b, n) in c {
            *top.entry(*b).or_insert(0) += n;
        }
    }
    let ymax = top.values().copied().max().unwrap_or(1) + 1;
    let root = BitMapBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "Wire latency per turn, {} calls ({} concurrent): end of caller speech -> first reply audio",
                phase.calls, phase.concurrency
            ),
            ("sans-serif", 17),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..max_ms, 0u32..ymax)?;
    chart
        .configure_mesh()
        .x_desc("latency (ms), 50 ms bins")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc("turns")
        .label_style(("sans-serif", 13))
        .draw()?;
    let mut base: BTreeMap<i64, u32> = BTreeMap::new();
    for (k, (label, _, color)) in kinds.iter().enumerate() {
        if counts[k].is_empty() {
            continue;
        }
        let bars: Vec<_> = counts[k]
            .iter()
            .map(|(b, n)| {
                let y0 = *base.get(b).unwrap_or(&0);
                let x0 = *b as f64 * bin;
                Rectangle::new(
                    [(x0 + 2.0, y0), (x0 + bin - 2.0, y0 + n)],
                    color.mix(0.7).filled(),
                )
            })
            .collect();
        for (b, n) in &counts[k] {
            *base.entry(*b).or_insert(0) += n;
        }
        let c = *color;
        chart
            .draw_series(bars)?
            .label(*label)
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.mix(0.7).filled())
            });
    }
    let goals = [
        (500.0, "p50 goal 500 ms", RGBColor(0, 140, 0)),
        (800.0, "p95 goal 800 ms", RGBColor(230, 140, 0)),
    ];
    for (ms, label, color) in goals {
        chart
            .draw_series(LineSeries::new(
                [(ms, 0), (ms, ymax)],
                color.stroke_width(2),
            ))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 12, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()?;
    Ok(())
}

pub fn plot_ramp(path: &Path, phases: &[Phase]) -> PlotResult {
    use plotters::prelude::*;
    register_font()?;
    let ramp: Vec<&Phase> = phases
        .iter()
        .filter(|p| p.name.starts_with("ramp"))
        .collect();
    let xmax = ramp.iter().map(|p| p.concurrency).max().unwrap_or(1) as f64 + 1.0;
    let ymax = ramp
        .iter()
        .filter_map(|p| p.all.p99.or(p.all.max))
        .fold(1200.0f64, f64::max)
        * 1.1;
    let root = BitMapBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Turn latency on the wire vs concurrent calls",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..xmax, 0f64..ymax)?;
    chart
        .configure_mesh()
        .x_desc("concurrent calls")
        .y_desc("latency (ms)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .label_style(("sans-serif", 13))
        .draw()?;
    type Pick = fn(&Phase) -> Option<f64>;
    let series: [(&str, Pick, RGBColor); 5] = [
        ("p50 (all turns)", |p| p.all.p50, BLUE),
        ("p95 (all turns)", |p| p.all.p95, RED),
        ("p99 (all turns)", |p| p.all.p99, MAGENTA),
        ("p95 cached prompt", |p| p.cached.p95, GREEN),
        ("p95 live TTS", |p| p.live.p95, RGBColor(230, 140, 0)),
    ];
    for (label, pick, color) in series {
        let pts: Vec<(f64, f64)> = ramp
            .iter()
            .filter_map(|p| Some((p.concurrency as f64, pick(p)?)))
            .collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], color.stroke_width(2)));
        chart.draw_series(pts.into_iter().map(|pt| Circle::new(pt, 3, color.filled())))?;
    }
    chart
        .draw_series(LineSeries::new(
            [(0.0, 1000.0), (xmax, 1000.0)],
            BLACK.stroke_width(1),
        ))?
        .label("1 s limit")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], BLACK));
    // Levels with an underrun or failed call, marked on the x axis.
    chart.draw_series(ramp.iter().filter(|p| !p.sustained()).map(|p| {
        Cross::new(
            (p.concurrency as f64, ymax * 0.02),
            6,
            BLACK.stroke_width(2),
        )
    }))?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}
