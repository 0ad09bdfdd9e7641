//! Learning curves: accuracy against epoch, training (left) and test (right).
//!
//! Curves that share a label are repeats of one setting (seeds): one line per seed hides the
//! setting's trend behind its noise, so they are drawn as their mean with a band from the
//! lowest to the highest seed at each epoch (min–max, not ± std: with three seeds a standard
//! deviation is itself a guess).

use super::{color, draw_legend, legend_height, perr, register_font, titled, FONT, MAX_LEGEND};
use crate::output::report_error::ReportError;
use plotters::prelude::*;
use std::path::Path;

/// One run's learning curve.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    /// Legend text; runs with the same label are drawn as one mean line with a band.
    pub label: String,
    /// Epoch numbers.
    pub epochs: Vec<f64>,
    /// Training accuracy per epoch, in [0, 1].
    pub train_acc: Vec<f64>,
    /// Test accuracy per epoch, in [0, 1].
    pub test_acc: Vec<f64>,
}

/// One epoch of a group of curves: mean, lowest and highest of the runs that reached it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Spread {
    pub epoch: f64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
}

/// Mean and min–max per epoch over `curves` (finite values only; a run that stopped early
/// leaves the later epochs to the others).
pub(super) fn spread(curves: &[&Curve], test: bool) -> Vec<Spread> {
    let mut by_epoch: Vec<(f64, Vec<f64>)> = Vec::new();
    for c in curves {
        let ys = if test { &c.test_acc } else { &c.train_acc };
        for (&ep, &y) in c.epochs.iter().zip(ys) {
            if !y.is_finite() {
                continue;
            }
            match by_epoch.iter_mut().find(|(e, _)| *e == ep) {
                Some((_, v)) => v.push(y),
                None => by_epoch.push((ep, vec![y])),
            }
        }
    }
    by_epoch.sort_by(|a, b| a.0.total_cmp(&b.0));
    by_epoch
        .into_iter()
        .map(|(epoch, v)| Spread {
            epoch,
            mean: v.iter().sum::<f64>() / v.len() as f64,
            min: v.iter().copied().fold(f64::INFINITY, f64::min),
            max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
        .collect()
}

/// The groups of `curves` by label, in first-seen order.
fn groups(curves: &[Curve]) -> Vec<(&str, Vec<&Curve>)> {
    let mut out: Vec<(&str, Vec<&Curve>)> = Vec::new();
    for c in curves {
        match out.iter_mut().find(|(l, _)| *l == c.label) {
            Some((_, v)) => v.push(c),
            None => out.push((&c.label, vec![c])),
        }
    }
    out
}

/// Train (left) and test (right) accuracy against epoch under `title`: one line per label
/// (mean and min–max band when several runs share it). With no curves the axes are drawn with
/// a note, so the file always exists.
pub fn learning_curves(path: &Path, title: &str, curves: &[Curve]) -> Result<(), ReportError> {
    register_font();
    let e = perr(path);
    let groups = groups(curves);
    let legend = groups.len() <= MAX_LEGEND;
    let legend_h = match (legend, groups.is_empty()) {
        (_, true) => 0,
        (true, false) => legend_height(groups.len(), 2),
        (false, false) => 30,
    };
    let root = BitMapBackend::new(path, (1200, 590 + legend_h)).into_drawing_area();
    root.fill(&WHITE).map_err(&e)?;
    let root_t = titled(&root, title).map_err(&e)?;
    let (charts, below) = root_t.split_vertically(520);
    let (left, right) = charts.split_horizontally(600);
    let max_epoch = curves
        .iter()
        .flat_map(|c| c.epochs.iter().copied())
        .fold(1.0f64, f64::max);
    let x_lo = if max_epoch <= 1.0 { 0.0 } else { 1.0 };
    // A little room either side, so the first and last markers are not cut by the axes.
    let pad = 0.03 * (max_epoch - x_lo).max(1.0);
    for (area, caption, test) in [
        (&left, "training accuracy (first pass of each step)", false),
        (&right, "test accuracy", true),
    ] {
        let mut chart = ChartBuilder::on(area)
            .caption(caption, (FONT, 18))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(55)
            .build_cartesian_2d((x_lo - pad)..(max_epoch.max(x_lo + 1.0) + pad), 0.0..1.0)
            .map_err(&e)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("accuracy (%)")
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .x_label_formatter(&|x| {
                if (x - x.round()).abs() < 1e-9 {
                    format!("{x:.0}")
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| format!("{:.0}", 100.0 * y))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(&e)?;
        if curves.iter().all(|c| c.epochs.is_empty()) {
            chart
                .draw_series(std::iter::once(Text::new(
                    "no finished epochs",
                    (x_lo + 0.05 * (max_epoch - x_lo).max(1.0), 0.5),
                    (FONT, 18),
                )))
                .map_err(&e)?;
            continue;
        }
        for (i, (_, members)) in groups.iter().enumerate() {
            let col = color(i);
            let s = spread(members, test);
            if members.len() > 1 && s.len() > 1 {
                let band: Vec<(f64, f64)> = s
                    .iter()
                    .map(|p| (p.epoch, p.max))
                    .chain(s.iter().rev().map(|p| (p.epoch, p.min)))
                    .collect();
                chart
                    .draw_series(std::iter::once(Polygon::new(band, col.mix(0.22).filled())))
                    .map_err(&e)?;
            }
            let mean: Vec<(f64, f64)> = s.iter().map(|p| (p.epoch, p.mean)).collect();
            chart
                .draw_series(LineSeries::new(mean.clone(), col.stroke_width(2)))
                .map_err(&e)?;
            chart
                .draw_series(mean.iter().map(|&p| Circle::new(p, 3, col.filled())))
                .map_err(&e)?;
        }
    }
    if !legend && !groups.is_empty() {
        below
            .draw(&Text::new(
                format!(
                    "{} settings: too many for a legend (at most {MAX_LEGEND}); the report table lists them",
                    groups.len()
                ),
                (20, 6),
                (FONT, 14),
            ))
            .map_err(&e)?;
    } else if legend_h > 0 {
        let entries: Vec<(String, RGBColor)> = groups
            .iter()
            .enumerate()
            .map(|(i, (label, members))| {
                let text = if members.len() > 1 {
                    format!("{label}  (mean of {} runs, band: min–max)", members.len())
                } else {
                    label.to_string()
                };
                (text, color(i))
            })
            .collect();
        draw_legend(&below, &entries, 2, false).map_err(&e)?;
    }
    root.present().map_err(&e)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(label: &str, test: &[f64]) -> Curve {
        Curve {
            label: label.into(),
            epochs: (1..=test.len()).map(|e| e as f64).collect(),
            train_acc: test.iter().map(|t| t + 0.01).collect(),
            test_acc: test.to_vec(),
        }
    }

    #[test]
    fn seeds_become_mean_and_min_max() {
        let (a, b, short) = (
            c("danp", &[0.2, 0.4]),
            c("danp", &[0.4, 0.8]),
            c("danp", &[0.3]),
        );
        let s = spread(&[&a, &b, &short], true);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].epoch, s[0].min, s[0].max), (1.0, 0.2, 0.4));
        assert!((s[0].mean - 0.3).abs() < 1e-12);
        // Epoch 2: only the two runs that reached it.
        assert!((s[1].mean - 0.6).abs() < 1e-12 && s[1].min == 0.4 && s[1].max == 0.8);
        let t = spread(&[&a], false);
        assert!(
            (t[1].mean - 0.41).abs() < 1e-12,
            "training accuracy when asked"
        );
        let curves = [a.clone(), c("bp", &[0.9]), b.clone()];
        let g = groups(&curves);
        assert_eq!(g.len(), 2);
        assert_eq!((g[0].0, g[0].1.len()), ("danp", 2));
    }
}
