//! `npchip report FILE… [--out DIR] [--html PAGE]`: a table of the runs in result files, PNG
//! figures, and one self-contained HTML page to hand on.
//!
//! The table has one line per run: rule (`*` marks an oracle rule, which reads chip internals a
//! real controller cannot), chip, net (`arch`, or the dense widths), device levels, read noise, epochs done, final train and test
//! accuracy, training energy per training sample by phase, programming pulses per weight, the
//! fraction of ADC conversions that saturated, and the status; messages of failed or diverged
//! runs follow the table. Energies and counts are totals over all finished epochs divided by
//! the samples trained on, so runs of different lengths compare.
//!
//! Figures (with `--out` or `--html`, chosen in [`figures`]): `learning_curves.png` always
//! (seeds of one setting as a mean with a min–max band); `accuracy_vs_bits.png` and
//! `accuracy_vs_read_noise.png` (log axis, σ = 0 apart) when completed runs span at least two
//! values of that parameter; `heatmap_<rule>_<rounding>.png`, levels × read noise, for every
//! rule and rounding mode whose runs span both; `energy.png`, stacked bars per run;
//! `accuracy_energy.png` and `accuracy_time.png`, accuracy against cost per training sample with
//! the Pareto front (also printed as text after the table; `report/front.rs`). The HTML
//! page ([`super::html`]) embeds them with the table and each run's chip model and settings.

mod figures;
mod front;

pub use figures::plot_all;
pub use front::front_text;

use super::hdf5::{read_root_attrs, read_runs, Attrs, RunRecord, RunStatus};
use super::plots;
use super::report_error::ReportError;
use std::fmt::Write as _;
use std::io::Write;
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
    /// Chip time per training sample by phase, ns: the run's counters priced by its chip
    /// model's `[timing]` (None without finished epochs or without `[timing]`).
    pub time_ns: Option<[f64; 4]>,
    /// Chip time of one inference (evaluation counters per test sample), ns.
    pub inference_ns: Option<f64>,
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
    /// The values of the sweep's `vary` axes at this run: (run key, value as given).
    pub vary: Vec<(String, String)>,
    /// The data it trained on: name and sizes, e.g. `mnist (10000 train / 2000 test)`.
    pub data: String,
    /// The network: `--arch` (`conv32k3p1s1,maxpool2,fc10`) or the dense widths (`784-1000-10`).
    pub net: String,
    /// How weight updates round to pulses (`chip.update.rounding`; None without an update path).
    pub rounding: Option<String>,
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

fn attr_sizes(a: &Attrs) -> Option<Vec<usize>> {
    match a.get("sizes")? {
        super::hdf5::AttrValue::Ints(v) => Some(v.iter().map(|&x| x as usize).collect()),
        super::hdf5::AttrValue::Floats(v) => Some(v.iter().map(|&x| x as usize).collect()),
        _ => None,
    }
}

/// The run's network: its `arch` attribute (layer kinds) when set, else the dense widths of
/// `sizes`. The file stores a conv net's input features (`sizes[0]`), not its image shape: the
/// shape is the square image with the fewest channels that resolves `arch` to exactly the
/// stored `sizes` (input features, then nodes per layer), so a wrong guess cannot pass.
fn network(a: &Attrs) -> Option<crate::chip::conv::Network> {
    let sizes = attr_sizes(a)?;
    let arch = attr_str(a, "arch").filter(|s| !s.is_empty());
    let Some(arch) = arch else {
        return (sizes.len() >= 2).then(|| crate::chip::conv::Network::dense(&sizes));
    };
    let spec: crate::chip::NetSpec = arch.parse().ok()?;
    let (features, classes) = (*sizes.first()?, *sizes.last()?);
    (1..=features.min(64)).find_map(|c| {
        let side = ((features / c) as f64).sqrt().round() as usize;
        (c * side * side == features)
            .then(|| spec.resolve((c, side, side), classes).ok())
            .flatten()
            .filter(|net| net.sizes() == sizes)
    })
}

/// Weights (differential pairs) of the network: Σ rows × cols of every layer's weight matrix
/// (a conv layer's kernel counts once, not once per position).
fn weights(a: &Attrs) -> Option<f64> {
    let n: f64 = network(a)?
        .layers()
        .iter()
        .map(|l| {
            let (r, c) = l.weight_shape();
            (r * c) as f64
        })
        .sum();
    (n > 0.0).then_some(n)
}

/// The network as the table shows it: `arch` when the run has layer kinds, else the widths of
/// `sizes` (`784-1000-10`).
fn net_label(a: &Attrs) -> String {
    match attr_str(a, "arch").filter(|s| !s.is_empty()) {
        Some(arch) => arch.to_string(),
        None => attr_sizes(a).map_or("?".into(), |s| {
            s.iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join("-")
        }),
    }
}

/// `name (N train / M test)` from the run's data attributes.
fn data_label(a: &Attrs) -> String {
    let name = attr_str(a, "data_name").unwrap_or("?");
    match (attr_i64(a, "train_size"), attr_i64(a, "test_size")) {
        (Some(tr), Some(te)) => format!("{name} ({tr} train / {te} test)"),
        _ => name.to_string(),
    }
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
        let (time_ns, inference_ns) = latency(r, samples).unzip();
        let inference_ns = inference_ns.flatten();
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
            time_ns,
            inference_ns,
            pulses_per_weight,
            seconds_per_epoch,
            adc_saturation,
            status: r.status.clone(),
            point: attr_str(a, super::sweep_layout::POINT).map(str::to_string),
            vary: attr_str(a, super::sweep_layout::VARY)
                .map(|t| {
                    t.lines()
                        .filter_map(|l| l.split_once('='))
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                })
                .unwrap_or_default(),
            data: data_label(a),
            net: net_label(a),
            rounding: attr_str(a, "chip.update.rounding").map(str::to_string),
        }
    }
}

/// How a stored run's counters are priced in time: the chip model of its `chip_toml`, its
/// decorrelator layout and each layer's weight shape (a conv layer's kernel, out_ch × patch).
/// The one place that knows this, so `npchip report` and the Python package price a run alike.
pub struct RunTiming {
    model: crate::chip::ChipModel,
    blocks: crate::chip::DecorBlocks,
    shapes: Vec<(usize, usize)>,
}

impl RunTiming {
    /// None when the file predates `[timing]` or its chip model, layout or net does not parse.
    pub fn of(r: &RunRecord) -> Option<Self> {
        let a = &r.attrs;
        let spec =
            crate::chip::ChipSpec::parse(attr_str(a, "chip_toml")?, "chip_toml", &[]).ok()?;
        let model = spec.check("chip_toml").ok()?;
        model.spec().timing.as_ref()?;
        // Absent before decor_blocks existed: a full R.
        let blocks = attr_str(a, "decor_blocks")
            .map_or(Ok(Default::default()), str::parse)
            .ok()?;
        let shapes = network(a)?
            .layers()
            .iter()
            .map(|l| l.weight_shape())
            .collect();
        Some(Self {
            model,
            blocks,
            shapes,
        })
    }

    /// Layers the run has.
    pub fn layers(&self) -> usize {
        self.shapes.len()
    }

    /// Chip time of layer `l`'s counters, per phase.
    pub fn layer(
        &self,
        l: usize,
        c: &crate::chip::energy::LayerCounters,
    ) -> [crate::chip::latency::Latency; 4] {
        let (n, d) = self.shapes[l];
        crate::chip::latency::layer_latency_with(&self.model, d, n, self.blocks, c)
    }
}

/// The run's counters re-priced in time ([`RunTiming`]): per training sample by phase, and per
/// inference. None when the file predates `[timing]`, has no finished epoch, or its chip model
/// does not parse.
fn latency(r: &RunRecord, samples: u64) -> Option<([f64; 4], Option<f64>)> {
    let timing = RunTiming::of(r)?;
    let (a, e) = (&r.attrs, &r.epochs);
    if e.is_empty() || samples == 0 {
        return None;
    }
    let total = |series: &[Vec<crate::chip::energy::LayerCounters>]| {
        let mut t = [0.0f64; 4];
        for epoch in series {
            for (l, lc) in epoch.iter().enumerate().take(timing.layers()) {
                let lat = timing.layer(l, lc);
                for p in 0..4 {
                    t[p] += lat[p].total_ns();
                }
            }
        }
        t
    };
    let train = total(&e.counters).map(|x| x / samples as f64);
    let evals = attr_i64(a, "test_size").map(|n| n as f64 * e.len() as f64);
    let inference = evals
        .filter(|&n| n > 0.0)
        .map(|n| total(&e.eval_counters).iter().sum::<f64>() / n);
    Some((train, inference))
}

/// A time in ns with a unit that keeps it readable.
pub fn time_text(ns: f64) -> String {
    let (div, unit) = plots::time_unit(ns);
    format!("{:.3} {unit}", ns / div)
}

fn pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| format!("{:.2}%", 100.0 * v))
}

/// The table's cells: the header row, then one row per run (shared by the text table and the
/// HTML page, so both say the same).
pub fn table_cells(rows: &[Row]) -> Vec<Vec<String>> {
    let max_e = rows
        .iter()
        .filter_map(|r| r.energy_pj)
        .flat_map(|e| e.into_iter())
        .fold(0.0f64, f64::max);
    let (div, unit) = plots::energy_unit(max_e);
    // A sweep's `vary` keys, each a column after the named axes, in the order first seen.
    let mut varied: Vec<&str> = Vec::new();
    for (k, _) in rows.iter().flat_map(|r| &r.vary) {
        if !varied.contains(&k.as_str()) {
            varied.push(k);
        }
    }
    let header: Vec<String> = ["run", "rule", "chip", "net", "levels", "read σ"]
        .iter()
        .map(|s| s.to_string())
        .chain(varied.iter().map(|k| k.to_string()))
        .chain(
            ["epochs", "train acc", "test acc"]
                .iter()
                .map(|s| s.to_string()),
        )
        .chain(
            ["inference", "perturb.", "update", "decorr."]
                .iter()
                .map(|p| format!("E {p} ({unit})")),
        )
        .chain(
            [
                "t/sample",
                "t/inference",
                "EDP (J·s)",
                "pulses/weight",
                "ADC sat.",
                "s/epoch",
                "status",
            ]
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
            r.net.clone(),
            r.levels.map_or("-".into(), |l| l.to_string()),
            r.read_noise.map_or("-".into(), |x| format!("{x}")),
        ];
        c.extend(varied.iter().map(|k| {
            r.vary
                .iter()
                .find(|(n, _)| n == k)
                .map_or("-".into(), |(_, v)| v.clone())
        }));
        c.extend([
            match r.epochs {
                Some(n) => format!("{}/{n}", r.epochs_done),
                None => r.epochs_done.to_string(),
            },
            pct(r.train_acc),
            pct(r.test_acc),
        ]);
        for p in 0..4 {
            c.push(
                r.energy_pj
                    .map_or("-".into(), |e| format!("{:.3}", e[p] / div)),
            );
        }
        let t_sample = r.time_ns.map(|t| t.iter().sum::<f64>());
        c.push(t_sample.map_or("-".into(), time_text));
        c.push(r.inference_ns.map_or("-".into(), time_text));
        // Energy–delay product of one training sample: (pJ · 1e-12) × (ns · 1e-9).
        let edp = r
            .energy_pj
            .zip(t_sample)
            .map(|(e, t)| e.iter().sum::<f64>() * 1e-12 * t * 1e-9);
        c.push(edp.map_or("-".into(), |x| format!("{x:.2e}")));
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
    cells
}

/// The lines after the table: messages of unsuccessful runs, then what the marks and columns mean.
pub fn table_notes(rows: &[Row]) -> Vec<String> {
    let mut out = Vec::new();
    for r in rows.iter().filter(|r| !r.status.message().is_empty()) {
        out.push(format!(
            "{} {}: {}",
            r.name,
            r.status.name(),
            r.status.message()
        ));
    }
    if rows.iter().any(|r| r.oracle) {
        out.push("* oracle rule: reads chip internals (noise samples or weights) that a real controller cannot.".into());
    }
    out.push("E: training energy per training sample by phase; pulses/weight: programming pulses per weight over all epochs; t/sample: chip time per training sample (the counters priced by the chip model's [timing]: a layer's arrays in parallel, layers and passes in sequence; docs/chip-model.md, Latency), its phases in time.png; t/inference: chip time of one evaluation sample; EDP: energy × time of one training sample; ADC sat.: saturated / all ADC conversions in training; s/epoch: median wall time of an epoch's training (evaluation excluded).".into());
    out
}

/// Renders rows as an aligned text table, messages of unsuccessful runs and the legend below.
pub fn table(rows: &[Row]) -> String {
    let cells = table_cells(rows);
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
    for line in table_notes(rows) {
        let _ = writeln!(s, "{line}");
    }
    s
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
        .get(super::sweep_layout::POINTS)
        .and_then(|v| v.as_i64())
    {
        let shard = root
            .get(super::sweep_layout::SHARD)
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
) -> Result<Vec<RunRecord>, ReportError> {
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

/// Writes one table of the runs of `files` to `table_out` and, with `out`, writes the plots
/// there. With more than one file each run is named `<file stem>/<run>` (or just the stem when
/// the file holds a single run), so runs of separate `npchip train` calls can be compared in
/// one table. Returns the table, then where the plots went.
pub fn run(files: &[PathBuf], out: Option<&Path>) -> Result<String, ReportError> {
    let mut text = Vec::new();
    let mut notes = Vec::new();
    run_to(files, out, None, &mut text, &mut notes)?;
    text.extend(notes);
    Ok(String::from_utf8_lossy(&text).into_owned())
}

/// [`run`], the table written to `table_out` and where the plots and the page went to `notes`
/// (the CLI passes stdout and stderr); and with `html` one self-contained page (table, figures, each run's chip model and
/// settings) written there; the figures go to `out`, or to a scratch directory removed after.
pub fn run_to(
    files: &[PathBuf],
    out: Option<&Path>,
    html: Option<&Path>,
    table_out: &mut dyn Write,
    notes: &mut dyn Write,
) -> Result<(), ReportError> {
    let mut headers = Vec::new();
    let mut header_lines = String::new();
    let runs = collect(files, |h| {
        header_lines.push_str(&format!("{h}\n"));
        headers.push(h.to_string());
    })?;
    let rows: Vec<Row> = runs.iter().map(Row::of).collect();
    write!(
        table_out,
        "{header_lines}\n{}",
        if rows.is_empty() {
            "(no runs)\n".to_string()
        } else {
            table(&rows)
        }
    )?;
    write!(table_out, "{}", front_text(&runs, &rows))?;
    let scratch = match (out, html) {
        (None, Some(_)) => Some(Scratch::new()?),
        _ => None,
    };
    let Some(dir) = out.or(scratch.as_ref().map(|s| s.0.as_path())) else {
        return Ok(());
    };
    let written = plot_all(&runs, dir)?;
    if out.is_some() {
        writeln!(
            notes,
            "plots: {}",
            written
                .iter()
                .map(|(p, _)| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    if let Some(page) = html {
        super::html::write_page(
            page,
            &super::html::Page {
                headers: &headers,
                rows: &rows,
                runs: &runs,
                figures: &written,
            },
        )?;
        writeln!(notes, "page: {}", page.display())?;
    }
    Ok(())
}

/// A fresh directory under the system temp dir, removed when dropped (figures for `--html`
/// without `--out`).
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, ReportError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("npchip-report-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|source| ReportError::Io {
            path: dir.clone(),
            what: "cannot create a scratch directory for the figures",
            source,
        })?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A completed run record named `name` with attributes `attrs` and no series: what the
    /// label and grouping tests read.
    pub(super) fn record(name: &str, attrs: crate::output::hdf5::Attrs) -> RunRecord {
        RunRecord {
            name: name.into(),
            status: RunStatus::Completed,
            attrs,
            epochs: Default::default(),
            steps: Default::default(),
            traces: Vec::new(),
        }
    }

    pub(super) fn row(name: &str, status: RunStatus) -> Row {
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
            time_ns: Some([2000.0, 0.0, 500.0, 0.0]),
            inference_ns: Some(1000.0),
            pulses_per_weight: Some(3.25),
            seconds_per_epoch: Some(1.5),
            adc_saturation: Some(0.001),
            status,
            point: None,
            vary: Vec::new(),
            data: "digits (1437 train / 360 test)".into(),
            net: "conv4k3p1s1,maxpool2,fc10".into(),
            rounding: Some("stochastic".into()),
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
                && lines[2].contains("0.100%")
                && lines[2].contains("conv4k3p1s1,maxpool2,fc10"),
            "{t}"
        );
        // t/sample 2000 + 500 ns, t/inference 1000 ns, EDP 1520 pJ × 2500 ns = 3.80e-15 J·s.
        assert!(
            lines[2].contains("2.500 µs")
                && lines[2].contains("1.000 µs")
                && lines[2].contains("3.80e-15"),
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
        assert!(
            figures::sweep_points(&[a.clone(), b.clone()], |r| r.levels.map(|l| l as f64))
                .is_none()
        );
        a.levels = Some(4);
        assert_eq!(
            figures::sweep_points(&[a, b], |r| r.levels.map(|l| l as f64))
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn one_heatmap_per_rule_chip_and_rounding_that_spans_both_axes() {
        let at = |levels: i64, sigma: f64, rounding: &str, rule: &str| {
            let mut r = row("r", RunStatus::Completed);
            (r.levels, r.read_noise) = (Some(levels), Some(sigma));
            r.rounding = Some(rounding.into());
            r.rule = rule.into();
            r
        };
        let mut rows = Vec::new();
        for (l, s) in [(4, 0.0), (4, 0.1), (16, 0.0), (16, 0.1)] {
            rows.push(at(l, s, "stochastic", "bp"));
            rows.push(at(l, s, "stochastic", "danp"));
        }
        // Accumulate runs at one level only: no surface for them.
        rows.push(at(4, 0.0, "accumulate", "bp"));
        rows.push(at(4, 0.1, "accumulate", "bp"));
        let mut failed = at(64, 1.0, "stochastic", "bp");
        failed.status = RunStatus::Failed("x".into());
        rows.push(failed);
        let s = figures::surfaces(&rows);
        let keys: Vec<(String, String, usize)> = s
            .iter()
            .map(|s| (s.rule.clone(), s.rounding.clone(), s.rows.len()))
            .collect();
        assert_eq!(
            keys,
            [
                ("bp*".to_string(), "stochastic".to_string(), 4),
                ("danp*".to_string(), "stochastic".to_string(), 4)
            ]
        );
        assert_eq!(
            figures::what_ran(&rows[..1], &[]),
            "digits (1437 train / 360 test), net conv4k3p1s1,maxpool2,fc10, chip rram, rule bp*"
        );
    }

    #[test]
    fn a_conv_run_counts_its_kernels_as_its_weights() {
        use super::super::hdf5::AttrValue;
        // conv4k3p1 on 3×8×8 (kernel 4 × 27 at 64 positions, pooled to 4 × 16 = 64), fc10:
        // weights 4·27 + 10·64 = 748; sizes are input features, then nodes per layer.
        let mut a = Attrs::new();
        a.insert("sizes".into(), AttrValue::Ints(vec![192, 256, 10]));
        a.insert(
            "arch".into(),
            AttrValue::Text("conv4k3p1,pool2,fc10".into()),
        );
        assert_eq!(weights(&a), Some(748.0));
        assert_eq!(net_label(&a), "conv4k3p1,pool2,fc10");
        // Sizes that no square image resolves to: no guess.
        a.insert("sizes".into(), AttrValue::Ints(vec![192, 255, 10]));
        assert_eq!(weights(&a), None);
        // A dense run: its widths.
        a.insert("arch".into(), AttrValue::Text(String::new()));
        a.insert("sizes".into(), AttrValue::Ints(vec![6, 5, 2]));
        assert_eq!(weights(&a), Some(40.0));
        assert_eq!(net_label(&a), "6-5-2");
    }
}
