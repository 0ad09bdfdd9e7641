//! PNG plots of result files, drawn with plotters from plain in-memory series.
//!
//! Text is drawn with the DejaVu Sans font embedded in the binary (`assets/fonts`, Bitstream
//! Vera licence beside it) through plotters' `ab_glyph` backend, so plots render the same on a
//! machine without fontconfig or FreeType. The functions here know nothing about HDF5:
//! `report` turns runs into these series, and tests can call them directly.
//!
//! Every figure follows the same habits, because a figure is forwarded without its command
//! line: a title that says what was run (data, chip, rule), axis labels with units, accuracies
//! in percent, and the legend in its own panel beside or below the axes, so it never covers data.

mod accuracy;
mod bars;
mod curves;
mod heatmap;
mod pareto;

pub use accuracy::{accuracy_vs, Point, XAxis};
pub use bars::phase_bars;
pub use curves::{learning_curves, Curve};
pub use heatmap::{heatmap, Cell};
pub use pareto::{front, pareto, ParetoPoint};

/// The error of drawing a figure (the report's typed error, which names the PNG).
pub type PlotError = ReportError;

use super::report_error::ReportError;
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

fn perr<E: std::fmt::Display>(path: &Path) -> impl Fn(E) -> ReportError + '_ {
    move |e| ReportError::Plot {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Draws `title` at the top of `root` and returns the area below it. The first line is the
/// figure's subject; further lines (after `\n`), smaller and grey, say what was run.
fn titled<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
) -> Result<DrawingArea<DB, plotters::coord::Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let (w, _) = root.dim_in_pixel();
    let top = Pos::new(HPos::Center, VPos::Top);
    let mut y = 10;
    for (i, line) in title.lines().enumerate() {
        let (size, colour) = if i == 0 {
            (22, BLACK)
        } else {
            (16, RGBColor(80, 80, 80))
        };
        let style = (FONT, size).into_font().color(&colour).pos(top);
        // DejaVu Sans averages about 0.55 em per character: wrap what would not fit.
        let fits = ((w as f64 - 30.0) / (0.55 * size as f64)).max(20.0) as usize;
        for piece in wrap(line, fits) {
            root.draw(&Text::new(piece, (w as i32 / 2, y), style.clone()))?;
            y += size + 8;
        }
    }
    Ok(root.split_vertically(y + 6).1)
}

/// Splits `line` after ", " so that each piece has at most `max` characters where it can.
fn wrap(line: &str, max: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for part in line.split_inclusive(", ") {
        if !cur.is_empty() && cur.chars().count() + part.trim_end().chars().count() > max {
            out.push(cur.trim_end().to_string());
            cur.clear();
        }
        cur.push_str(part);
    }
    if !cur.is_empty() || out.is_empty() {
        out.push(cur.trim_end().to_string());
    }
    out
}

/// An f64 axis whose ticks are exactly the given values: plotters' own ticks are evenly spaced
/// numbers, which suits neither a log axis with σ = 0 apart nor the categories of a heatmap.
struct Ticked {
    inner: plotters::coord::types::RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(range: std::ops::Range<f64>, ticks: Vec<f64>) -> Ticked {
        Ticked {
            inner: range.into(),
            ticks,
        }
    }
}

impl plotters::coord::ranged1d::Ranged for Ticked {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Light (minor) grid points: none; bold points: the ticks.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

/// One run's bar in the energy plot.
#[derive(Clone, Debug, PartialEq)]
pub struct EnergyBar {
    /// Axis label (the run name).
    pub label: String,
    /// Per training sample and phase (inference, perturbation, update, decorrelation): energy
    /// in pJ, or time in ns (see [`PhaseQuantity`]).
    pub per_phase_pj: [f64; 4],
}

/// What a stacked phase bar measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhaseQuantity {
    /// Energy, values in pJ.
    Energy,
    /// Chip time, values in ns.
    Time,
}

/// A unit for times up to `max_ns`: (divisor, name).
pub fn time_unit(max_ns: f64) -> (f64, &'static str) {
    match max_ns {
        m if m >= 1e9 => (1e9, "s"),
        m if m >= 1e6 => (1e6, "ms"),
        m if m >= 1e3 => (1e3, "µs"),
        _ => (1.0, "ns"),
    }
}

/// Legends with more entries than this are left out (the lines are still drawn).
const MAX_LEGEND: usize = 40;

/// Line colours: matplotlib's "tab10" qualitative palette (distinct in print and for the common
/// colour-vision deficiencies), then plotters' 99-colour palette beyond ten series.
const TAB10: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

fn color(i: usize) -> RGBColor {
    if let Some(&(r, g, b)) = TAB10.get(i) {
        return RGBColor(r, g, b);
    }
    let c = Palette99::pick(i).to_rgba();
    RGBColor(c.0, c.1, c.2)
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

/// A tick label: at most 6 decimals, trailing zeros trimmed; an exponent for tiny values.
fn tick(x: f64) -> String {
    if x != 0.0 && x.abs() < 1e-4 {
        return format!("{x:.1e}");
    }
    // Four significant digits, at most six decimals: a tick at a data value such as
    // log2(26) = 4.70044 reads 4.7, not the value's full float.
    let decimals = if x == 0.0 {
        0
    } else {
        (3 - x.abs().log10().floor() as i32).clamp(0, 6) as usize
    };
    let s = format!("{x:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
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

/// Stacked bars under `title`: training energy per training sample, by phase, one bar per run.
pub fn energy_bars(path: &Path, title: &str, bars: &[EnergyBar]) -> Result<(), ReportError> {
    phase_bars(path, title, PhaseQuantity::Energy, bars)
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
        let c = |seed: f64| Curve {
            label: "danp".into(),
            epochs: vec![1.0, 2.0],
            train_acc: vec![0.3 + seed, 0.6],
            test_acc: vec![0.25, 0.55 - seed],
        };
        learning_curves(&dir.path().join("a.png"), "digits, rram", &[c(0.0), c(0.1)]).unwrap();
        learning_curves(&dir.path().join("b.png"), "nothing", &[]).unwrap();
        let pt = |series: &str, x: f64, acc: f64| Point {
            series: series.into(),
            x,
            acc,
        };
        let pts = vec![
            pt("danp", 0.0, 0.3),
            pt("danp", 0.1, 0.7),
            pt("bp", 10.0, 0.9),
        ];
        accuracy_vs(
            &dir.path().join("c.png"),
            "vs noise",
            "σ",
            XAxis::LogWithZero,
            &pts,
        )
        .unwrap();
        accuracy_vs(
            &dir.path().join("g.png"),
            "vs bits",
            "bits",
            XAxis::Integer,
            &pts,
        )
        .unwrap();
        accuracy_vs(
            &dir.path().join("h.png"),
            "empty",
            "σ",
            XAxis::LogWithZero,
            &[],
        )
        .unwrap();
        energy_bars(
            &dir.path().join("d.png"),
            "energy",
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
        energy_bars(&dir.path().join("f.png"), "energy", &many).unwrap();
        energy_bars(&dir.path().join("e.png"), "energy", &[]).unwrap();
        let cells = [
            Cell {
                levels: 4,
                sigma: 0.0,
                acc: 0.1,
            },
            Cell {
                levels: 16,
                sigma: 0.1,
                acc: 0.9,
            },
        ];
        heatmap(&dir.path().join("i.png"), "surface", &cells).unwrap();
        heatmap(&dir.path().join("j.png"), "surface", &[]).unwrap();
        for f in ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"] {
            assert!(
                nonblank_png(&dir.path().join(format!("{f}.png"))),
                "{f}.png"
            );
        }
    }

    #[test]
    fn long_titles_wrap_at_commas() {
        assert_eq!(wrap("a, b, c", 100), ["a, b, c"]);
        assert_eq!(wrap("alpha, beta, gamma", 12), ["alpha, beta,", "gamma"]);
        assert_eq!(wrap("one-very-long-piece", 5), ["one-very-long-piece"]);
        assert_eq!(wrap("", 5), [""]);
    }

    #[test]
    fn ticks_are_short() {
        assert_eq!(tick(0.06000000000000001), "0.06");
        assert_eq!(tick(0.0), "0");
        assert_eq!(tick(2.5e-6), "2.5e-6");
        assert_eq!(tick(12.0), "12");
        assert_eq!(tick(1000.0), "1000");
        assert_eq!(tick(0.0015), "0.0015");
        assert_eq!(tick(26f64.log2()), "4.7");
        assert_eq!(tick(501f64.log2()), "8.969");
        assert_eq!(tick(-0.25), "-0.25");
    }

    #[test]
    fn energy_units_scale() {
        assert_eq!(energy_unit(5e2).1, "pJ");
        assert_eq!(energy_unit(5e4).1, "nJ");
        assert_eq!(energy_unit(5e7).1, "µJ");
    }
}
