//! The sweep's plot, as SVG and PNG (plotters, no system fonts: PNG text is drawn with
//! the DejaVu Sans embedded from `assets/`). Left: mean detection time against overhead;
//! right: false positives against mean detection time; one line per threshold.

use std::error::Error;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use vitals_sim::Report;

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

type Series = Vec<(u32, Vec<(f64, f64, f64)>)>;

/// One line per threshold: (bytes per node per second, mean T_D, false positives per
/// node-hour, zero replaced by its 95 % upper bound).
fn series(reports: &[Report]) -> Series {
    let mut thresholds: Vec<u32> = reports.iter().map(|r| r.threshold).collect();
    thresholds.sort_unstable();
    thresholds.dedup();
    thresholds
        .into_iter()
        .map(|t| {
            let mut points: Vec<(f64, f64, f64)> = reports
                .iter()
                .filter(|r| r.threshold == t)
                .map(|r| {
                    let fp = r.false_positives_upper_95.unwrap_or(r.false_positives_per_node_hour);
                    (r.bytes_per_node_s, r.detection_each.mean, fp)
                })
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            (t, points)
        })
        .collect()
}

/// Writes the plot to `svg` and `png`.
pub(crate) fn sweep(reports: &[Report], svg: &Path, png: &Path) -> anyhow::Result<()> {
    let data = series(reports);
    let title = reports.first().map_or_else(String::new, |r| {
        format!(
            "{} / {}: {} nodes, loss {}, latency {}, {} s per run",
            r.strategy, r.detector, r.nodes, r.loss, r.latency, r.duration_s
        )
    });
    // Both backends measure text with the embedded font (the SVG names it, the PNG draws it).
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| anyhow::anyhow!("the embedded font is invalid"))?;
    draw(SVGBackend::new(svg, (1200, 520)).into_drawing_area(), &data, &title)
        .map_err(|e| anyhow::anyhow!("cannot draw {}: {e}", svg.display()))?;
    draw(BitMapBackend::new(png, (1200, 520)).into_drawing_area(), &data, &title)
        .map_err(|e| anyhow::anyhow!("cannot draw {}: {e}", png.display()))?;
    Ok(())
}

fn bounds(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let lo = values.clone().fold(f64::INFINITY, f64::min);
    let hi = values.fold(0.0, f64::max);
    if lo.is_finite() && hi > lo {
        (lo, hi)
    } else {
        (lo.min(1.0) * 0.5, hi.max(1.0) * 2.0)
    }
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, data: &Series, title: &str) -> Result<(), Box<dyn Error>>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 18))?;
    let (left, right) = root.split_horizontally(600);
    let all = || data.iter().flat_map(|(_, p)| p.iter().copied());
    let (b0, b1) = bounds(all().map(|p| p.0));
    let (d0, d1) = bounds(all().map(|p| p.1));
    let (f0, f1) = bounds(all().map(|p| p.2));
    let mut overhead = ChartBuilder::on(&left)
        .caption("detection time vs overhead", ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d((b0 * 0.8..b1 * 1.25).log_scale(), 0.0..d1 * 1.1)?;
    overhead
        .configure_mesh()
        .x_desc("bytes per node per second (log)")
        .y_desc("mean detection time T_D (s)")
        .draw()?;
    let mut mistakes = ChartBuilder::on(&right)
        .caption("false positives vs detection time", ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(65)
        .build_cartesian_2d(d0 * 0.8..d1 * 1.1, (f0 * 0.5..f1 * 2.0).log_scale())?;
    mistakes
        .configure_mesh()
        .x_desc("mean detection time T_D (s)")
        .y_desc("false positives per node-hour (0: 95% bound)")
        .draw()?;
    for (i, (threshold, points)) in data.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let label = format!("threshold {threshold}");
        overhead
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.0, p.1)),
                color.stroke_width(2),
            ))?
            .label(label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        overhead.draw_series(points.iter().map(|p| Circle::new((p.0, p.1), 3, color.filled())))?;
        mistakes
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.1, p.2)),
                color.stroke_width(2),
            ))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        mistakes.draw_series(points.iter().map(|p| Circle::new((p.1, p.2), 3, color.filled())))?;
    }
    overhead
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    mistakes
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
