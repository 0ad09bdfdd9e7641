//! [`train_to_file`]: a checked [`RunDef`] trained into an HDF5 file, or a file's run continued.
//!
//! The caller owns the process: this installs no signal handler (a [`Cancel`] stops the run
//! after its batch), prints nothing (progress goes to the [`Progress`] observer, the rest is
//! tracing and the returned [`RunOutcome`] or [`RunError`]) and never exits.

use super::{preflight, Cancel, RunDef, RunSpec};
use crate::data::{load, DataError, Dataset};
use crate::output::hdf5::{OutputError, ResultFile, RunOptions, RunStatus, RunWriter};
use crate::output::Tee;
use crate::train::{EpochRecord, Observer, TrainError};
use std::path::{Path, PathBuf};

/// Where a run's progress goes besides the file.
pub enum Progress<'a> {
    /// Nowhere (Python, tests, scripts).
    Silent,
    /// To this observer, after the file has the epoch (the CLI's progress bar).
    To(&'a mut dyn Observer),
}

/// What a finished (or interrupted) run left.
#[derive(Clone, Debug, PartialEq)]
pub struct RunOutcome {
    /// The result file, closed.
    pub path: PathBuf,
    /// The run's group in it (`/runs/run0`).
    pub run: String,
    /// Stopped by [`Cancel`]: the file holds the finished epochs and its status says
    /// `interrupted`.
    pub interrupted: bool,
    /// Epochs in the file (all of them, counting those before a resume).
    pub epochs_done: usize,
    /// The epoch the run was in when it stopped (the last finished one, unless interrupted).
    pub last_epoch: usize,
}

/// Why a run could not start, or ended in error (the file, if any, is closed and says so).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The result file could not be created, read or written.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The dataset could not be loaded.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Refused before anything ran: the output path, the memory needed, or `resume` settings
    /// that contradict the file.
    #[error("{0}")]
    Refused(String),
    /// Training stopped with an error; the file holds the finished epochs and the status.
    #[error("run {run} in {}: {source}", path.display())]
    Train {
        /// The file.
        path: PathBuf,
        /// The run's group.
        run: String,
        /// Epochs in the file.
        epochs_done: usize,
        /// The status written (diverged or failed).
        status: RunStatus,
        /// What happened.
        #[source]
        source: TrainError,
    },
}

/// `runs/<rule>-<chip>-s<seed>-<UTC time>.h5`.
fn default_path(spec: &RunSpec) -> PathBuf {
    let t: String = crate::output::now()
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    PathBuf::from("runs").join(format!(
        "{}-{}-s{}-{t}.h5",
        spec.rule,
        spec.chip.spec().name,
        spec.seed
    ))
}

/// The dataset `def` names, subset as asked.
pub fn dataset(def: &RunDef) -> Result<Dataset, DataError> {
    load(&def.data, def.spec.seed)?.subset(def.train_samples, def.test_samples, def.spec.seed)
}

/// Trains `def` into a new file (`def.out`, else `runs/…`), or continues the run in
/// `def.resume`; stops after the current batch once `cancel` is cancelled.
pub fn train_to_file(
    def: &RunDef,
    cancel: &Cancel,
    progress: Progress<'_>,
) -> Result<RunOutcome, RunError> {
    crate::linalg::set_threads(def.threads);
    if let Some(path) = &def.resume {
        return resume_file(path, def, cancel, progress);
    }
    let spec = &def.spec;
    let data = dataset(def)?;
    let path = def.out.clone().unwrap_or_else(|| default_path(spec));
    crate::output::out_path::check_out_path(&path, "--out").map_err(RunError::Refused)?;
    spec.check_data(&data)
        .map_err(|e| RunError::Refused(format!("--arch: {e}")))?;
    let sizes = spec.sizes(&data);
    match (&spec.arch, spec.network(&data)) {
        // A conv net's weights are its kernels, not products of node counts.
        (Some(a), Ok(net)) => crate::footprint::Footprint::of_network(spec, &net, data.train.len())
            .check(crate::footprint::Memory::of_machine())
            .map_err(|e| RunError::Refused(format!("--arch {a}: the run {e}")))?,
        _ => preflight::check_memory(spec, &sizes, data.train.len()).map_err(RunError::Refused)?,
    }
    for w in preflight::warnings(spec, &sizes) {
        tracing::warn!("{w}");
    }
    let file = ResultFile::create(&path, def.force, &def.command_line())?;
    let opts = RunOptions {
        data_spec: def.data_text.clone(),
        train_samples: def.train_samples,
        test_samples: def.test_samples,
        trace: def.trace,
        checkpoints: true,
    };
    let mut writer = file.add_run("run0", spec, &data, &opts)?;
    let (mut chip, mut learner) = spec.build(&data);
    writer.prepare_chip(&mut chip);
    tracing::info!(file = %path.display(), rule = %spec.rule, chip = spec.chip.spec().name.as_str(), data = data.name.as_str(), train = data.train.len(), test = data.test.len(), "training");
    let result = observe(progress, &mut writer, |obs| {
        crate::train::run(
            &spec.loop_config(),
            &mut chip,
            &mut learner,
            &data,
            1,
            obs,
            cancel.flag(),
        )
    });
    conclude(file, writer, result)
}

/// Runs `f` with the writer, and the progress observer after it if there is one.
fn observe<T>(
    progress: Progress<'_>,
    writer: &mut RunWriter,
    f: impl FnOnce(&mut dyn Observer) -> T,
) -> T {
    match progress {
        Progress::Silent => f(writer),
        Progress::To(p) => f(&mut Tee(writer, p)),
    }
}

/// Keys a resume takes without comparing them with the file: how to run, not what.
const RESUME_FREE: [&str; 3] = ["resume", "epochs", "threads"];

/// The given keys whose checked value differs from what the file's run was defined with.
fn contradictions(def: &RunDef, spec: &RunSpec, opts: &RunOptions, path: &Path) -> Vec<String> {
    let theirs = RunDef {
        spec: spec.clone(),
        chip_text: def.chip_text.clone(),
        set: def.set.clone(),
        data_text: opts.data_spec.clone(),
        data: def.data.clone(),
        train_samples: opts.train_samples,
        test_samples: opts.test_samples,
        out: Some(path.to_path_buf()),
        force: def.force,
        resume: def.resume.clone(),
        trace: opts.trace,
        threads: def.threads,
        given: Vec::new(),
    };
    let (mine, file) = (def.to_pairs(), theirs.to_pairs());
    let value = |pairs: &[(&'static str, String)], k: &str| -> Vec<String> {
        pairs
            .iter()
            .filter(|(n, _)| *n == k)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let mut out = Vec::new();
    for &k in &def.given {
        if RESUME_FREE.contains(&k) || k == "force" {
            continue;
        }
        let differs = match k {
            // The chip is compared as the model it resolves to (a preset and its exported
            // TOML are the same chip).
            "chip" | "set" => def.spec.chip.to_toml() != spec.chip.to_toml(),
            "out" => def.out.as_deref() != Some(path),
            _ => value(&mine, k) != value(&file, k),
        };
        if differs {
            let flag = k.replace('_', "-");
            let stored = match k {
                "chip" | "set" => format!("chip {}", spec.chip.spec().name),
                "out" => path.display().to_string(),
                _ => value(&file, k).join(","),
            };
            out.push(format!(
                "--{flag} {} (the file's run has {stored})",
                value(&mine, k).join(",")
            ));
        }
    }
    out
}

fn resume_file(
    path: &Path,
    def: &RunDef,
    cancel: &Cancel,
    progress: Progress<'_>,
) -> Result<RunOutcome, RunError> {
    crate::output::probe::check(path).map_err(|e| RunError::Refused(format!("{e:#}")))?;
    let file = ResultFile::open_append(path)?;
    let names = file.run_names()?;
    let name = match names.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(RunError::Refused(format!(
                "{}: cannot resume: the file has no run",
                path.display()
            )))
        }
        many => return Err(RunError::Refused(format!("{}: cannot resume: the file has {} runs ({}); `train --resume` continues a single-run file", path.display(), many.len(), many.join(", ")))),
    };
    let (stored, opts) = file.run_definition(&name)?;
    let bad = contradictions(def, &stored, &opts, path);
    if !bad.is_empty() {
        return Err(RunError::Refused(format!(
            "{}: --resume continues the run as the file defines it, and these flags contradict it: {}; drop them (only --epochs, to extend the run, and --threads may differ)",
            path.display(),
            bad.join("; ")
        )));
    }
    if def.force {
        tracing::warn!("--force is ignored with --resume: the file is continued, not replaced");
    }
    let epochs = def.given.contains(&"epochs").then_some(def.spec.epochs);
    let r = file.resume_run(&name, epochs)?;
    let (spec, data, mut chip, mut learner, mut writer) =
        (r.spec, r.data, r.chip, r.learner, r.writer);
    tracing::info!(file = %path.display(), run = name.as_str(), from_epoch = r.next_epoch, to_epoch = spec.epochs, "resuming");
    let result = observe(progress, &mut writer, |obs| {
        crate::train::run(
            &spec.loop_config(),
            &mut chip,
            &mut learner,
            &data,
            r.next_epoch,
            obs,
            cancel.flag(),
        )
    });
    conclude(file, writer, result)
}

/// Writes the run's final status and closes the file; then returns what happened (a training
/// error only after the file is safe).
fn conclude(
    file: ResultFile,
    writer: RunWriter,
    result: Result<Vec<EpochRecord>, TrainError>,
) -> Result<RunOutcome, RunError> {
    let status = RunStatus::of(&result);
    let (run, done) = (writer.group_path(), writer.epochs_written());
    writer.finish(status.clone())?;
    let path = file.path().to_path_buf();
    file.close()?;
    match result {
        Ok(records) => Ok(RunOutcome {
            path,
            run,
            interrupted: status == RunStatus::Interrupted,
            epochs_done: done,
            last_epoch: records.last().map_or(done, |r| r.epoch),
        }),
        Err(source) => Err(RunError::Train {
            path,
            run,
            epochs_done: done,
            status,
            source,
        }),
    }
}
