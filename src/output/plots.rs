//! PNG plots of result files, drawn with plotters from plain in-memory series.
//!
//! Text is drawn with the DejaVu Sans font embedded in the binary (`assets/fonts`, Bitstream
//! Vera licence beside it) through plotters' `ab_glyph` backend, so plots render the same on a
//! machine without fontconfig or FreeType. The functions here know nothing about HDF5:
//! `report` turns runs into these series, and tests can call them directly.

use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

/// The family name the embedded font is registered under.
const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_err() {
            tracing::warn!("the embedded font did not load: plots will have no text");
        }
    });
}

fn perr<E: std::fmt::Display>(path: &Path) -> impl Fn(E) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("{}: drawing the plot: {e}", path.display())
}

/// One run's learning curve.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    /// Legend text.
    pub label: String,
    /// Epoch numbers.
    pub epochs: Vec<f64>,
    /// Training accuracy per epoch, in [0, 1].
    pub train_acc: Vec<f64>,
    /// Test accuracy per epoch, in [0, 1].
    pub test_acc: Vec<f64>,
}

/// One point of an accuracy-vs-parameter plot.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// The line it belongs to (e.g. the rule).
    pub series: String,
    /// The parameter.
    pub x: f64,
    /// Final test accuracy, in [0, 1].
    pub acc: f64,
}

/// One run's bar in the energy plot.
#[derive(Clone, Debug, PartialEq)]
pub struct EnergyBar {
    /// Axis label (the run name).
    pub label: String,
    /// Energy per training sample, pJ, per phase (inference, perturbation, update, decorrelation).
    pub per_phase_pj: [f64; 4],
}

/// Legends with more entries than this are left out (the lines are still drawn).
const MAX_LEGEND: usize = 40;

fn color(i: usize) -> RGBColor {
    let c = Palette99::pick(i).to_rgba();
    RGBColor(c.0, c.1, c.2)
}

/// Train (left) and test (right) accuracy against epoch, one line per run. With no curves,
/// the axes are drawn with a note, so the file always exists.
pub fn learning_curves(path: &Path, curves: &[Curve]) -> anyhow::Result<()> {
    register_font();
    let e = perr(path);
    let legend = curves.len() <= MAX_LEGEND;
    let legend_h = if legend && !curves.is_empty() {
        legend_height(curves.len(), 2)
    } else {
        0
    };
    let root = BitMapBackend::new(path, (1200, 520 + legend_h)).into_drawing_area();
    root.fill(&WHITE).map_err(&e)?;
    let (charts, below) = root.split_vertically(520);
    let (left, right) = charts.split_horizontally(600);
    let max_epoch = curves
        .iter()
        .flat_map(|c| c.epochs.iter().copied())
        .fold(1.0f64, f64::max);
    for (area, title, test) in [
        (&left, "training accuracy", false),
        (&right, "test accuracy", true),
    ] {
        let mut chart = ChartBuilder::on(area)
            .caption(title, (FONT, 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..max_epoch, 0.0..1.0)
            .map_err(&e)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("accuracy")
            .label_style((FONT, 14))
            .y_label_formatter(&|y| format!("{:.0}%", 100.0 * y))
            .draw()
            .map_err(&e)?;
        if curves.iter().all(|c| c.epochs.is_empty()) {
            chart
                .draw_series(std::iter::once(Text::new(
                    "no finished epochs",
                    (0.05 * max_epoch, 0.5),
                    (FONT, 18),
                )))
                .map_err(&e)?;
            continue;
        }
        for (i, c) in curves.iter().enumerate() {
            let ys = if test { &c.test_acc } else { &c.train_acc };
            let pts: Vec<(f64, f64)> = c
                .epochs
                .iter()
                .copied()
                .zip(ys.iter().copied())
                .filter(|(_, y)| y.is_finite())
                .collect();
            let col = color(i);
            chart
                .draw_series(LineSeries::new(pts.clone(), col.stroke_width(2)))
                .map_err(&e)?;
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 3, col.filled())))
                .map_err(&e)?;
        }
    }
    if legend_h > 0 {
        let entries: Vec<(String, RGBColor)> = curves
            .iter()
            .enumerate()
            .map(|(i, c)| (c.label.clone(), color(i)))
            .collect();
        draw_legend(&below, &entries, 2, false).map_err(&e)?;
    }
    root.present().map_err(&e)?;
    Ok(())
}

/// Height of a legend panel of `n` entries in `columns` columns.
fn legend_height(n: usize, columns: usize) -> u32 {
    (n.div_ceil(columns) as u32) * 20 + 16
}

/// Draws legend entries (a line or a box of the colour, then the text) in columns.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    entries: &[(String, RGBColor)],
    columns: usize,
    boxes: bool,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (w, _) = area.dim_in_pixel();
    let col_w = (w as usize / columns.max(1)) as i32;
    let rows = entries.len().div_ceil(columns.max(1));
    for (i, (label, col)) in entries.iter().enumerate() {
        let (c, r) = ((i / rows.max(1)) as i32, (i % rows.max(1)) as i32);
        let (x, y) = (20 + c * col_w, 8 + r * 20 + 10);
        if boxes {
            area.draw(&Rectangle::new([(x, y - 6), (x + 18, y + 6)], col.filled()))?;
        } else {
            area.draw(&PathElement::new(
                vec![(x, y), (x + 18, y)],
                col.stroke_width(3),
            ))?;
        }
        area.draw(&Text::new(label.clone(), (x + 26, y - 7), (FONT, 14)))?;
    }
    Ok(())
}

/// Final test accuracy against a parameter, one line per series (mean over the runs at each x,
/// every run drawn as a small dot). Integer parameters (bits) get integer ticks.
pub fn accuracy_vs(path: &Path, title: &str, x_desc: &str, points: &[Point]) -> anyhow::Result<()> {
    register_font();
    let e = perr(path);
    let root = BitMapBackend::new(path, (1000, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(&e)?;
    let (plot, side) = root.split_horizontally(780);
    let (mut lo, mut hi) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.x), b.max(p.x))
        });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-9);
    let mut chart = ChartBuilder::on(&plot)
        .caption(title, (FONT, 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d((lo - pad)..(hi + pad), 0.0..1.0)
        .map_err(&e)?;
    // Integer parameters (bits) get integer ticks only.
    let integer = points.iter().all(|p| p.x == p.x.round());
    let x_fmt = |x: &f64| match integer {
        true if (x - x.round()).abs() < 1e-9 => format!("{x:.0}"),
        true => String::new(),
        false => tick(*x),
    };
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("final test accuracy")
        .label_style((FONT, 14))
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&|y| format!("{:.0}%", 100.0 * y))
        .draw()
        .map_err(&e)?;
    let mut names: Vec<&str> = Vec::new();
    for p in points {
        if !names.contains(&p.series.as_str()) {
            names.push(&p.series);
        }
    }
    for (i, name) in names.iter().enumerate() {
        let col = color(i);
        let mine: Vec<&Point> = points
            .iter()
            .filter(|p| p.series == *name && p.acc.is_finite())
            .collect();
        let mut xs: Vec<f64> = mine.iter().map(|p| p.x).collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        let mean: Vec<(f64, f64)> = xs
            .iter()
            .map(|&x| {
                let at: Vec<f64> = mine.iter().filter(|p| p.x == x).map(|p| p.acc).collect();
                (x, at.iter().sum::<f64>() / at.len() as f64)
            })
            .collect();
        chart
            .draw_series(LineSeries::new(mean.clone(), col.stroke_width(2)))
            .map_err(&e)?;
        chart
            .draw_series(mean.iter().map(|&p| Circle::new(p, 4, col.filled())))
            .map_err(&e)?;
        chart
            .draw_series(
                mine.iter()
                    .map(|p| Circle::new((p.x, p.acc), 2, col.mix(0.5).filled())),
            )
            .map_err(&e)?;
    }
    if names.len() <= MAX_LEGEND {
        let entries: Vec<(String, RGBColor)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), color(i)))
            .collect();
        draw_legend(&side.margin(50, 0, 0, 0), &entries, 1, false).map_err(&e)?;
    }
    root.present().map_err(&e)?;
    Ok(())
}

/// A tick label: at most 6 decimals, trailing zeros trimmed; an exponent for tiny values.
fn tick(x: f64) -> String {
    if x != 0.0 && x.abs() < 1e-4 {
        return format!("{x:.1e}");
    }
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// Chooses a unit for values given in pJ: (divisor, name).
pub fn energy_unit(max_pj: f64) -> (f64, &'static str) {
    match max_pj {
        m if m >= 1e9 => (1e9, "mJ"),
        m if m >= 1e6 => (1e6, "µJ"),
        m if m >= 1e3 => (1e3, "nJ"),
        _ => (1.0, "pJ"),
    }
}

/// Phase names in bar order.
pub const PHASES: [&str; 4] = ["inference", "perturbation", "update", "decorrelation"];

/// Stacked bars: training energy per training sample, by phase, one bar per run.
pub fn energy_bars(path: &Path, bars: &[EnergyBar]) -> anyhow::Result<()> {
    register_font();
    let e = perr(path);
    let n = bars.len().max(1);
    let width = (160 + 60 * n).clamp(700, 4000) as u32;
    let root = BitMapBackend::new(path, (width + 170, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(&e)?;
    let (plot, side) = root.split_horizontally(width);
    let max = bars
        .iter()
        .map(|b| b.per_phase_pj.iter().sum::<f64>())
        .fold(0.0f64, f64::max);
    let (div, unit) = energy_unit(max);
    let top = if max > 0.0 { max / div * 1.08 } else { 1.0 };
    let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
    // Bars sit at x = 0, 1, ...; a tick label is the run's name where a tick falls on a bar.
    let x_fmt = |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
            labels[i as usize].clone()
        } else {
            String::new()
        }
    };
    let mut chart = ChartBuilder::on(&plot)
        .caption("training energy per sample, by phase", (FONT, 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5..(n as f64 - 0.5), 0.0..top)
        .map_err(&e)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc(format!("energy per training sample ({unit})"))
        .label_style((FONT, 13))
        .x_labels(n.min(40))
        .x_label_formatter(&x_fmt)
        .draw()
        .map_err(&e)?;
    if bars.is_empty() {
        chart
            .draw_series(std::iter::once(Text::new(
                "no runs",
                (-0.2, top / 2.0),
                (FONT, 18),
            )))
            .map_err(&e)?;
    }
    for p in 0..PHASES.len() {
        let col = color(p);
        let rects = bars.iter().enumerate().map(move |(i, b)| {
            let below: f64 = b.per_phase_pj[..p].iter().sum::<f64>() / div;
            let x = i as f64;
            Rectangle::new(
                [
                    (x - 0.35, below),
                    (x + 0.35, below + b.per_phase_pj[p] / div),
                ],
                col.filled(),
            )
        });
        chart.draw_series(rects).map_err(&e)?;
    }
    let entries: Vec<(String, RGBColor)> = PHASES
        .iter()
        .enumerate()
        .rev()
        .map(|(p, name)| (name.to_string(), color(p)))
        .collect();
    draw_legend(&side.margin(50, 0, 0, 0), &entries, 1, true).map_err(&e)?;
    root.present().map_err(&e)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nonblank_png(path: &Path) -> bool {
        let bytes = std::fs::read(path).unwrap();
        bytes.len() > 1000 && bytes.starts_with(b"\x89PNG")
    }

    #[test]
    fn plots_render_with_and_without_data() {
        let dir = tempfile::tempdir().unwrap();
        let c = Curve {
            label: "run0000 danp".into(),
            epochs: vec![1.0, 2.0],
            train_acc: vec![0.3, 0.6],
            test_acc: vec![0.25, 0.55],
        };
        learning_curves(&dir.path().join("a.png"), &[c]).unwrap();
        learning_curves(&dir.path().join("b.png"), &[]).unwrap();
        let pts = vec![
            Point {
                series: "danp".into(),
                x: 2.0,
                acc: 0.3,
            },
            Point {
                series: "danp".into(),
                x: 4.0,
                acc: 0.7,
            },
            Point {
                series: "bp".into(),
                x: 4.0,
                acc: 0.9,
            },
        ];
        accuracy_vs(
            &dir.path().join("c.png"),
            "accuracy vs weight bits",
            "bits",
            &pts,
        )
        .unwrap();
        energy_bars(
            &dir.path().join("d.png"),
            &[EnergyBar {
                label: "run0".into(),
                per_phase_pj: [1e3, 2e3, 5e2, 0.0],
            }],
        )
        .unwrap();
        let many: Vec<EnergyBar> = (0..7)
            .map(|i| EnergyBar {
                label: format!("run{i:04}"),
                per_phase_pj: [1e3, 2e3 * i as f64, 5e2, 1e2],
            })
            .collect();
        energy_bars(&dir.path().join("f.png"), &many).unwrap();
        energy_bars(&dir.path().join("e.png"), &[]).unwrap();
        for f in ["a", "b", "c", "d", "e", "f"] {
            assert!(
                nonblank_png(&dir.path().join(format!("{f}.png"))),
                "{f}.png"
            );
        }
    }

    #[test]
    fn ticks_are_short() {
        assert_eq!(tick(0.06000000000000001), "0.06");
        assert_eq!(tick(0.0), "0");
        assert_eq!(tick(2.5e-6), "2.5e-6");
        assert_eq!(tick(12.0), "12");
    }

    #[test]
    fn energy_units_scale() {
        assert_eq!(energy_unit(5e2).1, "pJ");
        assert_eq!(energy_unit(5e4).1, "nJ");
        assert_eq!(energy_unit(5e7).1, "µJ");
    }
}
