//! HDF5 result files: one file holds one or more runs, each a group `/runs/<name>` with the
//! attributes that define it, per-epoch learning curves, counters, energy, hardware traces and
//! a checkpoint to resume from. `docs/hdf5-schema.md` documents every object; [`SCHEMA_VERSION`]
//! changes whenever that document does.
//!
//! The rule that matters: **a file only ever holds finished epochs.** Rows are appended once an
//! epoch is complete, the checkpoint is replaced after them, and the file is flushed, so a run
//! killed at any moment leaves every finished epoch readable (h5py needs no npchip), and
//! `npchip train --resume FILE` continues bit for bit from the last one.
//!
//! Writing, in order: [`ResultFile::create`] (root attributes) → [`ResultFile::add_run`]
//! (run attributes, empty extendable datasets) → [`RunWriter::prepare_chip`] (turns on the
//! chip's trace counters) → `train::run` with the [`RunWriter`] as its observer (a row, traces,
//! checkpoint and flush per epoch) → [`RunWriter::finish`] (status). Reading: [`read_runs`].

use super::TraceLevel;
use crate::chip::energy::LayerCounters;
use crate::chip::{Chip, Energy};
use crate::data::Dataset;
use crate::learn::Learner;
use crate::run::RunSpec;
use crate::train::{EpochRecord, Observer, StepRecord};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use super::reader::{
    read_root_attrs, read_run, read_runs, EpochSeries, LayerTraceSeries, RunRecord, StepSeries,
};
pub use super::resume::Resumed;

/// Version of the layout described in `docs/hdf5-schema.md` (root attribute `schema_version`).
pub const SCHEMA_VERSION: u32 = 1;

/// Why a result file could not be written or read. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The output exists and `--force` was not given; the file is left untouched.
    #[error("{path} exists: use --force to overwrite it, or --out to write elsewhere")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The HDF5 library failed (I/O, a corrupt file, a full disk).
    #[error("{path}: {what}: {source}")]
    Hdf5 {
        /// The file.
        path: PathBuf,
        /// What was being done, e.g. "writing /runs/run0/epochs/test_acc".
        what: String,
        /// The library's message.
        source: ::hdf5::Error,
    },
    /// A group, dataset or attribute the schema requires is absent or has the wrong type/shape.
    #[error("{path}: not a complete npchip result file: {object} {problem}")]
    Schema {
        /// The file.
        path: PathBuf,
        /// The HDF5 path of the object, e.g. `/runs/run0/checkpoint/layer0/conductances`.
        object: String,
        /// What is wrong ("is missing", "has shape [3] but 4 layers were expected", ...).
        problem: String,
    },
    /// The file cannot be resumed as asked (a different dataset, no checkpoint, ...).
    #[error("{path}: cannot resume: {reason}")]
    Resume {
        /// The file.
        path: PathBuf,
        /// Why, and what to do.
        reason: String,
    },
    /// Another running npchip holds the file's lock (it is writing the file); nothing was
    /// touched, not even with `--force`.
    #[error("{path} is being written by another running npchip (pid {holder}, lock {lock}): refusing to touch it, even with --force; wait for that run to end or write elsewhere with --out")]
    Busy {
        /// The file.
        path: PathBuf,
        /// The lock file (`.<name>.lock` beside it).
        lock: PathBuf,
        /// The pid the holder wrote into the lock file (may be empty).
        holder: String,
    },
    /// The disk (or quota) is full: the new version of the file could not be written; the
    /// previous version on disk is complete and still holds every epoch published before.
    #[error("{path}: the disk is full ({source}); the file on disk keeps its last complete version (every epoch finished before this one); free space and continue with `npchip train --resume {path}`")]
    DiskFull {
        /// The file.
        path: PathBuf,
        /// The OS error (ENOSPC or EDQUOT).
        source: std::io::Error,
    },
    /// The file is damaged: reading it crashed libhdf5 (in a child process), did not finish,
    /// or found sizes no npchip file has. Nothing in this process touched the damaged parts.
    #[error("{path}: cannot be read safely, the file is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the check found.
        reason: String,
    },
    /// Reading the file in the checking child process failed with this error (names the file).
    #[error("{message}")]
    Probe {
        /// The file.
        path: PathBuf,
        /// The child's error message.
        message: String,
    },
    /// Plain file-system trouble (creating the directory, removing an old file).
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// How a run ended, written as the run attributes `status` and `status_message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunStatus {
    /// Still being written (or killed: a file left `running` was not finished cleanly).
    Running,
    /// Every requested epoch finished.
    Completed,
    /// Stopped by Ctrl-C; every finished epoch is in the file and the run can be resumed.
    Interrupted,
    /// An error other than divergence; the text says which.
    Failed(String),
    /// Loss or activations became NaN/inf; the text names epoch and step.
    Diverged(String),
}

impl RunStatus {
    /// The `status` attribute value: `running`, `completed`, `interrupted`, `failed`, `diverged`.
    pub fn name(&self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Failed(_) => "failed",
            RunStatus::Diverged(_) => "diverged",
        }
    }

    /// The `status_message` attribute value (empty unless failed or diverged).
    pub fn message(&self) -> &str {
        match self {
            RunStatus::Failed(m) | RunStatus::Diverged(m) => m,
            _ => "",
        }
    }

    /// The status a finished `train::run` call leaves: completed, interrupted (its last record
    /// was cut short by the stop flag), diverged or failed.
    pub fn of(result: &Result<Vec<EpochRecord>, crate::train::TrainError>) -> RunStatus {
        match result {
            Ok(records) if records.last().is_some_and(|r| r.interrupted) => RunStatus::Interrupted,
            Ok(_) => RunStatus::Completed,
            Err(e @ crate::train::TrainError::Diverged { .. }) => {
                RunStatus::Diverged(e.to_string())
            }
            Err(e) => RunStatus::Failed(format!("{e:#}")),
        }
    }

    /// Inverse of [`RunStatus::name`] + [`RunStatus::message`] (unknown names read as failed).
    pub fn from_parts(name: &str, message: &str) -> RunStatus {
        match name {
            "running" => RunStatus::Running,
            "completed" => RunStatus::Completed,
            "interrupted" => RunStatus::Interrupted,
            "diverged" => RunStatus::Diverged(message.to_string()),
            "failed" => RunStatus::Failed(message.to_string()),
            other => RunStatus::Failed(format!("unknown status `{other}` {message}")),
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.message() {
            "" => f.write_str(self.name()),
            m => write!(f, "{}: {m}", self.name()),
        }
    }
}

/// What a run's output needs besides its [`RunSpec`] and [`Dataset`].
#[derive(Clone, Debug, PartialEq)]
pub struct RunOptions {
    /// The `--data` string as given (stored so `--resume` reloads the same data).
    pub data_spec: String,
    /// `--train-samples` (stored for `--resume`).
    pub train_samples: Option<usize>,
    /// `--test-samples` (stored for `--resume`).
    pub test_samples: Option<usize>,
    /// How much hardware detail to record per epoch.
    pub trace: TraceLevel,
    /// Replace `checkpoint/` after every epoch (needed by `--resume`; costs about the size of
    /// the chip's state per run).
    pub checkpoints: bool,
}

impl RunOptions {
    /// Defaults: no subsets, summary traces, checkpoints on.
    pub fn new(data_spec: &str) -> Self {
        RunOptions {
            data_spec: data_spec.to_string(),
            train_samples: None,
            test_samples: None,
            trace: TraceLevel::Summary,
            checkpoints: true,
        }
    }
}

/// An attribute value as read back from a file.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    /// Any integer type (u64 values above i64::MAX are not written by npchip).
    Int(i64),
    /// f32 or f64.
    Float(f64),
    /// HDF5 enum bool (h5py's numpy.bool_).
    Bool(bool),
    /// A UTF-8 string.
    Text(String),
    /// A 1-D integer array.
    Ints(Vec<i64>),
    /// A 1-D float array.
    Floats(Vec<f64>),
    /// A 1-D string array.
    Texts(Vec<String>),
}

impl AttrValue {
    /// The value as f64 (ints, floats and bools convert).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            AttrValue::Int(i) => Some(i as f64),
            AttrValue::Float(x) => Some(x),
            AttrValue::Bool(b) => Some(b as u8 as f64),
            _ => None,
        }
    }

    /// The value as i64 (ints and bools only).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            AttrValue::Int(i) => Some(i),
            AttrValue::Bool(b) => Some(b as i64),
            _ => None,
        }
    }

    /// The value as a bool (bools, and ints 0/1).
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            AttrValue::Bool(b) => Some(b),
            AttrValue::Int(i) => Some(i != 0),
            _ => None,
        }
    }

    /// The value as text (strings only).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::Text(s) => Some(s),
            _ => None,
        }
    }
}

impl fmt::Display for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::Int(i) => write!(f, "{i}"),
            AttrValue::Float(x) => write!(f, "{x}"),
            AttrValue::Bool(b) => write!(f, "{b}"),
            AttrValue::Text(s) => f.write_str(s),
            AttrValue::Ints(v) => write!(f, "{v:?}"),
            AttrValue::Floats(v) => write!(f, "{v:?}"),
            AttrValue::Texts(v) => write!(f, "{v:?}"),
        }
    }
}

/// Attributes by name.
pub type Attrs = BTreeMap<String, AttrValue>;

/// An open result file.
pub struct ResultFile {
    pub(crate) file: ::hdf5::File,
    pub(crate) path: PathBuf,
    /// Writes the in-memory file to `path` atomically; holds the file's lock.
    pub(crate) publisher: std::sync::Arc<super::publish::Publisher>,
}

impl ResultFile {
    /// Creates `path` (parent directories too) and writes the root attributes: `npchip_version`,
    /// `schema_version`, `command_line`, `created` (ISO-8601 UTC), `host_threads`.
    /// Refuses an existing file unless `force` ([`OutputError::Exists`], file untouched).
    pub fn create(path: &Path, force: bool, cmdline: &str) -> Result<ResultFile, OutputError> {
        super::writer::create_file(path, force, cmdline)
    }

    /// Opens an existing result file for appending runs or resuming one (checks
    /// `schema_version`).
    pub fn open_append(path: &Path) -> Result<ResultFile, OutputError> {
        super::writer::open_append(path)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Names of the runs in `/runs`, sorted.
    pub fn run_names(&self) -> Result<Vec<String>, OutputError> {
        super::writer::run_names(self)
    }

    /// Adds the group `/runs/<name>` with every attribute defining the run and empty
    /// extendable datasets; the returned writer appends one row per finished epoch.
    /// Fails if the run exists. `name` must not contain `/`.
    pub fn add_run(
        &self,
        name: &str,
        spec: &RunSpec,
        data: &Dataset,
        opts: &RunOptions,
    ) -> Result<RunWriter, OutputError> {
        super::writer::add_run(self, name, spec, data, opts)
    }

    /// Reads run `name`'s definition back from its attributes, changing nothing (what
    /// `--resume` compares new settings with before it touches the file).
    pub fn run_definition(&self, name: &str) -> Result<(RunSpec, RunOptions), OutputError> {
        let runs = super::schema::group(&self.path, &self.file, "runs")?;
        let run = super::schema::group(&self.path, &runs, name)?;
        super::runattrs::read(&self.path, &run)
    }

    /// Reopens run `name` to continue it: rebuilds its [`RunSpec`] from the attributes,
    /// reloads the data (refusing a different `source_hash`), rebuilds the chip, restores the
    /// checkpoint and truncates every per-epoch dataset to the checkpoint's epoch.
    /// `epochs` replaces the stored total (`None`: keep it).
    pub fn resume_run(&self, name: &str, epochs: Option<usize>) -> Result<Resumed, OutputError> {
        super::resume::resume_run(self, name, epochs)
    }

    /// Writes everything so far to disk as a complete new version of the file (atomically:
    /// see `publish.rs`); throttled if [`ResultFile::throttle_publishing`] was called.
    pub fn flush(&self) -> Result<(), OutputError> {
        self.publisher.publish(&self.file, false)
    }

    /// Publishes at most as often as keeps the copying under about a tenth of the wall time
    /// (for files that hold many runs, e.g. a sweep's); [`ResultFile::close`] still writes all.
    pub fn throttle_publishing(&self) {
        self.publisher.throttle();
    }

    /// Publishes the final version and closes the file (the lock goes with the last writer).
    pub fn close(self) -> Result<(), OutputError> {
        self.publisher.publish(&self.file, true)?;
        let path = self.path.clone();
        self.file
            .close()
            .map_err(|e| super::schema::h5err(&path, "closing", e))
    }
}

/// Writes one run; an [`Observer`] for `train::run`. Finish it with [`RunWriter::finish`].
pub struct RunWriter {
    pub(crate) inner: super::writer::WriterState,
}

impl RunWriter {
    /// Turns on the chip's trace counters (per-device pulse totals, ADC-input histograms) as
    /// the run's trace level asks; call once after building the chip, before training.
    pub fn prepare_chip(&self, chip: &mut Chip) {
        super::traces::prepare_chip(chip, self.inner.trace);
    }

    /// The run's group path, e.g. `/runs/run0`.
    pub fn group_path(&self) -> String {
        format!("/runs/{}", self.inner.name)
    }

    /// Finished epochs in the file (the next row's index).
    pub fn epochs_written(&self) -> usize {
        self.inner.rows
    }

    /// Names the rule of a run whose controller is not one of npchip's rules (a rule written
    /// in Python drives the chip's port): `rule` becomes `label` (e.g. `python:my-anp`), and
    /// `oracle`/`oracle_uses` are written from `chip`'s record now, not only per epoch.
    /// Such a run cannot be `--resume`d (its rule is not npchip's to run).
    pub fn label_rule(&mut self, label: &str, chip: &Chip) -> Result<(), OutputError> {
        self.inner.label_rule(label, chip)
    }

    /// Writes `status` (and `status_message`, `finished` time), flushes.
    pub fn finish(self, status: RunStatus) -> Result<(), OutputError> {
        self.inner.finish(&status)
    }
}

impl Observer for RunWriter {
    fn epoch(
        &mut self,
        record: &EpochRecord,
        chip: &Chip,
        learner: &Learner,
    ) -> Result<(), crate::train::ObserverError> {
        Ok(self.inner.epoch(record, chip, learner)?)
    }

    fn step(&mut self, record: &StepRecord) -> Result<(), crate::train::ObserverError> {
        Ok(self.inner.step(record)?)
    }
}

/// Energy of per-phase counters under the run's coefficients (the `energy_pj` layout).
pub fn layer_energy(c: &LayerCounters, coef: &crate::chip::model::EnergySpec) -> [Energy; 4] {
    std::array::from_fn(|p| Energy::of(&c.0[p], coef))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send<T: Send>() {}

    #[test]
    fn writers_can_move_to_worker_threads() {
        send::<ResultFile>();
        send::<RunWriter>();
        send::<RunRecord>();
    }

    #[test]
    fn status_round_trips_through_its_attributes() {
        for s in [
            RunStatus::Running,
            RunStatus::Completed,
            RunStatus::Interrupted,
            RunStatus::Failed("x".into()),
            RunStatus::Diverged("nan at 3".into()),
        ] {
            assert_eq!(RunStatus::from_parts(s.name(), s.message()), s);
        }
    }
}
