//! Server-side SVG charts, so the pages need no JavaScript.

use maud::{Markup, html};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 180.0;
const AXIS: f64 = 20.0;

/// A bar chart with one labelled bar per value; each bar has a `<title>` tooltip.
pub fn bar_chart(title: &str, labels: &[String], values: &[usize]) -> Markup {
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let n = values.len().max(1) as f64;
    let slot = WIDTH / n;
    let plot_h = HEIGHT - AXIS;
    html! {
        svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label=(title)
            viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) width=(WIDTH) height=(HEIGHT) {
            title { (title) }
            line x1="0" y1=(plot_h) x2=(WIDTH) y2=(plot_h) stroke="#999" {}
            @for (i, (v, label)) in values.iter().zip(labels).enumerate() {
                @let h = (*v as f64 / max) * (plot_h - 14.0);
                @let x = i as f64 * slot + slot * 0.15;
                rect class="bar" x=(format!("{x:.1}")) y=(format!("{:.1}", plot_h - h))
                    width=(format!("{:.1}", slot * 0.7)) height=(format!("{h:.1}")) fill="#3b6ea8" {
                    title { (label) ": " (v) }
                }
                @if *v > 0 {
                    text x=(format!("{:.1}", x + slot * 0.35)) y=(format!("{:.1}", plot_h - h - 2.0))
                        font-size="9" text-anchor="middle" { (v) }
                }
                text x=(format!("{:.1}", x + slot * 0.35)) y=(HEIGHT - 6.0) font-size="9" text-anchor="middle" { (label) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bar_per_value_scaled_to_the_largest() {
        let labels: Vec<String> = (0..3).map(|i| i.to_string()).collect();
        let svg = bar_chart("calls", &labels, &[1, 0, 4]).into_string();
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 3);
        // The largest bar fills the plot height less the label room: 160 - 14.
        assert!(svg.contains("height=\"146.0\""), "{svg}");
        assert!(svg.contains("height=\"0.0\""), "{svg}");
    }
}
