//! Creating files and runs, and appending one row per finished epoch.
//!
//! Per epoch, in order: trace rows → epoch rows (the `epoch` dataset last, so its length is
//! the number of complete rows) → checkpoint (written aside, then swapped in) → run
//! attributes → publish (a complete new version of the file replaces the old one by
//! `rename`; see publish.rs). An interrupted (partial) epoch is not appended: the file keeps only
//! finished epochs, which is what `--resume` continues from.

use super::hdf5::{OutputError, ResultFile, RunOptions, RunStatus, RunWriter, SCHEMA_VERSION};
use super::publish::{OutputLock, Publisher};
use super::schema::{self, create_series, group, h5err, put_row, Attr, EPOCHS, STEPS};
use super::traces::TraceWriter;
use super::TraceLevel;
use crate::chip::energy::LayerCounters;
use crate::chip::model::EnergySpec;
use crate::chip::{Chip, Counters, Energy, Phase};
use crate::data::Dataset;
use crate::learn::Learner;
use crate::run::RunSpec;
use crate::train::{EpochRecord, StepRecord};
use ::hdf5::{File, Group};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The state behind a [`RunWriter`].
pub(crate) struct WriterState {
    pub(crate) path: PathBuf,
    pub(crate) file: File,
    /// Publishes `file` to `path` (shared with the [`ResultFile`]).
    pub(crate) publisher: Arc<Publisher>,
    pub(crate) name: String,
    pub(crate) run: Group,
    pub(crate) trace: TraceLevel,
    pub(crate) checkpoints: bool,
    /// Finished epochs in the file.
    pub(crate) rows: usize,
    pub(crate) step_rows: usize,
    pub(crate) layers: usize,
    pub(crate) coef: EnergySpec,
    pub(crate) traces: TraceWriter,
    pub(crate) last: Instant,
    pub(crate) oracle_uses: Vec<String>,
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a time since the Unix epoch (proleptic Gregorian, UTC).
pub(crate) fn iso8601(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub(crate) fn now() -> String {
    iso8601(SystemTime::now())
}

pub(crate) fn create_file(
    path: &Path,
    force: bool,
    cmdline: &str,
) -> Result<ResultFile, OutputError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| OutputError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    }
    // The lock first: a file another run is writing is refused before anything is touched.
    let lock = OutputLock::acquire(path)?;
    if path.exists() && !force {
        return Err(OutputError::Exists {
            path: path.to_path_buf(),
        });
    }
    // In memory only: nothing reaches `path` except whole images (see publish.rs).
    let file = File::with_options()
        .with_fapl(|p| p.core_filebacked(false))
        .create(path)
        .map_err(|e| h5err(path, "creating the file (in memory)", e))?;
    let a = Attr { path };
    a.text(&file, "format", "npchip result file")?;
    a.text(&file, "npchip_version", env!("CARGO_PKG_VERSION"))?;
    a.scalar(&file, "schema_version", SCHEMA_VERSION)?;
    a.text(&file, "command_line", cmdline)?;
    a.text(&file, "created", &now())?;
    let host = std::thread::available_parallelism().map_or(1, |n| n.get());
    a.scalar(&file, "host_threads", host as u64)?;
    a.scalar(&file, "threads", crate::linalg::threads() as u64)?;
    file.create_group("runs")
        .map_err(|e| h5err(path, "creating /runs", e))?;
    let publisher = Arc::new(Publisher::new(path, lock, !force));
    publisher.publish(&file, true)?;
    Ok(ResultFile {
        file,
        path: path.to_path_buf(),
        publisher,
    })
}

pub(crate) fn open_append(path: &Path) -> Result<ResultFile, OutputError> {
    let not_found = || OutputError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
    };
    if !path.is_file() {
        return Err(not_found());
    }
    // Before reading: a file another run is writing is refused, not read half-way.
    let lock = OutputLock::acquire(path)?;
    if !path.is_file() {
        return Err(not_found());
    }
    // Read into memory; changes reach `path` only as whole images (see publish.rs).
    let file = File::with_options()
        .with_fapl(|p| p.core_filebacked(false))
        .open_rw(path)
        .map_err(|e| h5err(path, "opening", e))?;
    check_schema(path, &file)?;
    if !file.link_exists("runs") {
        return Err(schema::missing(path, "/runs"));
    }
    Ok(ResultFile {
        file,
        path: path.to_path_buf(),
        publisher: Arc::new(Publisher::new(path, lock, false)),
    })
}

/// Refuses files of another schema version (or not npchip files at all).
pub(crate) fn check_schema(path: &Path, file: &File) -> Result<(), OutputError> {
    let v = schema::attr_int(path, file, "schema_version")?;
    if v != SCHEMA_VERSION as i64 {
        return Err(schema::bad(
            path,
            "/@schema_version",
            format!("is {v}; this npchip reads version {SCHEMA_VERSION}"),
        ));
    }
    Ok(())
}

pub(crate) fn run_names(file: &ResultFile) -> Result<Vec<String>, OutputError> {
    let runs = group(&file.path, &file.file, "runs")?;
    let mut names = runs
        .member_names()
        .map_err(|e| h5err(&file.path, "listing /runs", e))?;
    names.sort();
    Ok(names)
}

pub(crate) fn add_run(
    file: &ResultFile,
    name: &str,
    spec: &RunSpec,
    data: &Dataset,
    opts: &RunOptions,
) -> Result<RunWriter, OutputError> {
    let path = &file.path;
    if name.is_empty() || name.contains('/') || name == "." {
        return Err(schema::bad(
            path,
            format!("/runs/{name}"),
            "is not a valid run name (non-empty, no `/`)",
        ));
    }
    let runs = group(path, &file.file, "runs")?;
    if runs.link_exists(name) {
        return Err(schema::bad(path, format!("/runs/{name}"), "already exists"));
    }
    let run = runs
        .create_group(name)
        .map_err(|e| h5err(path, format!("creating /runs/{name}"), e))?;
    super::runattrs::write(path, &run, spec, data, opts)?;
    let a = Attr { path };
    a.text(&run, "status", RunStatus::Running.name())?;
    a.text(&run, "status_message", "")?;
    a.text(&run, "started", &now())?;
    a.text(&run, "finished", "")?;
    a.scalar(&run, "epochs_done", 0u64)?;
    let sizes = spec.sizes(data);
    let layers = sizes.len() - 1;
    create_datasets(path, &run, layers, spec)?;
    let traces = TraceWriter::create(
        path,
        &run,
        opts.trace,
        &spec.chip,
        &spec.weight_shapes(data),
        spec.seed,
    )?;
    file.publisher.publish(&file.file, false)?;
    Ok(RunWriter {
        inner: WriterState {
            path: path.clone(),
            file: file.file.clone(),
            publisher: file.publisher.clone(),
            name: name.to_string(),
            run,
            trace: opts.trace,
            checkpoints: opts.checkpoints,
            rows: 0,
            step_rows: 0,
            layers,
            coef: spec.chip.spec().energy.clone(),
            traces,
            last: Instant::now(),
            oracle_uses: Vec::new(),
        },
    })
}

fn create_datasets(
    path: &Path,
    run: &Group,
    layers: usize,
    spec: &RunSpec,
) -> Result<(), OutputError> {
    let a = Attr { path };
    let ep = run
        .create_group(EPOCHS)
        .map_err(|e| h5err(path, "creating epochs/", e))?;
    create_series::<u32>(path, &ep, "epoch", &[], "1-based epoch number")?;
    for (n, u) in [
        ("train_loss", "loss units"),
        ("train_acc", "fraction"),
        ("test_loss", "loss units"),
        ("test_acc", "fraction"),
    ] {
        create_series::<f64>(path, &ep, n, &[], u)?;
    }
    create_series::<u64>(path, &ep, "samples", &[], "training samples")?;
    create_series::<u64>(path, &ep, "skipped", &[], "samples without perturbation")?;
    create_series::<f64>(path, &ep, "train_seconds", &[], "s (wall)")?;
    create_series::<f64>(path, &ep, "epoch_seconds", &[], "s (wall)")?;
    create_series::<f64>(path, &ep, "samples_per_second", &[], "samples/s (wall)")?;
    let phases: Vec<&str> = Phase::ALL.iter().map(|p| p.name()).collect();
    for name in ["counters", "eval_counters"] {
        let ds = create_series::<u64>(path, &ep, name, &[layers, 4, Counters::N], "events")?;
        a.text(&ds, "dims", "epoch, layer, phase, counter")?;
        a.texts(&ds, "phases", &phases)?;
        a.texts(&ds, "counters", &Counters::NAMES)?;
    }
    let e = &spec.chip.spec().energy;
    let coef = [
        e.mac_pj,
        e.dac_pj,
        e.adc_pj,
        e.write_pulse_pj,
        e.digital_op_pj,
    ];
    for name in ["energy_pj", "eval_energy_pj"] {
        let ds = create_series::<f64>(path, &ep, name, &[layers, 4, 5], "pJ")?;
        a.text(&ds, "dims", "epoch, layer, phase, kind")?;
        a.texts(&ds, "phases", &phases)?;
        a.texts(&ds, "kinds", &schema::ENERGY_KINDS)?;
        a.array(&ds, "coefficients_pj", &coef)?;
        a.texts(
            &ds,
            "priced_counters",
            &[
                "macs",
                "dac_conversions",
                "adc_conversions",
                "pulses_up + pulses_down",
                "digital_ops + int_* (by width, docs/chip-model.md Energy)",
            ],
        )?;
    }
    if spec.chip.spec().timing.is_some() {
        for name in ["latency_ns", "eval_latency_ns"] {
            let ds = create_series::<f64>(path, &ep, name, &[layers, 4, 3], "ns (chip time)")?;
            a.text(&ds, "dims", "epoch, layer, phase, kind")?;
            a.texts(&ds, "phases", &phases)?;
            a.texts(&ds, "kinds", &schema::LATENCY_KINDS)?;
            a.text(
                &ds,
                "priced_by",
                "the counters and the chip model's [timing] (attribute chip_toml); equations: docs/chip-model.md, Latency",
            )?;
        }
    }
    let ds = create_series::<f64>(
        path,
        &ep,
        "saturation_rate",
        &[layers, 4],
        "fraction of ADC conversions",
    )?;
    a.text(&ds, "dims", "epoch, layer, phase")?;
    a.texts(&ds, "phases", &phases)?;
    create_series::<f32>(
        path,
        &ep,
        "update_norm",
        &[layers],
        "weight units (Frobenius norm)",
    )?;
    if spec.diagnostics {
        create_series::<f32>(
            path,
            &ep,
            "alignment",
            &[layers],
            "cosine (oracle diagnostic)",
        )?;
        create_series::<f32>(
            path,
            &ep,
            "decorrelation",
            &[layers],
            "mean |off-diagonal correlation|",
        )?;
    }
    if spec.log_every > 0 {
        let st = run
            .create_group(STEPS)
            .map_err(|e| h5err(path, "creating steps/", e))?;
        create_series::<u64>(path, &st, "step", &[], "1-based global step")?;
        create_series::<u32>(path, &st, "epoch", &[], "epoch of the step")?;
        create_series::<f64>(
            path,
            &st,
            "loss",
            &[],
            "loss units (mean since the last logged step)",
        )?;
        create_series::<f64>(
            path,
            &st,
            "acc",
            &[],
            "fraction (since the last logged step)",
        )?;
    }
    Ok(())
}

/// Flattens `[layer][phase]` counters to a row of `layers × 4 × Counters::N`.
fn counter_row(c: &[LayerCounters], layers: usize) -> Vec<u64> {
    const N: usize = Counters::N;
    let mut row = vec![0u64; layers * 4 * N];
    for (l, lc) in c.iter().enumerate().take(layers) {
        for p in 0..4 {
            row[(l * 4 + p) * N..(l * 4 + p + 1) * N].copy_from_slice(&lc.0[p].to_array());
        }
    }
    row
}

fn energy_row(c: &[LayerCounters], layers: usize, coef: &EnergySpec) -> Vec<f64> {
    let mut row = vec![0f64; layers * 20];
    for (l, lc) in c.iter().enumerate().take(layers) {
        for p in 0..4 {
            let e = Energy::of(&lc.0[p], coef);
            row[(l * 4 + p) * 5..(l * 4 + p + 1) * 5].copy_from_slice(&[
                e.mac_pj,
                e.dac_pj,
                e.adc_pj,
                e.write_pj,
                e.digital_pj,
            ]);
        }
    }
    row
}

/// Chip time of `[layer][phase]` counters, `layers × 4 × 3` (read, program, digital), ns.
fn latency_row(c: &[LayerCounters], chip: &Chip) -> Vec<f64> {
    let sizes = chip.sizes();
    let layers = sizes.len() - 1;
    let mut row = vec![0f64; layers * 12];
    for (l, lc) in c.iter().enumerate().take(layers) {
        let (outputs, inputs) = chip.weight_shape(l);
        let blocks = chip
            .config()
            .decorrelation
            .map_or_else(Default::default, |d| d.blocks);
        let lat =
            crate::chip::latency::layer_latency_with(chip.model(), inputs, outputs, blocks, lc);
        for (p, t) in lat.iter().enumerate() {
            row[(l * 4 + p) * 3..(l * 4 + p + 1) * 3].copy_from_slice(&[
                t.read_ns,
                t.program_ns,
                t.digital_ns,
            ]);
        }
    }
    row
}

fn padded(v: Option<&[f32]>, layers: usize) -> Vec<f32> {
    (0..layers)
        .map(|l| v.and_then(|v| v.get(l)).copied().unwrap_or(f32::NAN))
        .collect()
}

impl WriterState {
    fn put<T: ::hdf5::H5Type>(&self, g: &Group, name: &str, row: &[T]) -> Result<(), OutputError> {
        let ds = schema::dataset(&self.path, g, name)?;
        put_row(&self.path, &ds, self.rows, row)
    }

    pub(crate) fn epoch(
        &mut self,
        r: &EpochRecord,
        chip: &Chip,
        learner: &Learner,
    ) -> Result<(), OutputError> {
        let path = self.path.clone();
        let a = Attr { path: &path };
        // Derived from the chip's own record of the oracle views it handed out.
        self.oracle_uses = chip.oracle_uses().to_vec();
        a.text(&self.run, "oracle_uses", &self.oracle_uses.join("; "))?;
        a.scalar(&self.run, "oracle", !self.oracle_uses.is_empty())?;
        if r.interrupted {
            // A partial epoch is not a result: keep the file at the last finished epoch.
            a.scalar(&self.run, "interrupted_in_epoch", r.epoch as u64)?;
            return self.flush();
        }
        let layers = self.layers;
        self.traces.epoch(&path, &self.run, self.rows, chip)?;
        let ep = group(&path, &self.run, EPOCHS)?;
        self.put(&ep, "train_loss", &[r.train_loss])?;
        self.put(&ep, "train_acc", &[r.train_acc])?;
        self.put(&ep, "test_loss", &[r.test_loss])?;
        self.put(&ep, "test_acc", &[r.test_acc])?;
        self.put(&ep, "samples", &[r.samples as u64])?;
        self.put(&ep, "skipped", &[r.skipped as u64])?;
        self.put(&ep, "train_seconds", &[r.train_seconds])?;
        let elapsed = self.last.elapsed().as_secs_f64();
        self.put(&ep, "epoch_seconds", &[elapsed])?;
        self.put(
            &ep,
            "samples_per_second",
            &[r.samples as f64 / r.train_seconds.max(1e-12)],
        )?;
        self.put(&ep, "counters", &counter_row(&r.counters, layers))?;
        self.put(&ep, "eval_counters", &counter_row(&r.eval_counters, layers))?;
        self.put(
            &ep,
            "energy_pj",
            &energy_row(&r.counters, layers, &self.coef),
        )?;
        self.put(
            &ep,
            "eval_energy_pj",
            &energy_row(&r.eval_counters, layers, &self.coef),
        )?;
        // Files from before latency was modelled (resumed) have no such dataset.
        if ep.link_exists("latency_ns") {
            self.put(&ep, "latency_ns", &latency_row(&r.counters, chip))?;
            self.put(&ep, "eval_latency_ns", &latency_row(&r.eval_counters, chip))?;
        }
        let sat: Vec<f64> = (0..layers)
            .flat_map(|l| {
                (0..4).map(move |p| {
                    r.counters.get(l).map_or(0.0, |c| {
                        let c = c.0[p];
                        if c.adc_conversions == 0 {
                            0.0
                        } else {
                            c.adc_saturations as f64 / c.adc_conversions as f64
                        }
                    })
                })
            })
            .collect();
        self.put(&ep, "saturation_rate", &sat)?;
        self.put(&ep, "update_norm", &padded(Some(&r.update_norms), layers))?;
        if ep.link_exists("alignment") {
            self.put(&ep, "alignment", &padded(r.alignment.as_deref(), layers))?;
            self.put(
                &ep,
                "decorrelation",
                &padded(r.decorrelation.as_deref(), layers),
            )?;
        }
        // Last: its length is the number of complete rows.
        self.put(&ep, "epoch", &[r.epoch as u32])?;
        if self.checkpoints {
            super::checkpoint::write(&path, &self.run, r.epoch, chip, learner)?;
        }
        self.rows += 1;
        a.scalar(&self.run, "epochs_done", self.rows as u64)?;
        self.flush()?;
        self.last = Instant::now();
        Ok(())
    }

    pub(crate) fn label_rule(&mut self, label: &str, chip: &Chip) -> Result<(), OutputError> {
        let a = Attr { path: &self.path };
        a.text(&self.run, "rule", label)?;
        self.oracle_uses = chip.oracle_uses().to_vec();
        a.text(&self.run, "oracle_uses", &self.oracle_uses.join("; "))?;
        a.scalar(&self.run, "oracle", !self.oracle_uses.is_empty())?;
        self.flush()
    }

    pub(crate) fn step(&mut self, r: &StepRecord) -> Result<(), OutputError> {
        let path = self.path.clone();
        let Ok(st) = self.run.group(STEPS) else {
            return Ok(()); // created only with log_every > 0
        };
        let put = |name: &str,
                   f: &dyn Fn(&::hdf5::Dataset) -> Result<(), OutputError>|
         -> Result<(), OutputError> { f(&schema::dataset(&path, &st, name)?) };
        let i = self.step_rows;
        put("loss", &|ds| put_row(&path, ds, i, &[r.loss]))?;
        put("acc", &|ds| put_row(&path, ds, i, &[r.acc]))?;
        put("epoch", &|ds| put_row(&path, ds, i, &[r.epoch as u32]))?;
        put("step", &|ds| put_row(&path, ds, i, &[r.step]))?;
        self.step_rows += 1;
        Ok(())
    }

    /// Publishes the file (a complete new version on disk; see publish.rs).
    fn flush(&self) -> Result<(), OutputError> {
        self.publisher.publish(&self.file, false)
    }

    pub(crate) fn finish(self, status: &RunStatus) -> Result<(), OutputError> {
        let a = Attr { path: &self.path };
        a.text(&self.run, "status", status.name())?;
        a.text(&self.run, "status_message", status.message())?;
        a.text(&self.run, "finished", &now())?;
        a.scalar(&self.run, "epochs_done", self.rows as u64)?;
        self.publisher.publish(&self.file, true)
    }
}

#[cfg(test)]
mod tests {
    use super::iso8601;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn iso8601_matches_known_dates() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            iso8601(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            iso8601(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            "2023-11-14T22:13:20Z"
        );
    }
}
