//! `npchip report FILE [--out DIR]`: a table of the runs in a result file and PNG plots.
//!
//! The table has one line per run: rule (`*` marks an oracle rule, which reads chip internals a
//! real controller cannot), chip, device levels, read noise, epochs done, final train and test
//! accuracy, training energy per training sample by phase, programming pulses per weight, the
//! fraction of ADC conversions that saturated, and the status; messages of failed or diverged
//! runs follow the table. Energies and counts are totals over all finished epochs divided by
//! the samples trained on, so runs of different lengths compare.
//!
//! Plots (with `--out`): `learning_curves.png` always (empty axes for a file without epochs);
//! `accuracy_vs_bits.png` and `accuracy_vs_read_noise.png` when completed runs span at least
//! two values of that parameter (one line per rule, and per chip when there are several: the
//! mean over the other axes, each run a dot); `energy.png`, stacked bars per run.

use super::hdf5::{read_root_attrs, read_runs, Attrs, RunRecord, RunStatus};
use super::plots::{self, Curve, EnergyBar, Point};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One line of the table, extracted from a stored run.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Run (group) name.
    pub name: String,
    /// Rule name.
    pub rule: String,
    /// Whether the rule is an oracle.
    pub oracle: bool,
    /// Chip name.
    pub chip: String,
    /// Device levels (None: ideal chip).
    pub levels: Option<i64>,
    /// Output read noise (None: no read path).
    pub read_noise: Option<f64>,
    /// Finished epochs.
    pub epochs_done: usize,
    /// Requested epochs.
    pub epochs: Option<i64>,
    /// Final training accuracy.
    pub train_acc: Option<f64>,
    /// Final test accuracy.
    pub test_acc: Option<f64>,
    /// Training energy per training sample by phase, pJ (None without finished epochs).
    pub energy_pj: Option<[f64; 4]>,
    /// Programming pulses (up + down, all phases) per weight over the run.
    pub pulses_per_weight: Option<f64>,
    /// Median wall time of the training part of an epoch, s (None without finished epochs).
    pub seconds_per_epoch: Option<f64>,
    /// Saturated ADC conversions / ADC conversions in training (None without an ADC).
    pub adc_saturation: Option<f64>,
    /// How the run ended.
    pub status: RunStatus,
    /// Sweep coordinates, if the run is part of a sweep.
    pub point: Option<String>,
}

fn attr_f64(a: &Attrs, k: &str) -> Option<f64> {
    a.get(k).and_then(|v| v.as_f64())
}

fn attr_i64(a: &Attrs, k: &str) -> Option<i64> {
    a.get(k).and_then(|v| v.as_i64())
}

fn attr_str<'a>(a: &'a Attrs, k: &str) -> Option<&'a str> {
    a.get(k).and_then(|v| v.as_str())
}

/// Weights (differential pairs) of the network: Σ fan_in × fan_out from the `sizes` attribute.
fn weights(a: &Attrs) -> Option<f64> {
    let sizes: Vec<f64> = match a.get("sizes")? {
        super::hdf5::AttrValue::Ints(v) => v.iter().map(|&x| x as f64).collect(),
        super::hdf5::AttrValue::Floats(v) => v.clone(),
        _ => return None,
    };
    let n: f64 = sizes.windows(2).map(|w| w[0] * w[1]).sum();
    (n > 0.0).then_some(n)
}

impl Row {
    /// Extracts the table line of `r`.
    pub fn of(r: &RunRecord) -> Row {
        let a = &r.attrs;
        let e = &r.epochs;
        let samples: u64 = e.samples.iter().sum();
        let energy_pj = (!e.is_empty() && samples > 0).then(|| {
            let mut t = [0.0; 4];
            for epoch in &e.energy {
                for layer in epoch {
                    for (p, en) in layer.iter().enumerate() {
                        t[p] += en.total_pj();
                    }
                }
            }
            t.map(|x| x / samples as f64)
        });
        let totals = e.counters.iter().flatten().fold(
            crate::chip::energy::Counters::default(),
            |mut acc, l| {
                acc += l.total();
                acc
            },
        );
        let pulses_per_weight = (!e.is_empty())
            .then(|| weights(a).map(|w| (totals.pulses_up + totals.pulses_down) as f64 / w))
            .flatten();
        let adc_saturation = (totals.adc_conversions > 0)
            .then(|| totals.adc_saturations as f64 / totals.adc_conversions as f64);
        let seconds_per_epoch = (!e.train_seconds.is_empty()).then(|| {
            let mut t = e.train_seconds.clone();
            t.sort_by(f64::total_cmp);
            let m = t.len() / 2;
            if t.len() % 2 == 1 {
                t[m]
            } else {
                0.5 * (t[m - 1] + t[m])
            }
        });
        Row {
            name: r.name.clone(),
            rule: attr_str(a, "rule").unwrap_or("?").to_string(),
            oracle: a.get("oracle").and_then(|v| v.as_bool()).unwrap_or(false),
            chip: attr_str(a, "chip_name")
                .or_else(|| attr_str(a, "chip.name"))
                .unwrap_or("?")
                .to_string(),
            levels: attr_i64(a, "chip.device.levels"),
            read_noise: attr_f64(a, "chip.read.out_noise"),
            epochs_done: e.len(),
            epochs: attr_i64(a, "epochs"),
            train_acc: e.train_acc.last().copied(),
            test_acc: e.test_acc.last().copied(),
            energy_pj,
            pulses_per_weight,
            seconds_per_epoch,
            adc_saturation,
            status: r.status.clone(),
            point: attr_str(a, crate::sweep::record::POINT).map(str::to_string),
        }
    }
}

fn pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| format!("{:.2}%", 100.0 * v))
}

/// Renders rows as an aligned text table, messages of unsuccessful runs and the legend below.
pub fn table(rows: &[Row]) -> String {
    let max_e = rows
        .iter()
        .filter_map(|r| r.energy_pj)
        .flat_map(|e| e.into_iter())
        .fold(0.0f64, f64::max);
    let (div, unit) = plots::energy_unit(max_e);
    let header: Vec<String> = [
        "run",
        "rule",
        "chip",
        "levels",
        "read σ",
        "epochs",
        "train acc",
        "test acc",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(
        ["inference", "perturb.", "update", "decorr."]
            .iter()
            .map(|p| format!("E {p} ({unit})")),
    )
    .chain(
        ["pulses/weight", "ADC sat.", "s/epoch", "status"]
            .iter()
            .map(|s| s.to_string()),
    )
    .collect();
    let mut cells: Vec<Vec<String>> = vec![header];
    for r in rows {
        let mut c = vec![
            r.name.clone(),
            format!("{}{}", r.rule, if r.oracle { "*" } else { "" }),
            r.chip.clone(),
            r.levels.map_or("-".into(), |l| l.to_string()),
            r.read_noise.map_or("-".into(), |x| format!("{x}")),
            match r.epochs {
                Some(n) => format!("{}/{n}", r.epochs_done),
                None => r.epochs_done.to_string(),
            },
            pct(r.train_acc),
            pct(r.test_acc),
        ];
        for p in 0..4 {
            c.push(
                r.energy_pj
                    .map_or("-".into(), |e| format!("{:.3}", e[p] / div)),
            );
        }
        c.push(
            r.pulses_per_weight
                .map_or("-".into(), |x| format!("{x:.1}")),
        );
        c.push(
            r.adc_saturation
                .map_or("-".into(), |x| format!("{:.3}%", 100.0 * x)),
        );
        c.push(
            r.seconds_per_epoch
                .map_or("-".into(), |x| format!("{x:.1}")),
        );
        c.push(r.status.name().to_string());
        cells.push(c);
    }
    let ncol = cells[0].len();
    let widths: Vec<usize> = (0..ncol)
        .map(|j| {
            cells
                .iter()
                .map(|row| row[j].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut s = String::new();
    for (i, row) in cells.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(j, v)| {
                let pad = widths[j] - v.chars().count();
                // Text columns left-aligned, numbers right-aligned.
                if j < 3 || j == ncol - 1 {
                    format!("{v}{}", " ".repeat(pad))
                } else {
                    format!("{}{v}", " ".repeat(pad))
                }
            })
            .collect();
        let _ = writeln!(s, "{}", line.join("  ").trim_end());
        if i == 0 {
            let _ = writeln!(
                s,
                "{}",
                widths
                    .iter()
                    .map(|w| "-".repeat(*w))
                    .collect::<Vec<_>>()
                    .join("  ")
            );
        }
    }
    for r in rows.iter().filter(|r| !r.status.message().is_empty()) {
        let _ = writeln!(s, "{} {}: {}", r.name, r.status.name(), r.status.message());
    }
    if rows.iter().any(|r| r.oracle) {
        let _ = writeln!(s, "* oracle rule: reads chip internals (noise samples or weights) that a real controller cannot.");
    }
    let _ = writeln!(s, "E: training energy per training sample by phase; pulses/weight: programming pulses per weight over all epochs; ADC sat.: saturated / all ADC conversions in training; s/epoch: median wall time of an epoch's training (evaluation excluded).");
    s
}

fn curve(r: &RunRecord, row: &Row) -> Curve {
    let label = match &row.point {
        Some(p) => format!("{} {p}", r.name),
        None => format!("{} {} {}", r.name, row.rule, row.chip),
    };
    Curve {
        label,
        epochs: r.epochs.epoch.iter().map(|&e| e as f64).collect(),
        train_acc: r.epochs.train_acc.clone(),
        test_acc: r.epochs.test_acc.clone(),
    }
}

/// Points of an accuracy-vs-parameter plot: completed runs with the parameter; None when they
/// span fewer than two values.
fn sweep_points(rows: &[Row], x: impl Fn(&Row) -> Option<f64>) -> Option<Vec<Point>> {
    let several_chips = rows.iter().any(|r| r.chip != rows[0].chip);
    let pts: Vec<Point> = rows
        .iter()
        .filter(|r| r.status == RunStatus::Completed)
        .filter_map(|r| {
            let series = if several_chips {
                format!("{}{} ({})", r.rule, if r.oracle { "*" } else { "" }, r.chip)
            } else {
                format!("{}{}", r.rule, if r.oracle { "*" } else { "" })
            };
            Some(Point {
                series,
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

/// Writes every plot for `runs` into `dir` (created if missing); returns the files written.
pub fn plot_all(runs: &[RunRecord], dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("{}: cannot create the plot directory: {e}", dir.display()))?;
    let rows: Vec<Row> = runs.iter().map(Row::of).collect();
    let mut written = Vec::new();
    let p = dir.join("learning_curves.png");
    let curves: Vec<Curve> = runs
        .iter()
        .zip(&rows)
        .map(|(r, row)| curve(r, row))
        .collect();
    plots::learning_curves(&p, &curves)?;
    written.push(p);
    if let Some(pts) = sweep_points(&rows, |r| {
        r.levels.filter(|&l| l > 0).map(|l| (l as f64).log2())
    }) {
        let p = dir.join("accuracy_vs_bits.png");
        plots::accuracy_vs(
            &p,
            "final test accuracy vs weight precision",
            "weight bits (log2 device levels)",
            &pts,
        )?;
        written.push(p);
    }
    if let Some(pts) = sweep_points(&rows, |r| r.read_noise) {
        let p = dir.join("accuracy_vs_read_noise.png");
        plots::accuracy_vs(
            &p,
            "final test accuracy vs read noise",
            "read noise σ (read.out_noise, normalised output units)",
            &pts,
        )?;
        written.push(p);
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
        plots::energy_bars(&p, &bars)?;
        written.push(p);
    }
    Ok(written)
}

fn header(path: &Path, root: &Attrs, n: usize) -> String {
    let mut s = format!(
        "{}: {n} run{}",
        path.display(),
        if n == 1 { "" } else { "s" }
    );
    if let Some(v) = root.get("npchip_version").and_then(|v| v.as_str()) {
        let _ = write!(s, ", npchip {v}");
    }
    if let Some(c) = root.get("created").and_then(|v| v.as_str()) {
        let _ = write!(s, ", created {c}");
    }
    if let Some(points) = root
        .get(crate::sweep::record::POINTS)
        .and_then(|v| v.as_i64())
    {
        let shard = root
            .get(crate::sweep::record::SHARD)
            .and_then(|v| v.as_str())
            .unwrap_or("0/1");
        let _ = write!(
            s,
            "; sweep of {points} grid points{}",
            if shard == "0/1" {
                String::new()
            } else {
                format!(", shard {shard}")
            }
        );
    }
    s
}

/// The runs of `files`, named as [`run`] names them; `header` gets each file's header line.
pub fn collect(
    files: &[PathBuf],
    mut header_line: impl FnMut(&str),
) -> anyhow::Result<Vec<RunRecord>> {
    let mut runs = Vec::new();
    for file in files {
        let root = read_root_attrs(file)?;
        let mut these = read_runs(file)?;
        header_line(&header(file, &root, these.len()));
        if files.len() > 1 {
            let stem = file.file_stem().map_or_else(
                || file.display().to_string(),
                |s| s.to_string_lossy().into(),
            );
            let single = these.len() == 1;
            for r in &mut these {
                r.name = if single {
                    stem.clone()
                } else {
                    format!("{stem}/{}", r.name)
                };
            }
        }
        runs.append(&mut these);
    }
    Ok(runs)
}

/// Prints one table of the runs of `files` and, with `out`, writes the plots there. With more
/// than one file each run is named `<file stem>/<run>` (or just the stem when the file holds a
/// single run), so runs of separate `npchip train` calls can be compared in one table.
pub fn run(files: &[PathBuf], out: Option<&Path>) -> anyhow::Result<()> {
    let runs = collect(files, |h| println!("{h}"))?;
    println!();
    let rows: Vec<Row> = runs.iter().map(Row::of).collect();
    if rows.is_empty() {
        println!("(no runs)");
    } else {
        print!("{}", table(&rows));
    }
    if let Some(dir) = out {
        let written = plot_all(&runs, dir)?;
        eprintln!(
            "plots: {}",
            written
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, status: RunStatus) -> Row {
        Row {
            name: name.into(),
            rule: "bp".into(),
            oracle: true,
            chip: "rram".into(),
            levels: Some(16),
            read_noise: Some(0.06),
            epochs_done: 2,
            epochs: Some(2),
            train_acc: Some(0.5),
            test_acc: Some(0.25),
            energy_pj: Some([1500.0, 0.0, 20.0, 0.0]),
            pulses_per_weight: Some(3.25),
            seconds_per_epoch: Some(1.5),
            adc_saturation: Some(0.001),
            status,
            point: None,
        }
    }

    #[test]
    fn table_aligns_and_explains() {
        let t = table(&[
            row("run0000", RunStatus::Completed),
            row(
                "run0001",
                RunStatus::Diverged("diverged in epoch 1 at step 3: loss is NaN".into()),
            ),
        ]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[0].starts_with("run") && lines[0].contains("E inference (nJ)"),
            "{t}"
        );
        assert!(
            lines[2].contains("bp*")
                && lines[2].contains("25.00%")
                && lines[2].contains("1.500")
                && lines[2].contains("0.100%"),
            "{t}"
        );
        assert!(t.contains("run0001 diverged: diverged in epoch 1"), "{t}");
        assert!(t.contains("* oracle rule"), "{t}");
        let col = |l: &str, w: &str| l.find(w).map(|b| l[..b].chars().count());
        assert_eq!(col(lines[0], "status"), col(lines[2], "completed"), "{t}");
    }

    #[test]
    fn sweep_plots_need_two_values() {
        let mut a = row("a", RunStatus::Completed);
        let b = row("b", RunStatus::Completed);
        assert!(sweep_points(&[a.clone(), b.clone()], |r| r.levels.map(|l| l as f64)).is_none());
        a.levels = Some(4);
        assert_eq!(
            sweep_points(&[a, b], |r| r.levels.map(|l| l as f64))
                .unwrap()
                .len(),
            2
        );
    }
}
