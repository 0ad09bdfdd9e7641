//! Accuracy against a cost per training sample (energy or chip time), every run a point, and
//! the Pareto front: the best accuracy reachable for at most that cost, drawn as a step line.
//!
//! The cost axis is logarithmic because the configurations it compares (BP, a full digital
//! decorrelator, thinned or blocked ones, analog ones) differ by factors, not by amounts. The
//! points carry numbers and the key beside the plot gives each number its configuration: run
//! labels such as `danp-nn sample=0.1 blocks=array` are too long to print at a point without
//! running into their neighbours once a dozen runs crowd the front, and a key never hides data.

use super::{perr, register_font, tick, titled, PlotError, Ticked, FONT};
use plotters::prelude::*;
use std::path::Path;

/// Characters of a key line that fit the key's 480 px at 14 px (labels wrap at spaces).
const KEY_CHARS: usize = 52;

/// `s` cut at spaces into lines of at most `max` characters (a longer word stays whole).
fn wrap_words(s: &str, max: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for w in s.split(' ') {
        if !cur.is_empty() && cur.chars().count() + 1 + w.chars().count() > max {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(w);
    }
    out.push(cur);
    out
}

/// One run on the plot.
#[derive(Clone, Debug, PartialEq)]
pub struct ParetoPoint {
    /// Its configuration (what differs from the other runs).
    pub label: String,
    /// Cost per training sample, in the unit of the axis description; > 0.
    pub cost: f64,
    /// Final test accuracy, in [0, 1] (the mean over seeds when the point stands for several).
    pub acc: f64,
    /// The lowest and highest accuracy of the seeds the point averages (drawn as a bar);
    /// `None` for a single run.
    pub acc_range: Option<(f64, f64)>,
    /// An oracle rule (reads chip internals a real controller cannot): drawn hollow.
    pub oracle: bool,
}

/// The Pareto front of `(cost, accuracy)` points: the indices of the points no other point
/// dominates (as cheap or cheaper and as accurate or more, better in one), by ascending cost.
/// Equal points are all kept (neither dominates the other); a point with the cost of a more
/// accurate one is dominated; non-finite points are never on it.
pub fn front(points: &[(f64, f64)]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..points.len())
        .filter(|&i| points[i].0.is_finite() && points[i].1.is_finite())
        .collect();
    // Cheapest first; at equal cost the most accurate first, so the rest at that cost fall.
    idx.sort_by(|&a, &b| {
        points[a]
            .0
            .total_cmp(&points[b].0)
            .then(points[b].1.total_cmp(&points[a].1))
    });
    let mut out: Vec<usize> = Vec::new();
    for i in idx {
        let (c, a) = points[i];
        match out.last().map(|&j| points[j]) {
            Some((lc, la)) if a < la || (a == la && c > lc) => {}
            _ => out.push(i),
        }
    }
    out
}

/// The step line of a front (points by ascending cost and accuracy): each accuracy holds until
/// the next front point's cost, then rises; the last holds to `right`.
fn steps(front: &[(f64, f64)], right: f64) -> Vec<(f64, f64)> {
    let mut v = Vec::new();
    for (k, &(c, a)) in front.iter().enumerate() {
        if k > 0 {
            v.push((c, front[k - 1].1));
        }
        v.push((c, a));
    }
    if let Some(&(c, a)) = front.last() {
        v.push((right.max(c), a));
    }
    v
}

/// Draws `points` (accuracy against cost, log cost axis described by `x_desc`) with their
/// Pareto front under `title`; `notes` (e.g. runs left out) go under the key.
pub fn pareto(
    path: &Path,
    title: &str,
    x_desc: &str,
    points: &[ParetoPoint],
    notes: &[String],
) -> Result<(), PlotError> {
    register_font();
    let e = perr(path);
    let key_rows: usize = points
        .iter()
        .map(|p| wrap_words(&p.label, KEY_CHARS).len())
        .sum::<usize>()
        + notes.len();
    let height = (700u32).max(200 + 19 * key_rows as u32);
    let root = BitMapBackend::new(path, (1300, height)).into_drawing_area();
    root.fill(&WHITE).map_err(&e)?;
    let root_t = titled(&root, title).map_err(&e)?;
    let (plot, side) = root_t.split_horizontally(820);
    // A long key makes the image taller; the plot keeps its shape at the top.
    let plot = if height > 700 {
        plot.split_vertically(600).0
    } else {
        plot
    };
    let costs: Vec<f64> = points.iter().map(|p| p.cost).collect();
    let (lo, hi) = costs
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &c| (a.min(c), b.max(c)));
    let (lo, hi) = if lo.is_finite() && hi > 0.0 {
        (lo / 1.6, hi * 1.6)
    } else {
        (1.0, 10.0)
    };
    let accs = points.iter().flat_map(|p| {
        let (lo, hi) = p.acc_range.unwrap_or((p.acc, p.acc));
        [p.acc, lo, hi]
    });
    let (amin, amax) = accs.fold((1.0f64, 0.0f64), |(a, b), x| (a.min(x), b.max(x)));
    let (ylo, yhi) = if amin <= amax {
        let pad = ((amax - amin) * 0.12).max(0.02);
        ((amin - pad).max(0.0), (amax + pad).min(1.0))
    } else {
        (0.0, 1.0)
    };
    // The cost axis is drawn in u = log10(cost), ticked at 1, 2 and 5 of each decade (plotters'
    // own log axis labels only a few powers, which left a 5.6 µs point without a tick near it).
    let (ulo, uhi) = (lo.log10(), hi.log10());
    let ticks: Vec<f64> = (ulo.floor() as i32..=uhi.ceil() as i32)
        .flat_map(|k| [1.0, 2.0, 5.0].map(|m| (m * 10f64.powi(k)).log10()))
        .filter(|u| (ulo..=uhi).contains(u))
        .collect();
    let mut chart = ChartBuilder::on(&plot)
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(64)
        .build_cartesian_2d(Ticked::new(ulo..uhi, ticks), ylo..yhi)
        .map_err(&e)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("final test accuracy (%)")
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 16))
        .x_label_formatter(&|u| tick((10f64.powf(*u) * 1e6).round() / 1e6))
        .y_label_formatter(&|y| format!("{:.0}", 100.0 * y))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()
        .map_err(&e)?;
    let pairs: Vec<(f64, f64)> = points.iter().map(|p| (p.cost, p.acc)).collect();
    let on = front(&pairs);
    let at = |(c, a): (f64, f64)| (c.log10(), a);
    let front_col = RGBColor(214, 39, 40);
    let line: Vec<(f64, f64)> = on.iter().map(|&i| pairs[i]).collect();
    chart
        .draw_series(LineSeries::new(
            steps(&line, hi).into_iter().map(at),
            front_col.stroke_width(2),
        ))
        .map_err(&e)?;
    let dot = RGBColor(31, 119, 180);
    for (i, p) in points.iter().enumerate() {
        let col = if on.contains(&i) { front_col } else { dot };
        if let Some((lo, hi)) = p.acc_range {
            // The seeds' spread: a bar from the worst to the best seed at the mean cost.
            let u = p.cost.log10();
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(u, lo), (u, hi)],
                    col.stroke_width(2),
                )))
                .map_err(&e)?;
        }
        let at = at((p.cost, p.acc));
        if p.oracle {
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at(at) + Rectangle::new([(-5, -5), (5, 5)], col.stroke_width(2)),
                ))
                .map_err(&e)?;
        } else {
            chart
                .draw_series(std::iter::once(Circle::new(at, 5, col.filled())))
                .map_err(&e)?;
        }
        chart
            .draw_series(std::iter::once(
                EmptyElement::at(at)
                    + Text::new(format!("{}", i + 1), (7, -17), (FONT, 14).into_font()),
            ))
            .map_err(&e)?;
    }
    if points.is_empty() {
        chart
            .draw_series(std::iter::once(Text::new(
                "no completed run with this cost",
                (ulo + 0.05 * (uhi - ulo), 0.5 * (ylo + yhi)),
                (FONT, 18),
            )))
            .map_err(&e)?;
    }
    // The key: the marks, then one line per run (front runs in the front's colour).
    let side = side.margin(30, 0, 10, 0);
    let small = |c: RGBColor| (FONT, 13).into_font().color(&c);
    let grey = RGBColor(90, 90, 90);
    let mut y = 8;
    let key = [
        ("●  a run   □  an oracle run (reads chip internals)", grey),
        (
            "|  seeds of one setting: mean, bar from worst to best",
            grey,
        ),
        (
            "red: on the front (best accuracy for ≤ this cost)",
            front_col,
        ),
    ];
    for (text, c) in key {
        side.draw(&Text::new(text, (10, y), small(c))).map_err(&e)?;
        y += 18;
    }
    y += 8;
    for (i, p) in points.iter().enumerate() {
        let c = if on.contains(&i) { front_col } else { BLACK };
        for (k, piece) in wrap_words(&p.label, KEY_CHARS).into_iter().enumerate() {
            let text = if k == 0 {
                format!("{:>2}  {piece}", i + 1)
            } else {
                format!("      {piece}")
            };
            side.draw(&Text::new(text, (10, y), (FONT, 14).into_font().color(&c)))
                .map_err(&e)?;
            y += 19;
        }
    }
    y += 8;
    for n in notes {
        side.draw(&Text::new(n.clone(), (10, y), small(grey)))
            .map_err(&e)?;
        y += 18;
    }
    root.present().map_err(&e)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dominated_points_are_left_off_the_front() {
        // (cost, accuracy): 1 is dearer and worse than 0; 3 is dearer than 2 and no better.
        let p = [(2.0, 0.8), (3.0, 0.7), (1.0, 0.6), (5.0, 0.6), (4.0, 0.9)];
        assert_eq!(front(&p), vec![2, 0, 4]);
    }

    #[test]
    fn ties_keep_equal_points_and_drop_the_less_accurate_at_one_cost() {
        // Two runs at the same point both stay; at the same cost the less accurate falls; at
        // the same accuracy the dearer falls.
        let p = [(1.0, 0.5), (1.0, 0.5), (1.0, 0.4), (2.0, 0.5), (2.0, 0.7)];
        assert_eq!(front(&p), vec![0, 1, 4]);
    }

    #[test]
    fn a_single_run_is_its_own_front_and_nan_is_never_on_it() {
        assert_eq!(front(&[(7.0, 0.3)]), vec![0]);
        assert_eq!(front(&[]), Vec::<usize>::new());
        assert_eq!(front(&[(f64::NAN, 0.9), (1.0, 0.2)]), vec![1]);
    }

    #[test]
    fn key_labels_wrap_at_spaces() {
        assert_eq!(wrap_words("ab cd ef", 5), ["ab cd", "ef"]);
        assert_eq!(wrap_words("abcdefg h", 3), ["abcdefg", "h"]);
        assert_eq!(wrap_words("", 3), [""]);
    }

    #[test]
    fn the_step_line_holds_each_accuracy_until_the_next_cost() {
        let s = steps(&[(1.0, 0.5), (2.0, 0.8)], 10.0);
        assert_eq!(s, vec![(1.0, 0.5), (2.0, 0.5), (2.0, 0.8), (10.0, 0.8)]);
    }
}
