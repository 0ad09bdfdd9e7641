//! Stacked phase bars (energy or chip time per training sample, by phase), one bar per run.
//!
//! The bars are horizontal: runs are rows, each labelled in full at its left. Vertical bars
//! with run names under them only work for a handful of short names; a report of a dozen runs
//! named `danp-nn-rram-preset` ran every label into its neighbours. As rows, a label has the
//! whole label column to itself, and the column is as wide as the longest label measured in
//! the embedded font, so nothing overlaps however many runs there are.

use super::{
    color, draw_legend, energy_unit, perr, register_font, tick, time_unit, titled, EnergyBar,
    PhaseQuantity, FONT, PHASES,
};
use crate::output::report_error::ReportError;
use plotters::coord::ranged1d::{IntoSegmentedCoord, SegmentValue};
use plotters::prelude::*;
use std::path::Path;

/// Pixel height of one run's row: the bar plus the gap to the next, room for a 13-px label.
pub(super) const ROW_PX: u32 = 30;
/// Font size of the run labels.
const LABEL_PX: u32 = 13;
/// Width of the bars' plotting area (the value axis).
const PLOT_PX: u32 = 760;
/// Width of the phase legend beside the plot.
const LEGEND_PX: u32 = 170;

/// Pixel sizes of a bar figure for labels whose widest one is `label_w` pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Layout {
    /// Width of the run-label column left of the axis.
    pub label_area: u32,
    /// Whole image.
    pub width: u32,
    /// Whole image.
    pub height: u32,
}

/// The figure's size: a row per run, and a label column that fits the widest label.
pub(super) fn layout(runs: usize, label_w: u32) -> Layout {
    let label_area = label_w + 24;
    Layout {
        label_area,
        width: label_area + PLOT_PX + LEGEND_PX,
        // Title (≈ 90 px), the value axis and its description (≈ 70 px), a row per run.
        height: 170 + ROW_PX * runs.max(1) as u32,
    }
}

/// Stacked bars under `title`: energy or chip time per training sample, by phase, one bar per
/// run, in the order given (first run on top).
pub fn phase_bars(
    path: &Path,
    title: &str,
    quantity: PhaseQuantity,
    bars: &[EnergyBar],
) -> Result<(), ReportError> {
    register_font();
    let e = perr(path);
    let n = bars.len();
    let label_w = {
        // Measured in the font the labels are drawn in, on a scratch area of the same backend.
        let probe = BitMapBackend::new(path, (1, 1)).into_drawing_area();
        let style: TextStyle = (FONT, LABEL_PX).into_font().into();
        bars.iter()
            .map(|b| {
                probe
                    .estimate_text_size(&b.label, &style)
                    .map_or(0, |s| s.0)
            })
            .max()
            .unwrap_or(0)
    };
    let size = layout(n, label_w);
    let root = BitMapBackend::new(path, (size.width, size.height)).into_drawing_area();
    root.fill(&WHITE).map_err(&e)?;
    let root_t = titled(&root, title).map_err(&e)?;
    let (plot, side) = root_t.split_horizontally(size.width - LEGEND_PX);
    let max = bars
        .iter()
        .map(|b| b.per_phase_pj.iter().sum::<f64>())
        .fold(0.0f64, f64::max);
    let ((div, unit), what) = match quantity {
        PhaseQuantity::Energy => (energy_unit(max), "energy"),
        PhaseQuantity::Time => (time_unit(max), "chip time"),
    };
    let right = if max > 0.0 { max / div * 1.08 } else { 1.0 };
    // Row j from the bottom holds run n-1-j, so the first run is on top.
    let label_of = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(j) if *j < n => bars[n - 1 - j].label.clone(),
        _ => String::new(),
    };
    let mut chart = ChartBuilder::on(&plot)
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(size.label_area)
        // A segmented `0..k` has the k + 1 segments 0..=k: one per run.
        .build_cartesian_2d(0.0..right, (0..n.max(1) - 1).into_segmented())
        .map_err(&e)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_desc("")
        .x_desc(format!("{what} per training sample ({unit})"))
        .label_style((FONT, LABEL_PX))
        .axis_desc_style((FONT, 15))
        .y_labels(n.max(1))
        .y_label_formatter(&label_of)
        .x_label_formatter(&|v| tick(*v))
        .draw()
        .map_err(&e)?;
    if bars.is_empty() {
        chart
            .draw_series(std::iter::once(Text::new(
                "no runs",
                (right * 0.4, SegmentValue::CenterOf(0)),
                (FONT, 18),
            )))
            .map_err(&e)?;
    }
    for p in 0..PHASES.len() {
        let col = color(p);
        let rects = bars.iter().enumerate().map(move |(i, b)| {
            let left: f64 = b.per_phase_pj[..p].iter().sum::<f64>() / div;
            let row = n - 1 - i;
            let mut r = Rectangle::new(
                [
                    (left, SegmentValue::Exact(row)),
                    (left + b.per_phase_pj[p] / div, SegmentValue::Exact(row + 1)),
                ],
                col.filled(),
            );
            r.set_margin(5, 5, 0, 0);
            r
        });
        chart.draw_series(rects).map_err(&e)?;
    }
    let entries: Vec<(String, RGBColor)> = PHASES
        .iter()
        .enumerate()
        .map(|(p, name)| (name.to_string(), color(p)))
        .collect();
    draw_legend(&side.margin(50, 0, 0, 0), &entries, 1, true).map_err(&e)?;
    root.present().map_err(&e)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_leave_room_for_their_labels_and_the_label_column_fits_the_widest() {
        // The labels are 13 px high; a row must be taller than a label line (with a gap), for
        // any number of runs, or neighbouring labels would touch.
        for runs in [1, 12, 100, 400] {
            let l = layout(runs, 300);
            let rows_px = l.height - 170;
            assert!(rows_px / runs as u32 >= LABEL_PX + 8, "{runs} runs");
            assert!(l.label_area >= 300 + 8);
        }
        // The label column grows with the widest label, measured in the embedded font.
        register_font();
        let dir = tempfile::tempdir().unwrap();
        let probe_path = dir.path().join("p.png");
        let probe = BitMapBackend::new(&probe_path, (1, 1)).into_drawing_area();
        let style: TextStyle = (FONT, LABEL_PX).into_font().into();
        let short = probe.estimate_text_size("bp", &style).unwrap().0;
        let long = probe
            .estimate_text_size("danp-nn-rram-preset-unbounded-s3", &style)
            .unwrap()
            .0;
        assert!(
            long > 10 * short,
            "text is measured, not counted: {short} vs {long}"
        );
        assert!(layout(3, long).label_area > long);
    }

    #[test]
    fn a_dozen_long_labels_render() {
        let dir = tempfile::tempdir().unwrap();
        let bars: Vec<EnergyBar> = (0..12)
            .map(|i| EnergyBar {
                label: format!("danp-nn-rram-preset-unbounded-s{i}"),
                per_phase_pj: [1e3, 2e3, 5e2 * i as f64, 4e5],
            })
            .collect();
        let p = dir.path().join("t.png");
        phase_bars(&p, "time", PhaseQuantity::Time, &bars).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 1000);
    }
}
