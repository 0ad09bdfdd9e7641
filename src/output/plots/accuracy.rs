//! Final accuracy against one swept parameter (weight bits, read noise), one line per series.
//!
//! Read noise is swept over decades (0, 0.03, 0.1, … 10): on a linear axis everything below 1
//! falls into one pixel, so [`XAxis::LogWithZero`] draws the positive values on a log axis, as
//! noise figures in the field do, and σ = 0 one decade to the left of the smallest positive
//! value, behind a dashed break (log 0 does not exist; the deterministic chip is still a point
//! worth showing).

use super::{color, draw_legend, perr, register_font, tick, titled, Ticked, FONT, MAX_LEGEND};
use crate::output::report_error::ReportError;
use plotters::prelude::*;
use std::path::Path;

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

/// How the x axis maps parameter values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XAxis {
    /// Linear with a tick at each integer value present (bits).
    Integer,
    /// Linear with a tick at each value present.
    Linear,
    /// Log10 for x > 0; x = 0 drawn apart at the left, behind a dashed break.
    LogWithZero,
}

/// Where values sit on the drawn axis (`u`) and which get a labelled tick.
#[derive(Clone, Debug, PartialEq)]
struct AxisMap {
    log: bool,
    /// `u` of x = 0 on a log axis (one decade left of the smallest positive value).
    zero_at: f64,
    /// `u` of the dashed break between x = 0 and the log part, when x = 0 occurs.
    break_at: Option<f64>,
}

/// At most this many values get their own tick; more get decade (or 6 even) ticks.
const MAX_VALUE_TICKS: usize = 12;

impl AxisMap {
    fn new(kind: XAxis, xs: &[f64]) -> AxisMap {
        let min_pos = xs
            .iter()
            .copied()
            .filter(|&x| x > 0.0)
            .fold(f64::INFINITY, f64::min);
        let log = kind == XAxis::LogWithZero && min_pos.is_finite() && xs.iter().all(|&x| x >= 0.0);
        let zero_at = if log { min_pos.log10() - 1.0 } else { 0.0 };
        let break_at = (log && xs.contains(&0.0)).then_some(zero_at + 0.5);
        AxisMap {
            log,
            zero_at,
            break_at,
        }
    }

    fn u(&self, x: f64) -> f64 {
        match (self.log, x > 0.0) {
            (true, true) => x.log10(),
            (true, false) => self.zero_at,
            (false, _) => x,
        }
    }

    /// The drawn range: the values' span with a margin.
    fn range(&self, xs: &[f64]) -> (f64, f64) {
        let (lo, hi) = xs
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                (a.min(self.u(x)), b.max(self.u(x)))
            });
        if !lo.is_finite() {
            return (0.0, 1.0);
        }
        if hi <= lo {
            return (lo - 0.5, hi + 0.5);
        }
        let pad = if self.log { 0.3 } else { (hi - lo) * 0.06 };
        (lo - pad, hi + pad)
    }

    /// Labelled ticks `(u, label)`: every distinct value when there are few, else decades
    /// (log) or six even steps (linear); "0" at the zero position of a log axis.
    fn ticks(&self, xs: &[f64], kind: XAxis) -> Vec<(f64, String)> {
        let mut vals: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
        vals.sort_by(f64::total_cmp);
        vals.dedup();
        let mut out: Vec<(f64, String)> = Vec::new();
        if self.log {
            if vals.contains(&0.0) {
                out.push((self.zero_at, "0".into()));
            }
            let pos: Vec<f64> = vals.into_iter().filter(|&x| x > 0.0).collect();
            if pos.len() <= MAX_VALUE_TICKS {
                out.extend(pos.iter().map(|&x| (x.log10(), tick(x))));
            } else {
                let (a, b) = (
                    pos[0].log10().ceil() as i32,
                    pos[pos.len() - 1].log10().floor() as i32,
                );
                out.extend((a..=b).map(|k| (k as f64, tick(10f64.powi(k)))));
            }
        } else if vals.len() <= MAX_VALUE_TICKS {
            out.extend(vals.iter().map(|&x| (x, tick(x))));
        } else {
            let (lo, hi) = (vals[0], vals[vals.len() - 1]);
            out.extend((0..6).map(|i| {
                let x = lo + (hi - lo) * i as f64 / 5.0;
                let x = if kind == XAxis::Integer { x.round() } else { x };
                (x, tick(x))
            }));
        }
        out
    }
}

/// Final test accuracy against a parameter, one line per series (the mean over the runs at each
/// x; every run is also drawn as a small dot, so seeds and other axes show as spread).
pub fn accuracy_vs(
    path: &Path,
    title: &str,
    x_desc: &str,
    axis: XAxis,
    points: &[Point],
) -> Result<(), ReportError> {
    register_font();
    let e = perr(path);
    let root = BitMapBackend::new(path, (1100, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(&e)?;
    let root_t = titled(&root, title).map_err(&e)?;
    let (plot, side) = root_t.split_horizontally(800);
    let xs: Vec<f64> = points.iter().map(|p| p.x).collect();
    let map = AxisMap::new(axis, &xs);
    let (lo, hi) = map.range(&xs);
    let ticks = map.ticks(&xs, axis);
    let key_u: Vec<f64> = ticks.iter().map(|t| t.0).collect();
    let label_of = |u: &f64| {
        ticks
            .iter()
            .find(|t| (t.0 - u).abs() <= 1e-9 * t.0.abs().max(1.0))
            .map_or(String::new(), |t| t.1.clone())
    };
    let mut chart = ChartBuilder::on(&plot)
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(Ticked::new(lo..hi, key_u), 0.0..1.0)
        .map_err(&e)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("final test accuracy (%)")
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 16))
        .x_label_formatter(&label_of)
        .y_label_formatter(&|y| format!("{:.0}", 100.0 * y))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(&e)?;
    if let Some(b) = map.break_at {
        chart
            .draw_series(DashedLineSeries::new(
                [(b, 0.0), (b, 1.0)],
                6,
                5,
                BLACK.mix(0.45).stroke_width(1),
            ))
            .map_err(&e)?;
    }
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
        let mut at: Vec<f64> = mine.iter().map(|p| p.x).collect();
        at.sort_by(f64::total_cmp);
        at.dedup();
        let mean: Vec<(f64, f64)> = at
            .iter()
            .map(|&x| {
                let v: Vec<f64> = mine.iter().filter(|p| p.x == x).map(|p| p.acc).collect();
                (map.u(x), v.iter().sum::<f64>() / v.len() as f64)
            })
            .collect();
        // Across the break the line is dashed: the distance there is not to scale.
        let split = usize::from(map.break_at.is_some() && at.first() == Some(&0.0));
        if split == 1 && mean.len() > 1 {
            chart
                .draw_series(DashedLineSeries::new(
                    mean[..2].to_vec(),
                    5,
                    4,
                    col.stroke_width(2),
                ))
                .map_err(&e)?;
        }
        chart
            .draw_series(LineSeries::new(mean[split..].to_vec(), col.stroke_width(2)))
            .map_err(&e)?;
        chart
            .draw_series(mean.iter().map(|&p| Circle::new(p, 5, col.filled())))
            .map_err(&e)?;
        chart
            .draw_series(
                mine.iter()
                    .map(|p| Circle::new((map.u(p.x), p.acc), 2, col.mix(0.5).filled())),
            )
            .map_err(&e)?;
    }
    let side = side.margin(40, 0, 0, 0);
    if names.len() <= MAX_LEGEND {
        let entries: Vec<(String, RGBColor)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), color(i)))
            .collect();
        draw_legend(&side, &entries, 1, false).map_err(&e)?;
    }
    let below = 8 + 20 * names.len().min(MAX_LEGEND) as i32 + 24;
    let mut notes = vec![
        "line: mean at each value (over",
        "the other axes and seeds)",
        "small dots: single runs",
    ];
    if map.break_at.is_some() {
        notes.push("log axis; σ = 0 left of");
        notes.push("the dashed break");
    }
    for (k, note) in notes.iter().enumerate() {
        side.draw(&Text::new(
            note.to_string(),
            (20, below + 18 * k as i32),
            (FONT, 13).into_font().color(&BLACK.mix(0.7)),
        ))
        .map_err(&e)?;
    }
    if points.is_empty() {
        chart
            .draw_series(std::iter::once(Text::new(
                "no completed runs",
                (lo + 0.05 * (hi - lo), 0.5),
                (FONT, 18),
            )))
            .map_err(&e)?;
    }
    root.present().map_err(&e)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_axis_puts_zero_a_decade_left_behind_a_break() {
        let xs = [0.0, 0.1, 1.0, 3.0, 10.0];
        let m = AxisMap::new(XAxis::LogWithZero, &xs);
        assert!((m.u(0.1) + 1.0).abs() < 1e-12);
        assert!((m.u(10.0) - 1.0).abs() < 1e-12);
        assert!((m.u(0.0) + 2.0).abs() < 1e-12, "zero one decade below 0.1");
        let b = m.break_at.expect("a break when 0 is present");
        assert!(m.u(0.0) < b && b < m.u(0.1));
        let labels: Vec<String> = m
            .ticks(&xs, XAxis::LogWithZero)
            .into_iter()
            .map(|t| t.1)
            .collect();
        assert_eq!(labels, ["0", "0.1", "1", "3", "10"]);
        let (lo, hi) = m.range(&xs);
        assert!(lo < m.u(0.0) && hi > m.u(10.0));
        // Without a zero there is no break; with negative values, no log axis at all.
        assert_eq!(AxisMap::new(XAxis::LogWithZero, &[0.1, 1.0]).break_at, None);
        assert!(!AxisMap::new(XAxis::LogWithZero, &[-1.0, 1.0]).log);
        // Linear axes keep values where they are.
        let lin = AxisMap::new(XAxis::Integer, &[2.0, 8.0]);
        assert_eq!(lin.u(8.0), 8.0);
    }

    #[test]
    fn many_values_get_decade_ticks() {
        let xs: Vec<f64> = (0..30).map(|i| 10f64.powf(-2.0 + i as f64 * 0.1)).collect();
        let m = AxisMap::new(XAxis::LogWithZero, &xs);
        let t = m.ticks(&xs, XAxis::LogWithZero);
        let labels: Vec<&str> = t.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, ["0.01", "0.1", "1"]);
    }
}
