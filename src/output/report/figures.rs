//! Which figures a set of runs gets, and what each one's title and series are.
//!
//! Titles name what was run (data, chip, rules), because a PNG is forwarded without the command
//! that made it. Runs that differ only in their seed are drawn as one learning curve (mean and
//! min–max band); every other difference keeps runs apart.

use super::super::hdf5::{AttrValue, Attrs, RunRecord, RunStatus};
use super::super::plots::{self, Cell, Curve, EnergyBar, Point, XAxis};
use super::Row;
use std::path::{Path, PathBuf};

/// The attributes that define a run's setting (what `npchip train` was told), less the seed:
/// runs equal in all of these are repeats of one experiment.
const SETTING: &[&str] = &[
    "rule",
    "resamples",
    "chip_toml",
    "sizes",
    "arch",
    "loss",
    "optimizer",
    "lr",
    "decor_rule",
    "decor_kappa",
    "decor_lr",
    "decor_precision",
    "decor_bits",
    "decor_bound",
    "decor_sample",
    "decor_every",
    "decor_blocks",
    "decor_layers",
    "inject",
    "inject_sigma",
    "leaky_slope",
    "epochs",
    "batch",
    "data",
    "train_samples_requested",
    "test_samples_requested",
];

pub(super) fn setting_key(a: &Attrs) -> String {
    SETTING
        .iter()
        .map(|k| a.get(*k).map_or(String::new(), |v| format!("{v:?}")))
        .collect::<Vec<_>>()
        .join("\u{1f}")
}

/// A sweep point's label without its `seed=` coordinate.
fn without_seed(point: &str) -> String {
    point
        .split_whitespace()
        .filter(|t| !t.starts_with("seed="))
        .collect::<Vec<_>>()
        .join(" ")
}

fn rule_tag(r: &Row) -> String {
    format!("{}{}", r.rule, if r.oracle { "*" } else { "" })
}

/// Up to eight distinct values, joined (a title names every rule of the paper's seven-rule
/// comparison); "N kinds" beyond.
fn distinct(values: impl Iterator<Item = String>, what: &str) -> String {
    let mut v: Vec<String> = Vec::new();
    for x in values {
        if !v.contains(&x) {
            v.push(x);
        }
    }
    match v.len() {
        0 => "?".into(),
        1..=8 => v.join(", "),
        n => format!("{n} {what}"),
    }
}

/// Whether a stored chip attribute equals a preset's value.
fn same(a: &AttrValue, v: &toml::Value) -> bool {
    match v {
        toml::Value::Integer(i) => a.as_f64() == Some(*i as f64),
        toml::Value::Float(f) => a
            .as_f64()
            .is_some_and(|x| (x - f).abs() <= 1e-9 * f.abs().max(1e-30)),
        toml::Value::Boolean(b) => a.as_bool() == Some(*b),
        toml::Value::String(t) => a.as_str() == Some(t.as_str()),
        other => a.to_string() == other.to_string(),
    }
}

/// How each chip of `runs` is named in titles: the preset name, plus the keys that every run
/// of it sets to one value other than the preset's (the `--set` overrides that are not swept),
/// e.g. `rram with read.w_noise=0`; a figure of a modified preset must not pass for the preset.
pub(super) fn chip_labels(runs: &[RunRecord]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for r in runs {
        let name = r
            .attrs
            .get("chip_name")
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_string();
        if out.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let mine: Vec<&RunRecord> = runs
            .iter()
            .filter(|x| x.attrs.get("chip_name").and_then(|v| v.as_str()) == Some(name.as_str()))
            .collect();
        let mut changes = Vec::new();
        if let Ok(preset) = crate::chip::presets::resolve(&name, &[]) {
            for (k, v) in preset.flattened() {
                let key = format!("chip.{k}");
                let vals: Vec<Option<&AttrValue>> =
                    mine.iter().map(|x| x.attrs.get(&key)).collect();
                let Some(Some(first)) = vals.first().copied() else {
                    continue;
                };
                if !same(first, &v) && vals.iter().all(|x| *x == Some(first)) {
                    changes.push(format!("{k}={first}"));
                }
            }
        }
        let label = if changes.is_empty() {
            name.clone()
        } else {
            format!("{name} with {}", changes.join(", "))
        };
        out.push((name, label));
    }
    out
}

fn chip_label<'a>(labels: &'a [(String, String)], chip: &'a str) -> &'a str {
    labels
        .iter()
        .find(|(n, _)| n == chip)
        .map_or(chip, |(_, l)| l.as_str())
}

/// "mnist (10000 train / 2000 test), chip rram, rules danp-nn, bp*": what `rows` ran.
pub(super) fn what_ran(rows: &[Row], chips: &[(String, String)]) -> String {
    // "net 784-100-10", "nets a, b", or (beyond eight) just "9 nets".
    let named = |one: &str, many: &str, values: Vec<String>| {
        let several = values.iter().any(|v| Some(v) != values.first());
        let list = distinct(values.into_iter(), many);
        if list.starts_with(|c: char| c.is_ascii_digit()) && list.ends_with(many) {
            list
        } else {
            format!("{} {list}", if several { many } else { one })
        }
    };
    format!(
        "{}, {}, {}, {}",
        distinct(rows.iter().map(|r| r.data.clone()), "data sets"),
        named("net", "nets", rows.iter().map(|r| r.net.clone()).collect()),
        named(
            "chip",
            "chips",
            rows.iter()
                .map(|r| chip_label(chips, &r.chip).to_string())
                .collect()
        ),
        named("rule", "rules", rows.iter().map(rule_tag).collect()),
    )
}

/// Learning curves: one per run, labelled so that seeds of one setting share a label.
fn curves(runs: &[RunRecord], rows: &[Row]) -> Vec<Curve> {
    let keys: Vec<String> = runs.iter().map(|r| setting_key(&r.attrs)).collect();
    let base: Vec<String> = rows
        .iter()
        .map(|row| match &row.point {
            Some(p) => without_seed(p),
            None => format!("{} on {}", rule_tag(row), row.chip),
        })
        .collect();
    // Two different settings with the same text are told apart by what differs between them
    // (the fronts' labels: `danp-nn sample=0.1`), or, where even that is the same (a setting
    // the labels do not name), by the first run's name.
    let differs = super::front::labels(
        &runs.iter().collect::<Vec<_>>(),
        &rows.iter().collect::<Vec<_>>(),
    );
    let labels: Vec<String> = (0..runs.len())
        .map(|i| {
            let clashing: Vec<usize> = (0..runs.len())
                .filter(|&j| base[j] == base[i] && keys[j] != keys[i])
                .collect();
            if clashing.is_empty() {
                return base[i].clone();
            }
            if clashing.iter().all(|&j| differs[j] != differs[i]) {
                let chip = &rows[i].chip;
                return match &rows[i].point {
                    Some(_) => format!("{} ({})", base[i], differs[i]),
                    None => format!("{} on {chip}", differs[i]),
                };
            }
            let first = (0..runs.len())
                .find(|&j| keys[j] == keys[i])
                .expect("i itself");
            format!("{} ({})", base[i], runs[first].name)
        })
        .collect();
    runs.iter()
        .zip(labels)
        .map(|(r, label)| Curve {
            label,
            epochs: r.epochs.epoch.iter().map(|&e| e as f64).collect(),
            train_acc: r.epochs.train_acc.clone(),
            test_acc: r.epochs.test_acc.clone(),
        })
        .collect()
}

/// The series a completed run belongs to in a summary plot: its rule, plus the chip and the
/// rounding mode when the runs have several.
fn series_of(rows: &[Row]) -> impl Fn(&Row) -> String + '_ {
    let several_chips = rows.iter().any(|r| r.chip != rows[0].chip);
    let several_roundings = rows.iter().any(|r| r.rounding != rows[0].rounding);
    move |r: &Row| {
        let mut s = rule_tag(r);
        match (several_chips, several_roundings) {
            (true, true) => {
                s += &format!(" ({}, {})", r.chip, r.rounding.as_deref().unwrap_or("-"))
            }
            (true, false) => s += &format!(" ({})", r.chip),
            (false, true) => s += &format!(" ({})", r.rounding.as_deref().unwrap_or("-")),
            (false, false) => {}
        }
        s
    }
}

/// Points of an accuracy-vs-parameter plot: completed runs with the parameter; None when they
/// span fewer than two values.
pub(super) fn sweep_points(rows: &[Row], x: impl Fn(&Row) -> Option<f64>) -> Option<Vec<Point>> {
    if rows.is_empty() {
        return None;
    }
    let series = series_of(rows);
    let pts: Vec<Point> = rows
        .iter()
        .filter(|r| r.status == RunStatus::Completed)
        .filter_map(|r| {
            Some(Point {
                series: series(r),
                x: x(r)?,
                acc: r.test_acc?,
            })
        })
        .collect();
    let mut xs: Vec<f64> = pts.iter().map(|p| p.x).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    (xs.len() >= 2).then_some(pts)
}

/// One heatmap's runs: completed runs of one rule, chip and rounding mode with both levels and
/// read noise, when they span at least two values of each.
pub(super) struct Surface<'a> {
    pub rule: String,
    pub chip: String,
    pub rounding: String,
    pub rows: Vec<&'a Row>,
}

pub(super) fn surfaces(rows: &[Row]) -> Vec<Surface<'_>> {
    let mut out: Vec<Surface> = Vec::new();
    for r in rows.iter().filter(|r| {
        r.status == RunStatus::Completed
            && r.levels.is_some()
            && r.read_noise.is_some()
            && r.test_acc.is_some()
    }) {
        let rounding = r.rounding.clone().unwrap_or_else(|| "-".into());
        let (rule, chip) = (rule_tag(r), r.chip.clone());
        match out
            .iter_mut()
            .find(|s| s.rule == rule && s.chip == chip && s.rounding == rounding)
        {
            Some(s) => s.rows.push(r),
            None => out.push(Surface {
                rule,
                chip,
                rounding,
                rows: vec![r],
            }),
        }
    }
    let spans = |s: &Surface, f: &dyn Fn(&Row) -> f64| {
        let mut v: Vec<f64> = s.rows.iter().map(|r| f(r)).collect();
        v.sort_by(f64::total_cmp);
        v.dedup();
        v.len() >= 2
    };
    out.retain(|s| {
        spans(s, &|r| r.levels.unwrap_or(0) as f64) && spans(s, &|r| r.read_noise.unwrap_or(0.0))
    });
    out
}

/// A file-name piece: letters, digits, `-` and `_` kept, anything else `_`.
fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_matches('_')
        .to_string()
}

/// Writes every figure for `runs` into `dir` (created if missing); returns the files written,
/// each with a one-line description of what it shows.
pub fn plot_all(
    runs: &[RunRecord],
    dir: &Path,
) -> Result<Vec<(PathBuf, String)>, crate::output::report_error::ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| {
        crate::output::report_error::ReportError::Io {
            path: dir.to_path_buf(),
            what: "cannot create the plot directory",
            source,
        }
    })?;
    let rows: Vec<Row> = runs.iter().map(Row::of).collect();
    let chips = chip_labels(runs);
    let what = what_ran(&rows, &chips);
    let mut written = Vec::new();

    let p = dir.join("learning_curves.png");
    plots::learning_curves(
        &p,
        &format!("Learning curves\n{what}"),
        &curves(runs, &rows),
    )?;
    written.push((p, "training and test accuracy per epoch".to_string()));

    let bits = |r: &Row| r.levels.filter(|&l| l > 0).map(|l| (l as f64).log2());
    if let Some(pts) = sweep_points(&rows, bits) {
        let p = dir.join("accuracy_vs_bits.png");
        plots::accuracy_vs(
            &p,
            &format!("Final test accuracy vs weight precision\n{what}"),
            "weight precision (bits = log2 device levels)",
            XAxis::Integer,
            &pts,
        )?;
        written.push((p, "final test accuracy against weight precision".into()));
    }
    if let Some(pts) = sweep_points(&rows, |r| r.read_noise) {
        let p = dir.join("accuracy_vs_read_noise.png");
        plots::accuracy_vs(
            &p,
            &format!("Final test accuracy vs read noise\n{what}"),
            "read noise σ_out (read.out_noise, normalised output units; log scale)",
            XAxis::LogWithZero,
            &pts,
        )?;
        written.push((p, "final test accuracy against read noise".into()));
    }
    let several_chips = rows.iter().any(|r| r.chip != rows[0].chip);
    for s in surfaces(&rows) {
        let mut name = format!("heatmap_{}_{}", slug(&s.rule), slug(&s.rounding));
        if several_chips {
            name += &format!("_{}", slug(&s.chip));
        }
        let p = dir.join(format!("{name}.png"));
        let cells: Vec<Cell> = s
            .rows
            .iter()
            .map(|r| Cell {
                levels: r.levels.unwrap_or(0),
                sigma: r.read_noise.unwrap_or(0.0),
                acc: r.test_acc.unwrap_or(f64::NAN),
            })
            .collect();
        let data = distinct(s.rows.iter().map(|r| r.data.clone()), "data sets");
        plots::heatmap(
            &p,
            &format!(
                "{}: final test accuracy (%), device levels × read noise\n{data}, chip {}{}",
                s.rule,
                chip_label(&chips, &s.chip),
                if chip_label(&chips, &s.chip).contains("update.rounding=") {
                    String::new()
                } else {
                    format!(", {} rounding", s.rounding)
                }
            ),
            &cells,
        )?;
        written.push((
            p,
            format!(
                "{} on {} ({} rounding): final test accuracy over device levels × read noise",
                s.rule, s.chip, s.rounding
            ),
        ));
    }
    let bars: Vec<EnergyBar> = rows
        .iter()
        .filter_map(|r| {
            Some(EnergyBar {
                label: r.name.clone(),
                per_phase_pj: r.energy_pj?,
            })
        })
        .collect();
    if !bars.is_empty() || runs.is_empty() {
        let p = dir.join("energy.png");
        plots::energy_bars(
            &p,
            &format!("Training energy per training sample, by phase\n{what}"),
            &bars,
        )?;
        written.push((p, "training energy per training sample, by phase".into()));
    }
    let times: Vec<EnergyBar> = rows
        .iter()
        .filter_map(|r| {
            Some(EnergyBar {
                label: r.name.clone(),
                per_phase_pj: r.time_ns?,
            })
        })
        .collect();
    if !times.is_empty() {
        let p = dir.join("time.png");
        plots::phase_bars(
            &p,
            &format!("Chip time per training sample, by phase\n{what}"),
            plots::PhaseQuantity::Time,
            &times,
        )?;
        written.push((p, "chip time per training sample, by phase".into()));
    }
    written.extend(super::front::plot_fronts(runs, &rows, &what, dir)?);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_dropped_from_labels_only() {
        assert_eq!(
            without_seed("chip=rram levels=4 rule=bp lr=0.001 seed=12"),
            "chip=rram levels=4 rule=bp lr=0.001"
        );
        assert_eq!(slug("danp-nn*"), "danp-nn");
        assert_eq!(slug("a/b c"), "a_b_c");
        assert_eq!(
            distinct(["a", "b", "a"].iter().map(|s| s.to_string()), "x"),
            "a, b"
        );
        assert_eq!(
            distinct((0..7).map(|i| i.to_string()), "rules"),
            "0, 1, 2, 3, 4, 5, 6"
        );
        assert_eq!(distinct((0..9).map(|i| i.to_string()), "rules"), "9 rules");
        // A title names up to eight rules after "rules", and beyond that only counts them.
        let rows_of = |n: usize| -> Vec<Row> {
            (0..n)
                .map(|i| {
                    let mut r = super::super::tests::row("r", RunStatus::Completed);
                    r.rule = format!("rule{i}");
                    r.oracle = false;
                    r
                })
                .collect()
        };
        let t = what_ran(&rows_of(7), &[]);
        assert!(
            t.ends_with(", rules rule0, rule1, rule2, rule3, rule4, rule5, rule6"),
            "{t}"
        );
        let t = what_ran(&rows_of(9), &[]);
        assert!(t.ends_with(", chip rram, 9 rules"), "{t}");
        assert!(what_ran(&rows_of(1), &[]).ends_with(", chip rram, rule rule0"));
    }

    /// Learning curves merge seeds only: runs that differ in a decorrelator option (here
    /// `decor_sample`, `decor_every`, `decor_blocks` or `decor_layers`) are separate curves,
    /// told apart by their first run's name; two seeds of one setting share a label.
    #[test]
    fn curves_keep_decorrelator_options_apart_and_merge_seeds() {
        let mk = |name: &str, seed: i64, key: &str, v: AttrValue| {
            let mut a = Attrs::new();
            a.insert("rule".into(), AttrValue::Text("danp-nn".into()));
            a.insert("seed".into(), AttrValue::Int(seed));
            a.insert(key.into(), v);
            super::super::tests::record(name, a)
        };
        for (key, a, b) in [
            ("decor_sample", AttrValue::Float(1.0), AttrValue::Float(0.1)),
            ("decor_every", AttrValue::Int(1), AttrValue::Int(4)),
            (
                "decor_blocks",
                AttrValue::Text("full".into()),
                AttrValue::Text("array".into()),
            ),
            (
                "decor_layers",
                AttrValue::Text("all".into()),
                AttrValue::Text("hidden".into()),
            ),
        ] {
            let runs = [
                mk("x-s1", 1, key, a.clone()),
                mk("x-s2", 2, key, a),
                mk("y-s1", 1, key, b),
            ];
            let rows: Vec<Row> = runs
                .iter()
                .map(|r| {
                    let mut row = super::super::tests::row(&r.name, RunStatus::Completed);
                    row.rule = "danp-nn".into();
                    row.oracle = false;
                    row
                })
                .collect();
            let l: Vec<String> = curves(&runs, &rows).into_iter().map(|c| c.label).collect();
            let (x, y) = (&l[0], &l[2]);
            assert_eq!(l[1], *x, "{key}: two seeds share a label");
            assert_ne!(x, y, "{key}");
            assert!(y.contains(short_name(key)), "{key}: {y}");
        }
        // A setting the labels do not name (`leaky_slope`): told apart by the first run's name.
        let runs = [
            mk("x-s1", 1, "leaky_slope", AttrValue::Float(0.2)),
            mk("y-s1", 1, "leaky_slope", AttrValue::Float(0.1)),
        ];
        let rows: Vec<Row> = runs
            .iter()
            .map(|r| super::super::tests::row(&r.name, RunStatus::Completed))
            .collect();
        let l: Vec<String> = curves(&runs, &rows).into_iter().map(|c| c.label).collect();
        assert_eq!(l, ["bp* on rram (x-s1)", "bp* on rram (y-s1)"]);
    }

    fn short_name(key: &str) -> &str {
        match key {
            "decor_sample" => "sample=",
            "decor_every" => "every=",
            "decor_blocks" => "blocks=",
            _ => "layers=",
        }
    }
}
