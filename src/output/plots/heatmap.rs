//! Precision × noise surfaces as heatmaps: device levels (rows) × read noise (columns), colour =
//! final test accuracy, the value printed in each cell.
//!
//! A grid of two parameters read as lines needs one line per row and a legend to decode; as a
//! heatmap the trade-off (where learning works, where it stops) is visible at a glance and the
//! printed values keep it exact. The colour scale is fixed to 0–100 %, so heatmaps of different
//! rules and rounding modes compare by colour.

use super::{perr, register_font, tick, titled, Ticked, FONT};
use crate::output::report_error::ReportError;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// One run's coordinates and result in a precision × noise grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    /// Device levels (`device.levels`).
    pub levels: i64,
    /// Output-referred read noise (`read.out_noise`).
    pub sigma: f64,
    /// Final test accuracy, in [0, 1].
    pub acc: f64,
}

/// The viridis colour map (matplotlib's default; perceptually uniform and readable in grey and
/// by colour-blind readers) at t ∈ [0, 1], interpolated between eight of its published anchors.
pub(super) fn viridis(t: f64) -> RGBColor {
    const ANCHORS: [(f64, f64, f64); 8] = [
        (68.0, 1.0, 84.0),
        (70.0, 50.0, 127.0),
        (54.0, 92.0, 141.0),
        (39.0, 127.0, 143.0),
        (31.0, 162.0, 136.0),
        (74.0, 194.0, 110.0),
        (160.0, 219.0, 57.0),
        (254.0, 232.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let f = t * (ANCHORS.len() - 1) as f64;
    let i = (f.floor() as usize).min(ANCHORS.len() - 2);
    let w = f - i as f64;
    let (a, b) = (ANCHORS[i], ANCHORS[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * w).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Black text on light cells, white on dark ones.
fn text_on(c: RGBColor) -> RGBColor {
    let luma = 0.299 * c.0 as f64 + 0.587 * c.1 as f64 + 0.114 * c.2 as f64;
    if luma > 140.0 {
        BLACK
    } else {
        WHITE
    }
}

/// The grid of `cells`: sorted levels (rows), sorted σ (columns), and the mean accuracy and run
/// count of each (levels, σ) pair (several seeds share a cell); `None` where no run landed.
pub(super) type Grid = (Vec<i64>, Vec<f64>, Vec<Vec<Option<(f64, usize)>>>);

pub(super) fn grid(cells: &[Cell]) -> Grid {
    let mut levels: Vec<i64> = cells.iter().map(|c| c.levels).collect();
    levels.sort_unstable();
    levels.dedup();
    let mut sigmas: Vec<f64> = cells.iter().map(|c| c.sigma).collect();
    sigmas.sort_by(f64::total_cmp);
    sigmas.dedup();
    let mut sums = vec![vec![(0.0f64, 0usize); sigmas.len()]; levels.len()];
    for c in cells.iter().filter(|c| c.acc.is_finite()) {
        let r = levels.binary_search(&c.levels).expect("from cells");
        let k = sigmas
            .iter()
            .position(|&s| s == c.sigma)
            .expect("from cells");
        sums[r][k].0 += c.acc;
        sums[r][k].1 += 1;
    }
    let means = sums
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|(s, n)| (n > 0).then(|| (s / n as f64, n)))
                .collect()
        })
        .collect();
    (levels, sigmas, means)
}

fn levels_label(l: i64) -> String {
    let bits = (l as f64).log2();
    if (bits - bits.round()).abs() < 1e-9 {
        format!("{l} ({bits:.0} bit)")
    } else {
        format!("{l} ({bits:.1} bit)")
    }
}

/// Draws the heatmap of `cells` under `title`.
pub fn heatmap(path: &Path, title: &str, cells: &[Cell]) -> Result<(), ReportError> {
    register_font();
    let e = perr(path);
    let (levels, sigmas, means) = grid(cells);
    let (nr, nc) = (levels.len().max(1), sigmas.len().max(1));
    let (cell_w, cell_h) = (96u32, 52u32);
    let plot_w = 150 + nc as u32 * cell_w + 30;
    let width = (plot_w + 150).max(760);
    let height = 90 + nr as u32 * cell_h + 90;
    let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(&e)?;
    let root_t = titled(&root, title).map_err(&e)?;
    let (plot, bar) = root_t.split_horizontally(plot_w);
    let row_key: Vec<f64> = (0..nr).map(|r| r as f64 + 0.5).collect();
    let col_key: Vec<f64> = (0..nc).map(|k| k as f64 + 0.5).collect();
    let mut chart = ChartBuilder::on(&plot)
        .margin(10)
        .x_label_area_size(55)
        .y_label_area_size(120)
        .build_cartesian_2d(
            Ticked::new(0.0..nc as f64, col_key),
            Ticked::new(0.0..nr as f64, row_key),
        )
        .map_err(&e)?;
    let col_label = |x: &f64| {
        let k = x.floor() as usize;
        sigmas.get(k).map_or(String::new(), |&s| tick(s))
    };
    let row_label = |y: &f64| {
        let r = y.floor() as usize;
        levels.get(r).map_or(String::new(), |&l| levels_label(l))
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("read noise σ_out (read.out_noise, normalised output units)")
        .y_desc("device levels (weight precision)")
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .x_label_formatter(&col_label)
        .y_label_formatter(&row_label)
        .draw()
        .map_err(&e)?;
    let centre = Pos::new(HPos::Center, VPos::Center);
    for (r, row) in means.iter().enumerate() {
        for (k, v) in row.iter().enumerate() {
            let (x, y) = (k as f64, r as f64);
            let (fill, text) = match v {
                Some((acc, _)) => (viridis(*acc), format!("{:.1}", 100.0 * acc)),
                None => (RGBColor(225, 225, 225), "–".to_string()),
            };
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x, y), (x + 1.0, y + 1.0)],
                    fill.filled(),
                )))
                .map_err(&e)?;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x, y), (x + 1.0, y + 1.0)],
                    WHITE.stroke_width(1),
                )))
                .map_err(&e)?;
            let style = (FONT, 17).into_font().color(&text_on(fill)).pos(centre);
            chart
                .draw_series(std::iter::once(Text::new(text, (x + 0.5, y + 0.5), style)))
                .map_err(&e)?;
        }
    }
    if cells.is_empty() {
        chart
            .draw_series(std::iter::once(Text::new(
                "no completed runs",
                (0.1, 0.5),
                (FONT, 18),
            )))
            .map_err(&e)?;
    }
    colour_bar(&bar, &e)?;
    root.present().map_err(&e)?;
    Ok(())
}

/// The 0–100 % colour scale beside the grid.
fn colour_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    e: &impl Fn(DrawingAreaErrorKind<DB::ErrorType>) -> ReportError,
) -> Result<(), ReportError> {
    let mut bar = ChartBuilder::on(area)
        .margin_top(10)
        .margin_bottom(65)
        .margin_left(10)
        .margin_right(70)
        .y_label_area_size(0)
        .right_y_label_area_size(45)
        .build_cartesian_2d(0.0..1.0, 0.0..1.0)
        .map_err(e)?;
    bar.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_desc("final test accuracy (%)")
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .y_label_formatter(&|y| format!("{:.0}", 100.0 * y))
        .draw()
        .map_err(e)?;
    let steps = 100;
    bar.draw_series((0..steps).map(|i| {
        let (a, b) = (i as f64 / steps as f64, (i + 1) as f64 / steps as f64);
        Rectangle::new([(0.0, a), (1.0, b)], viridis(0.5 * (a + b)).filled())
    }))
    .map_err(e)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_average_per_grid_point() {
        let cells = [
            Cell {
                levels: 16,
                sigma: 0.1,
                acc: 0.8,
            },
            Cell {
                levels: 4,
                sigma: 0.1,
                acc: 0.6,
            },
            Cell {
                levels: 16,
                sigma: 0.1,
                acc: 0.7,
            },
            Cell {
                levels: 16,
                sigma: 0.0,
                acc: 0.1,
            },
        ];
        let (levels, sigmas, m) = grid(&cells);
        assert_eq!(levels, [4, 16]);
        assert_eq!(sigmas, [0.0, 0.1]);
        let (mean, n) = m[1][1].unwrap();
        assert!((mean - 0.75).abs() < 1e-12 && n == 2, "{mean} {n}");
        assert_eq!(m[0][0], None, "no run at 4 levels, σ = 0");
        assert_eq!(m[0][1], Some((0.6, 1)));
    }

    #[test]
    fn colour_scale_runs_dark_to_light() {
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0), RGBColor(254, 232, 37));
        assert_eq!(viridis(f64::NAN), viridis(0.0));
        assert_eq!(text_on(viridis(0.0)), WHITE);
        assert_eq!(text_on(viridis(1.0)), BLACK);
        assert_eq!(levels_label(16), "16 (4 bit)");
        assert_eq!(levels_label(501), "501 (9.0 bit)");
    }
}
