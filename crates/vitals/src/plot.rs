//! The sweep's plot, as SVG and PNG (plotters, no system fonts: PNG text is drawn with
//! the DejaVu Sans embedded from `assets/`). Left: mean detection time against overhead;
//! right: false positives against mean detection time; one line per threshold. A point
//! without false positives is not a measurement but a bound: it is drawn as an open
//! down-pointing triangle with an arrow at its 95 % upper bound, off the line, with its
//! own legend entry. Log-axis labels are short (`4k`, `50k`, `1e-3`) and few.

use std::error::Error;
use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use vitals_sim::Report;

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// One point of the plot.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Dot {
    /// Bytes per node per second.
    bytes: f64,
    /// Mean detection time, seconds.
    detection: f64,
    /// False positives per node-hour, or the 95 % upper bound when there were none.
    mistakes: f64,
    /// Whether `mistakes` is only an upper bound.
    bound: bool,
}

type Series = Vec<(u32, Vec<Dot>)>;

/// One line per threshold, sorted by overhead.
fn series(reports: &[Report]) -> Series {
    let mut thresholds: Vec<u32> = reports.iter().map(|r| r.threshold).collect();
    thresholds.sort_unstable();
    thresholds.dedup();
    thresholds
        .into_iter()
        .map(|t| {
            let mut points: Vec<Dot> = reports
                .iter()
                .filter(|r| r.threshold == t)
                .map(|r| Dot {
                    bytes: r.bytes_per_node_s,
                    detection: r.detection_each.mean,
                    mistakes: r.false_positives_upper_95.unwrap_or(r.false_positives_per_node_hour),
                    bound: r.false_positives_upper_95.is_some(),
                })
                .collect();
            points.sort_by(|a, b| a.bytes.total_cmp(&b.bytes));
            (t, points)
        })
        .collect()
}

/// Writes the plot to `svg` and `png`.
pub(crate) fn sweep(reports: &[Report], svg: &Path, png: &Path) -> anyhow::Result<()> {
    let data = series(reports);
    let title = reports.first().map_or_else(String::new, |r| {
        let shortest = reports.iter().map(|r| r.duration_s).fold(f64::INFINITY, f64::min);
        let longest = reports.iter().map(|r| r.duration_s).fold(0.0, f64::max);
        let runs = if shortest < longest {
            format!("runs of {} to {} s", shortest, longest)
        } else {
            format!("{longest} s per run")
        };
        format!(
            "{} / {}: {} nodes, loss {}, latency {}, {runs}",
            r.strategy, r.detector, r.nodes, r.loss, r.latency
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

/// An open down-pointing triangle at `$at` with an arrow below it: the rate is at most
/// this, probably less. (A macro: the element's type depends on the backend.)
macro_rules! bound_marker {
    ($at:expr, $style:expr) => {
        EmptyElement::at($at)
            + PathElement::new(vec![(-5, -4), (5, -4), (0, 5), (-5, -4)], $style)
            + PathElement::new(vec![(0, 5), (0, 16)], $style)
            + PathElement::new(vec![(-3, 12), (0, 16), (3, 12)], $style)
    };
}

/// One line per threshold in each panel; bounds as open markers off the right panel's
/// lines, with a legend entry when there are any.
fn draw_lines<'a, DB: DrawingBackend + 'a>(
    overhead: &mut ChartContext<'a, DB, Cartesian2d<LogCoord<f64>, RangedCoordf64>>,
    mistakes: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, LogCoord<f64>>>,
    data: &Series,
) -> Result<(), Box<dyn Error>>
where
    DB::ErrorType: 'static,
{
    let all = || data.iter().flat_map(|(_, p)| p.iter().copied());
    for (i, (threshold, points)) in data.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let label = format!("threshold {threshold}");
        let legend = move |(x, y): (i32, i32)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2));
        overhead
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.bytes, p.detection)),
                color.stroke_width(2),
            ))?
            .label(label.clone())
            .legend(legend);
        overhead.draw_series(
            points
                .iter()
                .map(|p| Circle::new((p.bytes, p.detection), 3, color.filled())),
        )?;
        let measured = || points.iter().filter(|p| !p.bound);
        mistakes
            .draw_series(LineSeries::new(
                measured().map(|p| (p.detection, p.mistakes)),
                color.stroke_width(2),
            ))?
            .label(label)
            .legend(legend);
        mistakes.draw_series(measured().map(|p| Circle::new((p.detection, p.mistakes), 3, color.filled())))?;
        mistakes.draw_series(
            points
                .iter()
                .filter(|p| p.bound)
                .map(|p| bound_marker!((p.detection, p.mistakes), color.stroke_width(2))),
        )?;
    }
    if all().any(|p| p.bound) {
        mistakes
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
            .label(BOUND_LABEL)
            .legend(|(x, y)| bound_marker!((x + 9, y - 4), BLACK.stroke_width(2)));
    }
    Ok(())
}

/// A short label for a log axis: `4k`, `50k`, `1.2M`, `7`, `0.5`, `1e-3`.
fn axis_label(value: f64) -> String {
    let trim = |text: String| {
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            text
        }
    };
    let abs = value.abs();
    if abs >= 1e6 {
        format!("{}M", trim(format!("{:.1}", value / 1e6)))
    } else if abs >= 1e3 {
        format!("{}k", trim(format!("{:.1}", value / 1e3)))
    } else if abs >= 1.0 || abs == 0.0 {
        trim(format!("{value:.1}"))
    } else if abs >= 0.01 {
        trim(format!("{value:.2}"))
    } else {
        let exponent = abs.log10().floor() as i32;
        let mantissa = value / 10f64.powi(exponent);
        format!("{}e{exponent}", trim(format!("{mantissa:.1}")))
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
    let (b0, b1) = bounds(all().map(|p| p.bytes));
    let (d0, d1) = bounds(all().map(|p| p.detection));
    let (f0, f1) = bounds(all().map(|p| p.mistakes));
    let mut overhead = ChartBuilder::on(&left)
        .caption("detection time vs overhead", ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d((b0 * 0.8..b1 * 1.25).log_scale(), 0.0..d1 * 1.1)?;
    overhead
        .configure_mesh()
        .x_labels(6)
        .x_label_formatter(&|x| axis_label(*x))
        .x_desc("bytes per node per second (log)")
        .y_desc("mean detection time T_D (s)")
        .draw()?;
    let mut mistakes = ChartBuilder::on(&right)
        .caption("false positives vs detection time", ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(65)
        .build_cartesian_2d(d0 * 0.8..d1 * 1.1, (f0 * 0.3..f1 * 2.0).log_scale())?;
    mistakes
        .configure_mesh()
        .y_labels(8)
        .y_label_formatter(&|y| axis_label(*y))
        .x_desc("mean detection time T_D (s)")
        .y_desc("false positives per node-hour (log)")
        .draw()?;
    draw_lines(&mut overhead, &mut mistakes, data)?;
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

/// The legend entry of the bound markers.
pub(crate) const BOUND_LABEL: &str = "no false positive: 95% upper bound";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_axis_labels_are_short_and_distinct() {
        let cases = [
            (4000.0, "4k"),
            (50_000.0, "50k"),
            (7000.0, "7k"),
            (1500.0, "1.5k"),
            (2_000_000.0, "2M"),
            (200.0, "200"),
            (3.0, "3"),
            (0.5, "0.5"),
            (0.05, "0.05"),
            (0.001, "1e-3"),
            (0.00025, "2.5e-4"),
        ];
        for (value, label) in cases {
            assert_eq!(axis_label(value), label, "{value}");
        }
        // Plotters' default for these key points ran together as `4000.050000.0007000.0`.
        for value in [100.0, 1000.0, 10_000.0, 1e-4, 1e-2, 1e2, 1e4] {
            assert!(axis_label(value).len() <= 4, "{value}: {}", axis_label(value));
            assert!(!axis_label(value).ends_with(".0"), "{value}");
        }
    }

    fn report(threshold: u32, fp: u64) -> Report {
        let mut r = vitals_sim::simulate(&vitals_sim::Spec {
            nodes: 3,
            duration: std::time::Duration::from_secs(30),
            threshold,
            ..vitals_sim::Spec::default()
        })
        .unwrap();
        r.false_positives = fp;
        r.false_positives_per_node_hour = fp as f64;
        r.false_positives_upper_95 = (fp == 0).then_some(0.5);
        r
    }

    #[test]
    fn runs_without_false_positives_are_bounds_and_drawn_with_their_legend() {
        let data = series(&[report(3, 4), report(3, 0), report(4, 0)]);
        let bounds: Vec<bool> = data.iter().flat_map(|(_, p)| p.iter().map(|d| d.bound)).collect();
        assert_eq!(bounds.iter().filter(|b| **b).count(), 2, "{data:?}");
        let dir = std::env::temp_dir().join(format!("vitals-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (svg, png) = (dir.join("p.svg"), dir.join("p.png"));
        sweep(&[report(3, 4), report(3, 0)], &svg, &png).unwrap();
        assert!(std::fs::read_to_string(&svg).unwrap().contains(BOUND_LABEL));
        sweep(&[report(3, 4), report(4, 2)], &svg, &png).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(!text.contains(BOUND_LABEL), "no bound, no bound legend");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
