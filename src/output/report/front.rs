//! The accuracy–energy and accuracy–time fronts of a report's runs: which runs are points,
//! how each is labelled, the two figures and the text table of each front.
//!
//! A run is a point when it completed with a final test accuracy and a positive cost per
//! training sample; any other run is named in a note, never silently dropped. Its label is its
//! rule and the settings that differ between the plotted runs (`decor_sample` → `sample=0.1`,
//! chip overrides → `read.out_noise=0.1`), so a front of cheap configurations reads as what
//! was changed; settings shared by all go into the title instead. Runs that differ only in
//! their seed are one point: the mean of their costs and accuracies, with a bar from the worst
//! to the best seed, so that a front of configurations is not a front of lucky seeds.

use super::super::hdf5::{AttrValue, RunRecord, RunStatus};
use super::super::plots::{self, ParetoPoint};
use super::figures::setting_key;
use super::Row;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Run attributes that name a configuration when they differ, with their short label names.
const LABEL_KEYS: &[(&str, &str)] = &[
    ("chip_name", "chip"),
    ("decor_precision", "decor"),
    ("decor_bits", "bits"),
    ("decor_bound", "bound"),
    ("decor_sample", "sample"),
    ("decor_every", "every"),
    ("decor_blocks", "blocks"),
    ("decor_layers", "layers"),
    ("decor_rule", "decor_rule"),
    ("decor_kappa", "κ"),
    ("decor_lr", "decor_lr"),
    ("resamples", "K"),
    ("inject", "inject"),
    ("inject_sigma", "σ_inj"),
    ("lr", "lr"),
    ("optimizer", "opt"),
    ("loss", "loss"),
    ("batch", "batch"),
    ("epochs", "epochs"),
    ("arch", "arch"),
    ("sizes", "sizes"),
    ("data_name", "data"),
];

/// A value as a label shows it: an f32 stored as f64 in its shortest f32 form (0.1, not
/// 0.10000000149011612).
fn short(v: &AttrValue) -> String {
    match v {
        AttrValue::Float(x) if f64::from(*x as f32) == *x => format!("{}", *x as f32),
        other => other.to_string(),
    }
}

/// Per run, `rule[*] key=value…` over the keys (and `chip.*` parameters) whose values differ
/// among `runs`, each named only where the run departs from the value most of the runs share
/// (the full decorrelator of a grid of thinned ones is just `danp-nn`); with no such majority
/// every run names it. A fixed-point precision reads `decor=fixed:BITS:BOUND`; settings a run
/// does not have (an analog section's keys on a digital run, `decor_*` on a rule without
/// decorrelation) are left out of its label.
pub(super) fn labels(runs: &[&RunRecord], rows: &[&Row]) -> Vec<String> {
    let mut keys: Vec<(String, String)> = LABEL_KEYS
        .iter()
        .filter(|(k, _)| !matches!(*k, "decor_bits" | "decor_bound"))
        .map(|(k, s)| (k.to_string(), s.to_string()))
        .collect();
    let mut chip_keys: Vec<String> = runs
        .iter()
        .flat_map(|r| r.attrs.keys())
        // Prose (descriptions, sources) labels nothing.
        .filter(|k| k.starts_with("chip.") && *k != "chip.name")
        .filter(|k| !k.ends_with("source") && !k.ends_with("description"))
        .cloned()
        .collect();
    chip_keys.sort();
    chip_keys.dedup();
    keys.extend(
        chip_keys
            .into_iter()
            .map(|k| (k.clone(), k[5..].to_string())),
    );
    let decorrelated: Vec<bool> = rows
        .iter()
        .map(|row| {
            row.rule
                .parse::<crate::learn::RuleSpec>()
                .map_or(true, |r| r.decorrelated)
        })
        .collect();
    // What run `i` shows for key `k`, if it has that setting at all.
    let value = |i: usize, k: &str| -> Option<String> {
        if k.starts_with("decor_") && !decorrelated[i] {
            return None;
        }
        let a = &runs[i].attrs;
        let v = a.get(k).map(short)?;
        if k == "decor_precision" && v == "fixed" {
            let part = |n: &str| a.get(n).map(short).unwrap_or_else(|| "?".into());
            return Some(format!(
                "fixed:{}:{}",
                part("decor_bits"),
                part("decor_bound")
            ));
        }
        Some(v)
    };
    let mut shown: Vec<Vec<String>> = vec![Vec::new(); runs.len()];
    // A chip parameter is compared only among runs of the same chip: between presets the
    // preset's name (`chip=`) says it, and every parameter of the preset would drown the label.
    let chip_of: Vec<Option<String>> = (0..runs.len()).map(|i| value(i, "chip_name")).collect();
    for (k, name) in &keys {
        let groups: Vec<Vec<usize>> = if k.starts_with("chip.") {
            let mut names: Vec<&Option<String>> = chip_of.iter().collect();
            names.sort();
            names.dedup();
            names
                .into_iter()
                .map(|c| (0..runs.len()).filter(|&i| &chip_of[i] == c).collect())
                .collect()
        } else {
            vec![(0..runs.len()).collect()]
        };
        for group in groups {
            let values: Vec<(usize, Option<String>)> =
                group.iter().map(|&i| (i, value(i, k))).collect();
            let present: Vec<&String> = values.iter().filter_map(|(_, v)| v.as_ref()).collect();
            if present.windows(2).all(|w| w[0] == w[1]) {
                continue;
            }
            let majority = majority(&present);
            for (i, v) in &values {
                if let Some(v) = v.as_ref().filter(|v| Some(*v) != majority) {
                    shown[*i].push(format!("{name}={v}"));
                }
            }
        }
    }
    rows.iter()
        .zip(shown)
        .map(|(row, parts)| {
            let mut s = format!("{}{}", row.rule, if row.oracle { "*" } else { "" });
            for p in parts {
                let _ = write!(s, " {p}");
            }
            s
        })
        .collect()
}

/// The value more runs share than any other, if one does.
fn majority<'a>(values: &[&'a String]) -> Option<&'a String> {
    let mut counts: Vec<(&String, usize)> = Vec::new();
    for v in values {
        match counts.iter_mut().find(|(w, _)| w == v) {
            Some((_, n)) => *n += 1,
            None => counts.push((v, 1)),
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    match counts.as_slice() {
        [(v, n), (_, m), ..] if n > m => Some(v),
        [(v, _)] => Some(v),
        _ => None,
    }
}

/// One front's runs: indices into the report's rows, their costs, and notes on runs left out.
pub(super) struct Candidates {
    pub idx: Vec<usize>,
    pub cost: Vec<f64>,
    pub notes: Vec<String>,
}

/// The completed runs with a final test accuracy and a positive `cost`; the others in notes.
pub(super) fn candidates(
    rows: &[Row],
    what: &str,
    cost: impl Fn(&Row) -> Option<f64>,
) -> Candidates {
    let mut c = Candidates {
        idx: Vec::new(),
        cost: Vec::new(),
        notes: Vec::new(),
    };
    for (i, r) in rows.iter().enumerate() {
        let why = match (r.status == RunStatus::Completed, r.test_acc, cost(r)) {
            (false, ..) => Some(r.status.name().to_string()),
            (_, None, _) => Some("no test accuracy".into()),
            (_, _, None) => Some(format!("no {what}")),
            (_, _, Some(x)) if x.is_nan() || x <= 0.0 => Some(format!("{what} {x}")),
            _ => None,
        };
        match why {
            Some(w) => c.notes.push(format!("left out: {} ({w})", r.name)),
            None => {
                c.idx.push(i);
                c.cost.push(cost(r).expect("checked"));
            }
        }
    }
    c
}

/// One point of a front: the candidate runs of one setting (repeats that differ only in their
/// seed, [`setting_key`]), as positions in [`Candidates::idx`], with their mean cost and mean
/// accuracy, and the worst and best accuracy when there are several.
pub(super) struct SettingPoint {
    pub members: Vec<usize>,
    pub cost: f64,
    pub acc: f64,
    pub range: Option<(f64, f64)>,
}

/// The candidates grouped by setting, in the order each setting first appears.
pub(super) fn setting_points(
    runs: &[RunRecord],
    rows: &[Row],
    c: &Candidates,
) -> Vec<SettingPoint> {
    let mut keys: Vec<String> = Vec::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (k, &i) in c.idx.iter().enumerate() {
        let key = setting_key(&runs[i].attrs);
        match keys.iter().position(|x| *x == key) {
            Some(g) => groups[g].push(k),
            None => {
                keys.push(key);
                groups.push(vec![k]);
            }
        }
    }
    groups
        .into_iter()
        .map(|members| {
            let n = members.len() as f64;
            let accs: Vec<f64> = members
                .iter()
                .map(|&k| rows[c.idx[k]].test_acc.unwrap_or(f64::NAN))
                .collect();
            let cost = members.iter().map(|&k| c.cost[k]).sum::<f64>() / n;
            let acc = accs.iter().sum::<f64>() / n;
            let range = (members.len() > 1).then(|| {
                accs.iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &a| {
                        (lo.min(a), hi.max(a))
                    })
            });
            SettingPoint {
                members,
                cost,
                acc,
                range,
            }
        })
        .collect()
}

/// Per point, its label ([`labels`] of each setting's first run) and, for several runs,
/// how many seeds (or runs, when seeds repeat) it averages.
fn point_labels(
    runs: &[RunRecord],
    rows: &[Row],
    c: &Candidates,
    pts: &[SettingPoint],
) -> Vec<String> {
    let first = |p: &SettingPoint| c.idx[p.members[0]];
    let base = labels(
        &pts.iter().map(|p| &runs[first(p)]).collect::<Vec<_>>(),
        &pts.iter().map(|p| &rows[first(p)]).collect::<Vec<_>>(),
    );
    pts.iter()
        .zip(base)
        .map(|(p, l)| {
            let n = p.members.len();
            if n == 1 {
                return l;
            }
            let mut seeds: Vec<String> = p
                .members
                .iter()
                .map(|&k| {
                    runs[c.idx[k]]
                        .attrs
                        .get("seed")
                        .map_or(String::new(), |v| v.to_string())
                })
                .collect();
            seeds.sort();
            seeds.dedup();
            let what = if seeds.len() == n { "seeds" } else { "runs" };
            format!("{l} ({n} {what})")
        })
        .collect()
}

fn energy(r: &Row) -> Option<f64> {
    r.energy_pj.map(|e| e.iter().sum())
}

fn time(r: &Row) -> Option<f64> {
    r.time_ns.map(|t| t.iter().sum())
}

/// One front: its file, the cost's name, the cost of a row, and whether it is an energy.
struct Kind {
    file: &'static str,
    word: &'static str,
    cost: fn(&Row) -> Option<f64>,
    is_energy: bool,
}

/// The two fronts.
const KINDS: [Kind; 2] = [
    Kind {
        file: "accuracy_energy.png",
        word: "energy",
        cost: energy,
        is_energy: true,
    },
    Kind {
        file: "accuracy_time.png",
        word: "time",
        cost: time,
        is_energy: false,
    },
];

fn unit(energy: bool, max: f64) -> (f64, &'static str) {
    if energy {
        plots::energy_unit(max)
    } else {
        plots::time_unit(max)
    }
}

/// Writes `accuracy_energy.png` and `accuracy_time.png` into `dir` when at least two runs
/// have that cost; returns the files written with a description each.
pub(super) fn plot_fronts(
    runs: &[RunRecord],
    rows: &[Row],
    what: &str,
    dir: &Path,
) -> Result<Vec<(PathBuf, String)>, plots::PlotError> {
    let mut written = Vec::new();
    for &Kind {
        file,
        word,
        cost,
        is_energy,
    } in &KINDS
    {
        let c = candidates(rows, &format!("{word} per sample"), cost);
        if c.idx.len() < 2 {
            continue;
        }
        let pts = setting_points(runs, rows, &c);
        if pts.len() < 2 {
            continue;
        }
        let max = c.cost.iter().copied().fold(0.0, f64::max);
        let (div, u) = unit(is_energy, max);
        let points: Vec<ParetoPoint> = pts
            .iter()
            .zip(point_labels(runs, rows, &c, &pts))
            .map(|(p, label)| ParetoPoint {
                label,
                cost: p.cost / div,
                acc: p.acc,
                acc_range: p.range,
                oracle: rows[c.idx[p.members[0]]].oracle,
            })
            .collect();
        let p = dir.join(file);
        let x_desc = if is_energy {
            format!("training energy per training sample ({u}, log scale)")
        } else {
            format!("chip time per training sample ({u}, log scale; [timing] of the chip model)")
        };
        plots::pareto(
            &p,
            &format!("Final test accuracy vs {word} per training sample, Pareto front\n{what}"),
            &x_desc,
            &points,
            &c.notes,
        )?;
        written.push((
            p,
            format!(
                "final test accuracy against {word} per training sample, with the Pareto front"
            ),
        ));
    }
    Ok(written)
}

/// The fronts as text: per cost, the front's runs by ascending cost (cost, accuracy, run,
/// configuration), then the runs left out; empty when fewer than two runs have either cost.
pub fn front_text(runs: &[RunRecord], rows: &[Row]) -> String {
    let mut s = String::new();
    for &Kind {
        word,
        cost,
        is_energy,
        ..
    } in &KINDS
    {
        let c = candidates(rows, &format!("{word} per sample"), cost);
        if c.idx.len() < 2 {
            continue;
        }
        let pts = setting_points(runs, rows, &c);
        if pts.len() < 2 {
            continue;
        }
        let label = point_labels(runs, rows, &c, &pts);
        let pairs: Vec<(f64, f64)> = pts.iter().map(|p| (p.cost, p.acc)).collect();
        let on = plots::front(&pairs);
        let max = c.cost.iter().copied().fold(0.0, f64::max);
        let (div, u) = unit(is_energy, max);
        let _ = writeln!(
            s,
            "\nAccuracy–{word} front: the best final test accuracy for at most this {word} per training sample ({} of {} settings, {} runs; several seeds: their mean, worst–best):",
            on.len(),
            pts.len(),
            c.idx.len()
        );
        let names: Vec<String> = pts
            .iter()
            .map(|p| {
                p.members
                    .iter()
                    .map(|&k| rows[c.idx[k]].name.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        let name_w = on
            .iter()
            .map(|&k| names[k].chars().count())
            .max()
            .unwrap_or(0);
        for &k in &on {
            let spread = pts[k].range.map_or(String::new(), |(lo, hi)| {
                format!(" ({:.2}–{:.2}%)", 100.0 * lo, 100.0 * hi)
            });
            let _ = writeln!(
                s,
                "  {:>10.3} {u}  {:>6.2}%{spread}  {:<name_w$}  {}",
                pts[k].cost / div,
                100.0 * pairs[k].1,
                names[k],
                label[k]
            );
        }
        for n in &c.notes {
            let _ = writeln!(s, "  {n}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::hdf5::Attrs;

    fn row(name: &str, acc: Option<f64>, e: Option<f64>) -> Row {
        let mut r = super::super::tests::row(name, RunStatus::Completed);
        r.test_acc = acc;
        r.energy_pj = e.map(|e| [e, 0.0, 0.0, 0.0]);
        r
    }

    #[test]
    fn runs_without_energy_are_left_out_with_a_note() {
        let rows = [
            row("a", Some(0.9), Some(10.0)),
            row("b", Some(0.8), None),
            row("c", None, Some(5.0)),
            row("d", Some(0.7), Some(0.0)),
        ];
        let c = candidates(&rows, "energy per sample", energy);
        assert_eq!(c.idx, vec![0]);
        assert_eq!(c.cost, vec![10.0]);
        assert_eq!(
            c.notes,
            [
                "left out: b (no energy per sample)",
                "left out: c (no test accuracy)",
                "left out: d (energy per sample 0)"
            ]
        );
    }

    /// Runs equal but for the seed are one point (mean cost, mean accuracy, worst–best bar);
    /// a run that differs in a decorrelator option (here only `decor_sample`) stays apart.
    #[test]
    fn seeds_of_one_setting_are_one_point_with_their_spread() {
        let mk = |seed: i64, sample: f64| {
            let mut a = Attrs::new();
            a.insert("rule".into(), AttrValue::Text("danp-nn".into()));
            a.insert("seed".into(), AttrValue::Int(seed));
            a.insert("decor_sample".into(), AttrValue::Float(sample));
            super::super::tests::record("", a)
        };
        let runs = [mk(1, 1.0), mk(1, 0.5), mk(2, 1.0), mk(3, 1.0)];
        let mut rows = [
            row("full-s1", Some(0.30), Some(10.0)),
            row("half-s1", Some(0.20), Some(5.0)),
            row("full-s2", Some(0.50), Some(20.0)),
            row("full-s3", Some(0.40), Some(30.0)),
        ];
        for r in &mut rows {
            r.rule = "danp-nn".into();
            r.oracle = false;
        }
        let c = candidates(&rows, "energy per sample", energy);
        let pts = setting_points(&runs, &rows, &c);
        assert_eq!(pts.len(), 2);
        assert_eq!(pts[0].members, vec![0, 2, 3]);
        assert!((pts[0].cost - 20.0).abs() < 1e-12);
        assert!((pts[0].acc - 0.40).abs() < 1e-12);
        assert_eq!(pts[0].range, Some((0.30, 0.50)));
        assert_eq!((pts[1].members.clone(), pts[1].range), (vec![1], None));
        let l = point_labels(&runs, &rows, &c, &pts);
        assert_eq!(l, ["danp-nn sample=1 (3 seeds)", "danp-nn sample=0.5"]);
        let t = front_text(&runs, &rows);
        assert!(t.contains("(2 of 2 settings, 4 runs"), "{t}");
        assert!(
            t.contains(
                "40.00% (30.00–50.00%)  full-s1,full-s2,full-s3  danp-nn sample=1 (3 seeds)"
            ),
            "{t}"
        );
        // The same setting run twice with one seed: "runs", not "seeds".
        let twice = [mk(1, 1.0), mk(1, 1.0), mk(1, 0.5)];
        let c = candidates(&rows[..3], "energy per sample", energy);
        let pts = setting_points(&twice, &rows[..3], &c);
        assert!(point_labels(&twice, &rows[..3], &c, &pts)[0].ends_with("(2 runs)"));
    }

    #[test]
    fn labels_name_what_differs_between_runs() {
        let mk = |sample: f64, blocks: &str, noise: f64| {
            let mut a = Attrs::new();
            a.insert(
                "decor_sample".into(),
                AttrValue::Float(f64::from(sample as f32)),
            );
            a.insert("decor_blocks".into(), AttrValue::Text(blocks.into()));
            a.insert("lr".into(), AttrValue::Float(1e-3));
            a.insert("chip.read.out_noise".into(), AttrValue::Float(noise));
            super::super::tests::record("", a)
        };
        let runs = [
            mk(1.0, "full", 0.1),
            mk(0.1, "array", 0.1),
            mk(0.1, "full", 0.2),
        ];
        let mut rows = [
            row("a", Some(0.9), Some(1.0)),
            row("b", Some(0.9), Some(1.0)),
            row("c", Some(0.9), Some(1.0)),
        ];
        for r in &mut rows[..2] {
            r.rule = "danp".into();
            r.oracle = false;
        }
        let l = labels(
            &runs.iter().collect::<Vec<_>>(),
            &rows.iter().collect::<Vec<_>>(),
        );
        // lr is shared, so unnamed; BP has no decorrelator, so no decor_* settings; the two
        // DANP runs tie on sample and blocks (both named), read noise 0.1 is the majority's.
        assert_eq!(
            l,
            [
                "danp sample=1 blocks=full",
                "danp sample=0.1 blocks=array",
                "bp* read.out_noise=0.2"
            ]
        );
    }

    #[test]
    fn labels_between_presets_name_the_preset_not_its_parameters() {
        let mk = |chip: &str, levels: i64, noise: f64| {
            let mut a = Attrs::new();
            a.insert("chip_name".into(), AttrValue::Text(chip.into()));
            a.insert("chip.device.levels".into(), AttrValue::Int(levels));
            a.insert("chip.read.out_noise".into(), AttrValue::Float(noise));
            a.insert(
                "chip.description".into(),
                AttrValue::Text(format!("{chip}-like")),
            );
            super::super::tests::record("", a)
        };
        // Two presets, and two rram runs that differ in read noise only.
        let runs = [
            mk("ecram", 1001, 0.06),
            mk("rram", 501, 0.06),
            mk("rram", 501, 0.2),
        ];
        let rows = [
            row("a", Some(0.9), Some(1.0)),
            row("b", Some(0.9), Some(1.0)),
            row("c", Some(0.9), Some(1.0)),
        ];
        let l = labels(
            &runs.iter().collect::<Vec<_>>(),
            &rows.iter().collect::<Vec<_>>(),
        );
        assert_eq!(
            l,
            [
                "bp* chip=ecram",
                "bp* read.out_noise=0.06",
                "bp* read.out_noise=0.2"
            ]
        );
    }

    #[test]
    fn labels_leave_out_what_most_runs_share_and_fold_fixed_point() {
        let mk = |precision: &str, bits: i64, sample: f64| {
            let mut a = Attrs::new();
            a.insert("decor_precision".into(), AttrValue::Text(precision.into()));
            a.insert("decor_bits".into(), AttrValue::Int(bits));
            a.insert("decor_bound".into(), AttrValue::Float(4.0));
            a.insert(
                "decor_sample".into(),
                AttrValue::Float(f64::from(sample as f32)),
            );
            super::super::tests::record("", a)
        };
        let runs = [
            mk("f32", 0, 1.0),
            mk("f32", 0, 0.1),
            mk("fixed", 8, 0.1),
            mk("f32", 0, 1.0),
            mk("f32", 0, 1.0),
        ];
        let mut rows: Vec<Row> = (0..5)
            .map(|i| row(&i.to_string(), Some(0.9), Some(1.0)))
            .collect();
        for r in &mut rows {
            r.rule = "danp-nn".into();
            r.oracle = false;
        }
        let l = labels(
            &runs.iter().collect::<Vec<_>>(),
            &rows.iter().collect::<Vec<_>>(),
        );
        // f32 and sample = 1 are the majority's: unnamed; bits and bound only inside `fixed:`.
        assert_eq!(
            l,
            [
                "danp-nn",
                "danp-nn sample=0.1",
                "danp-nn decor=fixed:8:4 sample=0.1",
                "danp-nn",
                "danp-nn"
            ]
        );
    }
}
