//! Creating files and runs, and appending a row per finished epoch.

use super::hdf5::{OutputError, ResultFile, RunOptions, RunStatus, RunWriter};
use super::TraceLevel;
use crate::chip::Chip;
use crate::data::Dataset;
use crate::learn::Learner;
use crate::run::RunSpec;
use crate::train::{EpochRecord, StepRecord};
use std::path::Path;

pub(crate) struct WriterState {
    pub(crate) name: String,
    pub(crate) trace: TraceLevel,
    pub(crate) rows: usize,
}

impl WriterState {
    pub(crate) fn epoch(&mut self, record: &EpochRecord, chip: &Chip, learner: &Learner) -> Result<(), OutputError> {
        let _ = (record, chip, learner);
        todo!()
    }
    pub(crate) fn step(&mut self, record: &StepRecord) -> Result<(), OutputError> {
        let _ = record;
        todo!()
    }
    pub(crate) fn finish(self, status: &RunStatus) -> Result<(), OutputError> {
        let _ = status;
        todo!()
    }
}

pub(crate) fn create_file(path: &Path, force: bool, cmdline: &str) -> Result<ResultFile, OutputError> {
    let _ = (path, force, cmdline);
    todo!()
}

pub(crate) fn open_append(path: &Path) -> Result<ResultFile, OutputError> {
    let _ = path;
    todo!()
}

pub(crate) fn run_names(file: &ResultFile) -> Result<Vec<String>, OutputError> {
    let _ = file;
    todo!()
}

pub(crate) fn add_run(file: &ResultFile, name: &str, spec: &RunSpec, data: &Dataset, opts: &RunOptions) -> Result<RunWriter, OutputError> {
    let _ = (file, name, spec, data, opts);
    todo!()
}
